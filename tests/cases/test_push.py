"""Webhooks against a real HTTP receiver on loopback: signatures, retries with back-off, dead letters.

In embedded mode (a thread) and in scale-out mode (real `cityeye worker` processes on a real Redis).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from cases.db import session_factory
from cases.lifecycle import Actor, Role
from cases.push import WebhookDeliverer, sign, verify
from cases.service import CaseService
from cityeye.config import PushSettings, Settings, WebhookSettings
from cityeye.jobs.webhooks import deliver, wire_webhooks
from models.taxonomy import load_taxonomy
from tests.cases.factories import make_event, north_of
from tests.servers import cityeye_worker

SECRET = "s3cr3t-7f9a2c41d8e6b035"


class Receiver:
    """A real HTTP server that answers 500 to the first `fail` requests, then 200; it records everything."""

    def __init__(self, fail: int):
        self.fail = fail
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"at": time.monotonic(), "headers": dict(self.headers), "body": body})
                code = 500 if len(receiver.requests) <= receiver.fail else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if code == 500 else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.requests) >= n, f"receiver got {len(self.requests)} of {n} requests"


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    r = Receiver(fail=getattr(request, "param", 2))
    yield r
    r.close()


def push_settings(url: str, **kwargs: Any) -> PushSettings:
    defaults: dict[str, Any] = {"backoff_s": 0.2, "poll_s": 0.05, "timeout_s": 5, "max_attempts": 5}
    return PushSettings(webhooks=[WebhookSettings(url=url, secret=SECRET)], **{**defaults, **kwargs})


def wired(engine: Engine, settings: Settings, push: PushSettings) -> tuple[CaseService, WebhookDeliverer]:
    s = settings.model_copy(update={"push": push})
    service = CaseService(session_factory(engine), s, load_taxonomy())
    deliverer = WebhookDeliverer(session_factory(engine), push)
    service.outbox_listeners.append(deliverer.wake)
    return service, deliverer


def wait_state(deliverer: WebhookDeliverer, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliverer.deliveries()
        if rows and all(r.state == state for r in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"deliveries: {[(r.id, r.state, r.attempts, r.last_error) for r in deliverer.deliveries()]}")


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(
    engine: Engine, settings: Settings, receiver: Receiver
) -> None:
    service, deliverer = wired(engine, settings, push_settings(receiver.url))
    deliverer.start()
    try:
        case_id = service.ingest(make_event(geo=north_of(0), evidence=())).case_id
        receiver.wait_for(3)
        wait_state(deliverer, "delivered")
    finally:
        deliverer.stop()
    assert len(receiver.requests) == 3
    (row,) = deliverer.deliveries()
    assert (row.state, row.attempts, row.event_type, row.case_id) == ("delivered", 3, "case.created", case_id)
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.2 * 0.9 and gaps[1] >= 0.4 * 0.9  # exponential back-off: 0.2 s, then 0.4 s

    ids = {r["headers"]["X-Cityeye-Delivery"] for r in receiver.requests}
    assert ids == {str(row.id)}  # the same delivery id on every retry
    last = receiver.requests[-1]
    h = last["headers"]
    assert h["X-Cityeye-Event"] == "case.created" and h["Content-Type"] == "application/json"
    assert verify(SECRET, h["X-Cityeye-Timestamp"], last["body"], h["X-Cityeye-Signature"], now=time.time())
    assert not verify("another-secret-123456", h["X-Cityeye-Timestamp"], last["body"], h["X-Cityeye-Signature"])
    assert not verify(SECRET, h["X-Cityeye-Timestamp"], last["body"] + b" ", h["X-Cityeye-Signature"])
    payload = json.loads(last["body"])
    assert payload["event"] == "case.created"
    assert payload["case"]["id"] == case_id and payload["case"]["status"] == "detected"
    assert payload["case"]["code"] == "0102" and payload["case"]["from_status"] is None


@pytest.mark.parametrize("receiver", [0], indirect=True)
def test_status_changes_are_pushed_with_the_previous_status(
    engine: Engine, settings: Settings, receiver: Receiver
) -> None:
    service, deliverer = wired(engine, settings, push_settings(receiver.url))
    case = service.get_case(service.ingest(make_event(geo=north_of(0), evidence=())).case_id).case
    service.act(case.id, "register", Actor("olga", Role.OPERATOR), version=case.version)
    service.act(case.id, "note", Actor("olga", Role.OPERATOR), note="notes push nothing")
    assert deliverer.deliver_due() == 2
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [(e["event"], e["case"]["from_status"], e["case"]["status"]) for e in events] == [
        ("case.created", None, "detected"),
        ("case.status_changed", "detected", "registered"),
    ]
    assert deliverer.deliver_due() == 0
    deliverer.stop()


@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_a_receiver_that_always_fails_ends_in_the_dead_letter_list(
    engine: Engine, settings: Settings, receiver: Receiver
) -> None:
    service, deliverer = wired(engine, settings, push_settings(receiver.url, backoff_s=0.01, max_attempts=3))
    deliverer.start()
    try:
        service.ingest(make_event(geo=north_of(0), evidence=()))
        wait_state(deliverer, "dead")
        assert len(receiver.requests) == 3
        (dead,) = deliverer.dead_letters()
        assert dead.attempts == 3 and dead.last_error.startswith("HTTP 500")
        receiver.fail = 0
        deliverer.retry(dead.id)
        wait_state(deliverer, "delivered")
    finally:
        deliverer.stop()
    assert len(receiver.requests) == 4 and deliverer.dead_letters() == []


def test_an_unreachable_receiver_is_retried_and_nothing_is_queued_without_webhooks(
    engine: Engine, settings: Settings
) -> None:
    service, deliverer = wired(engine, settings, push_settings("http://127.0.0.1:9/hook", max_attempts=2))
    service.ingest(make_event(geo=north_of(0), evidence=()))
    assert deliverer.deliver_due() == 1
    (row,) = deliverer.deliveries()
    assert (row.state, row.attempts) == ("pending", 1) and "ConnectError" in row.last_error
    assert deliverer.deliver_due() == 0  # backing off
    deliverer.stop()

    plain = CaseService(session_factory(engine), settings, load_taxonomy())
    plain.ingest(make_event(geo=north_of(500), source_id="cam-2", evidence=()))
    assert len(deliverer.deliveries()) == 1


def test_signatures_cover_the_timestamp() -> None:
    body = b'{"a": 1}'
    assert sign(SECRET, 100, body) != sign(SECRET, 101, body)
    assert verify(SECRET, "100", body, sign(SECRET, 100, body), now=150)
    assert not verify(SECRET, "100", body, sign(SECRET, 100, body), now=100 + 301)  # replay window
    assert not verify(SECRET, "abc", body, sign(SECRET, 100, body))


def test_verify_checks_the_replay_window_against_the_current_time_by_default() -> None:
    """A delivery signed long ago is refused even when the receiver passes no `now`."""
    body = b'{"a": 1}'
    assert not verify(SECRET, "100", body, sign(SECRET, 100, body))
    fresh = int(time.time())
    assert verify(SECRET, str(fresh), body, sign(SECRET, fresh, body))
    assert not verify(SECRET, "9" * 40, body, sign(SECRET, int("9" * 40), body))


def test_placeholder_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        WebhookSettings(url="http://x", secret="changeme-changeme")


# ---- scale-out: the same outbox sent by real `cityeye worker` processes on a real Redis -----------------------
def _worker_config(path: Path, settings: Settings, push: PushSettings) -> Path:
    config = {
        "database_url": settings.db_url,
        "push": push.model_dump(mode="json"),
        "security": {"allow_hosts": ["127.0.0.1"]},  # the receiver is on loopback
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _scale_out(engine: Engine, settings: Settings, push: PushSettings, redis: str) -> tuple[Settings, CaseService]:
    s = settings.model_copy(update={"push": push, "redis_url": redis})
    service = CaseService(session_factory(engine), s, load_taxonomy())
    assert wire_webhooks(service, s) is None  # scale-out: no thread here, an enqueue after each commit
    return s, service


def _own_db(redis_url: str, n: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{n}"  # a Redis database of its own: no other test's queue


def test_scale_out_a_worker_with_beat_retries_until_the_receiver_accepts_exactly_once(
    engine: Engine, settings: Settings, receiver: Receiver, redis_url: str, tmp_path: Path
) -> None:
    push = push_settings(receiver.url, backoff_s=0.3, poll_s=0.2, max_attempts=5)
    redis = _own_db(redis_url, 3)
    s, service = _scale_out(engine, settings, push, redis)
    config = _worker_config(tmp_path / "worker.yaml", s, push)
    with cityeye_worker(tmp_path / "worker", redis, "--beat", CITYEYE_CONFIG=str(config)) as worker:
        case_id = service.ingest(make_event(geo=north_of(0), evidence=())).case_id
        deliverer = WebhookDeliverer(session_factory(engine), push)  # only to read the rows
        wait_state(deliverer, "delivered", timeout=90)
        time.sleep(1.0)  # five more beat periods: a delivered row is never sent again
        assert worker.poll() is None
    codes = [500 if i < 2 else 200 for i in range(len(receiver.requests))]
    assert len(receiver.requests) == 3 and codes.count(200) == 1
    (row,) = deliverer.deliveries()
    assert (row.state, row.attempts, row.case_id, row.last_error) == ("delivered", 3, case_id, "")
    assert {r["headers"]["X-Cityeye-Delivery"] for r in receiver.requests} == {str(row.id)}
    for r in receiver.requests:
        h = r["headers"]
        assert verify(SECRET, h["X-Cityeye-Timestamp"], r["body"], h["X-Cityeye-Signature"], now=time.time())
    assert json.loads(receiver.requests[-1]["body"])["case"]["id"] == case_id
    deliverer.stop()


@pytest.mark.parametrize("receiver", [0], indirect=True)
def test_scale_out_each_commit_enqueues_a_delivery_run_without_beat(
    engine: Engine, settings: Settings, receiver: Receiver, redis_url: str, tmp_path: Path
) -> None:
    push = push_settings(receiver.url, poll_s=60)
    redis = _own_db(redis_url, 4)
    s, service = _scale_out(engine, settings, push, redis)
    config = _worker_config(tmp_path / "worker.yaml", s, push)
    with cityeye_worker(tmp_path / "worker", redis, CITYEYE_CONFIG=str(config)):  # no beat: only the enqueues
        case = service.get_case(service.ingest(make_event(geo=north_of(0), evidence=())).case_id).case
        receiver.wait_for(1, timeout=90)
        service.act(case.id, "register", Actor("olga", Role.OPERATOR), version=case.version)
        receiver.wait_for(2, timeout=90)
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [(e["event"], e["case"]["status"]) for e in events] == [
        ("case.created", "detected"),
        ("case.status_changed", "registered"),
    ]


def test_the_worker_task_does_nothing_without_webhooks(tmp_path: Path) -> None:
    from cityeye import jobs as tasks

    tasks.set_settings(Settings(data_dir=tmp_path))
    try:
        assert deliver() == 0
        assert "webhooks" not in tasks.make_celery(Settings(data_dir=tmp_path)).conf.beat_schedule
        with_hooks = Settings(
            data_dir=tmp_path,
            push=push_settings("http://127.0.0.1:9/hook", poll_s=2.5),
            security={"allow_hosts": ["127.0.0.1"]},
        )
        assert tasks.make_celery(with_hooks).conf.beat_schedule["webhooks"] == {
            "task": "cityeye.webhooks.deliver",
            "schedule": 2.5,
        }
    finally:
        tasks.set_settings(None)
