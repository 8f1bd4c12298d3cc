"""Pixels → ground → WGS84: a pinhole camera over flat ground (drone photos) and GeoTIFF transforms (orthomosaics).

Frames (all right-handed):

* local ground frame ENU: metres east, north, up from the point below the camera (or any origin);
* camera frame: x right, y down, z along the optical axis (OpenCV's convention).

A DJI-style pose gives the gimbal's yaw (degrees clockwise from north, the direction the camera looks) and
pitch (0 = horizon, -90 = straight down); roll is taken as 0 (the gimbal holds the horizon). A pixel's ray
is intersected with the ground plane `height_m` below the camera. Positions are converted to WGS84 on the local
tangent plane of `inference.geo` (the earth model): at 1 km from the camera its error is below 1 cm, far below
what the pose itself gives; projected CRSs of orthomosaics go through PROJ (rasterio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.errors import GeoError
from inference.geo import enu_to_wgs84

DIAG_35MM = math.hypot(36.0, 24.0)  # the diagonal a "35 mm equivalent" focal length refers to (CIPA DC-008)
MIN_DEPRESSION_DEG = 2.0  # a ray less than this far below the horizon hits the ground too far away to trust


def focal_px(
    width: int, height: int, focal_mm: float | None, focal35_mm: float | None, sensor_width_mm: float | None
) -> float:
    """Focal length in pixels from what EXIF gives: the 35 mm equivalent (on the diagonal), else the real focal
    length with a known sensor width. Raises `GeoError` when neither is there."""
    if focal35_mm and focal35_mm > 0:
        return float(focal35_mm) / DIAG_35MM * math.hypot(width, height)
    if focal_mm and focal_mm > 0 and sensor_width_mm and sensor_width_mm > 0:
        return float(focal_mm) / float(sensor_width_mm) * width
    raise GeoError("focal length unknown: the photo has no FocalLengthIn35mmFilm and no sensor width is configured")


@dataclass(frozen=True)
class CameraPose:
    """Where a photo was taken and how the camera looked: position, height above flat ground, yaw, pitch,
    focal length and principal point in pixels."""

    lat: float
    lon: float
    height_m: float
    yaw_deg: float
    pitch_deg: float
    f_px: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        for name in ("lat", "lon", "height_m", "yaw_deg", "pitch_deg", "f_px", "cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise GeoError(f"camera pose: {name} is not a finite number")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise GeoError(f"camera pose: position ({self.lat}, {self.lon}) is not a WGS84 latitude/longitude")
        if not 0.5 <= self.height_m <= 10_000:
            raise GeoError(f"camera pose: height above ground {self.height_m:.1f} m is outside 0.5 … 10 000 m")
        if not -90.0 <= self.pitch_deg <= 30.0:
            raise GeoError(f"camera pose: gimbal pitch {self.pitch_deg}° is outside -90 … 30")
        if self.f_px <= 0:
            raise GeoError("camera pose: focal length must be positive")

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The camera's x (right), y (down) and z (forward) axes in ENU."""
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        fwd = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
        right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
        down = np.cross(fwd, right)
        return right, down, fwd

    def pixels_to_ground(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixel coordinates → (N, 2) east/north metres from the point below the camera; rows of NaN
        where the ray does not reach the ground within the trusted range (at or near the horizon)."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        right, down, fwd = self.axes()
        rays = fwd[None, :] + ((uv[:, :1] - self.cx) / self.f_px) * right + ((uv[:, 1:] - self.cy) / self.f_px) * down
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        out = np.full((len(uv), 2), np.nan)
        ok = rays[:, 2] < -math.sin(math.radians(MIN_DEPRESSION_DEG))
        t = -self.height_m / rays[ok, 2]
        out[ok] = rays[ok, :2] * t[:, None]
        return out

    def ground_to_pixels(self, en: np.ndarray) -> np.ndarray:
        """(N, 2) east/north metres on the ground → (N, 2) pixels (NaN behind the camera)."""
        en = np.asarray(en, np.float64).reshape(-1, 2)
        right, down, fwd = self.axes()
        p = np.column_stack([en, np.full(len(en), -self.height_m)])
        z = p @ fwd
        u = self.cx + self.f_px * (p @ right) / z
        v = self.cy + self.f_px * (p @ down) / z
        out = np.column_stack([u, v])
        out[z <= 0] = np.nan
        return out

    def pixels_to_wgs84(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels → (N, 2) (lat, lon); NaN rows where the ground is out of reach."""
        en = self.pixels_to_ground(uv)
        lat, lon = enu_to_wgs84(self.lat, self.lon, en[:, 0], en[:, 1])
        return np.column_stack([lat, lon])

    @property
    def nadir(self) -> bool:
        return self.pitch_deg <= -80.0

    def gsd_m(self) -> float:
        """Ground sampling distance straight below the image centre, metres per pixel."""
        return self.height_m / self.f_px / max(math.sin(-math.radians(self.pitch_deg)), 1e-3)


@dataclass(frozen=True)
class RasterGeo:
    """An orthomosaic's georeference: the affine pixel → map transform and the map CRS (WKT or EPSG code)."""

    transform: tuple[float, float, float, float, float, float]  # rasterio/affine order a, b, c, d, e, f
    crs: str

    def pixels_to_map(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        a, b, c, d, e, f = self.transform
        return np.column_stack([a * uv[:, 0] + b * uv[:, 1] + c, d * uv[:, 0] + e * uv[:, 1] + f])

    def pixels_to_wgs84(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels (column, row; pixel centres at +0.5) → (N, 2) (lat, lon) through PROJ."""
        from rasterio.crs import CRS
        from rasterio.warp import transform as warp_transform

        xy = self.pixels_to_map(uv)
        if not len(xy):
            return np.zeros((0, 2))
        lon, lat = warp_transform(
            CRS.from_user_input(self.crs), CRS.from_epsg(4326), xy[:, 0].tolist(), xy[:, 1].tolist()
        )
        return np.column_stack([lat, lon])

    def gsd_m(self) -> float | None:
        """Pixel size in metres where the CRS is in metres (projected), else None."""
        from rasterio.crs import CRS

        crs = CRS.from_user_input(self.crs)
        if not crs.is_projected:
            return None
        a, b, _, d, e, _ = self.transform
        return math.sqrt(abs(a * e - b * d))
