"""Where an event is on the map: the camera's position, or the box's ground point through a homography.

The homography maps image pixels to metres on a local tangent plane around the reference points (an
equirectangular projection, exact enough over a street's extent), fitted by `cv2.findHomography` from 4+
point pairs; the ground point of a box is the middle of its bottom edge (where the object stands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from inference.frame import GeoContext

if TYPE_CHECKING:
    from inference.streams.config import CameraGeoConfig, GeoPoint

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQ = 111_320.0
MAX_FIT_ERROR_M = 5.0  # a fit that misses its own points by more than this is refused


class Homography:
    """pixel (x, y) → (lat, lon) through a fitted 3×3 matrix in local metres around (lat0, lon0)."""

    def __init__(self, matrix: np.ndarray, lat0: float, lon0: float):
        self.matrix = matrix
        self.lat0, self.lon0 = lat0, lon0
        self._m_per_lon = M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))

    def to_metres(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self._m_per_lon, (lat - self.lat0) * M_PER_DEG_LAT

    def project(self, x: float, y: float) -> tuple[float, float]:
        pt = cv2.perspectiveTransform(np.array([[[x, y]]], np.float64), self.matrix)[0, 0]
        east, north = float(pt[0]), float(pt[1])
        return self.lat0 + north / M_PER_DEG_LAT, self.lon0 + east / self._m_per_lon


def fit_homography(points: Sequence[GeoPoint]) -> Homography:
    """Fit from 4+ pairs; ValueError for degenerate pairs (repeated or collinear points) or a poor fit."""
    if len(points) < 4:
        raise ValueError(f"a homography needs at least 4 point pairs, got {len(points)}")
    lat0 = sum(p.lat for p in points) / len(points)
    lon0 = sum(p.lon for p in points) / len(points)
    h = Homography(np.eye(3), lat0, lon0)
    src = np.array([p.pixel for p in points], np.float64)
    dst = np.array([h.to_metres(p.lat, p.lon) for p in points], np.float64)
    for arr, what in ((src, "pixel"), (dst, "ground")):
        centred = arr - arr.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, float(np.abs(centred).max()))) < 2:
            raise ValueError(f"homography {what} points are repeated or on one line")
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None or not np.all(np.isfinite(matrix)):
        raise ValueError("homography points do not define a plane mapping (degenerate point pairs)")
    h.matrix = matrix
    err = np.linalg.norm(cv2.perspectiveTransform(src[None], matrix)[0] - dst, axis=1).max()
    if err > MAX_FIT_ERROR_M:
        raise ValueError(f"homography points are inconsistent: the fit misses one by {err:.1f} m")
    return h


class CameraGeo:
    """A camera's geo: `locate(box)` → the event's position (or None when the camera has no geo)."""

    def __init__(self, cfg: CameraGeoConfig | None):
        self.cfg = cfg
        self.homography = fit_homography(cfg.homography) if cfg is not None and cfg.homography else None

    def locate(self, box: Sequence[float]) -> GeoContext | None:
        if self.cfg is None:
            return None
        if self.homography is None:
            return GeoContext(self.cfg.lat, self.cfg.lon)
        x1, _, x2, y2 = (float(v) for v in box[:4])
        lat, lon = self.homography.project((x1 + x2) / 2, y2)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # a point above the horizon: fall back
            return GeoContext(self.cfg.lat, self.cfg.lon)
        return GeoContext(lat, lon)
