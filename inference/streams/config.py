"""A camera's configuration: stream URL, position, zones (polygons) and per-category rule settings.

Every model forbids unknown keys and validates values (URL scheme, polygons of >= 3 points with an area,
homography point pairs), so a bad camera is refused with a message that names the field, by the API (422)
and by the CLI (exit 1), before any worker sees it. A YAML file of cameras (`cityeye cameras import FILE`,
`load_cameras_file`) is validated as a whole before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from inference.errors import CameraConfigError
from inference.geo import fit_homography
from models.config import format_errors
from models.urls import CAMERA_SCHEMES, UrlRefused, check_outbound, redact, restore

URL_SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "device")
CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ZoneKind = Literal["mask", "no_vending", "construction_watch"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _finite(values: tuple[float, ...], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite numbers")


PIXEL_MAX = 100_000.0  # larger than any camera frame; bounds the arithmetic on pixel coordinates


def _pixel(p: tuple[float, float], what: str) -> None:
    _finite(p, what)
    if not (0 <= p[0] <= PIXEL_MAX and 0 <= p[1] <= PIXEL_MAX):
        raise ValueError(f"{what} are pixels in [0, {PIXEL_MAX:.0f}], got {list(p)}")


class Zone(_Strict):
    """A polygon in image pixels. `mask`: detections there are ignored; the others scope rules."""

    name: str = Field(min_length=1, max_length=64)
    kind: ZoneKind = Field(description="mask | no_vending (stall rule) | construction_watch (construction rule)")
    points: list[tuple[float, float]] = Field(description="[[x, y], ...] pixels, at least 3 points", max_length=256)

    @field_validator("points")
    @classmethod
    def _polygon(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(pts) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
        for p in pts:
            _pixel(p, "polygon points")
        area = 0.5 * abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True)))
        if area < 1.0:
            raise ValueError("the polygon has no area (its points are on one line)")
        return pts


class HoursWindow(_Strict):
    """A daily time window in the camera's time zone; `end` before `start` wraps past midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class StallRule(_Strict):
    enabled: bool = True
    dwell_s: float = Field(default=120.0, gt=0, le=86_400, description="seconds a stall must stay in the zone")
    permitted_hours: list[HoursWindow] = Field(
        default_factory=list, description="daily windows when vending is allowed (no event then)"
    )
    require_zone: bool = Field(
        default=False,
        description="true: only inside no_vending zones; false: inside them when the camera has any, else anywhere",
    )


class GarbageRule(_Strict):
    enabled: bool = True
    persist_s: float = Field(default=60.0, gt=0, le=86_400, description="seconds garbage must persist")


class BillboardRule(_Strict):
    enabled: bool = True
    tilt_deg: float = Field(default=10.0, gt=0, lt=90, description="tilt since first seen that raises an event")
    moved_frac: float = Field(
        default=0.5, gt=0, le=10, description="a centre shift of this fraction of the sign's size = moved"
    )
    baseline_s: float = Field(default=1.0, ge=0, le=3600, description="seconds of sightings that fix the baseline")
    confirm_frames: int = Field(default=3, ge=1, le=1000, description="consecutive sightings over the threshold")


class ConstructionRule(_Strict):
    enabled: bool = True
    persist_s: float = Field(default=300.0, gt=0, le=30 * 86_400, description="seconds a structure must be present")
    require_zone: bool = Field(
        default=False,
        description="true: only inside construction_watch zones; false: inside them when the camera has any",
    )


class Rules(_Strict):
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="detections below are not tracked")
    gap_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="dwell/persist time counts the time between two sightings of a track only if they are at "
        "most this far apart (an object that leaves and comes back does not add the time it was away)",
    )
    street_stall: StallRule = Field(default_factory=StallRule)
    garbage: GarbageRule = Field(default_factory=GarbageRule)
    billboard_hazard: BillboardRule = Field(default_factory=BillboardRule)
    illegal_construction: ConstructionRule = Field(default_factory=ConstructionRule)


class GeoPoint(_Strict):
    """One image → ground correspondence for the homography."""

    pixel: tuple[float, float]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)

    @field_validator("pixel")
    @classmethod
    def _in_frame(cls, p: tuple[float, float]) -> tuple[float, float]:
        _pixel(p, "homography pixel points")
        return p


class CameraGeoConfig(_Strict):
    lat: float = Field(ge=-90, le=90, description="camera position (events without a homography get it)")
    lon: float = Field(ge=-180, le=180)
    homography: list[GeoPoint] = Field(
        default_factory=list, max_length=64, description="4+ image→ground point pairs; empty: camera position"
    )

    @field_validator("homography")
    @classmethod
    def _enough(cls, pts: list[GeoPoint]) -> list[GeoPoint]:
        if pts and len(pts) < 4:
            raise ValueError(f"a homography needs at least 4 point pairs, got {len(pts)}")
        if pts:
            fit_homography(pts)  # raises ValueError for degenerate (collinear, repeated) points
        return pts


