"""Active-learning sampling: keep the frames the model is unsure about, for people to label.

Any worker that runs the detector (the file pipeline, stream and survey workers) offers each frame with its
detections and the model version that produced them:

    sampler = ActiveSampler(settings.loop.sampling, feedback_store)  # the sink: `inference.ports.SampleSink`
    sampler.offer(frame, detections, model_version)     # -> the reason it was kept, or None

A frame is a candidate when a detection's confidence lies in `[low_conf, high_conf)` (uncertain) or two boxes
of different classes overlap by `contested_iou` or more (contested); `rate` of the candidates are kept, and
`random_rate` of the other frames (a baseline against sampling bias). At most `per_source_per_hour` frames per
source are kept in any hour, and nothing once the kept samples use `budget_mb`. Kept frames are stored in full
(not annotated) as `sample` feedback frames with the detections as pre-annotations (`cases/feedback.py`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from inference.detections import Detections, box_iou
from inference.frame import Frame
from inference.ports import Box, SampleSink
from inference.settings import SamplingSettings

log = logging.getLogger(__name__)


def why_interesting(detections: Detections, cfg: SamplingSettings) -> str | None:
    """`uncertain`, `contested` or None for one frame's detections."""
    if not len(detections):
        return None
    conf = detections.confidence
    if np.any((conf >= cfg.low_conf) & (conf < cfg.high_conf)):
        return "uncertain"
    if len(detections) > 1:
        overlaps = box_iou(detections.xyxy.astype(np.float32), detections.xyxy.astype(np.float32))
        differ = detections.class_id[:, None] != detections.class_id[None, :]
        if np.any(np.triu(overlaps >= cfg.contested_iou, 1) & differ):
            return "contested"
    return None


class ActiveSampler:
    """Thread-safe; counts per source over a sliding hour and the disk the kept samples use."""

    def __init__(
        self,
        cfg: SamplingSettings,
        sink: SampleSink,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg = cfg
        self.sink = sink
        self._rng = random.Random(seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, deque[float]] = {}
        self._bytes: int | None = None  # read from the store on first use
        self.offered = 0
        self.kept = 0
        self.skipped: dict[str, int] = {"cap": 0, "budget": 0}

    def offer(self, frame: Frame, detections: Detections, model_version: str) -> str | None:
        """Keep `frame` for labelling if it qualifies and caps allow; return why it was kept, or None."""
        cfg = self.cfg
        if not cfg.enabled:
            return None
        reason = why_interesting(detections, cfg)
        with self._lock:
            self.offered += 1
            p = cfg.rate if reason else cfg.random_rate
            if p <= 0 or self._rng.random() >= p:
                return None
            reason = reason or "random"
            now = self._clock()
            window = self._kept.setdefault(frame.source_id, deque())
            while window and now - window[0] >= 3600:
                window.popleft()
            if len(window) >= cfg.per_source_per_hour:
                self.skipped["cap"] += 1
                return None
            if self._bytes is None:
                self._bytes = self.sink.sample_bytes()
            if self._bytes >= cfg.budget_mb * 1e6:
                self.skipped["budget"] += 1
                return None
            window.append(now)
        boxes = [
            Box(str(n), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
            for n, b in zip(detections.class_name, detections.xyxy, strict=True)
        ]
        try:
            row = self.sink.add_sample(frame.image, frame.source_id, model_version, boxes, reason)
        except Exception:  # a failed sample must never stop detection
            log.exception("active-learning sample of %s could not be stored", frame.source_id)
            return None
        with self._lock:
            self._bytes = (self._bytes or 0) + int(getattr(row, "bytes", 0))
            self.kept += 1
        return reason
