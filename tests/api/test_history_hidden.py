"""Imported city history never shows in the case API (the console's queue reads it) or Open311."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cases.history.formats import read_history
from cases.history.mapping import load_mapping
from cases.history.store import import_history
from cases.service import CaseService
from tests.cases.factories import make_event

FIX = Path(__file__).parents[1] / "cases" / "history" / "fixtures"


def test_history_absent_from_cases_and_open311(client: TestClient, service: CaseService) -> None:
    live = service.ingest(make_event())
    rows = read_history([FIX / "boston311.csv.gz"], "boston311", load_mapping("boston311"))
    assert import_history(service.sessions, "boston", rows).imported == 5
    body = client.get("/cases", params={"limit": 20}).json()
    assert [c["id"] for c in body["items"]] == [live.case_id] and body["total"] == 1
    for status in ("closed", "dismissed", "detected"):
        assert client.get("/cases", params={"status": status}).json()["total"] == (status == "detected")
    requests = client.get("/open311/v2/requests.json").json()
    assert [r["service_request_id"] for r in requests] == [str(live.case_id)]
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
