"""The bad-input corpus against the API: each hostile request is a clear 4xx and leaves every row and every
evidence file as it was; text that is accepted (notes, departments) is stored verbatim and returned JSON- or
XML-escaped, with no effect on SQL. The text-field tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cases.lifecycle import Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, LifecycleSettings, OpsSettings, Settings
from inference.event import EvidenceImage
from inference.frame import GeoContext
from tests.api.conftest import TestClient
from tests.cases.factories import T0, image, make_event, north_of
from tests.cases.pg import PostgresCluster
from tests.integration.security.corpus import _jpeg, jpeg_bomb, png_bomb
from tests.integration.security.snapshot import snapshot


@dataclass
class Api:
    client: TestClient
    key: dict[Role | str, dict[str, str]]
    data: Path

    def state(self) -> Any:
        return snapshot(self.client.app.state.services.cases.sessions.kw["bind"], self.data)  # type: ignore[attr-defined]


def _api(settings: Settings) -> Iterator[Api]:
    with TestClient(build_app(settings), raise_server_exceptions=False) as client:
        service = client.app.state.services.cases  # type: ignore[attr-defined]
        store = client.app.state.services.api_keys  # type: ignore[attr-defined]
        for i in range(3):
            service.ingest(
                make_event(
                    geo=north_of(800 * i), start=T0 + timedelta(minutes=i), evidence=(EvidenceImage(image(seed=i)),)
                )
            )
        keys: dict[Role | str, dict[str, str]] = {
            role: {"X-API-Key": store.create(f"k-{role.value}", role).token} for role in Role
        }
        revoked = store.create("gone", Role.ADMIN).token
        store.revoke("gone")
        keys["revoked"] = {"X-API-Key": revoked}
        keys["elsewhere"] = {"X-API-Key": store.create("far", Role.ADMIN, districts=["north"]).token}
        keys["elsewhere-south"] = {"X-API-Key": store.create("farther", Role.ADMIN, districts=["South"]).token}
        yield Api(client, keys, settings.data_dir)


def _settings(data: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data,
        database_url=database_url,
        auth=AuthSettings(open_read=False),
        ops=OpsSettings(max_body_kb=64, auth_failures_per_min=10_000),
        lifecycle=LifecycleSettings.model_validate(
            {"districts": {"north": [0.0, 0.0, 1.0, 1.0], "South": {"name": "南区"}}}
        ),
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(_settings(tmp_path / "data"))


@pytest.fixture(params=["sqlite", "postgres"])
def any_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.new_database()
    yield from _api(_settings(tmp_path / "data", url))


def _nested(depth: int) -> str:
    return '{"note": ' + "[" * depth + "]" * depth + "}"


A = Role.ADMIN
# (name, method, url, request kwargs, key, expected status, a fragment of the message)
REFUSED: list[tuple[str, str, str, dict[str, Any], Role | str | None, int, str]] = [
    ("no_key", "GET", "/cases", {}, None, 401, "needs an API key"),
    ("unknown_key", "GET", "/cases", {"headers": {"X-API-Key": "ce_00000000_nope"}}, None, 401, "unknown API key"),
    ("malformed_key", "GET", "/cases", {"headers": {"X-API-Key": "admin' OR '1'='1"}}, None, 401, "malformed"),
    ("nul_in_key_prefix", "GET", "/cases?api_key=ce_%00%00%00%00%00%00%00%00_x", {}, None, 401, "malformed"),
    ("basic_auth_scheme", "GET", "/cases", {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}}, None, 401,
     "must be 'Bearer"),
    ("empty_bearer", "GET", "/cases", {"headers": {"Authorization": "Bearer "}}, None, 401, "must be 'Bearer"),
    ("revoked_key", "GET", "/cases", {}, "revoked", 401, "was revoked"),
    ("wrong_role_dispatch", "POST", "/cases/1/dispatch", {"json": {"department": "x", "version": 1}}, Role.OPERATOR,
     403, "dispatch needs role"),
    ("wrong_role_register", "POST", "/cases/1/register", {"json": {"version": 1}}, Role.DATA_TEAM, 403, "needs role"),
    ("other_district", "GET", "/cases/1", {}, "elsewhere", 403, "bound to north"),
    ("evidence_traversal", "GET", "/cases/1/evidence/..%2F..%2F..%2Fetc%2Fpasswd", {}, A, 404, "Not Found"),
    ("evidence_traversal_case", "GET", "/cases/..%2F..%2Fetc/evidence/1", {}, A, 404, "Not Found"),
    ("evidence_not_a_number", "GET", "/cases/1/evidence/passwd", {}, A, 422, "valid integer"),
    ("evidence_zero", "GET", "/cases/1/evidence/0", {}, A, 422, "greater than or equal to 1"),
    ("evidence_missing", "GET", "/cases/1/evidence/99", {}, A, 404, "evidence 99 of case 1 not found"),
    ("case_id_overflow", "GET", "/cases/9223372036854775808", {}, A, 422, "less than or equal"),
    ("case_id_int32_overflow", "POST", "/cases/2147483648/register", {"json": {"version": 1}}, A, 422,
     "less than or equal to 2147483647"),
    ("huge_page", "GET", "/cases?limit=100000000", {}, A, 422, "limit must be between 1 and"),
    ("zero_page", "GET", "/cases?limit=0", {}, A, 422, "greater than or equal to 1"),
    ("negative_offset", "GET", "/cases?offset=-1", {}, A, 422, "greater than or equal to 0"),
    ("offset_overflow", "GET", "/cases?sort=priority&offset=9223372036854775807", {}, A, 422, "less than or equal"),
    ("bad_cursor", "GET", "/cases?cursor=not-a-cursor", {}, A, 422, "not a cursor returned by this API"),
    ("forged_cursor", "GET", "/cases?cursor=" + base64.urlsafe_b64encode(b"'; DROP TABLE cases;--").decode(), {}, A,
     422, "not a cursor"),
    ("bad_bbox", "GET", "/cases?bbox=1,2,3", {}, A, 422, "bbox must be"),
    ("bbox_off_the_globe", "GET", "/cases?bbox=0,95,10,100", {}, A, 422, "in degrees"),
    ("bbox_inverted", "GET", "/cases.geojson?bbox=10,10,0,0", {}, A, 422, "bbox"),
    ("bad_date", "GET", "/cases?since=yesterday", {}, A, 422, "datetime"),
    # timestamps Python parses but cannot convert to UTC or the database cannot hold: 422, not OverflowError
    ("until_year_1_east", "GET", "/cases?until=0001-01-01T00:00:00%2B14:00", {}, A, 422, "out of range"),
    ("since_year_9999_west", "GET", "/cases?since=9999-12-31T23:59:59-14:00", {}, A, 422, "out of range"),
    ("open311_start_year_9999", "GET", "/open311/v2/requests.json?start_date=9999-12-31T23:59:59-14:00", {}, A,
     422, "out of range"),
    ("open311_end_year_1", "GET", "/open311/v2/requests.json?end_date=0001-01-01T00:00:00%2B14:00", {}, A, 422,
     "out of range"),
    ("report_observed_year_1", "POST", "/reports", {"data": {"category": "garbage", "lat": "0.5", "lon": "0.5",
     "observed_at": "0001-01-01T00:00:00Z"}}, A, 422, "out of range"),
    ("cursor_id_overflow", "GET", "/cases?cursor=" + base64.urlsafe_b64encode(
        b"2026-01-01T00:00:00+00:00|" + b"1" + b"0" * 23).decode(), {}, A, 422, "not a cursor"),
    ("cursor_year_1_east", "GET", "/cases?cursor=" + base64.urlsafe_b64encode(
        b"0001-01-01T00:00:00+14:00|5").decode(), {}, A, 422, "not a cursor"),
    ("unknown_status", "GET", "/cases?status=closed' OR 1=1--", {}, A, 422, "Input should be"),
    ("unknown_category", "GET", "/cases?category=<script>", {}, A, 422, "unknown category"),
    ("nul_in_district_filter", "GET", "/cases?district=%00", {}, A, 422, "pattern"),
    ("unknown_district_filter", "GET", "/cases?district=west", {}, A, 422, "unknown district 'west'"),
    ("unknown_district_geojson", "GET", "/cases.geojson?district=' OR '1'='1", {}, A, 422, "unknown district"),
    ("invisible_char_district_filter", "GET", "/cases?district=nor%E2%80%8Bth", {}, A, 422, "invisible characters"),
    ("unknown_district_register", "POST", "/cases/1/register", {"json": {"version": 1, "district": "west"}}, A, 422,
     "the configured districts are: north, south"),
    ("rtl_override_district_register", "POST", "/cases/1/register",
     {"json": {"version": 1, "district": "\u202enorth"}}, A, 422, "invisible characters"),
    ("unknown_district_camera", "POST", "/cameras", {"json": {"id": "c1", "url": "rtsp://h/x", "district": "west"}},
     A, 422, "unknown district 'west'"),
    ("control_char_district_camera", "POST", "/cameras",
     {"json": {"id": "c1", "url": "rtsp://h/x", "district": "no\u0007rth"}}, A, 422, "control characters"),
    ("unknown_district_survey", "POST", "/surveys", {"json": {"area": "a", "district": "west"}}, A, 422,
     "unknown district"),
    ("other_district_evidence", "GET", "/cases/1/evidence/1", {}, "elsewhere", 403, "bound to north"),
    ("other_district_camera_create", "POST", "/cameras",
     {"json": {"id": "c1", "url": "rtsp://h/x", "district": "NORTH"}}, "elsewhere-south", 403, "bound to south"),
    ("invalid_json", "POST", "/cases/1/notes",
     {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, A, 422, "JSON decode error"),
    ("deeply_nested_json", "POST", "/cases/1/notes", {"content": _nested(20_000).encode(),
     "headers": {"Content-Type": "application/json"}}, A, 400, "error parsing the body"),
    ("oversized_json", "POST", "/cases/1/notes", {"json": {"note": "x" * 70_000}}, A, 413, "too large"),
    ("wrong_type", "POST", "/cases/1/register", {"json": {"version": "three"}}, A, 422, "valid integer"),
    ("unknown_field", "POST", "/cases/1/register", {"json": {"version": 1, "status": "closed"}}, A, 422,
     "Extra inputs are not permitted"),
    ("nul_in_note", "POST", "/cases/1/notes", {"json": {"note": "a\u0000b"}}, A, 422, "control characters"),
    ("note_too_long", "POST", "/cases/1/notes", {"json": {"note": "n" * 4001}}, A, 422, "at most 4000"),
    ("bad_if_match", "POST", "/cases/1/register", {"json": {}, "headers": {"If-Match": "' OR 1=1"}}, A, 422,
     "If-Match must be a case version"),
    ("stale_version", "POST", "/cases/1/register", {"json": {"version": 7}}, A, 409, "you sent version 7"),
    ("merge_into_itself", "POST", "/cases/merge", {"json": {"source_id": 1, "target_id": 1, "version": 1}}, A, 422,
     "itself"),
    ("merge_missing", "POST", "/cases/merge", {"json": {"source_id": 1, "target_id": 999, "version": 1}}, A, 404,
     "not found"),
    ("text_plain_body", "POST", "/cases/1/notes", {"content": b"note=hi", "headers": {"Content-Type": "text/plain"}},
     A, 422, ""),
    ("method_not_allowed", "DELETE", "/cases/1", {}, A, 405, "Method Not Allowed"),
    ("open311_bad_id", "GET", "/open311/v2/requests.json?service_request_id=1;DROP", {}, A, 400,
     "comma-separated numbers"),
    ("open311_id_overflow", "GET", "/open311/v2/requests.json?service_request_id=99999999999999999999", {}, A, 400,
     "comma-separated numbers"),
    ("open311_bad_format", "GET", "/open311/v2/requests.html", {}, A, 422, "Input should be"),
    # cameras: bad RTSP URLs, invalid polygons and homographies (admin key, so only the input is wrong)
    *[
        (f"camera_{name}", "POST", "/cameras", {"json": {"id": "cam-x", "url": "rtsp://10.0.0.1/s", **patch}}, A, 422,
         fragment)
        for name, patch, fragment in [
            ("rtsp_no_host", {"url": "rtsp://"}, "rtsp url needs a host"),
            ("rtsp_bad_port", {"url": "rtsp://cam:99999/s"}, "url port must be a number"),
            ("rtsp_header_injection", {"url": "rtsp://cam/s\r\nX-Evil: 1"}, "control characters"),
            ("rtsp_nul", {"url": "rtsp://cam/\u0000"}, "control characters"),
            ("url_javascript", {"url": "javascript:alert(1)"}, "url scheme must be one of"),
            ("url_too_long", {"url": "rtsp://cam/" + "a" * 5000}, "at most 2048 characters"),
            ("url_loopback", {"url": "http://127.0.0.1:8000/metrics"}, "is loopback"),
            ("url_hex_loopback", {"url": "rtsp://0x7f000001/s"}, "unusual form"),
            ("url_metadata", {"url": "http://169.254.169.254/latest/meta-data/"}, "link-local"),
            ("url_the_database", {"url": "file:///var/lib/cityeye/cityeye.db"}, "reads this machine"),
            ("url_redacted_secret", {"url": "rtsp://***@10.0.0.1/s"}, "redacted"),
            ("id_traversal", {"id": "../../etc"}, "camera id must be"),
            ("polygon_two_points", {"zones": [{"name": "z", "kind": "mask", "points": [[0, 0], [5, 5]]}]},
             "at least 3 points"),
            ("polygon_collinear", {"zones": [{"name": "z", "kind": "mask", "points": [[0, 0], [1, 1], [2, 2]]}]},
             "no area"),
            ("polygon_negative", {"zones": [{"name": "z", "kind": "mask", "points": [[-1, 0], [9, 0], [0, 9]]}]},
             "pixels in [0, 100000]"),
            ("polygon_huge", {"zones": [{"name": "z", "kind": "mask", "points": [[0, 0], [1e308, 0], [0, 1e308]]}]},
             "pixels in [0, 100000]"),
            ("homography_degenerate", {"geo": {"lat": 31.2, "lon": 121.4, "homography": [
                {"pixel": [0, 0], "lat": 31.2, "lon": 121.4}] * 4}}, "repeated or on one line"),
            ("camera_off_the_globe", {"geo": {"lat": 123, "lon": 0}}, "less than or equal to 90"),
        ]
    ],
    # handle with a photo: the photo is decoded with the upload checks before any state is touched
    *[
        (f"handled_photo_{name}", "POST", "/cases/1/handled/photo", {"data": {"version": "1", **form},
         "files": {"photo": (filename, make(), "image/jpeg")}}, key, code, fragment)
        for name, form, filename, make, key, code, fragment in [
            ("png_bomb", {}, "p.png", png_bomb, A, 422, "image too large"),
            ("jpeg_bomb", {}, "p.jpg", jpeg_bomb, A, 422, "image too large"),
            ("not_an_image", {}, "p.jpg", lambda: b"<?php system($_GET['c']); ?>", A, 422, "not an image"),
            ("truncated", {}, "p.jpg", lambda: _jpeg()[:300], A, 422, "photo"),
            ("wrong_role", {}, "p.jpg", _jpeg, Role.INSPECTOR, 403, "handled needs role"),
            ("not_dispatched", {}, "../../etc/passwd", _jpeg, A, 409, "handled"),
            ("half_a_position", {"lat": "36.1"}, "p.jpg", _jpeg, A, 422, "both lat and lon"),
            ("naive_time", {"taken_at": "2026-01-01T08:00:00"}, "p.jpg", _jpeg, A, 422, "time zone"),
        ]
    ],
    ("camera_nan_fps", "POST", "/cameras", {"content": b'{"id": "cam-n", "url": "rtsp://h/s", "fps": NaN}',
     "headers": {"Content-Type": "application/json"}}, A, 422, '"input":"nan"'),
]  # fmt: skip


@pytest.mark.parametrize("name,method,url,kwargs,key,code,fragment", REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_requests_are_4xx_and_change_nothing(
    api: Api, name: str, method: str, url: str, kwargs: dict[str, Any], key: Role | str | None, code: int, fragment: str
) -> None:
    before = api.state()
    headers = {**(api.key[key] if key else {}), **kwargs.pop("headers", {})}
    r = api.client.request(method, url, headers=headers, **kwargs)
    assert r.status_code == code, r.text
    assert fragment in r.text
    assert api.state() == before


def test_text_fields_are_stored_verbatim_and_returned_escaped(any_api: Api) -> None:
    """SQL and HTML in a note, a department and a district filter: stored as given, no SQL effect, JSON-escaped
    in JSON, XML-escaped in Open311 XML."""
    client, admin = any_api.client, any_api.key[Role.ADMIN]
    before = any_api.state()[0]
    hostile = {
        "sql": "x'); DROP TABLE cases; --",
        "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
        "unicode": "路边摊 \u202e\ufeff 🧯 \\u0000 %00",
    }
    for text in hostile.values():
        r = client.post("/cases/1/notes", json={"note": text}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.json()["audit"][-1]["note"] == text
    r = client.post("/cases/1/register", json={"version": 1}, headers=admin)
    assert r.status_code == 200
    dept = "<b>Sanitation</b> & Co'; DELETE FROM cases;--"
    r = client.post("/cases/1/dispatch", json={"version": 2, "department": dept}, headers=admin)
    assert r.status_code == 200 and r.json()["department"] == dept
    r = client.get("/cases", params={"district": "' OR '1'='1"}, headers=admin)
    assert r.status_code == 422 and "unknown district" in r.json()["detail"]
    xml = client.get("/open311/v2/requests.xml", params={"service_request_id": "1"}, headers=admin)
    assert xml.status_code == 200
    agency = ET.fromstring(xml.content).find("request/agency_responsible")
    assert agency is not None and agency.text == dept  # escaped on the wire, the same text once parsed
    assert "<b>Sanitation" not in xml.text
    after = any_api.state()[0]
    assert {t: len(rows) for t, rows in after.items() if t != "case_audit"} == {
        t: len(rows) for t, rows in before.items() if t != "case_audit"
    }
    assert len(after["case_audit"]) == len(before["case_audit"]) + 5  # 3 notes, register, dispatch
    assert json.dumps(hostile["sql"]) in client.get("/cases/1", headers=admin).text


def test_events_with_impossible_positions_are_refused_before_the_store(api: Api) -> None:
    """Bad GPS in a report (lat 123, lon 200, NaN) never reaches the case store."""
    before = api.state()
    for lat, lon in ((123.0, 10.0), (10.0, 200.0), (float("nan"), 0.0), (float("inf"), 0.0)):
        with pytest.raises(ValueError, match="latitude|longitude"):
            api.client.app.state.services.cases.ingest(make_event(geo=GeoContext(lat, lon)))  # type: ignore[attr-defined]
    assert api.state() == before
