"""`cityeye worker`: the Celery worker of the scale-out mode (tasks from Redis; `--beat` adds the scheduler)."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any

from cityeye.config import Settings


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.metrics_port:
        # the pool processes that run the tasks write their metrics to files here; the server sums them. Set
        # before anything imports prometheus_client, so every metric of this process tree lands there.
        folder = settings.paths.metrics / f"worker-{os.getpid()}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        from cityeye.metrics import serve_metrics

        serve_metrics(args.metrics_port)
    from cityeye.jobs import run_worker

    return run_worker(settings, concurrency=args.concurrency, beat=args.beat, queues=args.queues)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="run background jobs from Redis (scale-out; needs redis_url)")
    p.add_argument("--concurrency", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--beat", action="store_true", help="also run the periodic scheduler (one worker only)")
    p.add_argument("--queues", help="comma-separated queues to consume (default: all)")
    p.add_argument("--metrics-port", type=int, help="serve the worker's Prometheus metrics on 127.0.0.1:PORT")
    p.set_defaults(func=cmd_worker)
