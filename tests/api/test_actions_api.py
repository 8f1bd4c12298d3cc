"""Auth, lifecycle actions, filters and GeoJSON through the real app."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cases.auth import ApiKeys
from cases.lifecycle import PERMISSIONS, Action, Role
from cases.orm import Case
from cases.service import CaseService
from cases.status import CaseStatus
from cityeye.app import build_app
from cityeye.config import AuthSettings, LifecycleSettings, Settings
from tests.api.conftest import BACKENDS, Keys, on_both_backends
from tests.cases.factories import T0, make_event, north_of
from tests.cases.pg import PostgresCluster

# every test of this module runs on SQLite and on a real PostgreSQL
settings = pytest.fixture(params=BACKENDS, name="settings")(on_both_backends)

ENDPOINTS: dict[Action, tuple[str, dict[str, Any]]] = {
    Action.REGISTER: ("register", {}),
    Action.DISPATCH: ("dispatch", {"department": "sanitation"}),
    Action.HANDLED: ("handled", {}),
    Action.VERIFY: ("verify", {"verdict": "confirmed"}),
    Action.CLOSE: ("close", {}),
    Action.DISMISS: ("dismiss", {"note": "not a problem"}),
}
HAPPY = [Action.REGISTER, Action.DISPATCH, Action.HANDLED, Action.VERIFY, Action.CLOSE]
ROLE_OF = {
    Action.REGISTER: Role.OPERATOR,
    Action.DISPATCH: Role.DISPATCHER,
    Action.HANDLED: Role.DEPARTMENT,
    Action.VERIFY: Role.INSPECTOR,
    Action.CLOSE: Role.OPERATOR,
    Action.DISMISS: Role.OPERATOR,
}


def new_case(service: CaseService, metres: float = 0, **kwargs: Any) -> int:
    kwargs.setdefault("source_id", f"cam-{metres:g}")
    return service.ingest(make_event(geo=north_of(metres), evidence=(), **kwargs)).case_id


def act(client: TestClient, keys: Keys, case_id: int, action: Action, version: int | None, **extra: Any) -> Any:
    path, body = ENDPOINTS[action]
    payload = {**body, **extra}
    if version is not None:
        payload["version"] = version
    return client.post(f"/cases/{case_id}/{path}", json=payload, headers=keys[ROLE_OF[action]])


def version_of(client: TestClient, case_id: int) -> int:
    return int(client.get(f"/cases/{case_id}").json()["version"])


# ---- auth ------------------------------------------------------------------------------------------------------
def test_reads_need_a_valid_key(client: TestClient, service: CaseService) -> None:
    case_id = new_case(service)
    for url in ("/cases", f"/cases/{case_id}", "/cases.geojson"):
        r = client.get(url, headers={"X-API-Key": ""})
        assert r.status_code == 401, url
        assert "needs an API key" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/cases", headers={"X-API-Key": "ce_deadbeef_nope"}).json() == {"detail": "unknown API key"}
    assert client.get("/cases", headers={"Authorization": "Basic abc"}).status_code == 401
    assert "malformed" in client.get("/cases", headers={"X-API-Key": "hello"}).json()["detail"]
    assert client.get("/health", headers={"X-API-Key": ""}).status_code == 200  # probes need no key
    assert client.get("/cases").status_code == 200


def test_mutations_need_a_key_even_when_reads_are_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", auth=AuthSettings(open_read=True))
    with TestClient(build_app(settings)) as client:
        service: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
        case_id = new_case(service)
        assert client.get("/cases").json()["total"] == 1
        r = client.post(f"/cases/{case_id}/register", json={"version": 1})
        assert r.status_code == 401 and "needs an API key" in r.json()["detail"]


def test_reads_are_open_until_the_first_key_exists_by_default(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path / "d"))) as client:
        assert client.get("/cases").status_code == 200
        store: ApiKeys = client.app.state.services.api_keys  # type: ignore[attr-defined]
        new = store.create("alice", Role.DISPATCHER)
        assert client.get("/cases").status_code == 401
        assert client.get("/cases", headers={"X-API-Key": new.token}).status_code == 200
        store.revoke("alice")
        r = client.get("/cases", headers={"X-API-Key": new.token})
        assert r.status_code == 401 and "'alice' was revoked" in r.json()["detail"]
        assert client.get("/cases").status_code == 401  # no active key left, but reads stay closed


def test_keys_are_stored_hashed_and_shown_once(client: TestClient) -> None:
    store: ApiKeys = client.app.state.services.api_keys  # type: ignore[attr-defined]
    new = store.create("bob", "inspector", ["huangpu", "xuhui"])
    assert new.token.startswith(f"ce_{new.key.prefix}_") and len(new.token) > 40
    engine = sa.create_engine(client.app.state.settings.db_url)  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
    finally:
        engine.dispose()
    dump = repr(rows)
    assert new.token.split("_", 2)[2] not in dump
    bob = next(r for r in rows if r["name"] == "bob")
    assert len(bob["key_hash"]) == 64 and len(bob["salt"]) == 32 and bob["role"] == "inspector"
    actor = store.authenticate(new.token)
    assert (actor.name, actor.role, actor.districts) == ("bob", Role.INSPECTOR, ("huangpu", "xuhui"))
    with pytest.raises(Exception, match="exists"):
        store.create("bob", "admin")
    with pytest.raises(Exception, match="unknown role 'mayor'"):
        store.create("carol", "mayor")


# ---- the lifecycle over HTTP -------------------------------------------------------------------------------------
def test_the_full_lifecycle_over_http_with_etags_and_if_match(
    client: TestClient, service: CaseService, keys: Keys
) -> None:
    case_id = new_case(service)
    r = client.get(f"/cases/{case_id}")
    assert r.headers["etag"] == '"1"'
    body = r.json()
    assert (body["status"], body["severity"], body["priority"], body["overdue"]) == ("detected", 3, 3, False)
    assert [a["action"] for a in body["audit"]] == ["create"]
    etag = r.headers["etag"]
    for action in HAPPY:
        path, payload = ENDPOINTS[action]
        r = client.post(
            f"/cases/{case_id}/{path}",
            json={**payload, "note": path},
            headers={**keys[ROLE_OF[action]], "If-Match": etag},
        )
        assert r.status_code == 200, r.text
        etag = r.headers["etag"]
    body = r.json()
    assert (body["status"], body["department"], body["verdict"], body["due_at"]) == (
        "closed",
        "sanitation",
        "confirmed",
        None,
    )
    assert [(a["action"], a["actor"], a["role"], a["to_status"]) for a in body["audit"]] == [
        ("create", "system", "admin", "detected"),
        ("register", "operator-1", "operator", "registered"),
        ("dispatch", "dispatcher-1", "dispatcher", "dispatched"),
        ("handled", "department-1", "department", "handled"),
        ("verify", "inspector-1", "inspector", "verified"),
        ("close", "operator-1", "operator", "closed"),
    ]
    r = client.post(f"/cases/{case_id}/notes", json={"note": "nice"}, headers=keys[Role.DATA_TEAM])
    assert r.status_code == 200 and r.json()["audit"][-1]["note"] == "nice" and r.headers["etag"] == etag


WRONG = [(a, r) for a in ENDPOINTS for r in Role if r not in PERMISSIONS[a]]


@pytest.mark.parametrize(("action", "role"), WRONG, ids=[f"{a}-{r}" for a, r in WRONG])
def test_wrong_roles_get_403_naming_the_role_needed(
    client: TestClient, service: CaseService, keys: Keys, action: Action, role: Role
) -> None:
    case_id = new_case(service)
    path, payload = ENDPOINTS[action]
    r = client.post(f"/cases/{case_id}/{path}", json={**payload, "version": 1}, headers=keys[role])
    assert r.status_code == 403
    needed = " or ".join(x.value for x in Role if x in PERMISSIONS[action])
    if role is Role.REPORTER:  # a reporting app's key is refused before any case action is considered
        detail = f"key '{role.value}-1' is a reporting app's key: it may only use /open311/v2"
    else:
        detail = f"{action.value} needs role {needed}; key '{role.value}-1' has role {role.value}"
    assert r.json() == {"detail": detail}
    assert version_of(client, case_id) == 1


def test_merge_with_a_wrong_role_is_403(client: TestClient, service: CaseService, keys: Keys) -> None:
    a, b = new_case(service), new_case(service, 500)
    r = client.post("/cases/merge", json={"source_id": a, "target_id": b, "version": 1}, headers=keys[Role.DISPATCHER])
    assert r.status_code == 403 and "merge needs role operator or shift_lead or admin" in r.json()["detail"]


ILLEGAL_HTTP = [
    (CaseStatus.DETECTED, Action.DISPATCH),
    (CaseStatus.DETECTED, Action.HANDLED),
    (CaseStatus.DETECTED, Action.VERIFY),
    (CaseStatus.DETECTED, Action.CLOSE),
    (CaseStatus.REGISTERED, Action.REGISTER),
    (CaseStatus.DISPATCHED, Action.CLOSE),
    (CaseStatus.HANDLED, Action.DISPATCH),
    (CaseStatus.VERIFIED, Action.HANDLED),
    (CaseStatus.CLOSED, Action.DISMISS),
    (CaseStatus.CLOSED, Action.REGISTER),
    (CaseStatus.DISMISSED, Action.DISMISS),
    (CaseStatus.DISMISSED, Action.VERIFY),
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL_HTTP, ids=[f"{s}-{a}" for s, a in ILLEGAL_HTTP])
def test_illegal_transitions_are_409_with_a_message(
    client: TestClient, service: CaseService, keys: Keys, status: CaseStatus, action: Action
) -> None:
    case_id = new_case(service)
    with service.sessions() as session, session.begin():
        session.get_one(Case, case_id).status = status.value
    r = act(client, keys, case_id, action, version=version_of(client, case_id))
    assert r.status_code == 409, r.text
    assert f"case {case_id}" in r.json()["detail"] and status.value in r.json()["detail"]


def test_stale_and_missing_versions(client: TestClient, service: CaseService, keys: Keys) -> None:
    case_id = new_case(service)
    r = act(client, keys, case_id, Action.REGISTER, version=None)
    assert r.status_code == 428 and "send the version you read" in r.json()["detail"]
    assert act(client, keys, case_id, Action.REGISTER, version=1).status_code == 200
    r = act(client, keys, case_id, Action.DISMISS, version=1)
    assert r.status_code == 409 and r.headers["etag"] == '"2"'
    assert r.json()["detail"] == (
        f"case {case_id} is at version 2, you sent version 1: someone else changed it; reload and retry"
    )
    r = client.post(
        f"/cases/{case_id}/dismiss", json={"note": "x"}, headers={**keys[Role.OPERATOR], "If-Match": "v-one"}
    )
    assert r.status_code == 422 and "If-Match must be a case version" in r.json()["detail"]
    r = client.post(
        f"/cases/{case_id}/dismiss", json={"note": "x"}, headers={**keys[Role.OPERATOR], "If-Match": 'W/"2"'}
    )
    assert r.status_code == 200 and r.json()["status"] == "dismissed"


def test_bad_action_bodies_are_422(client: TestClient, service: CaseService, keys: Keys) -> None:
    case_id = new_case(service)
    assert act(client, keys, case_id, Action.REGISTER, version=1, colour="red").status_code == 422  # unknown key
    client.post(f"/cases/{case_id}/register", json={"version": 1}, headers=keys[Role.OPERATOR])
    r = client.post(f"/cases/{case_id}/dispatch", json={"version": 2}, headers=keys[Role.DISPATCHER])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "department"]
    r = client.post(f"/cases/{case_id}/verify", json={"version": 2, "verdict": "maybe"}, headers=keys[Role.INSPECTOR])
    assert r.status_code == 422
    assert client.post("/cases/99/register", json={"version": 1}, headers=keys[Role.OPERATOR]).status_code == 404


def test_merge_over_http(client: TestClient, service: CaseService, keys: Keys) -> None:
    a, b = new_case(service), new_case(service, 500)
    r = client.post(
        "/cases/merge",
        json={"source_id": b, "target_id": a, "note": "same"},
        headers={**keys[Role.SHIFT_LEAD], "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["observation_count"]) == (a, 2)
    gone = client.get(f"/cases/{b}").json()
    assert (gone["status"], gone["verdict"], gone["duplicate_of"]) == ("dismissed", "duplicate", a)
    r = client.post("/cases/merge", json={"source_id": a, "target_id": a, "version": 2}, headers=keys[Role.ADMIN])
    assert r.status_code == 422 and "into itself" in r.json()["detail"]


# ---- filters, sort and GeoJSON -------------------------------------------------------------------------------------
def test_list_filters_by_overdue_bbox_and_sorts_by_priority(
    client: TestClient, service: CaseService, keys: Keys
) -> None:
    garbage = new_case(service)
    sign = new_case(service, 5000, category="billboard_hazard")
    assert [c["id"] for c in client.get("/cases", params={"sort": "priority"}).json()["items"]] == [sign, garbage]
    # the service clock is real time here; the cases were created now, so nothing is overdue yet
    assert client.get("/cases", params={"overdue": "true"}).json()["total"] == 0
    with service.sessions() as session, session.begin():
        session.get_one(Case, garbage).due_at = service.now() - timedelta(minutes=1)
    overdue = client.get("/cases", params={"overdue": "true"}).json()
    assert [c["id"] for c in overdue["items"]] == [garbage] and overdue["items"][0]["priority"] == 6
    assert [c["id"] for c in client.get("/cases", params={"sort": "priority"}).json()["items"]] == [garbage, sign]

    lat = north_of(0).lat
    box = f"121.47,{lat - 0.001},121.48,{lat + 0.001}"
    assert [c["id"] for c in client.get("/cases", params={"bbox": box}).json()["items"]] == [garbage]
    for bad in ("1,2,3", "a,b,c,d", "10,10,0,0"):
        r = client.get("/cases", params={"bbox": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "bbox"]
    assert client.get("/cases", params={"sort": "random"}).status_code == 422


def test_geojson_output(client: TestClient, service: CaseService) -> None:
    with_geo = new_case(service)
    without = service.ingest(make_event(source_id="cam-x", start=T0 + timedelta(hours=1), evidence=())).case_id
    r = client.get("/cases.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 2
    features = {f["id"]: f for f in body["features"]}
    point = features[with_geo]
    assert point["type"] == "Feature" and point["geometry"]["type"] == "Point"
    assert point["geometry"]["coordinates"] == pytest.approx([north_of(0).lon, north_of(0).lat])
    assert point["properties"]["category"] == "garbage" and point["properties"]["status"] == "detected"
    assert features[without]["geometry"] is None
    assert client.get("/cases.geojson", params={"category": "street_stall"}).json()["features"] == []


def test_a_district_bound_key_sees_and_acts_only_in_its_districts(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "d",
        auth=AuthSettings(open_read=False),
        lifecycle=LifecycleSettings(districts={"huangpu": (121.46, 31.22, 121.50, 31.24)}),
    )
    with TestClient(build_app(settings)) as client:
        service: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
        store: ApiKeys = client.app.state.services.api_keys  # type: ignore[attr-defined]
        inside, outside = new_case(service), new_case(service, 5000)
        local = {"X-API-Key": store.create("hp", Role.OPERATOR, ["huangpu"]).token}
        assert [c["id"] for c in client.get("/cases", headers=local).json()["items"]] == [inside]
        assert client.get(f"/cases/{inside}", headers=local).json()["district"] == "huangpu"
        r = client.get(f"/cases/{outside}", headers=local)
        assert r.status_code == 403 and "bound to huangpu" in r.json()["detail"]
        r = client.post(f"/cases/{outside}/register", json={"version": 1}, headers=local)
        assert r.status_code == 403
        assert client.post(f"/cases/{inside}/register", json={"version": 1}, headers=local).status_code == 200


def test_the_app_pushes_webhooks_from_its_own_thread(tmp_path: Path) -> None:
    from tests.cases.test_push import Receiver, push_settings

    receiver = Receiver(fail=1)
    try:
        settings = Settings(
            data_dir=tmp_path / "d",
            push=push_settings(receiver.url, backoff_s=0.05),
            security={"allow_hosts": ["127.0.0.1"]},  # the receiver is on loopback
        )
        with TestClient(build_app(settings)) as client:
            service: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
            store: ApiKeys = client.app.state.services.api_keys  # type: ignore[attr-defined]
            case_id = new_case(service)
            op = {"X-API-Key": store.create("op", Role.OPERATOR).token}
            assert client.post(f"/cases/{case_id}/register", json={"version": 1}, headers=op).status_code == 200
            receiver.wait_for(3)  # created (fails once, retried) + status_changed
        events = sorted(r["body"] for r in receiver.requests[1:])
        assert [b'"case.created"' in b for b in events].count(True) == 1
        assert [b'"case.status_changed"' in b for b in events].count(True) == 1
    finally:
        receiver.close()


def test_the_api_runs_on_postgres(tmp_path: Path, postgres: PostgresCluster) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=postgres.new_database(), auth=AuthSettings(open_read=False)
    )
    with TestClient(build_app(settings)) as client:
        service: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
        store: ApiKeys = client.app.state.services.api_keys  # type: ignore[attr-defined]
        admin = {"X-API-Key": store.create("root", Role.ADMIN).token}
        case_id = new_case(service)
        assert client.get("/health").json()["database"] == "ok"
        r = client.post(f"/cases/{case_id}/register", json={"version": 1}, headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "registered"
        assert client.post(f"/cases/{case_id}/register", json={"version": 1}, headers=admin).status_code == 409
        assert client.get("/cases.geojson", headers=admin).json()["total"] == 1
        assert client.get("/open311/v2/requests.json", headers=admin).json()[0]["status"] == "open"


def test_cursor_pagination_over_http(client: TestClient, service: CaseService) -> None:
    ids = [new_case(service, 1000 * i, start=T0 + timedelta(hours=i)) for i in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = client.get("/cases", params=params).json()
        seen += [c["id"] for c in body["items"]]
        if body["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": body["next_cursor"]}
    assert seen == ids[::-1]
    r = client.get("/cases", params={"cursor": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "cursor"]