class CameraConfig(_Strict):
    """One camera. `url`: rtsp(s)://, http(s):// (MJPEG, HLS), file:///path (tests, replays), device://N."""

    id: str = Field(description="lower-case letters, digits, '-' and '_' (1-64); the case source is camera:<id>")
    name: str = Field(default="", max_length=200)
    url: str = Field(max_length=2048)
    enabled: bool = True
    district: str | None = Field(
        default=None, min_length=1, max_length=64, description="the district (责任区) the camera belongs to"
    )
    fps: float = Field(default=2.0, gt=0, le=60, description="frames per second analysed (cap)")
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    loop: bool = Field(default=False, description="file:// sources: start again at the end")
    timezone: str = Field(default="UTC", description="IANA time zone of permitted hours")
    geo: CameraGeoConfig | None = None
    zones: list[Zone] = Field(default_factory=list, max_length=64)
    rules: Rules = Field(default_factory=Rules)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not CAMERA_ID.match(value):
            raise ValueError("camera id must be 1-64 of a-z, 0-9, '-', '_' (starting with a letter or digit)")
        return value

    @field_validator("district")
    @classmethod
    def _district(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
            raise ValueError("district must not contain control characters")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if any(c.isspace() or ord(c) < 32 for c in value):
            raise ValueError("url must not contain spaces or control characters")
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in URL_SCHEMES:
            raise ValueError(f"url scheme must be one of {', '.join(URL_SCHEMES)}; got {scheme or '(none)'!r}")
        if scheme in {"rtsp", "rtsps", "http", "https"} and not parts.hostname:
            raise ValueError(f"{scheme} url needs a host")
        try:
            parts.port  # noqa: B018 (urllib checks the port when it is read)
        except ValueError:
            raise ValueError(f"url port must be a number in 0-65535, got {parts.netloc.rpartition(':')[2]!r}") from None
        if scheme == "file" and not parts.path:
            raise ValueError("file url needs a path (file:///path/to/video.mp4)")
        if scheme == "device" and not (parts.netloc or parts.path).isdigit():
            raise ValueError("device url is device://<index>, e.g. device://0")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        names = [z.name for z in self.zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone names must be unique, repeated: {', '.join(sorted(dup))}")
        return self

    @property
    def source_id(self) -> str:
        return f"camera:{self.id}"

    @property
    def safe_url(self) -> str:
        """The URL with its userinfo and secret-looking query values as `***` (for reads, logs, status, evidence)."""
        return redact(self.url)

    def check_outbound(self, allow_hosts: Collection[str]) -> None:
        """CameraConfigError when the outbound-URL policy refuses the URL (`models/urls.py`)."""
        try:
            check_outbound(self.url, CAMERA_SCHEMES, allow_hosts)
        except UrlRefused as exc:
            raise CameraConfigError([str(exc)]) from None

    def with_secrets_of(self, stored: CameraConfig) -> CameraConfig:
        """This config with the `***` of a redacted URL (as reads show it) replaced by `stored`'s secrets."""
        try:
            return self.model_copy(update={"url": restore(self.url, stored.url)})
        except ValueError as exc:
            raise CameraConfigError([str(exc)]) from None


def parse_camera(data: Any, where: str = "") -> CameraConfig:
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        raise CameraConfigError([f"{where}{line}" for line in format_errors(exc, CameraConfig)]) from None


def load_cameras_file(path: Path) -> list[CameraConfig]:
    """`cameras: [ {id, url, ...}, ... ]` (or a bare list) from a YAML file, all validated, ids unique."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CameraConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CameraConfigError([f"{path}: not valid YAML ({str(exc).splitlines()[0]})"]) from None
    items = data.get("cameras") if isinstance(data, dict) and set(data) == {"cameras"} else data
    if not isinstance(items, list):
        raise CameraConfigError([f"{path}: expected a list of cameras (or a mapping with only 'cameras')"])
    cams, errors = [], []
    for i, item in enumerate(items):
        try:
            cams.append(parse_camera(item, f"{path}: cameras[{i}]."))
        except CameraConfigError as exc:
            errors.extend(exc.errors)
    ids = [c.id for c in cams]
    errors += [f"{path}: camera id {d!r} appears more than once" for d in sorted({i for i in ids if ids.count(i) > 1})]
    if errors:
        raise CameraConfigError(errors)
    return cams
