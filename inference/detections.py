"""`Detections`: what a detector found in one frame, as equal-length validated arrays.

Modelled on supervision's `Detections`: one object passed through every stage, converted from model
output at the edge (`from_ultralytics`), and boolean/integer indexing returns the same type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU of every xyxy box of `a` (N, 4) with every box of `b` (M, 4) → (N, M); 0 where two do not overlap.

    The one IoU of the project (tracking, persistence, sampling, evaluation, case merging). It computes in the
    boxes' own float type: float32 for `Detections.xyxy`, float64 for Python floats.
    """
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b, np.float32) if a.dtype.kind == b.dtype.kind == "f" else np.dtype(np.float64)
    a, b = a.astype(dtype, copy=False).reshape(-1, 4), b.astype(dtype, copy=False).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, dtype.type(1e-9))


def _check(name: str, arr: np.ndarray, n: int, shape_tail: tuple[int, ...] = ()) -> None:
    expected = (n, *shape_tail)
    if arr.shape != expected:
        raise ValueError(f"Detections.{name} must have shape {expected}, got {arr.shape}")


@dataclass(frozen=True)
class Detections:
    """N detections: `xyxy` (N, 4) pixels, `confidence` (N,), `class_id` (N,), optional `tracker_id` (N,).

    `names` maps class ids to the model's class names; it travels with the detections so that later
    stages (rules, evidence) can name what they see without holding the model.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    names: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = (
            np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
            if np.size(self.xyxy)
            else np.zeros((0, 4), np.float32)
        )
        object.__setattr__(self, "xyxy", xyxy)
        n = len(xyxy)
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int64).reshape(-1))
        _check("confidence", self.confidence, n)
        _check("class_id", self.class_id, n)
        if self.tracker_id is not None:
            object.__setattr__(self, "tracker_id", np.asarray(self.tracker_id, dtype=np.int64).reshape(-1))
            _check("tracker_id", self.tracker_id, n)
        if n and not np.all(np.isfinite(xyxy)):
            raise ValueError("Detections.xyxy contains NaN or infinite values")
        if n and np.any(xyxy[:, 2:] < xyxy[:, :2]):
            raise ValueError("Detections.xyxy must have x2 >= x1 and y2 >= y1")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            names=dict(names or {}),
        )

    @classmethod
    def from_ultralytics(cls, result: Any) -> Detections:
        """Convert one `ultralytics.engine.results.Results` (boxes) into `Detections`."""
        boxes = result.boxes
        names = {int(k): str(v) for k, v in dict(result.names).items()}
        if boxes is None or len(boxes) == 0:
            return cls.empty(names)
        tracker = boxes.id.cpu().numpy() if getattr(boxes, "id", None) is not None else None
        return cls(
            xyxy=boxes.xyxy.cpu().numpy(),
            confidence=boxes.conf.cpu().numpy(),
            class_id=boxes.cls.cpu().numpy().astype(np.int64),
            tracker_id=tracker,
            names=names,
        )

    # ---- container protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            names=self.names,
        )

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[i]

    # ---- derived ------------------------------------------------------------------------------
    @property
    def class_name(self) -> np.ndarray:
        """(N,) array of class names (`"class_<id>"` for an id the names table lacks)."""
        return np.array([self.names.get(int(c), f"class_{int(c)}") for c in self.class_id], dtype=object)

    @property
    def area(self) -> np.ndarray:
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id, self.names)
