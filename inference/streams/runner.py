"""The stream runner: the latest frame of every camera → one batched detector call → per-camera tracking and
rules → events → the sink (the case service), and the status of every camera.

One `Detector` serves all cameras of a worker; each round takes the newest frame of each camera that has a
new one (older frames were already dropped by the sources) and runs them as one batch, so N cameras cost
one forward pass instead of N. The `DetectorHolder` swaps the model between rounds (live reload).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference.detections import Detections
from inference.event import Event
from inference.frame import Frame
from inference.holder import DetectorHolder
from inference.pipeline import FrameSampler
from inference.settings import StreamSettings
from inference.streams.camera_geo import CameraGeo
from inference.streams.config import CameraConfig
from inference.streams.rules import CameraRules
from inference.streams.source import CameraSource, SourceOptions, SourceStatus
from inference.streams.tracking import StationaryTracker
from inference.streams.zones import Zones
from models.datadir import DataDir
from models.taxonomy import Taxonomy

log = logging.getLogger(__name__)


@dataclass
class CameraPipeline:
    """Everything one camera keeps between frames."""

    config: CameraConfig
    source: CameraSource
    tracker: StationaryTracker
    rules: CameraRules
    zones: Zones
    events: int = 0
    analysed: int = 0  # frames that went through detection, tracking and rules
    last_frame: Frame | None = None
    last_detections: Detections | None = None
    last_event_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


def _digest(cfg: CameraConfig) -> str:
    return cfg.model_dump_json()


class StreamRunner:
    """Runs the cameras it is given (`set_cameras`) through one detector; `step()` is one batched round."""

    def __init__(
        self,
        holder: DetectorHolder,
        taxonomy: Taxonomy,
        sink: Callable[[list[Event]], Any],
        settings: StreamSettings,
        sampler: FrameSampler | None = None,
    ):
        self.holder = holder
        self.taxonomy = taxonomy
        self.sink = sink
        self.settings = settings
        self.sampler = sampler  # active learning: offered every analysed frame (inference/sampling.py)
        self._cams: dict[str, CameraPipeline] = {}
        self._digests: dict[str, str] = {}
        self._lock = threading.Lock()
        self.rounds = 0
        self.frames = 0
        self.on_events: list[Callable[[list[Event], list[Frame]], None]] = []
        self._post_q: queue.Queue[tuple[list[tuple[CameraPipeline, Frame]], list[Detections], str] | None] = (
            queue.Queue(maxsize=2)
        )
        self._post: threading.Thread | None = None

    # ---- cameras ---------------------------------------------------------------------------------------
    def _pipeline(self, cfg: CameraConfig) -> CameraPipeline:
        s = self.settings
        opts = SourceOptions(
            fps=cfg.fps,
            buffer=s.buffer_frames,
            rtsp_transport=cfg.rtsp_transport,
            loop=cfg.loop,
            reconnect_min_s=s.reconnect_min_s,
            reconnect_max_s=s.reconnect_max_s,
            stall_timeout_s=s.stall_timeout_s,
            open_timeout_s=s.open_timeout_s,
        )
        tracker = StationaryTracker(
            fps=cfg.fps,
            track_buffer_s=s.track_buffer_s,
            reassociate_iou=s.reassociate_iou,
            memory_s=s.stationary_memory_s,
            high_thresh=cfg.rules.min_confidence,
            low_thresh=min(0.1, cfg.rules.min_confidence),
        )
        return CameraPipeline(
            config=cfg,
            source=CameraSource(cfg.id, cfg.url, opts),
            tracker=tracker,
            rules=CameraRules(cfg, self.taxonomy, CameraGeo(cfg.geo)),
            zones=Zones(cfg.zones),
        )

    def set_cameras(self, configs: Sequence[CameraConfig]) -> None:
        """Run exactly these cameras: start new ones, stop removed ones, restart changed ones."""
        wanted = {c.id: c for c in configs if c.enabled}
        with self._lock:
            for cid in list(self._cams):
                if cid not in wanted or self._digests[cid] != _digest(wanted[cid]):
                    self._cams.pop(cid).source.stop(timeout=0.5)
                    self._digests.pop(cid, None)
                    log.info("camera %s stopped", cid)
            for cid, cfg in wanted.items():
                if cid not in self._cams:
                    pipe = self._pipeline(cfg)
                    self._cams[cid] = pipe
                    self._digests[cid] = _digest(cfg)
                    pipe.source.start()
                    log.info("camera %s started (%s)", cid, cfg.safe_url)

    @property
    def camera_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._cams)

    def pipelines(self) -> list[CameraPipeline]:
        with self._lock:
            return list(self._cams.values())

    def stop(self) -> None:
        """Finish the rounds already detected, stop the post thread and every camera."""
        self.flush()
        if self._post is not None and self._post.is_alive():
            self._post_q.put(None)
            self._post.join(timeout=10)
        self._post = None
        self.set_cameras([])

    def watchdog(self) -> None:
        for pipe in self.pipelines():
            pipe.source.check()

    # ---- one round -------------------------------------------------------------------------------------
    def collect(self, wait_s: float) -> list[tuple[CameraPipeline, Frame]]:
        """The newest frame of each camera that has one; waits up to wait_s for the first to arrive."""
        deadline = time.monotonic() + wait_s
        while True:
            got = [(p, f) for p in self.pipelines() if (f := p.source.latest()) is not None]
            if got or time.monotonic() >= deadline:
                return got
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))

    def step(self, wait_s: float | None = None) -> int:
        """One round: collect → one predict → (post thread) track/rules per camera → sink.

        Tracking, rules and ingestion of round k run on the post-processing thread while the detector runs
        round k+1 (ONNX Runtime and PyTorch release the GIL), so they add almost nothing to the round time;
        one FIFO thread keeps each camera's frames in order. Returns the frames detected.
        """
        self.holder.maybe_reload()
        batch = self.collect(self.settings.batch_wait_s if wait_s is None else wait_s)
        if not batch:
            return 0
        detector = self.holder.get()
        frames = [f for _, f in batch]
        results = detector.predict(frames)
        self._post_start()
        self._post_q.put((batch, results, detector.version))  # bounded: back-pressure if post-processing lags
        self.rounds += 1
        self.frames += len(frames)
        return len(frames)

    def _post_start(self) -> None:
        if self._post is None or not self._post.is_alive():
            self._post = threading.Thread(target=self._post_loop, name="streams-post", daemon=True)
            self._post.start()

    def _post_loop(self) -> None:
        while True:
            item = self._post_q.get()
            try:
                if item is None:
                    return
                self._post_round(*item)
            except Exception:
                log.exception("post-processing a round failed")
            finally:
                self._post_q.task_done()

    def _post_round(self, batch: list[tuple[CameraPipeline, Frame]], results: list[Detections], version: str) -> None:
        events: list[Event] = []
        for (pipe, frame), dets in zip(batch, results, strict=True):
            events.extend(self.process(pipe, frame, dets, version))
            if self.sampler is not None:
                self.sampler.offer(frame, dets, version)
        if events:
            self.sink(events)
            frames = [f for _, f in batch]
            for cb in self.on_events:
                cb(events, frames)

    def flush(self) -> None:
        """Wait until every detected round has been tracked, ruled and ingested."""
        if self._post is not None and self._post.is_alive():
            self._post_q.join()

    def process(self, pipe: CameraPipeline, frame: Frame, dets: Detections, version: str) -> list[Event]:
        keep = dets.confidence >= pipe.config.rules.min_confidence
        dets = pipe.zones.unmasked(dets[keep] if not keep.all() else dets)
        tracked = pipe.tracker.update(dets, frame.timestamp)
        pipe.last_frame, pipe.last_detections = frame, tracked
        pipe.analysed += 1
        events = pipe.rules.update(frame, tracked, version)
        if events:
            pipe.events += len(events)
            pipe.last_event_at = frame.timestamp
            for e in events:
                log.info(
                    "camera %s: %s event (track %s, %.2f) %s",
                    pipe.config.id,
                    e.category,
                    e.tracker_id,
                    e.confidence,
                    e.event_id,
                )
        return events

    def replay(self, config: CameraConfig, frames: Iterable[Frame], batch: int = 8) -> int:
        """Run recorded frames (with their own timestamps) through a camera's tracking, zones and rules, and
        sink the events: re-analysis of footage with a camera's settings, independent of wall-clock time.
        No source is started. Returns the number of events."""
        pipe = self._pipeline(config)
        detector = self.holder.get()
        n = 0
        it = iter(frames)
        while chunk := list(itertools.islice(it, batch)):
            events: list[Event] = []
            for frame, dets in zip(chunk, detector.predict(chunk), strict=True):
                events.extend(self.process(pipe, frame, dets, detector.version))
            if events:
                self.sink(events)
                n += len(events)
        return n

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step()

    # ---- status ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for pipe in self.pipelines():
            s: SourceStatus = pipe.source.status()
            d = s.as_dict()
            d["analysed"] = pipe.analysed
            d["events"] = pipe.events
            d["last_event_at"] = pipe.last_event_at.isoformat() if pipe.last_event_at else None
            d["url"] = pipe.config.safe_url
            out[pipe.config.id] = d
        return out


_RUNNERS: list[StreamRunner] = []
_RUNNERS_LOCK = threading.Lock()


def register(runner: StreamRunner) -> None:
    with _RUNNERS_LOCK:
        _RUNNERS.append(runner)


def unregister(runner: StreamRunner) -> None:
    with _RUNNERS_LOCK:
        if runner in _RUNNERS:
            _RUNNERS.remove(runner)


def camera_status() -> dict[str, dict[str, Any]]:
    """Status of every camera this process runs (for /metrics): id → state, fps, frames, last_frame_at,
    reconnects, watchdog_restarts, last_error, events."""
    out: dict[str, dict[str, Any]] = {}
    with _RUNNERS_LOCK:
        runners = list(_RUNNERS)
    for r in runners:
        out.update(r.status())
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)


def snapshot_path(data_dir: Path, camera_id: str) -> Path:
    """The latest snapshot of a camera: a JPEG under the data dir's `cameras` folder."""
    return DataDir(data_dir).cameras / camera_id / "latest.jpg"


def write_snapshot(path: Path, jpeg: bytes) -> None:
    """Atomically replace the snapshot file (readers never see half a JPEG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snap-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(jpeg)
        os.chmod(tmp, 0o644)  # like any other file the worker writes (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
