"""`Event`: one real-world problem seen by one source over a span of time, ready to become a case."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from inference.detections import Detections
from inference.evidence import crop
from inference.frame import Frame, GeoContext

EVIDENCE_KINDS = frozenset({"snapshot", "crop", "frame"})


@dataclass(frozen=True)
class EvidenceImage:
    """An evidence picture (BGR uint8) and what it shows: `snapshot` (annotated frame), `crop`, or `frame`.

    `frame` is the full frame as the camera saw it (no boxes drawn): what feedback and retraining use.
    """

    image: np.ndarray
    kind: str = "snapshot"

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"EvidenceImage.kind must be one of {sorted(EVIDENCE_KINDS)}, got {self.kind!r}")
        if self.image.ndim != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"EvidenceImage.image must be uint8 (H, W, 3), got {self.image.shape}")


@dataclass(frozen=True)
class Event:
    """A problem of one category, raised by a rule from a run of detections in one source.

    `event_id` is deterministic for (source, category, first frame, box) so re-processing the same
    media delivers the same id and ingestion stays idempotent.
    """

    category: str
    class_name: str
    source_id: str
    start: datetime
    end: datetime
    bbox: tuple[float, float, float, float]  # xyxy in the evidence frame, pixels
    confidence: float  # best confidence over the run
    mean_confidence: float
    frames_seen: int
    model_version: str
    evidence: tuple[EvidenceImage, ...] = ()
    geo: GeoContext | None = None
    tracker_id: int | None = None
    uri: str = ""
    event_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"Event.end ({self.end}) is before Event.start ({self.start})")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"Event.confidence must be in [0, 1], got {self.confidence}")
        if self.frames_seen < 1:
            raise ValueError("Event.frames_seen must be >= 1")
        if not self.event_id:
            key = f"{self.source_id}|{self.category}|{self.start.isoformat()}|" + ",".join(
                f"{v:.0f}" for v in self.bbox
            )
            object.__setattr__(self, "event_id", hashlib.sha1(key.encode()).hexdigest()[:20])

    @classmethod
    def from_detection(
        cls,
        frame: Frame,
        detections: Detections,
        index: int,
        *,
        category: str,
        model_version: str,
        snapshot: np.ndarray,
        class_name: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        confidence: float | None = None,
        mean_confidence: float | None = None,
        frames_seen: int = 1,
        with_frame: bool = False,
        geo: GeoContext | None = None,
        source_id: str | None = None,
        uri: str | None = None,
        tracker_id: int | None = None,
    ) -> Event:
        """The event of detection `index` of `detections`, seen in `frame` (its best frame).

        Defaults come from the detection and the frame: `class_name`, `confidence` (clipped to [0, 1]) and the
        box from the detection; `start` = the frame's time, `end` = `start`, `source_id` and `uri` the frame's;
        `mean_confidence` = `confidence` (a value given is kept as given). `snapshot` is the annotated picture
        (the caller draws it: the whole frame, or the part of a large image around the finding); the evidence is
        the snapshot, the crop of the box from the frame, and with `with_frame` the raw frame (what feedback and
        retraining label). `geo` is not taken from the frame: pass `frame.geo` or the detection's own position.
        """
        box = detections.xyxy[index]
        x1, y1, x2, y2 = (float(v) for v in box)
        conf = min(1.0, max(0.0, float(detections.confidence[index]) if confidence is None else confidence))
        evidence = [EvidenceImage(snapshot, "snapshot"), EvidenceImage(crop(frame.image, box), "crop")]
        if with_frame:
            evidence.append(EvidenceImage(frame.image, "frame"))
        begin = frame.timestamp if start is None else start
        return cls(
            category=category,
            class_name=str(detections.class_name[index]) if class_name is None else class_name,
            source_id=frame.source_id if source_id is None else source_id,
            start=begin,
            end=begin if end is None else end,
            bbox=(x1, y1, x2, y2),
            confidence=conf,
            mean_confidence=conf if mean_confidence is None else mean_confidence,
            frames_seen=frames_seen,
            model_version=model_version,
            evidence=tuple(evidence),
            geo=geo,
            tracker_id=tracker_id,
            uri=frame.uri if uri is None else uri,
        )

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()
