"""Limits: request body size (413), auth-failure limits (per key prefix or client IP, a valid key always passes)
and upload rate limits per client IP (429), outbound timeouts."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import func, select

from api.middleware import SlidingWindow
from cases.lifecycle import Role
from cases.orm import AuditEntry
from cityeye.config import AuthSettings, OpsSettings, Settings
from tests.cases.factories import make_event
from tests.integration.ops.conftest import AppFactory

REPO = Path(__file__).resolve().parents[3]


def audit_rows(client) -> int:  # type: ignore[no-untyped-def]
    with client.app.state.services.cases.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)))


def test_a_body_over_the_limit_is_413_before_or_while_it_is_read(make_client: AppFactory) -> None:
    with make_client(max_body_kb=1) as client:
        case_id = client.app.state.services.cases.ingest(make_event()).case_id  # type: ignore[attr-defined]
        admin = {"X-API-Key": client.app.state.services.api_keys.create("root", Role.ADMIN).token}  # type: ignore[attr-defined]
        before = audit_rows(client)
        big = {"note": "x" * 2000}
        r = client.post(f"/cases/{case_id}/notes", json=big, headers=admin)
        assert r.status_code == 413
        assert r.json() == {"detail": "request body too large: the limit is 1024 bytes (ops.max_body_kb)"}

        def chunks():  # no Content-Length: counted while read
            for _ in range(8):
                yield b'{"note": "' + b"y" * 200

        r = client.post(
            f"/cases/{case_id}/notes", content=chunks(), headers={**admin, "Content-Type": "application/json"}
        )
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        r = client.post(f"/cases/{case_id}/notes", content=b"{}", headers={**admin, "Content-Length": "abc"})
        assert r.status_code == 400
        assert audit_rows(client) == before  # nothing was written
        assert client.post(f"/cases/{case_id}/notes", json={"note": "ok"}, headers=admin).status_code == 200
        assert audit_rows(client) == before + 1


def test_uploads_have_their_own_larger_limit(make_client: AppFactory) -> None:
    with make_client(max_body_kb=1, max_upload_mb=1) as client:
        files = {"file": ("a.jpg", b"\xff" * 4096, "image/jpeg")}
        r = client.post("/cases/1/notes", files=files)  # 4 KiB multipart: over the body limit, under the upload one
        assert r.status_code == 401  # reached the app (which wants a key)
        files = {"file": ("a.jpg", b"\xff" * (1024 * 1024 + 1), "image/jpeg")}
        r = client.post("/cases/1/notes", files=files)
        assert r.status_code == 413
        assert r.json()["detail"] == "upload too large: the limit is 1048576 bytes (ops.max_upload_mb)"


def test_unknown_keys_are_limited_per_client_ip_and_a_valid_key_always_passes(make_client: AppFactory) -> None:
    with make_client(auth_failures_per_min=3) as client:
        good = {"X-API-Key": client.app.state.services.api_keys.create("root", Role.ADMIN).token}  # type: ignore[attr-defined]
        for guess in range(3):
            r = client.get("/cases", headers={"X-API-Key": f"ce_abcdefgh_guess{guess}"})
            assert r.status_code == 401
        r = client.get("/cases", headers={"X-API-Key": "ce_abcdefgh_guess4"})
        assert r.status_code == 429
        assert r.json()["detail"].startswith("too many failed authentications from testclient: 3 per minute")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert client.get("/cases").status_code == 429  # no key at all: the same client-IP bucket
        assert client.get("/cases", headers={"Authorization": "Basic x"}).status_code == 429  # malformed: same
        # the office behind that IP keeps working: a valid key is never refused
        assert [client.get("/cases", headers=good).status_code for _ in range(5)] == [200] * 5
        assert client.get("/health").status_code == 200  # probes are never limited


def test_wrong_secrets_for_a_known_prefix_count_against_that_key_not_its_ip(make_client: AppFactory) -> None:
    with make_client(auth_failures_per_min=3) as client:
        keys = client.app.state.services.api_keys  # type: ignore[attr-defined]
        token = keys.create("alice", Role.DISPATCHER).token
        prefix = token.split("_")[1]
        forged = {"X-API-Key": f"ce_{prefix}_wrong-secret"}
        assert [client.get("/cases", headers=forged).status_code for _ in range(4)] == [401, 401, 401, 429]
        r = client.get("/cases", headers=forged)
        assert r.json()["detail"].startswith(f"too many failed authentications from key {prefix}: 3 per minute")
        assert client.get("/cases", headers={"X-API-Key": token}).status_code == 200  # the key itself still works
        assert client.get("/cases", headers={"X-API-Key": "ce_zzzzzzzz_other"}).status_code == 401  # IP bucket free
        keys.revoke("alice")  # a revoked key's failures count against its prefix too
        assert client.get("/cases", headers={"X-API-Key": token}).status_code == 429


def test_the_failure_counts_are_shared_through_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    from tests.api.conftest import TestClient, build_app

    def settings(name: str) -> Settings:
        return Settings(
            data_dir=tmp_path / name,
            redis_url=redis_url,
            auth=AuthSettings(open_read=False),
            ops=OpsSettings(auth_failures_per_min=3),
        )

    store = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        with TestClient(build_app(settings("a"))) as a, TestClient(build_app(settings("b"))) as b:
            good = {"X-API-Key": b.app.state.services.api_keys.create("root", Role.ADMIN).token}  # type: ignore[attr-defined]
            assert [a.get("/cases", headers={"X-API-Key": f"ce_abcdefgh_{n}"}).status_code for n in range(3)] == [
                401
            ] * 3
            assert store.exists("cityeye:auth-failures:ip:testclient")
            r = b.get("/cases", headers={"X-API-Key": "ce_abcdefgh_x"})  # another API process, the same counts
            assert r.status_code == 429 and "from testclient" in r.json()["detail"]
            assert b.get("/cases", headers=good).status_code == 200
    finally:
        for name in store.scan_iter("cityeye:auth-failures:*"):
            store.delete(name)
        store.close()


def test_uploads_are_rate_limited_per_client_ip(make_client: AppFactory) -> None:
    with make_client(uploads_per_min=2) as client:
        files = {"file": ("a.jpg", b"\xff\xd8", "image/jpeg")}
        assert [client.post("/cases/1/notes", files=files).status_code for _ in range(3)] == [401, 401, 429]
        assert client.get("/health").status_code == 200


def test_sliding_window_forgets_after_the_window_and_bounds_its_memory() -> None:
    w = SlidingWindow(limit=2, window_s=60, max_keys=3)
    w.hit("a", now=0)
    w.hit("a", now=10)
    assert w.retry_after("a", now=11) == 49
    assert w.retry_after("a", now=60.5) == 0  # the first hit left the window
    for key in "bcde":
        w.hit(key, now=61)
    assert w.retry_after("a", now=61) == 0 and len(w._hits) == 3


OUTBOUND = {
    # call (module.attr as written) -> the keyword that bounds it
    "httpx.Client": "timeout",
    "httpx.AsyncClient": "timeout",
    "httpx.get": "timeout",
    "httpx.post": "timeout",
    "httpx.request": "timeout",
    "requests.get": "timeout",
    "requests.post": "timeout",
    "urllib.request.urlopen": "timeout",
    "urlopen": "timeout",
    "socket.create_connection": "timeout",
    "redis.Redis.from_url": "socket_timeout",
    "redis.Redis": "socket_timeout",
    "redis.from_url": "socket_timeout",
    "psycopg.connect": "connect_timeout",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def test_every_outbound_call_in_the_product_has_a_timeout() -> None:
    """A static check: each network client made by product code (not tests, not bench) names a timeout."""
    missing = []
    for package in ("api", "cases", "cityeye", "datasets", "inference", "models", "training"):
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and (kw := OUTBOUND.get(_dotted(node.func))):
                    if not any(k.arg == kw for k in node.keywords):
                        missing.append(f"{path.relative_to(REPO)}:{node.lineno} {_dotted(node.func)} without {kw}=")
    assert missing == []


def test_the_static_check_sees_a_call_without_timeout(tmp_path: Path) -> None:
    tree = ast.parse("import httpx\nhttpx.get('http://x')\nhttpx.Client(timeout=3)\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _dotted(n.func) in OUTBOUND]
    assert [any(k.arg == "timeout" for k in c.keywords) for c in calls] == [False, True]


def test_a_database_that_does_not_answer_is_503_with_retry_after(make_client: AppFactory, tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from cases.db import session_factory
    from cases.service import CaseService

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    with make_client(Settings(data_dir=tmp_path / "d", auth=AuthSettings(open_read=True))) as client:
        app_service = client.app.state.services.cases  # type: ignore[attr-defined]
        engine = create_engine(f"sqlite:///{blocker / 'cityeye.db'}")
        client.app.state.services.cases = CaseService(  # type: ignore[attr-defined]
            session_factory(engine), app_service.settings, app_service.taxonomy
        )
        try:
            r = client.get("/cases")
        finally:
            client.app.state.services.cases = app_service  # type: ignore[attr-defined]
            engine.dispose()
    assert r.status_code == 503
    assert r.json() == {"detail": "database unavailable; retry later"} and r.headers["retry-after"] == "5"
