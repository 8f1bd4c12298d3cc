"""The file pipeline's persistence rule: decide when detections of a case category are a real problem, and raise
an `Event`.

The spine's rule is persistence: an object of a case category seen in at least `min_frames` frames
within `window_s` seconds (matched frame to frame by box overlap) is an event, raised once per object.
Objects of context classes (e.g. garbage bins, windows) never raise events. Per-category rules (dwell
in zones, tilt, change) plug in beside it with the same `update(frame, detections) -> list[Event]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from inference.detections import Detections, box_iou
from inference.event import Event
from inference.evidence import annotate
from inference.frame import Frame
from inference.settings import PersistenceSettings
from models.taxonomy import Taxonomy


@dataclass
class _Candidate:
    category: str
    class_name: str
    box: np.ndarray
    hits: list[datetime] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    best_conf: float = -1.0
    best_frame: Frame | None = None
    best_detections: Detections | None = None
    best_index: int = 0
    best_version: str = ""
    fired: bool = False


class PersistenceRule:
    """Per source: match each frame's case-category detections to candidates; fire after N hits within T s."""

    def __init__(self, taxonomy: Taxonomy, cfg: PersistenceSettings, model_version: str, min_frames: int | None = None):
        self.taxonomy = taxonomy
        self.cfg = cfg
        self.min_frames = min_frames or cfg.min_frames
        self.model_version = model_version
        self._candidates: dict[str, list[_Candidate]] = {}

    def _categories(self, detections: Detections) -> list[str | None]:
        return [self.taxonomy.category_of(str(n)) for n in detections.class_name]

    def update(self, frame: Frame, detections: Detections, model_version: str | None = None) -> list[Event]:
        """Feed one frame's detections; `model_version` is the model that produced them when it can change
        between frames (a live reload): an event records the version of its best frame."""
        if model_version is not None:
            self.model_version = model_version
        now = frame.timestamp
        cats = self._categories(detections)
        cands = self._candidates.setdefault(frame.source_id, [])
        # forget candidates not seen within the window
        cands[:] = [c for c in cands if (now - c.hits[-1]).total_seconds() <= self.cfg.window_s]
        events: list[Event] = []
        used: set[int] = set()
        order = np.argsort(-detections.confidence)
        for i in order:
            cat = cats[i]
            if cat is None:
                continue
            box = detections.xyxy[i]
            same = [c for c in cands if c.category == cat and id(c) not in used]
            best, best_iou = None, self.cfg.iou_match
            if same:
                ious = box_iou(box[None, :], np.stack([c.box for c in same]))[0]
                j = int(np.argmax(ious))
                if ious[j] >= best_iou:
                    best = same[j]
            if best is None:
                best = _Candidate(category=cat, class_name=str(detections.class_name[i]), box=box)
                cands.append(best)
            used.add(id(best))
            best.box = box
            best.hits.append(now)
            conf = float(detections.confidence[i])
            best.confidences.append(conf)
            if conf > best.best_conf:
                best.best_conf, best.best_frame, best.best_detections, best.best_index = (
                    conf,
                    frame,
                    detections,
                    int(i),
                )
                best.best_version = self.model_version
            recent = [t for t in best.hits if (now - t).total_seconds() <= self.cfg.window_s]
            if not best.fired and len(recent) >= self.min_frames:
                best.fired = True
                events.append(self._event(best))
        return events

    def _event(self, c: _Candidate) -> Event:
        assert c.best_frame is not None and c.best_detections is not None
        frame, dets, i = c.best_frame, c.best_detections, c.best_index
        return Event.from_detection(
            frame,
            dets,
            i,
            category=c.category,
            class_name=c.class_name,
            model_version=c.best_version or self.model_version,
            snapshot=annotate(frame.image, dets, self._categories(dets), highlight=i),
            start=c.hits[0],
            end=c.hits[-1],
            confidence=c.best_conf,
            mean_confidence=float(np.mean(c.confidences)),
            frames_seen=len(c.hits),
            with_frame=True,  # the raw frame: what feedback and retraining label
            geo=frame.geo,
        )
