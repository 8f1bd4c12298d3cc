"""`/cameras`: CRUD for admins, validation errors as 422 with the field named, status and snapshot reads."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cases.cameras import SqlCameraStore
from cases.lifecycle import Role
from inference.streams.runner import snapshot_path, write_snapshot
from tests.api.conftest import Keys


def cam(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "gate-1",
        "url": "rtsp://user:secret@10.0.0.5:554/stream1",
        "zones": [{"name": "pavement", "kind": "no_vending", "points": [[0, 300], [640, 300], [640, 480]]}],
        "rules": {"street_stall": {"dwell_s": 60, "permitted_hours": [{"start": "18:00", "end": "22:00"}]}},
    }
    body.update(extra)
    return body


def test_crud_roundtrip(client: TestClient, keys: Keys) -> None:
    admin = keys[Role.ADMIN]
    r = client.post("/cameras", json=cam(), headers=admin)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["config"]["url"] == "rtsp://10.0.0.5:554/stream1"  # credentials never shown
    assert out["version"] == 1 and out["status"] is None
    assert client.post("/cameras", json=cam(), headers=admin).status_code == 409

    listed = client.get("/cameras").json()
    assert [c["config"]["id"] for c in listed] == ["gate-1"]
    r = client.put("/cameras/gate-1", json=cam(fps=5, enabled=False), headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["config"]["fps"] == 5
    assert client.get("/cameras/gate-1/status").json() == {"state": "never reported"}
    assert client.get("/cameras/gate-1/snapshot").status_code == 404
    assert client.delete("/cameras/gate-1", headers=admin).status_code == 204
    assert client.get("/cameras/gate-1").status_code == 404


def test_status_and_snapshot_reported_by_a_worker(client: TestClient, keys: Keys) -> None:
    assert client.post("/cameras", json=cam(), headers=keys[Role.ADMIN]).status_code == 201
    service = client.app.state.services.cases  # type: ignore[attr-defined]
    SqlCameraStore(service.sessions).write_status("w1", {"gate-1": {"state": "streaming", "fps": 2.0, "frames": 7}})
    write_snapshot(snapshot_path(service.settings.data_dir, "gate-1"), b"\xff\xd8jpeg")
    st = client.get("/cameras/gate-1/status").json()
    assert st["state"] == "streaming" and st["worker"] == "w1" and st["frames"] == 7
    assert client.get("/cameras").json()[0]["status"]["fps"] == 2.0
    r = client.get("/cameras/gate-1/snapshot")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == b"\xff\xd8jpeg"


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        (cam(url="ftp://10.0.0.5/x"), "url", "url scheme must be one of"),
        (cam(url="rtsp:///nohost"), "url", "needs a host"),
        (cam(zones=[{"name": "z", "kind": "mask", "points": [[0, 0], [5, 5]]}]), "points", "at least 3 points"),
        (cam(zones=[{"name": "z", "kind": "mask", "points": [[0, 0], [5, 5], [9, 9]]}]), "points", "no area"),
        (cam(colour="red"), "colour", "Extra inputs are not permitted"),
        (cam(rules={"garbage": {"persist": 3}}), "persist", "Extra inputs are not permitted"),
        (cam(id="Gate 1"), "id", "camera id must be"),
        (cam(timezone="Mars/Olympus"), "timezone", "unknown time zone"),
        (
            cam(geo={"lat": 31.2, "lon": 121.4, "homography": [{"pixel": [0, 0], "lat": 31.2, "lon": 121.4}]}),
            "homography",
            "at least 4 point pairs",
        ),
    ],
)
def test_bad_camera_is_422_naming_the_field(
    client: TestClient, keys: Keys, body: dict[str, Any], field: str, text: str
) -> None:
    r = client.post("/cameras", json=body, headers=keys[Role.ADMIN])
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert any(field in [str(p) for p in e["loc"]] and text in e["msg"] for e in errors), errors
    assert client.get("/cameras").json() == []


def test_writes_need_admin_and_ids_must_match(client: TestClient, keys: Keys) -> None:
    assert client.post("/cameras", json=cam()).status_code == 403  # the default key is data_team
    assert client.post("/cameras", json=cam(), headers=keys[Role.ADMIN]).status_code == 201
    r = client.put("/cameras/gate-1", json=cam(id="gate-2"), headers=keys[Role.ADMIN])
    assert r.status_code == 422 and "differs" in r.json()["detail"]
    assert client.put("/cameras/nope", json=cam(id="nope"), headers=keys[Role.ADMIN]).status_code == 404
