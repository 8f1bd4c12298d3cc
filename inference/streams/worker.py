"""`cityeye streams`: one process that runs cameras from the camera table through one detector into cases.

Embedded (no `redis_url`): this process runs every enabled camera. Scale-out (`redis_url` set): workers
share the cameras through Redis leases (`Leases`); a killed worker's cameras move to the others within the
lease TTL. Either way the case service merges events of one problem into one case (same camera and
overlapping box, or same map position), so a camera that moves to another worker, or a stream that
reconnects and shows the same stall again, adds observations to the open case instead of a new one.

A control thread (independent of the detector's pace) renews leases, re-reads the camera table, runs the
sources' watchdog and stores status and snapshots; the main thread runs detection rounds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2

from inference import metrics
from inference.event import Event
from inference.evidence import annotate
from inference.holder import DetectorHolder
from inference.streams.config import CameraConfig
from inference.streams.runner import StreamRunner, register, snapshot_path, unregister
from inference.streams.store import CameraStore, write_snapshot

if TYPE_CHECKING:
    from cityeye.config import Settings

log = logging.getLogger(__name__)


def default_holder(settings: Settings) -> DetectorHolder:
    """The configured detector. With detector.model = 'production' it follows the registry's production pointer
    (checked every streams.reload_check_s and at once on a Redis notice, the new version loaded in the
    background while the cameras keep running); a fixed version or file is never swapped."""
    from inference.detector import Detector

    if settings.detector.model == "production":
        return DetectorHolder.from_settings(settings, poll_s=settings.streams.reload_check_s)
    return DetectorHolder.fixed(Detector.load(settings.models_dir, settings.detector))


class StreamWorker:
    def __init__(
        self,
        settings: Settings,
        holder: DetectorHolder | None = None,
        worker_id: str | None = None,
        redis_client: Any = None,
    ):
        from cases.db import make_engine, migrate, session_factory
        from cases.service import CaseService
        from models.taxonomy import load_taxonomy

        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings)
        migrate(settings, self.engine)
        sessions = session_factory(self.engine)
        self.taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
        self.service = CaseService(sessions, settings, self.taxonomy)
        self.store = CameraStore(sessions)
        self.holder = holder or default_holder(settings)
        from cases.feedback import FeedbackStore
        from inference.sampling import ActiveSampler

        # active learning: uncertain/contested frames kept for labelling (loop.sampling; caps and disk budget)
        self.sampler = ActiveSampler.from_settings(settings, FeedbackStore(sessions, settings.feedback_dir))
        self.runner = StreamRunner(self.holder, self.taxonomy, self._ingest, settings.streams, sampler=self.sampler)
        self.leases = None
        if settings.redis_url:
            from inference.streams.leases import Leases

            if redis_client is None:
                import redis

                redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.ops.outbound_timeout_s)
            self.leases = Leases(redis_client, self.worker_id, settings.streams.lease_ttl_s)
        self.spool = None
        if settings.streams.ingest == "spool":
            from cityeye.tasks import runtime, set_settings

            set_settings(settings)  # the ingest task (embedded thread pool) reads this process's settings
            self.spool = runtime().event_spool(name=f"streams-{socket.gethostname()}")
        self.case_ids: set[int] = set()
        self.on_ingested: list[Callable[[list[Event], list[Any]], None]] = []
        self._cams: list[CameraConfig] = []
        self._next_refresh = 0.0
        self._next_status = 0.0
        self._next_snapshot = 0.0

    def _ingest(self, events: list[Event]) -> None:
        if self.spool is not None:  # safe on disk now; stored by the ingest task, confirmed by flush()
            self.spool.publish(events)
            return
        results = self.service.ingest_many(events)
        for r in results:
            self.case_ids.add(r.case_id)
        for cb in self.on_ingested:
            cb(events, results)

    # ---- control ---------------------------------------------------------------------------------------
    def control_once(self) -> None:
        now = time.monotonic()
        s = self.settings.streams
        if now >= self._next_refresh:
            self._cams = [c.config for c in self.store.list(enabled_only=True)]
            self._next_refresh = now + s.cameras_refresh_s
        if self.leases is not None:
            try:
                owned = self.leases.balance(c.id for c in self._cams)
            except Exception as exc:  # Redis unreachable: our leases will lapse, so stop our cameras
                log.error("lease renewal failed (%s): stopping this worker's cameras", exc)
                self.leases.held = set()
                owned = set()
            cams = [c for c in self._cams if c.id in owned]
        else:
            cams = self._cams
        self.runner.set_cameras(cams)
        self.runner.watchdog()
        if now >= self._next_status:
            statuses = self.runner.status()
            for cid, st in statuses.items():
                metrics.CAMERA_FPS.labels(camera=cid).set(st["fps"])
                metrics.CAMERA_UP.labels(camera=cid).set(1 if st["state"] == "streaming" else 0)
            self.store.write_status(self.worker_id, statuses)
            self._next_status = now + s.status_interval_s
        if self.spool is not None:
            self.spool.flush()
        if now >= self._next_snapshot:
            self.write_snapshots()
            self._next_snapshot = now + s.snapshot_interval_s

    def write_snapshots(self) -> None:
        for pipe in self.runner.pipelines():
            frame, dets = pipe.last_frame, pipe.last_detections
            if frame is None:
                continue
            image = frame.image
            if dets is not None and len(dets):
                image = annotate(image, dets, [self.taxonomy.category_of(str(n)) for n in dets.class_name])
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                write_snapshot(snapshot_path(self.settings.data_dir, pipe.config.id), buf.tobytes())

    def _control_loop(self, stop: threading.Event) -> None:
        period = min(self.settings.streams.heartbeat_s, self.settings.streams.status_interval_s, 1.0)
        while not stop.is_set():
            try:
                self.control_once()
            except Exception:
                log.exception("stream worker control round failed")
            stop.wait(period)

    def run(self, stop: threading.Event) -> None:
        register(self.runner)
        mode = "scale-out (Redis leases)" if self.leases is not None else "embedded"
        log.info("stream worker %s started, %s, model %s", self.worker_id, mode, self.holder.get().version)
        self.control_once()
        control = threading.Thread(target=self._control_loop, args=(stop,), name="streams-control", daemon=True)
        control.start()
        try:
            self.runner.run(stop)
        finally:
            stop.set()
            control.join(timeout=5)
            self.close()

    def close(self) -> None:
        unregister(self.runner)
        self.runner.flush()  # the rounds already detected are tracked, ruled and ingested first
        final = {cid: {**st, "state": "stopped", "fps": 0.0} for cid, st in self.runner.status().items()}
        self.runner.stop()
        stop_listening = getattr(self.holder, "close", None)  # the live holder's Redis listener
        if stop_listening is not None:
            stop_listening()
        if self.leases is not None:
            try:
                self.leases.release_all()
            except Exception as exc:  # Redis gone: the leases lapse by themselves
                log.warning("releasing leases failed: %s", exc)
        try:
            self.store.write_status(self.worker_id, final)
        except Exception as exc:
            log.warning("storing the final camera status failed: %s", exc)
        if self.spool is not None:
            self.spool.close()
        self.engine.dispose()
