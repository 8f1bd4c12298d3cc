"""The one detector holder: the detector a worker runs, swapped between batches when the registry's production
pointer moves (live reload), without stopping the worker.

    holder = DetectorHolder.configured(models_dir, detector_settings, poll_s)  # production: follows it; else fixed
    holder = DetectorHolder(load, current, poll_s=...)       # load(version) builds a detector, current() names one
    holder = DetectorHolder.fixed(detector)                  # a fixed model version or file: never reloads
    version, detections = holder.predict_versioned(frames)   # or holder.predict(frames) + holder.version
    holder.maybe_reload(); detector = holder.get()           # the stream runner, once per round

Between batches, the holder compares the production version (re-read every `poll_s`, and at once when a
Redis notice arrives on `models.notify.CHANNEL` with `redis_url` set) with the one it runs. A new version is
loaded in a background thread while the old detector keeps working; the swap is one reference assignment at
the start of the next batch. No frame waits for a load and none is skipped: every batch is predicted by
exactly one version, which `predict_versioned` returns so each event can record it. A version that fails to
load is logged and retried at the next poll; the running detector stays.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from inference.detections import Detections
from inference.detector import DetectorLike
from inference.frame import Frame

if TYPE_CHECKING:
    from inference.settings import DetectorSettings

log = logging.getLogger(__name__)


class DetectorHolder:
    """The detector of one worker: `load(version)` builds a detector, `current()` names the version to serve."""

    def __init__(
        self,
        load: Callable[[str], DetectorLike],
        current: Callable[[], str],
        poll_s: float = 5.0,
        redis_url: str | None = None,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._load = load
        self._current = current
        self.poll_s = poll_s
        self.background = background
        self._clock = clock
        self._lock = threading.Lock()
        self._detector = load(current())
        self._ready: DetectorLike | None = None  # loaded, swapped in at the next batch
        self._loading: str | None = None
        self._next_check = clock() + poll_s
        self.swaps: list[tuple[str, str]] = []  # (from, to), in order
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        if redis_url:
            self._listener = threading.Thread(target=self._listen, args=(redis_url,), daemon=True, name="model-notify")
            self._listener.start()

    @classmethod
    def fixed(cls, detector: DetectorLike) -> DetectorHolder:
        """Serve `detector` and never look for another version (`swap()` still replaces it)."""
        return cls(lambda _version: detector, lambda: detector.version, poll_s=math.inf)

    @classmethod
    def production(
        cls,
        models_dir: Path,
        detector: DetectorSettings,
        poll_s: float,
        redis_url: str | None = None,
        background: bool = True,
    ) -> DetectorHolder:
        """Follow `production` in the registry under `models_dir`, loading with the `detector` options."""
        from inference.detector import Detector
        from models.registry import Registry

        registry = Registry(models_dir)

        def load(version: str) -> DetectorLike:
            return Detector.load(models_dir, detector.model_copy(update={"model": version}))

        return cls(
            load,
            lambda: registry.get("production").version,
            poll_s=poll_s,
            redis_url=redis_url,
            background=background,
        )

    @classmethod
    def configured(
        cls, models_dir: Path, detector: DetectorSettings, poll_s: float, redis_url: str | None = None
    ) -> DetectorHolder:
        """The configured detector: with `detector.model = 'production'` it follows the registry's production
        pointer (checked every `poll_s` and at once on a Redis notice, the new version loaded in the background
        while the old one keeps working); a fixed version or file is never swapped."""
        from inference.detector import Detector

        if detector.model == "production":
            return cls.production(models_dir, detector, poll_s, redis_url)
        return cls.fixed(Detector.load(models_dir, detector))

    # ---- the detector interface ------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self._detector.version

    def predict(self, frames: Sequence[Frame]) -> list[Detections]:
        return self.predict_versioned(frames)[1]

    def predict_versioned(self, frames: Sequence[Frame]) -> tuple[str, list[Detections]]:
        """Swap in a loaded version if one is ready, then predict the whole batch with one detector."""
        self.check()
        detector = self.get()
        return detector.version, detector.predict(list(frames))

    # ---- the stream runner's interface (inference.streams.runner): get() per round, maybe_reload() before it
    def get(self) -> DetectorLike:
        """The detector for the next batch (a loaded new version is swapped in here, between batches)."""
        with self._lock:
            if self._ready is not None:
                self.swaps.append((self._detector.version, self._ready.version))
                log.info("detector swapped %s -> %s", self._detector.version, self._ready.version)
                self._detector, self._ready = self._ready, None
            return self._detector

    def swap(self, detector: DetectorLike) -> None:
        """Serve `detector` from the next batch on (a benchmark's or an operator's explicit swap)."""
        with self._lock:
            old, self._detector = self._detector, detector
            self.swaps.append((old.version, detector.version))
        log.info("detector swapped %s -> %s", old.version, detector.version)

    def maybe_reload(self) -> bool:
        """Start loading a new production version if it is time (never blocks on the load); True if one started."""
        before = self._loading
        self.check()
        with self._lock:
            return before is None and self._loading is not None or self._ready is not None

    # ---- following production ---------------------------------------------------------------------------------
    def poke(self) -> None:
        """Re-read the production pointer at the next batch (a Redis notice calls this)."""
        with self._lock:
            self._next_check = self._clock()

    def check(self) -> None:
        """If it is time, read the production version and start loading it when it differs from ours."""
        if self.poll_s == math.inf:  # a fixed holder never follows
            return
        with self._lock:
            if self._clock() < self._next_check or self._loading is not None:
                return
            self._next_check = self._clock() + self.poll_s
            running = (self._ready or self._detector).version
        try:
            wanted = self._current()
        except Exception:  # an unreadable registry must not stop detection
            log.exception("cannot read the production model version")
            return
        if wanted == running:
            return
        with self._lock:
            if self._loading is not None:
                return
            self._loading = wanted
        if self.background:
            threading.Thread(target=self._load_version, args=(wanted,), daemon=True, name="model-load").start()
        else:
            self._load_version(wanted)

    def _load_version(self, version: str) -> None:
        try:
            detector = self._load(version)
        except Exception:
            log.exception("loading model %s failed; keeping %s", version, self.version)
            detector = None
        with self._lock:
            if detector is not None:
                self._ready = detector
            self._loading = None

    def wait_loaded(self, timeout: float = 60.0) -> bool:
        """Block until no load is in flight (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._loading is None:
                    return True
            time.sleep(0.01)
        return False

    def _listen(self, redis_url: str) -> None:
        import redis

        from models.notify import CHANNEL

        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(redis_url, socket_timeout=None)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        self.poke()
                pubsub.close()
                client.close()
            except redis.RedisError as exc:
                log.warning("model notices unavailable (%s); polling every %ss", exc, self.poll_s)
                self._stop.wait(self.poll_s)

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
