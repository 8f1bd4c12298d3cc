"""Keys over the API: reads close for good once a key has existed; expired keys are refused with the reason."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from cases.lifecycle import Role
from cases.orm import ApiKey, utcnow
from cityeye.config import Settings
from tests.api.conftest import TestClient, build_app
from tests.cases.factories import make_event


def test_revoking_every_key_does_not_open_reads_again(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path / "d"))) as client:  # auth.open_read: null (default)
        services = client.app.state.services  # type: ignore[attr-defined]
        case_id = services.cases.ingest(make_event()).case_id
        assert client.get(f"/cases/{case_id}").status_code == 200  # a fresh install can be browsed
        assert client.get("/console/config").json()["reads_need_key"] is False
        token = services.api_keys.create("root", Role.ADMIN).token
        assert client.get(f"/cases/{case_id}").status_code == 401
        services.api_keys.revoke("root")  # the last active key
        for path in (f"/cases/{case_id}", "/cases", f"/cases/{case_id}/evidence/0"):
            r = client.get(path)
            assert r.status_code == 401 and "needs an API key" in r.json()["detail"], path
        assert client.get("/console/config").json()["reads_need_key"] is True
        r = client.get("/cases", headers={"X-API-Key": token})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_an_expired_key_is_refused_with_the_reason(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path / "d"))) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        token = services.api_keys.create("temp", Role.DISPATCHER, days=1).token
        assert client.get("/cases", headers={"X-API-Key": token}).status_code == 200
        with services.sessions() as session:
            session.execute(update(ApiKey).where(ApiKey.name == "temp").values(expires_at=utcnow()))
            session.commit()
        r = client.get("/cases", headers={"X-API-Key": token})
        assert r.status_code == 401
        assert r.json()["detail"].startswith("API key 'temp' expired at ")
        assert r.headers["www-authenticate"] == "Bearer"
        assert client.get("/cases").status_code == 401  # reads stay closed (the key existed)
