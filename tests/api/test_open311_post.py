"""Citizens' Open311 reports (POST /open311/v2/requests): the spec's example, dedup with cameras, photos, retries,
the reporter role, contacts kept apart, pending (address-only) reports and the spec's token lookup."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cases.citizen import CitizenReports
from cases.lifecycle import Role
from cases.orm import CitizenContact, Observation
from cases.service import CaseService
from tests.api.conftest import BACKENDS, Keys, on_both_backends
from tests.api.open311_client import GeoReportClient
from tests.api.test_reports_api import jpeg
from tests.cases.factories import make_event, north_of

GARBAGE = "0102"  # the taxonomy's case code of `garbage`
settings = pytest.fixture(params=BACKENDS, name="settings")(on_both_backends)


@pytest.fixture
def app_key(keys: Keys) -> str:
    return keys.store.create("qingdao-app", Role.REPORTER).token


@pytest.fixture
def citizen(client: TestClient, app_key: str) -> GeoReportClient:
    return GeoReportClient(client, app_key)


def here(metres: float = 0.0) -> dict[str, float]:
    geo = north_of(metres)
    return {"lat": geo.lat, "long": geo.lon}


def test_the_specs_post_example_in_xml_answers_a_service_request_id_and_keeps_the_contact_apart(
    client: TestClient, app_key: str, service: CaseService
) -> None:
    """The spec's example request (its fields, form-encoded, api_key in the body; unknown fields ignored)."""
    spec = GeoReportClient(client, app_key, fmt="xml")
    status, rows = spec.post_request(
        service_code=GARBAGE,
        **here(),
        address_string="1234 5th street",
        email="smit333@sfgov.edu",
        device_id="tt222111",
        account_id="123456",
        first_name="john",
        last_name="smith",
        phone="111111111",
        description="A large sinkhole is destroying the street",
        media_url="http://mycity.instagram.com/123.jpg",
    )
    assert status == 201
    assert set(rows[0]) == {"service_request_id", "token", "service_notice", "account_id"}
    request_id, token = rows[0]["service_request_id"], rows[0]["token"]
    assert request_id is not None and request_id.isdigit() and token
    stored = CitizenReports(service.sessions).by_token(token)
    assert (stored.case_id, stored.media_url) == (int(request_id), "http://mycity.instagram.com/123.jpg")
    with service.sessions() as session:
        contact = session.scalar(select(CitizenContact).where(CitizenContact.report_id == stored.id))
    assert contact is not None and (contact.email, contact.phone) == ("smit333@sfgov.edu", "111111111")
    # never in a read: Open311 (both formats, list and one), the case API, its audit log
    reads = [
        client.get("/open311/v2/requests.json"),
        client.get("/open311/v2/requests.xml"),
        client.get(f"/open311/v2/requests/{request_id}.json"),
        client.get(f"/open311/v2/requests/{request_id}.xml"),
        client.get(f"/cases/{request_id}"),
        client.get("/cases"),
    ]
    for r in reads:
        assert r.status_code == 200, r.text
        assert "smit333" not in r.text and "111111111" not in r.text and "smith" not in r.text
    assert any("A large sinkhole" in (a["note"] or "") for a in reads[4].json()["audit"])


def test_a_citizens_photo_of_a_pile_a_camera_raised_joins_its_case_and_sees_its_status(
    client: TestClient, citizen: GeoReportClient, keys: Keys, service: CaseService
) -> None:
    camera = service.ingest(make_event(geo=north_of(0), start=datetime.now(UTC) - timedelta(minutes=10)))
    photo = {"media": ("pile.jpg", io.BytesIO(jpeg()), "image/jpeg")}
    status, rows = citizen.post_request(files=photo, service_code=GARBAGE, **here(8), description="bags on kerb")
    assert status == 201 and rows[0]["service_request_id"] == str(camera.case_id)
    detail = client.get(f"/cases/{camera.case_id}").json()
    assert {o["source_id"] for o in detail["observations"]} == {"cam-1", "open311:qingdao-app"}
    assert any(e["kind"] == "frame" for e in detail["evidence"])  # the citizen's photo, decoded and re-encoded
    # the operator and the dispatcher move it; the citizen's app reads the status with its own key
    case = detail["case"] if "case" in detail else detail
    version = case["version"]
    for action, body, role in [
        ("register", {}, Role.OPERATOR),
        ("dispatch", {"department": "sanitation"}, Role.DISPATCHER),
    ]:
        r = client.post(f"/cases/{camera.case_id}/{action}", json={"version": version, **body}, headers=keys[role])
        assert r.status_code == 200, r.text
        version = r.json()["version"]
    code, seen = citizen.get_request(str(camera.case_id))
    assert code == 200
    assert (seen[0]["status"], seen[0]["agency_responsible"]) == ("open", "sanitation")
    assert seen[0]["status_notes"] == "dispatched to sanitation" and seen[0]["updated_datetime"]
    # 100 m away (garbage merges within 20 m) it is a request of its own
    status, far = citizen.post_request(service_code=GARBAGE, **here(100))
    assert status == 201 and far[0]["service_request_id"] != str(camera.case_id)


