"""Property-based tests (Hypothesis) for the parsers that take outside input: EXIF/XMP, DJI SRT and CSV flight
logs, camera configs, case cursors and Open311 parameters. Each input gives a valid result or a clear error (the
parser's own error type, or a 4xx with a message), never an uncaught exception or a 500.

Kept small for CI: a fixed number of examples per property, no deadline (a shared CI machine is slow at times),
derandomized so a failure reproduces."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from struct import error as struct_error
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cases.lifecycle import Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, Settings
from inference.errors import CameraConfigError, GeoError
from inference.files import MediaError
from inference.streams.config import CameraConfig, parse_camera
from inference.survey.flightlog import parse_csv, parse_srt
from inference.survey.metadata import _taken_at, dji_xmp, exif_bytes, parse_xmp, read_photo_meta
from models.timestamps import EARLIEST, LATEST
from tests.api.conftest import TestClient

FAST = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
API = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["", "-", "1e999", "nan", "0x1f", "1,5", "١٢", "\x00"]),
).map(str)
text = st.text(st.characters(codec="utf-8"), max_size=200)


# ---- EXIF / XMP ------------------------------------------------------------------------------------------
GOOD_EXIF = exif_bytes(31.2, 121.4, 80.0, 8.8, 24.0, datetime(2026, 11, 20, 3, tzinfo=UTC))
GOOD_XMP = dji_xmp(60.0, 70.0, -90.0, 12.0)


def _jpeg(exif: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 90, 90)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def _check_meta(path: Path) -> None:
    try:
        meta = read_photo_meta(path)
    except (MediaError, GeoError):
        return
    if meta.lat is not None or meta.lon is not None:
        assert meta.lat is not None and meta.lon is not None
        assert -90 <= meta.lat <= 90 and -180 <= meta.lon <= 180
    if meta.taken_at is not None:
        assert EARLIEST <= meta.taken_at < LATEST


@FAST
@given(st.lists(st.tuples(st.integers(0, len(GOOD_EXIF) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_exif_with_flipped_bytes_is_read_or_a_media_error(tmp_path_factory: Any, flips: list[tuple[int, int]]) -> None:
    exif = bytearray(GOOD_EXIF)
    for i, b in flips:
        exif[i] = b
    path = tmp_path_factory.mktemp("exif") / "p.jpg"
    path.write_bytes(_jpeg(b"Exif\x00\x00" + bytes(exif) if not exif.startswith(b"Exif") else bytes(exif)))
    _check_meta(path)


@FAST
@given(
    st.one_of(numbers, st.floats(-1e6, 1e6).map(str)),
    st.one_of(numbers, st.floats(-1e6, 1e6).map(str)),
    st.text(max_size=30),
)
def test_exif_gps_and_time_of_any_value_are_read_or_dropped(
    tmp_path_factory: Any, lat: str, lon: str, when: str
) -> None:
    from PIL.TiffImagePlugin import IFDRational

    def rational(v: str) -> Any:
        try:
            f = float(v)
        except ValueError:
            return v
        if not math.isfinite(f) or abs(f) > 2**31:
            return IFDRational(0, 0) if math.isnan(f) else IFDRational(2**31 - 1, 1)
        return IFDRational(round(f * 1000), 1000)

    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (rational(lat), IFDRational(0, 1), IFDRational(0, 1)), 3: "E"})
    gps[4] = (rational(lon), IFDRational(0, 1), IFDRational(0, 1))
    exif.get_ifd(0x8769)[0x9003] = when
    path = tmp_path_factory.mktemp("gps") / "p.jpg"
    try:
        data = _jpeg(exif.tobytes())
    except (ValueError, TypeError, struct_error):
        return  # Pillow cannot write this EXIF: nothing for cityeye to read
    path.write_bytes(data)
    _check_meta(path)


def test_exif_times_outside_the_range_are_dropped() -> None:
    assert _taken_at("0001:01:01 00:00:00") is None and _taken_at("9999:12:31 23:59:59") is None
    assert _taken_at("2026:11:20 03:00:00") == datetime(2026, 11, 20, 3, tzinfo=UTC)


@FAST
@given(st.one_of(st.binary(max_size=2000), text, st.builds(lambda v: GOOD_XMP.replace(b"60.0", v.encode()), numbers)))
def test_xmp_gives_finite_numbers_or_nothing(xmp: bytes | str) -> None:
    out = parse_xmp(xmp)
    assert all(isinstance(k, str) and math.isfinite(v) for k, v in out.items())


# ---- DJI SRT and CSV flight logs -----------------------------------------------------------------------------
srt_entry = st.builds(
    lambda n, t, lat, lon, alt: (
        f"{n}\n00:00:{t} --> 00:00:{t}\n[latitude: {lat}] [longitude: {lon}] [rel_alt: {alt} abs_alt: {alt}]\n\n"
    ),
    st.integers(-5, 10**9),
    st.one_of(st.sampled_from(["01,500", "99,999", "xx,000", "-1,000", "01.5"]), st.text(max_size=8)),
    numbers,
    numbers,
    numbers,
)


def _check_log(log: Any) -> None:
    for e in log.entries:
        assert math.isfinite(e.t_s) and -90 <= e.lat <= 90 and -180 <= e.lon <= 180
        assert e.height_m is None or math.isfinite(e.height_m)
    log.nearest(1.0)
    try:
        log.pose_at(1.0, 640, 480, 50.0, 24.0)
    except GeoError:
        pass


@FAST
@given(st.one_of(st.lists(srt_entry, max_size=6).map("".join), text))
def test_srt_logs_give_finite_entries_or_none(srt: str) -> None:
    _check_log(parse_srt(srt))


@FAST
@given(
    st.lists(st.sampled_from(["time_s", "Latitude", "Longitude", "height_m", "gimbal_pitch", "yaw", "", "x"]),
             min_size=1, max_size=6),
    st.lists(st.lists(numbers, min_size=0, max_size=7), max_size=6),
    text,
)  # fmt: skip
def test_csv_logs_give_finite_entries_or_none(header: list[str], rows: list[list[str]], junk: str) -> None:
    body = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n" + junk
    _check_log(parse_csv(body))


# ---- camera configs ----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-(2**70), 2**70), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)
camera_keys = st.sampled_from(["id", "url", "fps", "zones", "geo", "rules", "timezone", "loop", "name", "enabled"])


@FAST
@given(st.dictionaries(st.one_of(camera_keys, text), json_values, max_size=8))
def test_any_camera_mapping_is_a_camera_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        cam = parse_camera(data)
    except CameraConfigError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        return
    assert isinstance(cam, CameraConfig)
    cam.safe_url  # noqa: B018 (redaction must not fail on an accepted URL)


@FAST
@given(st.one_of(text, st.builds(lambda s: f"rtsp://{s}", text), st.builds(lambda s: f"http://a:b@h/?pwd={s}", text)))
def test_camera_urls_are_accepted_or_refused_and_redaction_hides_secrets(url: str) -> None:
    try:
        cam = parse_camera({"id": "c", "url": url})
    except CameraConfigError:
        return
    shown = cam.safe_url
    if "@" in url.partition("?")[0].partition("#")[0].split("/")[2:3][0] if url.count("/") >= 2 else False:
        assert "***@" in shown
    try:
        cam.check_outbound([])
    except CameraConfigError as exc:
        assert "security.allow_hosts" in exc.errors[0] or "scheme" in exc.errors[0] or "host" in exc.errors[0]


# ---- the API: cursors, timestamps, Open311 parameters -----------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("api") / "data", auth=AuthSettings(open_read=False))
    with TestClient(build_app(settings_), raise_server_exceptions=False) as client:
        key = client.app.state.services.api_keys.create("prop", Role.ADMIN).token  # type: ignore[attr-defined]
        yield client, {"X-API-Key": key}


stamps = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
    st.builds(
        lambda d, h: d.isoformat() + f"{'+' if h >= 0 else '-'}{abs(h):02d}:00",
        st.datetimes(),
        st.integers(-14, 14),
    ),
    text,
)


def _clear_4xx_or_ok(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.content and ("detail" in r.text or "description" in r.text or "<" in r.text)


@API
@given(st.one_of(
    st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.builds(lambda t, i: base64.urlsafe_b64encode(f"{t}|{i}".encode()).decode(), stamps,
              st.integers(-(10**25), 10**25)),
    text,
))  # fmt: skip
def test_any_cursor_is_a_page_or_a_422(api: tuple[TestClient, dict[str, str]], cursor: str) -> None:
    client, key = api
    _clear_4xx_or_ok(client.get("/cases", params={"cursor": cursor}, headers=key))


@API
@given(stamps, stamps)
def test_any_case_time_filter_is_a_page_or_a_422(
    api: tuple[TestClient, dict[str, str]], since: str, until: str
) -> None:
    client, key = api
    _clear_4xx_or_ok(client.get("/cases", params={"since": since, "until": until}, headers=key))


@API
@given(
    st.sampled_from(["json", "xml"]),
    st.fixed_dictionaries(
        {},
        optional={
            "start_date": stamps,
            "end_date": stamps,
            "status": st.one_of(st.sampled_from(["open", "closed", "open,closed"]), text),
            "service_code": text,
            "service_request_id": st.one_of(
                st.lists(st.integers(-(10**22), 10**22), max_size=4).map(lambda ids: ",".join(map(str, ids))), text
            ),
        },
    ),
)
def test_any_open311_query_is_an_answer_or_a_4xx(
    api: tuple[TestClient, dict[str, str]], fmt: str, params: dict[str, str]
) -> None:
    client, key = api
    _clear_4xx_or_ok(client.get(f"/open311/v2/requests.{fmt}", params=params, headers=key))
