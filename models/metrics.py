"""Prometheus plumbing shared by every package: latency buckets, the `/metrics` text, a metrics server for workers.

Each package defines the metrics of the work it does next to it (`inference/metrics.py`, `cases/metrics.py`,
`api/metrics.py`); they all register in prometheus_client's default registry, so one scrape shows them all.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
