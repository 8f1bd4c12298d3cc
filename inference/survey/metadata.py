"""What a drone photo says about itself: EXIF GPS position, altitude, focal length, capture time, and the
DJI-style XMP tags (`drone-dji:GimbalPitchDegree`, `GimbalYawDegree`, `RelativeAltitude`, …).

EXIF is read with Pillow's `getexif()` (`get_ifd` for the GPS and Exif sub-IFDs): Pillow already decodes
every image here, is maintained, and reads EXIF from JPEG, PNG and TIFF alike; piexif would add a dependency
that has not had a release since 2019 and reads JPEG/TIFF only. XMP is a small RDF/XML packet in the JPEG's
APP1 segment (Pillow hands it over as `info["xmp"]`); the few `drone-dji:` values are picked out with a
regular expression over the attribute and element forms, so no XML parser sees untrusted entity definitions.

Broken metadata never raises here: a value that is missing, non-finite or out of range is left as None,
and `pose()` explains what is missing.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from inference.errors import GeoError
from inference.survey.georef import CameraPose, focal_px
from models.timestamps import checked_utc

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_FOCAL_LENGTH = 0x920A
TAG_FOCAL_35MM = 0xA405
TAG_MAKE, TAG_MODEL = 0x010F, 0x0110
MAX_XMP = 1 << 20

_XMP_ATTR = re.compile(rb'drone-dji:(\w{1,64})\s*=\s*"([^"]{0,64})"')
_XMP_ELEM = re.compile(rb"<drone-dji:(\w{1,64})>([^<]{0,64})</drone-dji:\1>")


@dataclass(frozen=True)
class PhotoMeta:
    width: int
    height: int
    lat: float | None = None
    lon: float | None = None
    abs_alt_m: float | None = None  # GPS altitude (above sea level)
    rel_alt_m: float | None = None  # XMP RelativeAltitude: above the take-off point
    focal_mm: float | None = None
    focal35_mm: float | None = None
    gimbal_pitch: float | None = None
    gimbal_yaw: float | None = None
    flight_yaw: float | None = None
    taken_at: datetime | None = None
    camera: str = ""

    def pose(
        self,
        ground_alt_m: float | None = None,
        height_m: float | None = None,
        sensor_width_mm: float | None = None,
    ) -> CameraPose:
        """The camera pose over flat ground. Height above ground: XMP RelativeAltitude (take-off point is the
        ground), else GPS altitude minus `ground_alt_m`, else `height_m` (flight metadata). Pitch defaults to
        nadir (-90) when the photo has no gimbal tags; yaw to the flight yaw, then 0 (north up)."""
        if self.lat is None or self.lon is None:
            raise GeoError("no GPS position in the photo's EXIF")
        h = self.rel_alt_m
        if h is None and self.abs_alt_m is not None and ground_alt_m is not None:
            h = self.abs_alt_m - ground_alt_m
        if h is None:
            h = height_m
        if h is None:
            raise GeoError(
                "height above ground unknown: no XMP RelativeAltitude, and the survey's flight metadata "
                "gives neither ground_altitude_m nor height_m"
            )
        f = focal_px(self.width, self.height, self.focal_mm, self.focal35_mm, sensor_width_mm)
        yaw = self.gimbal_yaw if self.gimbal_yaw is not None else (self.flight_yaw or 0.0)
        pitch = self.gimbal_pitch if self.gimbal_pitch is not None else -90.0
        return CameraPose(self.lat, self.lon, h, yaw, pitch, f, self.width / 2, self.height / 2)


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _dms(value: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    deg = d + m / 60 + s / 3600
    if not math.isfinite(deg):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -deg if str(ref).strip().upper().startswith(negative) else deg


def parse_xmp(xmp: bytes | str | None) -> dict[str, float]:
    """The numeric `drone-dji:` values of an XMP packet (attribute or element form)."""
    if not xmp:
        return {}
    data = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else bytes(xmp)[:MAX_XMP]
    out: dict[str, float] = {}
    for rx in (_XMP_ATTR, _XMP_ELEM):
        for key, raw in rx.findall(data):
            value = _num(raw.decode("ascii", "replace").strip())
            if value is not None:
                out.setdefault(key.decode("ascii"), value)
    return out


def _taken_at(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:  # EXIF has no zone: drones write UTC or local time; taken as UTC; outside 1970..2999: none
        return checked_utc(datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC))
    except ValueError:
        return None


def read_photo_meta(path: Path) -> PhotoMeta:
    """EXIF + XMP of an image file (never decodes the pixels). Malformed tags are dropped silently (Pillow warns
    about each, e.g. 'Tag data larger than file')."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(path) as im:
            width, height = im.size
            exif = im.getexif()
            xmp_raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            try:
                gps = dict(exif.get_ifd(GPS_IFD))
                sub = dict(exif.get_ifd(EXIF_IFD))
            except Exception:  # a malformed IFD: as if there were none
                gps, sub = {}, {}
    xmp = parse_xmp(xmp_raw)
    lat = _dms(gps.get(2), gps.get(1), "S")
    lon = _dms(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        lat = lon = None
    alt = _num(gps.get(6))
    if alt is not None and gps.get(5) in (1, b"\x01"):
        alt = -alt
    make = str(exif.get(TAG_MAKE, "")).strip("\x00 ")
    model = str(exif.get(TAG_MODEL, "")).strip("\x00 ")
    return PhotoMeta(
        width=width,
        height=height,
        lat=lat,
        lon=lon,
        abs_alt_m=xmp.get("AbsoluteAltitude", alt),
        rel_alt_m=xmp.get("RelativeAltitude"),
        focal_mm=_num(sub.get(TAG_FOCAL_LENGTH)),
        focal35_mm=_num(sub.get(TAG_FOCAL_35MM)),
        gimbal_pitch=xmp.get("GimbalPitchDegree"),
        gimbal_yaw=xmp.get("GimbalYawDegree"),
        flight_yaw=xmp.get("FlightYawDegree"),
        taken_at=_taken_at(sub.get(TAG_DATETIME_ORIGINAL) or exif.get(0x0132)),
        camera=f"{make} {model}".strip()[:100],
    )


def exif_bytes(
    lat: float,
    lon: float,
    abs_alt_m: float,
    focal_mm: float,
    focal35_mm: float,
    taken_at: datetime,
    make: str = "DJI",
    model: str = "FC3411",
) -> bytes:
    """EXIF (GPS + focal length + time) as a drone writes it, for `Image.save(..., exif=...)` (tests, the demo)."""
    from PIL.TiffImagePlugin import IFDRational as R

    def dms(v: float) -> tuple[R, R, R]:
        v = abs(v)
        d = int(v)
        m = int((v - d) * 60)
        return R(d, 1), R(m, 1), R(round((v - d - m / 60) * 3600 * 100_000), 100_000)

    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL] = make, model
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)})
    gps.update({5: 0 if abs_alt_m >= 0 else 1, 6: R(round(abs(abs_alt_m) * 1000), 1000)})
    sub = exif.get_ifd(EXIF_IFD)
    sub[TAG_DATETIME_ORIGINAL] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    sub[TAG_FOCAL_LENGTH] = R(round(focal_mm * 100), 100)
    sub[TAG_FOCAL_35MM] = int(round(focal35_mm))
    return exif.tobytes()


def dji_xmp(rel_alt_m: float, abs_alt_m: float, pitch: float, yaw: float, roll: float = 0.0) -> bytes:
    """An XMP packet with the DJI drone tags (attribute form, as DJI cameras write it)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="DJI Meta Data" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
        f'drone-dji:AbsoluteAltitude="{abs_alt_m:+.3f}" drone-dji:RelativeAltitude="{rel_alt_m:+.3f}" '
        f'drone-dji:GimbalRollDegree="{roll:+.2f}" drone-dji:GimbalYawDegree="{yaw:+.2f}" '
        f'drone-dji:GimbalPitchDegree="{pitch:+.2f}" drone-dji:FlightYawDegree="{yaw:+.2f}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()
