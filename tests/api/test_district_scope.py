"""District scope through the API, on the findings of the red-team pass (the matrix over every route is
tests/integration/security/test_district_matrix.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.lifecycle import Role
from cityeye.config import ApiSettings, AuthSettings, LifecycleSettings, Settings
from inference.event import EvidenceImage
from tests.api.conftest import TestClient
from tests.cases.factories import BASE_LAT, BASE_LON, image, make_event, north_of

NORTH = [BASE_LON - 0.01, BASE_LAT + 0.0005, BASE_LON + 0.01, BASE_LAT + 0.05]
SOUTH = [BASE_LON - 0.01, BASE_LAT - 0.05, BASE_LON + 0.01, BASE_LAT + 0.0004]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    districts = {"North": NORTH, "south": {"name": "南区", "bbox": SOUTH}}
    return Settings(
        data_dir=tmp_path / "data",
        api=ApiSettings(page_size_max=20),
        auth=AuthSettings(open_read=False),
        lifecycle=LifecycleSettings.model_validate({"districts": districts}),
    )


def test_case_variants_of_a_district_are_one_district(client: TestClient) -> None:
    """`Huangpu` vs `huangpu` hid a case from its own district's key."""
    services = client.app.state.services  # type: ignore[attr-defined]
    case_id = services.cases.ingest(make_event(geo=north_of(1000))).case_id
    key = {"X-API-Key": services.api_keys.create("n", Role.INSPECTOR, ["NORTH"]).token}
    assert client.get(f"/cases/{case_id}", headers=key).json()["district"] == "north"
    assert client.get("/cases", params={"district": "North"}, headers=key).json()["total"] == 1
    r = client.get("/cases", params={"district": "nowhere"}, headers=key)
    assert r.status_code == 422 and "unknown district 'nowhere'" in r.json()["detail"]


def test_evidence_of_another_district_is_403(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    event = make_event(geo=north_of(-1000), evidence=(EvidenceImage(image()),))
    case_id = services.cases.ingest(event).case_id
    north = {"X-API-Key": services.api_keys.create("n", Role.INSPECTOR, ["north"]).token}
    south = {"X-API-Key": services.api_keys.create("s", Role.INSPECTOR, ["south"]).token}
    assert client.get(f"/cases/{case_id}/evidence/1", headers=south).status_code == 200
    r = client.get(f"/cases/{case_id}/evidence/1", headers=north)
    assert r.status_code == 403 and "bound to north" in r.json()["detail"]


def test_a_report_into_another_districts_case_writes_nothing(client: TestClient) -> None:
    """The 403 came after the ingest had committed: an observation was added and the version bumped."""
    services = client.app.state.services  # type: ignore[attr-defined]
    where = north_of(-1000)
    case_id = services.cases.ingest(make_event(geo=where)).case_id
    north = {"X-API-Key": services.api_keys.create("n", Role.INSPECTOR, ["north"]).token}
    before = services.cases.get_case(case_id)
    form = {"category": "garbage", "lat": str(where.lat), "lon": str(where.lon), "description": "seen"}
    r = client.post("/reports", data=form, headers=north)
    assert r.status_code == 403 and "district south" in r.json()["detail"]
    after = services.cases.get_case(case_id)
    assert after.case.version == before.case.version and len(after.observations) == len(before.observations)
    r = client.post("/reports", data={**form, "description": ""}, headers=north)  # no note: the same refusal
    assert r.status_code == 403
    assert services.cases.list_cases().total == 1


def test_a_district_admin_cannot_delete_another_districts_camera(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    south = {"X-API-Key": services.api_keys.create("sa", Role.ADMIN, ["south"]).token}
    north = {"X-API-Key": services.api_keys.create("na", Role.ADMIN, ["north"]).token}
    r = client.post("/cameras", json={"id": "c1", "url": "rtsp://10.0.0.1/s"}, headers=south)
    assert r.status_code == 201 and r.json()["config"]["district"] == "south"  # its own district by default
    assert client.delete("/cameras/c1", headers=north).status_code == 403
    assert [c["config"]["id"] for c in client.get("/cameras", headers=north).json()] == []
    assert client.get("/cameras/c1", headers=south).status_code == 200
    assert client.delete("/cameras/c1", headers=south).status_code == 204
