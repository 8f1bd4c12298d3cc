from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

import cityeye
from cases.db import session_factory
from cases.service import CaseService
from cityeye.config import Settings
from inference.event import EvidenceImage
from models.taxonomy import load_taxonomy
from tests.cases.factories import T0, image, make_event, north_of


def seed(service: CaseService, n: int = 5) -> list[int]:
    """`n` cases one hour apart (ids ascending = last_seen ascending), alternating categories."""
    return [
        service.ingest(
            make_event(
                category="garbage" if i % 2 == 0 else "street_stall",
                geo=north_of(1000 * i),
                start=T0 + timedelta(hours=i),
                evidence=(EvidenceImage(image(seed=i)),),
            )
        ).case_id
        for i in range(n)
    ]


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": cityeye.__version__, "database": "ok"}


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/cases", "/cases/{case_id}", "/cases/{case_id}/evidence/{n}"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_list_is_empty_on_a_fresh_database(client: TestClient) -> None:
    body = client.get("/cases", params={"limit": 10}).json()
    assert body == {"items": [], "total": 0, "limit": 10, "offset": 0, "next_cursor": None}


def test_list_filters_orders_and_pages(client: TestClient, service: CaseService) -> None:
    ids = seed(service)
    body = client.get("/cases", params={"limit": 20}).json()
    assert [c["id"] for c in body["items"]] == ids[::-1] and body["total"] == 5
    first = body["items"][0]
    assert first["category"] == "garbage" and first["code"] == "0102" and first["status"] == "detected"
    assert first["bbox"] == [10.0, 10.0, 40.0, 40.0] and first["observation_count"] == 1

    garbage = client.get("/cases", params={"category": "garbage", "limit": 20}).json()
    assert [c["id"] for c in garbage["items"]] == [ids[4], ids[2], ids[0]] and garbage["total"] == 3

    page = client.get("/cases", params={"limit": 2, "offset": 2}).json()
    assert ([c["id"] for c in page["items"]], page["total"], page["limit"], page["offset"]) == (
        [ids[2], ids[1]],
        5,
        2,
        2,
    )

    window = {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
    assert [c["id"] for c in client.get("/cases", params=window).json()["items"]] == [ids[2], ids[1]]
    assert client.get("/cases", params={"since": "2025-06-01T12:00:00Z"}).json()["total"] == 1
    assert client.get("/cases", params={"status": "detected", "limit": 20}).json()["total"] == 5
    assert client.get("/cases", params={"status": "closed"}).json()["total"] == 0


def test_default_limit_is_capped_by_page_size_max(client: TestClient) -> None:
    # page_size_max is 20 in these tests, below the default page size of 50
    r = client.get("/cases")
    assert r.status_code == 200 and r.json()["limit"] == 20


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"category": "potholes"}, "category", "unknown category 'potholes'"),
        ({"status": "lost"}, "status", "Input should be 'detected'"),
        ({"limit": 21}, "limit", "limit must be between 1 and 20"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"since": "yesterday"}, "since", "valid datetime"),
        ({"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"}, "since", "is after until"),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(
    client: TestClient, params: dict[str, object], field: str, message: str
) -> None:
    r = client.get("/cases", params={"limit": 10, **params})
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert err["loc"] == ["query", field]
    assert message in err["msg"]


def test_case_detail_lists_observations_and_evidence_with_urls(client: TestClient, service: CaseService) -> None:
    first = service.ingest(make_event(geo=north_of(0)))
    service.ingest(make_event(geo=north_of(8), start=T0 + timedelta(minutes=10), source_id="cam-2"))

    r = client.get(f"/cases/{first.case_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == first.case_id and body["observation_count"] == 2 and body["source_id"] == "cam-2"
    assert [o["source_id"] for o in body["observations"]] == ["cam-1", "cam-2"]
    assert [(e["n"], e["kind"]) for e in body["evidence"]] == [
        (1, "snapshot"),
        (2, "crop"),
        (3, "snapshot"),
        (4, "crop"),
    ]
    assert body["first_seen"] == "2025-06-01T08:00:00Z"

    for ev in body["evidence"]:
        assert ev["url"].endswith(f"/cases/{first.case_id}/evidence/{ev['n']}")
        img_r = client.get(ev["url"])
        assert img_r.status_code == 200
        assert img_r.headers["content-type"] == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(img_r.content, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (ev["height"], ev["width"], 3)


def test_unknown_case_and_evidence_are_404(client: TestClient, service: CaseService) -> None:
    r = client.get("/cases/7")
    assert r.status_code == 404 and r.json() == {"detail": "case 7 not found"}
    assert client.get("/cases/7/evidence/1").json() == {"detail": "case 7 not found"}
    case_id = service.ingest(make_event()).case_id
    r = client.get(f"/cases/{case_id}/evidence/3")
    assert r.status_code == 404 and r.json() == {"detail": f"evidence 3 of case {case_id} not found"}
    assert client.get("/cases/0").status_code == 422
    assert client.get("/cases/abc").status_code == 422


def test_the_app_migrates_a_fresh_database_on_startup(client: TestClient, service: CaseService) -> None:
    assert service.ping()
    assert client.get("/cases", params={"limit": 1}).json()["total"] == 0


def test_ready_is_503_when_the_database_is_unreachable(
    client: TestClient, service: CaseService, settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    engine = create_engine(f"sqlite:///{blocker / 'cityeye.db'}")
    try:
        client.app.state.services.cases = CaseService(session_factory(engine), settings, load_taxonomy())  # type: ignore[attr-defined]
        r = client.get("/health")
        ready = client.get("/ready")
    finally:
        client.app.state.services.cases = service  # type: ignore[attr-defined]
        engine.dispose()
    # liveness stays 200 (restarting the API would not bring the database back); readiness says why not
    assert r.status_code == 200
    assert r.json() == {"status": "degraded", "version": cityeye.__version__, "database": "unavailable"}
    assert ready.status_code == 503
    assert ready.json()["reasons"] == ["database: database unreachable"]
