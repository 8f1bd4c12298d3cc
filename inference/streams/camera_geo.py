"""Where a camera's event is on the map: the camera's position, or the box's ground point through the camera's
homography (`inference.geo.fit_homography`); the ground point of a box is the middle of its bottom edge (where
the object stands)."""

from __future__ import annotations

from collections.abc import Sequence

from inference.frame import GeoContext
from inference.geo import fit_homography
from inference.streams.config import CameraGeoConfig


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