def test_a_retry_with_the_same_client_ref_is_the_same_request(citizen: GeoReportClient, service: CaseService) -> None:
    first = citizen.post_request(service_code=GARBAGE, **here(), client_ref="app-42")
    again = citizen.post_request(service_code=GARBAGE, **here(), client_ref="app-42")
    assert (first[0], again[0]) == (201, 200)
    assert again[1][0]["service_request_id"] == first[1][0]["service_request_id"]
    assert again[1][0]["token"] == first[1][0]["token"]
    with service.sessions() as session:
        assert len(session.scalars(select(Observation)).all()) == 1


def test_concurrent_retries_with_one_client_ref_are_one_request(citizen: GeoReportClient, service: CaseService) -> None:
    """Eight copies of one report at once (an app retrying on a bad connection): one 201, seven 200, one token."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: citizen.post_request(service_code=GARBAGE, **here(), client_ref="r"), range(8))
        )
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({rows[0]["token"] for _, rows in answers}) == 1
    assert len({rows[0]["service_request_id"] for _, rows in answers}) == 1
    with service.sessions() as session:
        assert len(session.scalars(select(Observation)).all()) == 1


def test_an_address_without_a_position_is_pending_with_a_token(citizen: GeoReportClient, client: TestClient) -> None:
    status, rows = citizen.post_request(service_code=GARBAGE, address_string="香港中路 61 号")
    assert status == 201 and "service_request_id" not in rows[0] and rows[0]["token"]
    code, looked = citizen.token(rows[0]["token"])
    assert code == 200 and looked == [{"service_request_id": None, "token": rows[0]["token"]}]
    assert client.get("/cases").json()["total"] == 0
    assert citizen.token("x" * 22)[0] == 404


def test_the_token_lookup_names_the_request(citizen: GeoReportClient) -> None:
    _, rows = citizen.post_request(service_code=GARBAGE, **here())
    code, looked = citizen.token(rows[0]["token"])
    assert code == 200 and looked[0]["service_request_id"] == rows[0]["service_request_id"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"service_code": "9999", **here()}, "unknown service_code '9999'"),
        ({"service_code": GARBAGE}, "needs a location"),
        ({"service_code": GARBAGE, "lat": 31.2}, "both lat and long"),
        ({"service_code": GARBAGE, **here(), "media_url": "javascript:alert(1)"}, "http(s) URL"),
        ({"service_code": GARBAGE, **here(), "media_url": "http://u:p@example.org/a.jpg"}, "without credentials"),
        ({"service_code": GARBAGE, **here(), "email": "not-an-address"}, "not an email"),
        ({"service_code": GARBAGE, **here(), "phone": "call me"}, "phone may hold only"),
        ({"service_code": GARBAGE, **here(), "description": "a\x00b"}, "NUL"),
    ],
)
def test_bad_fields_are_the_specs_400_errors(citizen: GeoReportClient, fields: dict[str, Any], message: str) -> None:
    status, rows = citizen.post_request(**fields)
    assert status == 400 and rows[0]["code"] == "400" and message in (rows[0]["description"] or "")


def test_a_reporting_apps_key_can_only_report(client: TestClient, app_key: str) -> None:
    bearer = {"Authorization": f"Bearer {app_key}"}
    assert client.get("/cases", headers=bearer).status_code == 403
    assert "may only use /open311/v2" in client.get("/cases", headers=bearer).json()["detail"]
    assert (
        client.post("/reports", data={"category": "garbage", "lat": "31", "lon": "121"}, headers=bearer).status_code
        == 403
    )
    assert client.get("/open311/v2/services.json", headers=bearer).status_code == 200
    assert client.get("/me", headers=bearer).json()["role"] == "reporter"


def test_a_data_team_key_may_not_file_and_a_bad_key_is_401(client: TestClient, keys: Keys) -> None:
    reader = GeoReportClient(client, client.headers["X-API-Key"])
    status, _ = reader.post_request(service_code=GARBAGE, **here())
    assert status == 403
    del client.headers["X-API-Key"]
    r = client.post("/open311/v2/requests.json", data={"api_key": "ce_nope_nope", "service_code": GARBAGE, **here()})
    assert r.status_code == 401
    r = client.post("/open311/v2/requests.json", data={"service_code": GARBAGE, **here()})
    assert r.status_code == 401 and "needs an api_key" in r.json()[0]["description"]


def test_an_inspector_may_report_through_open311_too(client: TestClient, keys: Keys) -> None:
    token = keys[Role.INSPECTOR]["Authorization"].removeprefix("Bearer ")
    status, rows = GeoReportClient(client, token).post_request(service_code=GARBAGE, **here())
    assert status == 201 and rows[0]["service_request_id"]


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server hook)
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_media_url_is_kept_as_a_link_and_never_fetched(citizen: GeoReportClient, service: CaseService) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
        status, rows = citizen.post_request(service_code=GARBAGE, **here(), media_url=url)
        assert status == 201
        assert CitizenReports(service.sessions).by_token(rows[0]["token"]).media_url == url
        assert _Recorder.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_over_the_photo_limit_is_413_and_stores_nothing(
    citizen: GeoReportClient, client: TestClient, service: CaseService
) -> None:
    big = {"media": ("big.jpg", io.BytesIO(b"\xff" * (21 * 1024 * 1024)), "image/jpeg")}
    r = client.post("/open311/v2/requests.json", data={"api_key": citizen.api_key, "service_code": GARBAGE}, files=big)
    assert r.status_code == 413, r.text
    with service.sessions() as session:
        assert session.scalars(select(Observation)).all() == []
