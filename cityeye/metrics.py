"""Prometheus metrics: the named metric objects every part of cityeye updates, and the `/metrics` text.

Code that does the work updates the metric next to it, e.g. a stream worker::

    from cityeye import metrics
    metrics.CAMERA_FPS.labels(camera="gate-3").set(fps)
    metrics.CAMERA_RECONNECTS.labels(camera="gate-3").inc()
    with metrics.DETECTOR_LATENCY.labels(backend="onnx").time(): ...

Counters and histograms live in this process; the state of the case store (cases by status, overdue cases,
webhook deliveries by state) and of Redis (queue lengths) is read when `/metrics` is scraped
(`refresh_store_gauges`, `refresh_queue_gauges`), so every API process reports the same numbers.
Workers that run in other processes expose their own metrics with `serve_metrics(port)`.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# ---- inference ---------------------------------------------------------------------------------------------
DETECTOR_LATENCY = Histogram(
    "cityeye_detector_latency_seconds",
    "Wall time of one detector call (a batch of frames)",
    ["backend"],
    buckets=_LATENCY_BUCKETS,
)
DETECTOR_FRAMES = Counter("cityeye_detector_frames_total", "Frames run through the detector", ["backend"])
MODEL_LOADED = Gauge(
    "cityeye_model_loaded", "1 for each detector version loaded in this process", ["version", "backend"]
)
_loaded: set[str] = set()


def model_loaded(version: str, backend: str) -> None:
    """Record that this process loaded detector `version` (shown by /ready and the gauge)."""
    MODEL_LOADED.labels(version=version, backend=backend).set(1)
    _loaded.add(f"{version}/{backend}")


def loaded_models() -> list[str]:
    return sorted(_loaded)


# ---- streams (per camera) ----------------------------------------------------------------------------------
CAMERA_FPS = Gauge("cityeye_camera_fps", "Frames per second processed, per camera", ["camera"])
CAMERA_UP = Gauge("cityeye_camera_up", "1 while the camera's stream is connected, else 0", ["camera"])
CAMERA_RECONNECTS = Counter("cityeye_camera_reconnects_total", "Stream reconnect attempts, per camera", ["camera"])
CAMERA_FRAMES = Counter("cityeye_camera_frames_total", "Frames read from the stream, per camera", ["camera"])

# ---- surveys -------------------------------------------------------------------------------------------------
SURVEY_IMAGES = Counter("cityeye_survey_images_total", "Survey images processed, by outcome (ok, error)", ["outcome"])
SURVEYS = Counter("cityeye_surveys_total", "Surveys finished, by outcome (done, failed)", ["outcome"])

# ---- events and cases ----------------------------------------------------------------------------------------
EVENTS_INGESTED = Counter(
    "cityeye_events_ingested_total", "Events ingested, by result (created, merged, duplicate, ...)", ["result"]
)
CASES = Gauge("cityeye_cases", "Cases by lifecycle status (read from the store at scrape time)", ["status"])
CASES_OVERDUE = Gauge("cityeye_cases_overdue", "Open cases past their step's deadline")

# ---- webhooks ------------------------------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Gauge(
    "cityeye_webhook_deliveries", "Webhook deliveries by state (pending, delivered, dead = dead letters)", ["state"]
)
WEBHOOK_FAILURES = Counter("cityeye_webhook_failures_total", "Failed webhook POST attempts (non-2xx or no answer)")
WEBHOOK_DEAD = Counter("cityeye_webhook_dead_total", "Webhook deliveries that became dead letters")

# ---- queues and tasks ----------------------------------------------------------------------------------------
QUEUE_DEPTH = Gauge("cityeye_queue_depth", "Messages waiting in a Redis queue (list length)", ["queue"])
TASKS = Counter("cityeye_tasks_total", "Background tasks finished in this process, by outcome", ["task", "outcome"])

# ---- HTTP ----------------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "cityeye_http_requests_total", "HTTP requests by method, route template and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cityeye_http_request_duration_seconds",
    "HTTP request duration by method and route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_REJECTED = Counter(
    "cityeye_http_rejected_total", "Requests refused by a limit (body_too_large, auth_rate, upload_rate)", ["reason"]
)
AUTH_FAILURES = Counter("cityeye_auth_failures_total", "Requests answered 401 (missing, unknown or revoked key)")
READY = Gauge("cityeye_ready_check", "1 when a readiness check passes, else 0", ["check"])


def refresh_store_gauges(sessions: sessionmaker[Session], now: Any) -> None:
    """Cases by status, overdue cases and webhook deliveries by state, from the case store."""
    from sqlalchemy import func, select

    from cases.orm import Case, WebhookDelivery
    from cases.status import OPEN_STATUSES, CaseStatus

    with sessions() as session:
        by_status = dict(session.execute(select(Case.status, func.count()).group_by(Case.status)).tuples().all())
        overdue = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.status.in_([s.value for s in OPEN_STATUSES]), Case.due_at.is_not(None), Case.due_at < now)
        )
        deliveries = dict(
            session.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).tuples().all()
        )
    for status in CaseStatus:
        CASES.labels(status=status.value).set(by_status.get(status.value, 0))
    CASES_OVERDUE.set(overdue or 0)
    for state in ("pending", "delivered", "dead"):
        WEBHOOK_DELIVERIES.labels(state=state).set(deliveries.get(state, 0))


def refresh_queue_gauges(redis_url: str, timeout_s: float, max_keys: int = 200) -> None:
    """The length of every Redis list (Celery queues are lists named after the queue) on `redis_url`'s db."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        seen: set[str] = set()
        for key in client.scan_iter(count=100, _type="list"):
            name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
            if name.startswith("_kombu") or name in seen:
                continue
            seen.add(name)
            QUEUE_DEPTH.labels(queue=name).set(int(client.llen(key)))
            if len(seen) >= max_keys:
                break
        for labels in list(QUEUE_DEPTH._metrics):  # queues drained to nothing disappear from Redis: report 0
            if labels[0] not in seen:
                QUEUE_DEPTH.labels(queue=labels[0]).set(0)
    finally:
        client.close()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric of this process, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose this process's metrics on http://addr:port/metrics (workers that run outside the API).

    With `PROMETHEUS_MULTIPROC_DIR` set (`cityeye worker --metrics-port`, whose tasks run in forked pool
    processes) it serves the sum over every process that wrote there."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=addr, registry=registry)
    log.info("metrics on http://%s:%d/metrics", addr, port)
