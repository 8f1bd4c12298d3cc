"""Zones per camera: polygons in image pixels. A detection is in a zone when its ground point (the middle of
the bottom edge of its box) is inside the polygon; `mask` zones remove detections before tracking."""

from __future__ import annotations

import cv2
import numpy as np

from inference.detections import Detections
from inference.streams.config import Zone


def ground_point(box: np.ndarray) -> tuple[float, float]:
    return float((box[0] + box[2]) / 2), float(box[3])


class Zones:
    def __init__(self, zones: list[Zone]):
        self._polys: dict[str, list[np.ndarray]] = {}
        for z in zones:
            self._polys.setdefault(z.kind, []).append(np.asarray(z.points, np.float32).reshape(-1, 1, 2))

    def has(self, kind: str) -> bool:
        return bool(self._polys.get(kind))

    def contains(self, kind: str, box: np.ndarray) -> bool:
        x, y = ground_point(box)
        return any(cv2.pointPolygonTest(p, (x, y), False) >= 0 for p in self._polys.get(kind, ()))

    def unmasked(self, detections: Detections) -> Detections:
        """The detections whose ground point is in no `mask` zone."""
        if not self.has("mask") or len(detections) == 0:
            return detections
        keep = np.array([not self.contains("mask", b) for b in detections.xyxy], bool)
        return detections if keep.all() else detections[keep]
