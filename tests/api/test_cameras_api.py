"""`/cameras`: CRUD for admins, validation errors as 422 with the field named, status and snapshot reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cases.cameras import SqlCameraStore
from cases.lifecycle import Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, Settings
from inference.streams.runner import snapshot_path, write_snapshot
from models.urls import SecuritySettings
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
    assert out["config"]["url"] == "rtsp://***@10.0.0.5:554/stream1"  # credentials never shown
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


def _stored_url(client: TestClient, camera_id: str) -> str:
    service = client.app.state.services.cases  # type: ignore[attr-defined]
    return SqlCameraStore(service.sessions).get(camera_id).config.url


SECRET_URL = "rtsp://admin:p%40ss@10.0.0.5:554/live?channel=1&user=admin&pwd=hunter2&token=t0k"


def test_reads_redact_userinfo_and_secret_query_values(client: TestClient, keys: Keys) -> None:
    r = client.post("/cameras", json=cam(url=SECRET_URL), headers=keys[Role.ADMIN])
    assert r.status_code == 201, r.text
    shown = "rtsp://***@10.0.0.5:554/live?channel=1&user=***&pwd=***&token=***"
    assert r.json()["config"]["url"] == shown
    assert client.get("/cameras/gate-1").json()["config"]["url"] == shown
    assert client.get("/cameras").json()[0]["config"]["url"] == shown
    for read in (client.get("/cameras/gate-1").text, client.get("/cameras").text):
        assert "hunter2" not in read and "p%40ss" not in read and "t0k" not in read


def test_a_redacted_url_put_back_keeps_the_stored_secrets(client: TestClient, keys: Keys) -> None:
    """What the console's camera editor does: GET, change a field, PUT the whole config back."""
    admin = keys[Role.ADMIN]
    assert client.post("/cameras", json=cam(url=SECRET_URL), headers=admin).status_code == 201
    config = client.get("/cameras/gate-1").json()["config"]
    r = client.put("/cameras/gate-1", json={**config, "fps": 4}, headers=admin)
    assert r.status_code == 200, r.text
    assert _stored_url(client, "gate-1") == SECRET_URL
    # a new path on the same camera keeps the secrets too; new credentials replace them
    moved = config["url"].replace("/live?", "/sub?")
    assert client.put("/cameras/gate-1", json={**config, "url": moved}, headers=admin).status_code == 200
    assert _stored_url(client, "gate-1") == SECRET_URL.replace("/live?", "/sub?")
    fresh = "rtsp://ops:n3w@10.0.0.5:554/live"
    assert client.put("/cameras/gate-1", json={**config, "url": fresh}, headers=admin).status_code == 200
    assert _stored_url(client, "gate-1") == fresh


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("rtsp://***@10.0.0.99:554/live", "cannot be restored"),  # another host: the secrets do not follow
        ("rtsps://***@10.0.0.5:554/live", "cannot be restored"),  # another scheme
        ("rtsp://10.0.0.5:554/live?secret=***", "cannot be restored"),  # a query value that was never stored
    ],
)
def test_redacted_secrets_never_move_to_another_place(client: TestClient, keys: Keys, url: str, text: str) -> None:
    admin = keys[Role.ADMIN]
    assert client.post("/cameras", json=cam(url="rtsp://admin:pw@10.0.0.5:554/live"), headers=admin).status_code == 201
    r = client.put("/cameras/gate-1", json=cam(url=url), headers=admin)
    assert r.status_code == 422 and text in r.text, r.text
    assert _stored_url(client, "gate-1") == "rtsp://admin:pw@10.0.0.5:554/live"
    r = client.post("/cameras", json=cam(id="gate-2", url="rtsp://***@10.0.0.5/live"), headers=admin)
    assert r.status_code == 422 and "redacted" in r.text


REFUSED_URLS = [
    ("http://127.0.0.1:8000/metrics", "is loopback"),
    ("rtsp://localhost/s", "is loopback"),
    ("rtsp://[::1]/s", "is loopback"),
    ("rtsp://[::ffff:127.0.0.1]/s", "is loopback"),
    ("http://0x7f000001/", "unusual form"),
    ("http://2130706433/", "unusual form"),
    ("http://0177.0.0.1/", "unusual form"),
    ("http://127.1/", "unusual form"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("file:///var/lib/cityeye/cityeye.db", "reads this machine"),
    ("device://0", "reads this machine"),
]


@pytest.mark.parametrize(("url", "text"), REFUSED_URLS, ids=[u for u, _ in REFUSED_URLS])
def test_camera_urls_to_this_machine_or_metadata_are_refused(
    client: TestClient, keys: Keys, url: str, text: str
) -> None:
    r = client.post("/cameras", json=cam(url=url), headers=keys[Role.ADMIN])
    assert r.status_code == 422 and text in r.text and "security.allow_hosts" in r.text, r.text
    assert client.get("/cameras").json() == []
    ok = client.post("/cameras", json=cam(url="rtsp://10.0.0.5/s"), headers=keys[Role.ADMIN])
    assert ok.status_code == 201  # private networks are where cameras live
    r = client.put("/cameras/gate-1", json=cam(url=url), headers=keys[Role.ADMIN])
    assert r.status_code == 422 and _stored_url(client, "gate-1") == "rtsp://10.0.0.5/s"


def test_allow_hosts_lets_listed_hosts_and_local_files_through(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        auth=AuthSettings(open_read=True),
        security=SecuritySettings(allow_hosts=["127.0.0.0/8", "localhost", "local-files"]),
    )
    with TestClient(build_app(settings)) as c:
        admin = {"X-API-Key": c.app.state.services.api_keys.create("a", Role.ADMIN).token}  # type: ignore[attr-defined]
        for i, url in enumerate(["rtsp://127.0.0.1:8554/cam", "http://localhost/m", "file:///srv/replay.mp4"]):
            r = c.post("/cameras", json=cam(id=f"c{i}", url=url), headers=admin)
            assert r.status_code == 201, r.text
        r = c.post("/cameras", json=cam(id="c9", url="http://169.254.169.254/"), headers=admin)
        assert r.status_code == 422  # only what is listed
