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
from collections.abc import Callable, Sequence
from typing import Any

import cv2

from inference import metrics
from inference.event import Event
from inference.evidence import annotate
from inference.holder import DetectorHolder
from inference.pipeline import FrameSampler
from inference.ports import CameraStore, EventOutbox, EventSink, IngestOutcome
from inference.settings import StreamSettings
from inference.streams.config import CameraConfig
from inference.streams.runner import StreamRunner, register, snapshot_path, unregister, write_snapshot
from models.datadir import DataDir
from models.taxonomy import Taxonomy

log = logging.getLogger(__name__)


class StreamWorker:
    """Runs the cameras of `cameras` through `holder`'s detector into `sink`; the shell builds the collaborators
    (`cityeye/commands/streams.py`: the case service or the durable event spool, the camera table, the sampler).

    `sink`: an `EventSink` (the case service: each round's events are stored before the next) or an `EventOutbox`
    (the spool: safe on disk at once, stored by the ingest task, confirmed by `flush()` every control round).
    `redis`: a Redis client in scale-out; the worker then shares the cameras with the others through leases.
    """

    def __init__(
        self,
        settings: StreamSettings,
        paths: DataDir,
        taxonomy: Taxonomy,
        holder: DetectorHolder,
        sink: EventSink | EventOutbox,
        cameras: CameraStore,
        sampler: FrameSampler | None = None,
        redis: Any = None,
        worker_id: str | None = None,
    ):
        self.settings = settings
        self.paths = paths
        self.taxonomy = taxonomy
        self.holder = holder
        self.sink = sink
        self.outbox = sink if isinstance(sink, EventOutbox) else None
        self.cameras = cameras
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # active learning: uncertain/contested frames kept for labelling (loop.sampling; caps and disk budget)
        self.sampler = sampler
        self.runner = StreamRunner(self.holder, self.taxonomy, self._ingest, settings, sampler=sampler)
        self.leases = None
        if redis is not None:
            from inference.streams.leases import Leases

            self.leases = Leases(redis, self.worker_id, settings.lease_ttl_s)
        self.case_ids: set[int] = set()
        self.on_ingested: list[Callable[[list[Event], Sequence[IngestOutcome]], None]] = []
        self._cams: list[CameraConfig] = []
        self._next_refresh = 0.0
        self._next_status = 0.0
        self._next_snapshot = 0.0
        self._closed = False

    def _ingest(self, events: list[Event]) -> None:
        if self.outbox is not None:  # safe on disk now; stored by the ingest task, confirmed by flush()
            self.outbox.ingest_many(events)
            return
        results = self.sink.ingest_many(events)
        for r in results:
            self.case_ids.add(r.case_id)
        for cb in self.on_ingested:
            cb(events, results)

    # ---- control ---------------------------------------------------------------------------------------
    def control_once(self) -> None:
        now = time.monotonic()
        s = self.settings
        if now >= self._next_refresh:
            self._cams = [c.config for c in self.cameras.list(enabled_only=True)]
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
            self.cameras.write_status(self.worker_id, statuses)
            self._next_status = now + s.status_interval_s
        if self.outbox is not None:
            self.outbox.flush()
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
                write_snapshot(snapshot_path(self.paths.root, pipe.config.id), buf.tobytes())

    def _control_loop(self, stop: threading.Event) -> None:
        period = min(self.settings.heartbeat_s, self.settings.status_interval_s, 1.0)
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
        """Finish the rounds already detected, stop the cameras, release the leases, store the final status
        (idempotent; what the shell built, the sink and the camera store, the shell closes)."""
        if self._closed:
            return
        self._closed = True
        unregister(self.runner)
        self.runner.flush()  # the rounds already detected are tracked, ruled and ingested first
        final = {cid: {**st, "state": "stopped", "fps": 0.0} for cid, st in self.runner.status().items()}
        self.runner.stop()
        self.holder.close()  # the live holder's Redis listener
        if self.leases is not None:
            try:
                self.leases.release_all()
            except Exception as exc:  # Redis gone: the leases lapse by themselves
                log.warning("releasing leases failed: %s", exc)
        try:
            self.cameras.write_status(self.worker_id, final)
        except Exception as exc:
            log.warning("storing the final camera status failed: %s", exc)
