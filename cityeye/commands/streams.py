"""`cityeye streams` (the camera worker) and `cityeye cameras list | import | remove | status`."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from cityeye.commands.common import UserError, offline
from cityeye.config import Settings


def _store(settings: Settings) -> Any:
    from cases.db import make_engine, migrate, session_factory
    from inference.streams.store import CameraStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    migrate(settings, engine)
    return CameraStore(session_factory(engine))


def _import(settings: Settings, path: Path) -> list[str]:
    from inference.streams.store import CameraConfigError, load_cameras_file

    try:
        cams = load_cameras_file(path)  # all validated before anything is written
    except CameraConfigError as exc:
        raise UserError("; ".join(exc.errors)) from None
    store = _store(settings)
    lines = []
    for cam in cams:
        _, created = store.upsert(cam)
        lines.append(f"{'added' if created else 'updated'} camera {cam.id} ({cam.safe_url})")
    return lines


def cmd_streams(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.logs import configure_logging

    if args.cameras:
        for line in _import(settings, Path(args.cameras)):
            print(line)
    offline(settings)
    configure_logging(settings.ops.log_format, settings.ops.log_level)
    from inference.streams.worker import StreamWorker

    worker = StreamWorker(settings)
    stop = threading.Event()

    def _stop(_sig: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.metrics_port:
        from cityeye.metrics import serve_metrics

        serve_metrics(args.metrics_port)
    if args.seconds:
        threading.Timer(args.seconds, stop.set).start()
    mode = "scale-out, Redis leases" if settings.redis_url else "embedded"
    print(f"stream worker {worker.worker_id} ({mode}); model {worker.holder.get().version}", flush=True)
    worker.run(stop)
    return 0


def cmd_cameras(args: argparse.Namespace, settings: Settings) -> int:
    from inference.streams.store import CameraNotFound

    if args.action == "import":
        if not args.target:
            raise UserError("cameras import needs a YAML file")
        for line in _import(settings, Path(args.target)):
            print(line)
        return 0
    store = _store(settings)
    if args.action == "list":
        statuses = store.statuses()
        print(f"{'camera':<20}{'enabled':<9}{'state':<14}{'fps':>6}{'reconnects':>12}  url")
        for cam in store.list():
            st = statuses.get(cam.config.id, {})
            print(
                f"{cam.config.id:<20}{str(cam.config.enabled).lower():<9}{st.get('state', '-'):<14}"
                f"{st.get('fps', 0.0):>6.1f}{st.get('reconnects', 0):>12}  {cam.config.safe_url}"
            )
        return 0
    if not args.target:
        raise UserError(f"cameras {args.action} needs a camera id")
    try:
        if args.action == "remove":
            store.delete(args.target)
            print(f"removed camera {args.target}")
        else:
            store.get(args.target)
            print(json.dumps(store.status(args.target) or {"state": "never reported"}, indent=2))
    except CameraNotFound as exc:
        raise UserError(str(exc)) from None
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("streams", help="watch the cameras: decode, detect (batched), track, rules → cases")
    p.add_argument("--cameras", help="import (add or update) the cameras of this YAML file first")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until stopped)")
    p.add_argument("--metrics-port", type=int, help="serve this worker's Prometheus metrics on this port")
    p.set_defaults(func=cmd_streams)
    c = sub.add_parser("cameras", help="the cameras the stream workers watch (the API has the same)")
    c.add_argument("action", choices=["list", "import", "remove", "status"])
    c.add_argument("target", nargs="?", help="import: a YAML file; remove/status: a camera id")
    c.set_defaults(func=cmd_cameras)
