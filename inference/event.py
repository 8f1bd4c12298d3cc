"""`Event`: one real-world problem seen by one source over a span of time, ready to become a case."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from inference.frame import GeoContext

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

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()
