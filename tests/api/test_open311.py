"""Open311 GeoReport v2 read view: fields and formats per http://wiki.open311.org/GeoReport_v2/."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from cases.lifecycle import Actor, Role
from cases.service import CaseService
from models.taxonomy import load_taxonomy
from tests.api.conftest import BACKENDS, on_both_backends
from tests.cases.factories import T0, make_event, north_of

# every test of this module runs on SQLite and on a real PostgreSQL
settings = pytest.fixture(params=BACKENDS, name="settings")(on_both_backends)

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
OP = Actor("op", Role.ADMIN)


def xml_rows(text: str, root: str, item: str) -> list[dict[str, str | None]]:
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    top = ET.fromstring(text.split("\n", 1)[1])
    assert top.tag == root
    return [{child.tag: child.text for child in el} for el in top if el.tag == item]


def iso(value: str) -> datetime:
    assert value.endswith("Z")
    return datetime.fromisoformat(value)


def test_services_list_every_category_with_its_code(client: TestClient) -> None:
    body = client.get("/open311/v2/services.json").json()
    taxonomy = load_taxonomy()
    assert {s["service_code"] for s in body} == {c.code for c in taxonomy.categories.values()}
    for s in body:
        assert set(s) == SERVICE_FIELDS and s["metadata"] is False and s["type"] == "realtime"
    garbage = next(s for s in body if s["service_code"] == "0102")
    assert garbage["service_name"] == "Garbage overflow or exposed garbage" and "暴露垃圾" in garbage["keywords"]

    r = client.get("/open311/v2/services.xml")
    assert r.headers["content-type"].startswith("text/xml")
    rows = xml_rows(r.text, "services", "service")
    assert len(rows) == len(body) and set(rows[0]) == SERVICE_FIELDS and rows[0]["metadata"] == "false"
    assert client.get("/open311/v2/services.csv").status_code == 422


def _seed(service: CaseService) -> tuple[int, int, int]:
    open_id = service.ingest(make_event(geo=north_of(0))).case_id
    dispatched = service.ingest(make_event(geo=north_of(1000), source_id="cam-2", evidence=())).case_id
    c = service.get_case(dispatched).case
    c = service.act(dispatched, "register", OP, version=c.version)
    service.act(dispatched, "dispatch", OP, version=c.version, department="sanitation")
    dismissed = service.ingest(
        make_event(category="street_stall", geo=north_of(2000), start=T0 + timedelta(hours=1))
    ).case_id
    service.act(dismissed, "verify", OP, version=1, verdict="false_positive")
    return open_id, dispatched, dismissed


def test_requests_carry_the_spec_fields(client: TestClient, service: CaseService) -> None:
    open_id, dispatched, dismissed = _seed(service)
    body = client.get("/open311/v2/requests.json").json()
    assert {r["service_request_id"] for r in body} == {str(open_id), str(dispatched), str(dismissed)}
    by_id = {int(r["service_request_id"]): r for r in body}
    for r in body:
        assert set(r) == REQUEST_FIELDS
        iso(r["requested_datetime"]) and iso(r["updated_datetime"])

    first = by_id[open_id]
    assert (first["status"], first["status_notes"], first["service_code"]) == ("open", "detected", "0102")
    assert first["lat"] == pytest.approx(north_of(0).lat) and first["long"] == pytest.approx(north_of(0).lon)
    assert first["media_url"].endswith(f"/cases/{open_id}/evidence/1")
    assert iso(first["expected_datetime"]) > iso(first["requested_datetime"])
    img = client.get(first["media_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"

    d = by_id[dispatched]
    assert (d["status"], d["status_notes"], d["agency_responsible"], d["media_url"]) == (
        "open",
        "dispatched to sanitation",
        "sanitation",
        None,
    )
    x = by_id[dismissed]
    assert (x["status"], x["status_notes"], x["service_code"], x["expected_datetime"]) == (
        "closed",
        "dismissed (false positive)",
        "0101",
        None,
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, {0, 1}),
        ({"status": "closed"}, {2}),
        ({"status": "open,closed"}, {0, 1, 2}),
        ({"service_code": "0101"}, {2}),
        ({"service_request_id": "IDS"}, {0, 2}),
        ({"start_date": "2000-01-01T00:00:00Z", "end_date": "2000-02-01T00:00:00Z"}, set()),
    ],
)
def test_request_filters(client: TestClient, service: CaseService, params: dict[str, str], expected: set[int]) -> None:
    ids = _seed(service)
    if params.get("service_request_id") == "IDS":
        params = {"service_request_id": f"{ids[0]},{ids[2]}"}
    body = client.get("/open311/v2/requests.json", params=params).json()
    assert {int(r["service_request_id"]) for r in body} == {ids[i] for i in expected}


def test_one_request_in_json_and_xml_and_errors(client: TestClient, service: CaseService) -> None:
    open_id, _, _ = _seed(service)
    (one,) = client.get(f"/open311/v2/requests/{open_id}.json").json()
    assert one["service_request_id"] == str(open_id)
    r = client.get(f"/open311/v2/requests/{open_id}.xml")
    (row,) = xml_rows(r.text, "service_requests", "request")
    assert set(row) == REQUEST_FIELDS and row["service_request_id"] == str(open_id) and row["status"] == "open"
    assert row["agency_responsible"] is None  # empty element for null

    r = client.get("/open311/v2/requests/999.json")
    assert r.status_code == 404 and r.json() == [{"code": 404, "description": "service request 999 not found"}]
    r = client.get("/open311/v2/requests/999.xml")
    assert r.status_code == 404 and xml_rows(r.text, "errors", "error")[0]["code"] == "404"
    for bad in ({"status": "pending"}, {"service_code": "9999"}, {"service_request_id": "a,b"}):
        r = client.get("/open311/v2/requests.json", params=bad)
        assert r.status_code == 400 and r.json()[0]["code"] == 400


def test_open311_needs_a_key_which_may_come_as_api_key(client: TestClient) -> None:
    token: Any = client.headers["X-API-Key"]
    assert client.get("/open311/v2/services.json", headers={"X-API-Key": ""}).status_code == 401
    r = client.get("/open311/v2/services.json", params={"api_key": token}, headers={"X-API-Key": ""})
    assert r.status_code == 200
