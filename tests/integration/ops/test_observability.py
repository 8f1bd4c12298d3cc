"""Operations signals: /metrics (Prometheus), /health and /ready, structured JSON logs with request/case ids."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from cases.lifecycle import Role
from cases.service import CaseService
from cityeye import metrics
from cityeye.config import AuthSettings, OpsSettings, Settings
from cityeye.logs import configure_logging, log_context
from tests.cases.factories import T0, Clock, make_event, north_of
from tests.integration.ops.conftest import AppFactory
from tests.servers import free_port


def scrape(client: Any, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_report_cases_by_state_overdue_http_routes_and_webhooks(make_client: AppFactory) -> None:
    with make_client() as client:
        app_service: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
        clock = Clock(T0)
        service = CaseService(app_service.sessions, app_service.settings, app_service.taxonomy, clock=clock)
        client.app.state.services.cases = service  # type: ignore[attr-defined]
        admin = {"X-API-Key": client.app.state.services.api_keys.create("root", Role.ADMIN).token}  # type: ignore[attr-defined]
        ids = [
            service.ingest(make_event(geo=north_of(1000 * i), start=T0 + timedelta(minutes=i))).case_id
            for i in range(3)
        ]
        assert client.post(f"/cases/{ids[0]}/register", json={"version": 1}, headers=admin).status_code == 200
        assert client.get(f"/cases/{ids[1]}", headers=admin).status_code == 200
        assert client.get("/cases/999999", headers=admin).status_code == 404
        assert scrape(client, admin)[("cityeye_cases_overdue", ())] == 0
        clock.advance(hours=24 * 365)
        m = scrape(client, admin)
    assert m[("cityeye_cases", (("status", "detected"),))] == 2
    assert m[("cityeye_cases", (("status", "registered"),))] == 1
    assert m[("cityeye_cases", (("status", "closed"),))] == 0
    assert m[("cityeye_cases_overdue", ())] == 3  # a year later every step's deadline has passed
    assert m[("cityeye_webhook_deliveries", (("state", "dead"),))] == 0
    # routes are labelled by template, so case ids do not create new series
    ok = m[("cityeye_http_requests_total", (("method", "GET"), ("route", "/cases/{case_id}"), ("status", "200")))]
    missing = m[("cityeye_http_requests_total", (("method", "GET"), ("route", "/cases/{case_id}"), ("status", "404")))]
    assert ok >= 1 and missing >= 1
    assert m[("cityeye_http_request_duration_seconds_count", (("method", "GET"), ("route", "/cases/{case_id}")))] >= 2
    for name in ("cityeye_detector_latency_seconds", "cityeye_camera_fps", "cityeye_webhook_failures_total"):
        assert name in metrics.exposition()[0].decode()


def test_metrics_report_redis_queue_depth(make_client: AppFactory, redis_url: str, tmp_path: Path) -> None:
    import redis

    url = redis_url[:-1] + "7"  # a database of its own
    r = redis.Redis.from_url(url)
    r.flushdb()
    r.rpush("celery", *[json.dumps({"n": i}) for i in range(4)])
    try:
        with make_client(Settings(data_dir=tmp_path / "d", redis_url=url)) as client:
            assert scrape(client)[("cityeye_queue_depth", (("queue", "celery"),))] == 4
            r.delete("celery")
            assert scrape(client)[("cityeye_queue_depth", (("queue", "celery"),))] == 0
    finally:
        r.flushdb()
        r.close()


def test_ready_checks_database_redis_and_model(make_client: AppFactory, redis_url: str, tmp_path: Path) -> None:
    with make_client(Settings(data_dir=tmp_path / "a", redis_url=redis_url)) as client:
        r = client.get("/ready")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ready" and body["reasons"] == []
        assert set(body["checks"]) == {"database", "redis", "model"}
        assert body["checks"]["model"]["detail"].startswith("v1: ")
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    missing_model = str(tmp_path / "nowhere.onnx")
    settings = Settings(data_dir=tmp_path / "b", redis_url=dead_redis, detector={"model": missing_model})
    with make_client(settings) as client:
        assert client.get("/health").status_code == 200  # alive, but not ready
        r = client.get("/ready")
        assert r.status_code == 503
        reasons = r.json()["reasons"]
        assert [x.split(":")[0] for x in reasons] == ["redis", "model"]
        assert "redis unreachable" in reasons[0] and "nowhere.onnx" in reasons[1]
        m = scrape(client)
        assert m[("cityeye_ready_check", (("check", "redis"),))] == 0
        assert m[("cityeye_ready_check", (("check", "database"),))] == 1


def test_metrics_ready_and_the_openapi_document_need_a_key_once_keys_exist(make_client: AppFactory) -> None:
    with make_client(ready_model=False) as client:
        for path in ("/metrics", "/ready", "/openapi.json"):
            assert client.get(path).status_code == 200, path  # a fresh install: no key exists yet
        keys = client.app.state.services.api_keys  # type: ignore[attr-defined]
        token = keys.create("scraper", Role.DATA_TEAM).token
        for path, what in (("/metrics", "GET /metrics"), ("/ready", "GET /ready"), ("/openapi.json", "the OpenAPI")):
            r = client.get(path)
            assert r.status_code == 401 and r.json()["detail"].startswith(what), (path, r.text)
            assert "needs an API key once keys exist" in r.json()["detail"]
            assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200, path
            assert client.get(path, headers={"X-API-Key": "ce_abcdefgh_wrong"}).status_code == 401
        keys.revoke("scraper")
        assert client.get("/metrics").status_code == 401  # closed for good, as reads are
        assert client.get("/health").status_code == 200  # liveness is always open
        assert client.get("/docs").status_code == 200  # the pages are static shells; the document needs the key
    with make_client(ready_model=False, public=["metrics", "ready", "docs"]) as client:
        client.app.state.services.api_keys.create("root", Role.ADMIN)  # type: ignore[attr-defined]
        for path in ("/metrics", "/ready", "/openapi.json"):
            assert client.get(path).status_code == 200, path  # opened explicitly
        assert client.get("/cases").status_code == 401  # reads are not


def test_metrics_can_be_turned_off(make_client: AppFactory) -> None:
    with make_client(metrics=False) as client:
        assert client.get("/metrics").status_code == 404


def test_json_logs_carry_request_and_case_ids(make_client: AppFactory, tmp_path: Path) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("json", "INFO", stream)
    try:
        with make_client(Settings(data_dir=tmp_path / "d", auth=AuthSettings(open_read=True))) as client:
            r = client.get("/cases/42", headers={"X-Request-ID": "req-abc.1"})
            assert r.status_code == 404 and r.headers["x-request-id"] == "req-abc.1"
            generated = client.get("/cases", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
            assert len(generated) == 32 and " " not in generated
        with log_context(camera_id="gate-3"):
            logging.getLogger("streams.test").warning("reconnected after %d s", 5)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [x for x in lines if x["logger"] == "cityeye.access" and x["path"] == "/cases/42"]
    assert len(access) == 1
    assert access[0]["request_id"] == "req-abc.1" and access[0]["case_id"] == 42 and access[0]["status"] == 404
    assert access[0]["route"] == "/cases/{case_id}" and access[0]["level"] == "INFO"
    camera = [x for x in lines if x["logger"] == "streams.test"]
    assert camera == [
        {"ts": camera[0]["ts"], "level": "WARNING", "logger": "streams.test", "msg": "reconnected after 5 s",
         "camera_id": "gate-3"}
    ]  # fmt: skip


def test_log_format_is_a_validated_setting() -> None:
    assert OpsSettings(log_format="json").log_format == "json"
    from cityeye.config import ConfigError, load_settings

    try:
        load_settings(ops={"log_format": "xml"})
    except ConfigError as exc:
        assert exc.errors == ["ops.log_format: Input should be 'text' or 'json'"]
    else:
        raise AssertionError("log_format xml was accepted")
