"""A camera source: one decode thread per camera through OpenCV's FFmpeg backend.

* a small drop-oldest buffer (`deque(maxlen=buffer)`): the detector always gets the newest frames, a slow
  detector never makes a camera fall behind;
* an fps cap: every frame is read from the network (so FFmpeg's own buffers never fill), but only frames at
  least 1/fps apart are decoded into images;
* reconnect with exponential back-off and full jitter (`min(max, base·2^n) · U(0.5, 1)`) after a failed open
  or a lost stream; the count restarts after a frame arrives;
* a watchdog (`check()`, called by the worker): a decoder that has delivered nothing for `stall_timeout_s`
  is abandoned and a fresh one started (a blocked `read()` cannot be interrupted safely, so the old thread
  is left to notice it is stale and release its capture);
* `status()`: state, measured fps, frames, last frame time, reconnects, watchdog restarts, last error.

file:// sources play at their own frame rate (like a camera) and can loop; device://N opens a local device.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from inference import metrics
from inference.frame import Frame
from models.logs import log_context

log = logging.getLogger(__name__)
_ENV_LOCK = threading.Lock()  # OPENCV_FFMPEG_CAPTURE_OPTIONS is read at open time, process-wide


@dataclass
class SourceStatus:
    camera_id: str
    state: str = "starting"  # starting | connecting | streaming | reconnecting | stopped | ended
    fps: float = 0.0
    frames: int = 0
    last_frame_at: datetime | None = None
    reconnects: int = 0
    watchdog_restarts: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_frame_at"] = self.last_frame_at.isoformat() if self.last_frame_at else None
        return d


@dataclass(frozen=True)
class SourceOptions:
    fps: float = 2.0
    buffer: int = 2
    rtsp_transport: str = "tcp"
    loop: bool = False
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    stall_timeout_s: float = 10.0
    open_timeout_s: float = 10.0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with jitter: min(cap, base·2^attempt) scaled by U(0.5, 1)."""
    r = (rng or random).uniform(0.5, 1.0)
    return min(cap, base * (2 ** min(attempt, 30))) * r


