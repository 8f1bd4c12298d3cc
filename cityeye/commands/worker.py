"""`cityeye worker`: the Celery worker of the scale-out mode (tasks from Redis; `--beat` adds the scheduler)."""

from __future__ import annotations

import argparse
from typing import Any

from cityeye.config import Settings


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.tasks import run_worker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return run_worker(settings, concurrency=args.concurrency, beat=args.beat, queues=args.queues)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="run background jobs from Redis (scale-out; needs redis_url)")
    p.add_argument("--concurrency", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--beat", action="store_true", help="also run the periodic scheduler (one worker only)")
    p.add_argument("--queues", help="comma-separated queues to consume (default: all)")
    p.set_defaults(func=cmd_worker)
