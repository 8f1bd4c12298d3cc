"""`cityeye streams` (the camera worker) and `cityeye cameras list | import | remove | status`."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityeye.commands.common import UserError, offline
from cityeye.config import Settings

if TYPE_CHECKING:  # heavy imports stay inside the commands that need them
    from cases.cameras import SqlCameraStore
    from cases.ingest_queue import EventSpool
    from cityeye.runtime import Runtime
    from inference.holder import DetectorHolder
    from inference.streams.worker import StreamWorker


def _store(settings: Settings) -> SqlCameraStore:
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime.from_settings(settings, webhooks="off").cameras


def _import(settings: Settings, path: Path) -> list[str]:
    from inference.errors import CameraConfigError
    from inference.streams.config import load_cameras_file

    try:
        cams = load_cameras_file(path)  # all validated before anything is written
        for cam in cams:
            cam.check_outbound(settings.security.allow_hosts)
    except CameraConfigError as exc:
        raise UserError("; ".join(exc.errors)) from None
    store = _store(settings)
    lines = []
    for cam in cams:
        _, created = store.upsert(cam)
        lines.append(f"{'added' if created else 'updated'} camera {cam.id} ({cam.safe_url})")
    return lines


@dataclass
class StreamProcess:
    """What `cityeye streams` runs: the stream worker wired to this process's `Runtime` (the case service, the
    camera table, the feedback store) and, with `streams.ingest: spool`, the durable event spool between them."""

    runtime: Runtime
    cameras: SqlCameraStore
    worker: StreamWorker
    spool: EventSpool | None = None

    def run(self, stop: threading.Event) -> None:
        try:
            self.worker.run(stop)
        finally:
            self.close()

    def close(self) -> None:
        """Close the worker, then what was built for it (idempotent)."""
        self.worker.close()
        if self.spool is not None:
            self.spool.close()
        self.runtime.close()


def stream_process(
    settings: Settings, holder: DetectorHolder | None = None, worker_id: str | None = None, redis_client: Any = None
) -> StreamProcess:
    """Build the stream worker of this process: `holder` (default: the configured detector, following the
    registry's production pointer when `detector.model` is `production`), the events' sink (the case service,
    or the spool of `streams.ingest: spool`), the camera table, the active-learning sampler and, with
    `redis_url`, the Redis client of the leases."""
    from cases.cameras import SqlCameraStore
    from cityeye.jobs import set_settings
    from cityeye.runtime import Runtime
    from inference.holder import DetectorHolder
    from inference.sampling import ActiveSampler
    from inference.streams.worker import StreamWorker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # the stream worker queues no webhook runs (the API's delivery thread or the periodic job sends them)
    rt = Runtime.from_settings(settings, webhooks="off")
    try:
        if holder is None:
            holder = DetectorHolder.configured(
                rt.paths.models, settings.detector, settings.streams.reload_check_s, settings.redis_url
            )
        if settings.redis_url and redis_client is None:
            import redis

            redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.ops.outbound_timeout_s)
        spool = None
        if settings.streams.ingest == "spool":
            set_settings(settings)  # the ingest job (embedded thread pool) reads this process's settings
            spool = rt.event_spool(name=f"streams-{socket.gethostname()}")
        cameras = SqlCameraStore(rt.sessions)
        worker = StreamWorker(
            settings.streams,
            rt.paths,
            rt.taxonomy,
            holder,
            spool if spool is not None else rt.cases,
            cameras,
            # active learning: uncertain/contested frames kept for labelling (loop.sampling; caps and disk budget)
            sampler=ActiveSampler(settings.loop.sampling, rt.feedback),
            redis=redis_client if settings.redis_url else None,
            worker_id=worker_id,
        )
    except BaseException:
        rt.close()
        raise
    return StreamProcess(rt, cameras, worker, spool)


def cmd_streams(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.logs import configure_logging

    if args.cameras:
        for line in _import(settings, Path(args.cameras)):
            print(line)
    offline(settings)
    configure_logging(settings.ops.log_format, settings.ops.log_level)
    process = stream_process(settings)
    worker = process.worker
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
    process.run(stop)
    return 0


def cmd_cameras(args: argparse.Namespace, settings: Settings) -> int:
    from inference.errors import CameraNotFound

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