class CameraSource:
    def __init__(
        self,
        camera_id: str,
        url: str,
        options: SourceOptions,
        clock: Callable[[], datetime] | None = None,
    ):
        self.camera_id = camera_id
        self.url = url
        self.opts = options
        self._clock = clock or (lambda: datetime.now(UTC))
        self._buf: deque[Frame] = deque(maxlen=max(1, options.buffer))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._status = SourceStatus(camera_id)
        self._times: deque[float] = deque(maxlen=30)
        self._index = 0
        self._last_progress = time.monotonic()
        self.new_frame = threading.Event()

    # ---- control ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._generation += 1
            gen = self._generation
            self._last_progress = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(gen,), name=f"cam-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            self._generation += 1
            self._status.state = "stopped"
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def check(self) -> bool:
        """The watchdog: restart the decoder if it has made no progress for stall_timeout_s. True if it did."""
        if self._stop.is_set():
            return False
        with self._lock:
            idle = time.monotonic() - self._last_progress
            state = self._status.state
        limit = self.opts.stall_timeout_s + (self.opts.open_timeout_s if state == "connecting" else 0.0)
        if state in {"streaming", "connecting"} and idle > limit:
            log.warning("camera %s: no frame for %.0f s, restarting its decoder", self.camera_id, idle)
            with self._lock:
                self._status.watchdog_restarts += 1
                self._status.reconnects += 1
                self._status.last_error = f"stalled: no frame for {idle:.0f} s"
            metrics.CAMERA_RECONNECTS.labels(camera=self.camera_id).inc()
            self._spawn()
            return True
        return False

    # ---- consumer side ---------------------------------------------------------------------------------
    def latest(self) -> Frame | None:
        """The newest buffered frame (older ones are dropped), or None when nothing new arrived."""
        with self._lock:
            if not self._buf:
                return None
            frame = self._buf[-1]
            self._buf.clear()
            self.new_frame.clear()
            return frame

    def status(self) -> SourceStatus:
        with self._lock:
            s = SourceStatus(**asdict(self._status))
            if len(self._times) >= 2 and time.monotonic() - self._times[-1] < 5.0:
                s.fps = round((len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6), 2)
            else:
                s.fps = 0.0
            return s

    # ---- decode thread ---------------------------------------------------------------------------------
    def _current(self, gen: int) -> bool:
        return not self._stop.is_set() and gen == self._generation

    def _set(self, gen: int, **fields: Any) -> None:
        with self._lock:
            if gen == self._generation:
                for k, v in fields.items():
                    setattr(self._status, k, v)

    def _open(self) -> tuple[cv2.VideoCapture, float]:
        parts = urlsplit(self.url)
        scheme = parts.scheme.lower()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.opts.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,  # a safety net after the watchdog: it unblocks an abandoned read
            int(self.opts.stall_timeout_s * 2000),
        ]
        if scheme == "device":
            cap = cv2.VideoCapture(int(parts.netloc or parts.path))
        elif scheme == "file":
            cap = cv2.VideoCapture(unquote(parts.path), cv2.CAP_FFMPEG, params)
        else:
            with _ENV_LOCK:
                old = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
                if scheme in {"rtsp", "rtsps"}:
                    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{self.opts.rtsp_transport}"
                try:
                    cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
                finally:
                    if old is None:
                        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
                    else:
                        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = old
        if not cap.isOpened():
            cap.release()
            raise ConnectionError(f"cannot open {scheme}:// stream")
        fps = cap.get(cv2.CAP_PROP_FPS)
        return cap, fps if fps and np.isfinite(fps) and 0 < fps <= 240 else 25.0

    def _run(self, gen: int) -> None:
        with log_context(camera_id=self.camera_id):
            self._loop(gen)

    def _reconnected(self, gen: int) -> None:
        with self._lock:
            if gen == self._generation:
                self._status.reconnects += 1
                self._last_progress = time.monotonic()
        metrics.CAMERA_RECONNECTS.labels(camera=self.camera_id).inc()

    def _loop(self, gen: int) -> None:
        attempt = 0
        is_file = self.url.lower().startswith("file:")
        while self._current(gen):
            self._set(gen, state="connecting")
            try:
                cap, src_fps = self._open()
            except (ConnectionError, cv2.error) as exc:
                self._set(gen, state="reconnecting", last_error=str(exc))
                delay = backoff_delay(attempt, self.opts.reconnect_min_s, self.opts.reconnect_max_s)
                attempt += 1
                log.info("camera %s: %s; retry in %.1f s", self.camera_id, exc, delay)
                self._stop.wait(delay)
                self._reconnected(gen)
                continue
            try:
                ended = self._read(gen, cap, src_fps, is_file)
                if ended and is_file and not self.opts.loop:
                    self._set(gen, state="ended")
                    return
                if ended and not is_file:
                    self._set(gen, last_error="stream ended")
            finally:
                cap.release()
            if not self._current(gen):
                return
            if not is_file:
                self._set(gen, state="reconnecting")
                with self._lock:
                    got_frames = self._status.frames > 0
                if got_frames:
                    attempt = 0
                delay = backoff_delay(attempt, self.opts.reconnect_min_s, self.opts.reconnect_max_s)
                attempt += 1
                self._stop.wait(delay)
                self._reconnected(gen)

    def _read(self, gen: int, cap: cv2.VideoCapture, src_fps: float, is_file: bool) -> bool:
        """Read until the stream ends or fails (True) or this decoder is stopped/stale (False)."""
        min_gap = 1.0 / self.opts.fps
        last_emit = -1e9
        started = time.monotonic()
        n = 0
        self._set(gen, state="streaming")
        while self._current(gen):
            if is_file:  # play at the file's own rate, like a camera would
                due = started + n / src_fps
                wait = due - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
            ok = cap.grab()
            if not ok:
                return True
            n += 1
            mono = time.monotonic()
            with self._lock:
                if gen != self._generation:
                    return False
                self._last_progress = mono
            if mono - last_emit < min_gap * 0.98:
                continue
            ok, image = cap.retrieve()
            if not ok or image is None or image.ndim != 3:
                continue
            last_emit = mono
            ts = self._clock()
            with self._lock:
                if gen != self._generation:
                    return False
                self._index += 1
                frame = Frame(image=image, source_id=f"camera:{self.camera_id}", timestamp=ts, index=self._index)
                self._buf.append(frame)
                self._times.append(mono)
                self._status.frames += 1
                self._status.last_frame_at = ts
                self._status.state = "streaming"
                self.new_frame.set()
            metrics.CAMERA_FRAMES.labels(camera=self.camera_id).inc()
        return False
