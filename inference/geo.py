"""The one earth model and the geometry on it that every input shares: metres ↔ degrees, distances, image →
ground homographies, point in polygon.

The earth is the WGS84 ellipsoid (`WGS84_A`, `WGS84_F`), used two ways:

* near an origin (a camera's street, a drone photo's footprint, a survey's pair of images): a local tangent
  plane with the ellipsoid's radii of curvature at the origin (`radii`, `wgs84_to_enu`, `enu_to_wgs84`,
  `metres_per_degree`); at 1 km from the origin its error is below 1 cm;
* between any two points and for grids over a city (case merging, scoring): the sphere of WGS84's mean radius
  (`EARTH_RADIUS_M`, `haversine_m`, `degrees_box`).

A camera's homography maps image pixels to metres on the local tangent plane around its reference points,
fitted by `cv2.findHomography` from 4+ point pairs (`fit_homography`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

WGS84_A = 6_378_137.0  # semi-major axis, metres
WGS84_F = 1 / 298.257223563  # flattening
WGS84_E2 = WGS84_F * (2 - WGS84_F)  # first eccentricity squared
EARTH_RADIUS_M = 6_371_008.8  # WGS84's mean radius R1 = (2a + b) / 3, as IUGG gives it
MAX_FIT_ERROR_M = 5.0  # a homography that misses its own points by more than this is refused


# ---- the local tangent plane (ellipsoid) ----------------------------------------------------------------------
def radii(lat_deg: float) -> tuple[float, float]:
    """(meridian, prime-vertical) radii of curvature of WGS84 at `lat_deg`, metres."""
    s = math.sin(math.radians(lat_deg))
    w = math.sqrt(1 - WGS84_E2 * s * s)
    return WGS84_A * (1 - WGS84_E2) / w**3, WGS84_A / w


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """(metres per degree of latitude, metres per degree of longitude) on the tangent plane at `lat_deg`."""
    m, n = radii(lat_deg)
    return math.radians(m), math.radians(n * math.cos(math.radians(lat_deg)))


def enu_to_wgs84(lat0: float, lon0: float, east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local east/north offsets (m) from (lat0, lon0) → (lat, lon) degrees."""
    m, n = radii(lat0)
    lat = lat0 + np.degrees(np.asarray(north, np.float64) / m)
    lon = lon0 + np.degrees(np.asarray(east, np.float64) / (n * math.cos(math.radians(lat0))))
    return lat, lon


def wgs84_to_enu(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) degrees → east/north metres from (lat0, lon0); the inverse of `enu_to_wgs84`."""
    m, n = radii(lat0)
    north = np.radians(np.asarray(lat, np.float64) - lat0) * m
    east = np.radians(np.asarray(lon, np.float64) - lon0) * n * math.cos(math.radians(lat0))
    return east, north


# ---- distances (mean sphere) -----------------------------------------------------------------------------------
def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degrees_box(lat: float, lon: float, radius_m: float) -> tuple[float, float | None]:
    """Half-sizes (dlat, dlon) in degrees of a box that holds every point within `radius_m`.

    `dlon` is None where a longitude bound would not help (near the poles or across the antimeridian).
    """
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    cos_lat = math.cos(math.radians(lat))
    if abs(lat) + dlat >= 89.0 or cos_lat <= 1e-6:
        return dlat, None
    dlon = dlat / cos_lat
    if lon - dlon < -180.0 or lon + dlon > 180.0:
        return dlat, None
    return dlat, dlon


# ---- image → ground homographies -------------------------------------------------------------------------------
class GroundPoint(Protocol):
    """One image → ground correspondence (`inference.streams.config.GeoPoint` is one)."""

    @property
    def pixel(self) -> tuple[float, float]: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...


class Homography:
    """pixel (x, y) → (lat, lon) through a fitted 3×3 matrix in local metres around (lat0, lon0)."""

    def __init__(self, matrix: np.ndarray, lat0: float, lon0: float):
        self.matrix = matrix
        self.lat0, self.lon0 = lat0, lon0
        self._m_per_lat, self._m_per_lon = metres_per_degree(lat0)

    def to_metres(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self._m_per_lon, (lat - self.lat0) * self._m_per_lat

    def project(self, x: float, y: float) -> tuple[float, float]:
        pt = cv2.perspectiveTransform(np.array([[[x, y]]], np.float64), self.matrix)[0, 0]
        east, north = float(pt[0]), float(pt[1])
        return self.lat0 + north / self._m_per_lat, self.lon0 + east / self._m_per_lon


def fit_homography(points: Sequence[GroundPoint]) -> Homography:
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


# ---- polygons --------------------------------------------------------------------------------------------------
def point_in_polygon(lon: float, lat: float, ring: list[list[float]] | np.ndarray) -> bool:
    """Even-odd rule for one closed ring of [lon, lat] vertices (a permit's outline is a few hundred metres at most,
    so planar geometry in degrees is exact enough; no GEOS dependency for one test)."""
    pts = np.asarray(ring, np.float64).reshape(-1, 2)
    inside = False
    j = len(pts) - 1
    for i in range(len(pts)):
        xi, yi = pts[i]
        xj, yj = pts[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside
