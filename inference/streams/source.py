"""A camera source: one decode thread and one `ffmpeg` process per camera (`decoder.py`).

* isolation: each camera opens, probes and decodes in its own process, so a camera that hangs on open or on
  read delays no other camera; its own open timer or the watchdog kills its process;
* a small drop-oldest buffer (`deque(maxlen=buffer)`): the detector always gets the newest frames, a slow
  detector never makes a camera fall behind;
* an fps cap: ffmpeg reads every frame from the network but hands over only frames 1/fps apart;
* reconnect with exponential back-off and full jitter (`min(max, base·2^n) · U(0.5, 1)`) after a failed open
  or a lost stream; the count restarts after a frame arrives;
* a watchdog (`check()`, called by the worker): a decoder that has delivered nothing for `stall_timeout_s`
  (at least 3 frame intervals) is killed and a fresh one started;
* `status()`: state, measured fps, frames, last frame time, reconnects, watchdog restarts, last error.

file:// sources play at their own frame rate (like a camera) and can loop; device://N opens /dev/videoN.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from inference import metrics
from inference.frame import Frame
from inference.streams.decoder import DecoderError, FfmpegDecoder, ffmpeg_command
from models.logs import log_context

log = logging.getLogger(__name__)


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
        self._decoder: FfmpegDecoder | None = None

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

    def _kill_decoder(self) -> None:
        with self._lock:
            dec, self._decoder = self._decoder, None
        if dec is not None:
            dec.kill()  # its thread's blocked read returns at once and the thread sees it is stale

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            self._generation += 1
            self._status.state = "stopped"
        self._kill_decoder()
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
        stall = max(self.opts.stall_timeout_s, 3.0 / self.opts.fps)  # a 0.1 fps camera is not stalled at 10 s
        limit = stall + (self.opts.open_timeout_s if state == "connecting" else 0.0)
        if state in {"streaming", "connecting"} and idle > limit:
            log.warning("camera %s: no frame for %.0f s, restarting its decoder", self.camera_id, idle)
            with self._lock:
                self._status.watchdog_restarts += 1
                self._status.reconnects += 1
                self._status.last_error = f"stalled: no frame for {idle:.0f} s"
            metrics.CAMERA_RECONNECTS.labels(camera=self.camera_id).inc()
            self._kill_decoder()
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

    def _open(self, gen: int) -> FfmpegDecoder:
        cmd = ffmpeg_command(
            self.url,
            self.opts.fps,
            rtsp_transport=self.opts.rtsp_transport,
            open_timeout_s=self.opts.open_timeout_s,
            realtime=self.url.lower().startswith("file:"),
        )
        dec = FfmpegDecoder(cmd)
        with self._lock:
            if gen == self._generation:
                self._decoder = dec  # what check() and stop() kill
            else:
                dec.kill()  # replaced while starting: its read ends at once
        return dec

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
                dec = self._open(gen)
            except (OSError, ValueError) as exc:
                dec = None
                self._set(gen, state="reconnecting", last_error=str(exc))
            if dec is not None:
                # a hung open (a port that accepts and never answers) is this camera's alone: kill it in time
                timer = threading.Timer(self.opts.open_timeout_s + 1.0, dec.kill)
                timer.daemon = True
                timer.start()
                try:
                    got = self._read(gen, dec, timer)
                finally:
                    timer.cancel()
                    code = dec.close()
                    with self._lock:
                        if self._decoder is dec:
                            self._decoder = None
                if not self._current(gen):
                    return
                if code == 0 and is_file and not self.opts.loop:
                    self._set(gen, state="ended")
                    return
                if code != 0 or not is_file:
                    err = dec.last_error or (f"ffmpeg exited with {code}" if code else "stream ended")
                    if not got:
                        err = f"cannot open stream: {err}"
                    self._set(gen, last_error=err)
                if got:
                    attempt = 0
                if code == 0 and is_file:
                    continue  # loop the file at once
                self._set(gen, state="reconnecting")
            if not self._current(gen):
                return
            delay = backoff_delay(attempt, self.opts.reconnect_min_s, self.opts.reconnect_max_s)
            attempt += 1
            with self._lock:
                reason = self._status.last_error
            log.info("camera %s: %s; retry in %.1f s", self.camera_id, reason, delay)
            self._stop.wait(delay)
            self._reconnected(gen)

    def _read(self, gen: int, dec: FfmpegDecoder, open_timer: threading.Timer) -> bool:
        """Read frames until the stream ends or fails, or this decoder is stopped/stale. True if any came."""
        got = False
        while self._current(gen):
            try:
                image = dec.read()
            except DecoderError as exc:
                self._set(gen, last_error=str(exc))
                return got
            if image is None:
                return got
            if not got:
                open_timer.cancel()
                got = True
            mono = time.monotonic()
            ts = self._clock()
            with self._lock:
                if gen != self._generation:
                    return got
                self._last_progress = mono
                self._index += 1
                frame = Frame(image=image, source_id=f"camera:{self.camera_id}", timestamp=ts, index=self._index)
                self._buf.append(frame)
                self._times.append(mono)
                self._status.frames += 1
                self._status.last_frame_at = ts
                self._status.state = "streaming"
                self.new_frame.set()
            metrics.CAMERA_FRAMES.labels(camera=self.camera_id).inc()
        return got
