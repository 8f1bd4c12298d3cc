"""Metrics of the service's edge: HTTP requests, refusals, readiness checks, background tasks and queue depths."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from models.metrics import LATENCY_BUCKETS as _LATENCY_BUCKETS

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
