"""Change detection between two surveys of the same area: register, difference, morphology, structure test.

1. **Register** the previous image onto the new one: orthomosaics through their GeoTIFF transforms
   (`rasterio.warp.reproject` onto the new raster's grid), plain photos by ORB features + a RANSAC homography.
2. **Difference** in CIELAB (colour distance, after a light blur, so noise and JPEG artefacts stay below the
   threshold) inside the area both images cover.
3. **Morphology**: opening removes specks, closing fills a roof's corrugation lines into one region.
4. **Structure test**: a new building or shed is a compact, straight-edged region of roof size. A region is
   a candidate when its area is within [min, max] m², it fills at least `min_rectangularity` of its rotated
   bounding rectangle (a roof fills ~1, a disc π/4), and its outline simplifies (Douglas-Peucker at 4 % of the
   perimeter) to at most 6 corners (a tree crown's round outline keeps 8 or more).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference.settings import SurveySettings
from inference.survey.georef import RasterGeo

MIN_MATCHES = 25
MAX_CORNERS = 6  # straight edges: a roof outline simplifies to 4-6 corners, a disc to 8 or more


@dataclass(frozen=True)
class ChangeCandidate:
    """A new structure: its pixel box and outline in the new image, size and how rectangular it is."""

    bbox: tuple[float, float, float, float]
    centroid: tuple[float, float]
    area_px: float
    area_m2: float | None
    rectangularity: float
    mean_diff: float


def register_features(previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    """3×3 homography mapping `previous` pixels onto `current` (ORB + RANSAC), None when they do not match."""
    orb = cv2.ORB_create(nfeatures=4000)  # type: ignore[attr-defined]
    g1 = cv2.cvtColor(previous, cv2.COLOR_BGR2GRAY)
    g2 = cv2.cvtColor(current, cv2.COLOR_BGR2GRAY)
    k1, d1 = orb.detectAndCompute(g1, None)
    k2, d2 = orb.detectAndCompute(g2, None)
    if d1 is None or d2 is None or len(k1) < MIN_MATCHES or len(k2) < MIN_MATCHES:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(d1, d2, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < MIN_MATCHES:
        return None
    src = np.array([k1[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    dst = np.array([k2[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    h, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if h is None or inliers is None or int(inliers.sum()) < MIN_MATCHES:
        return None
    return np.asarray(h, np.float64)


def warp_features(previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """`previous` warped onto `current`'s pixels and the mask of pixels it covers; None when unregistrable."""
    h = register_features(previous, current)
    if h is None:
        return None
    size = (current.shape[1], current.shape[0])
    warped = cv2.warpPerspective(previous, h, size, flags=cv2.INTER_LINEAR)
    valid = cv2.warpPerspective(np.full(previous.shape[:2], 255, np.uint8), h, size, flags=cv2.INTER_NEAREST)
    return warped, cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0


def warp_geo(
    previous: np.ndarray, prev_geo: RasterGeo, current: np.ndarray, cur_geo: RasterGeo
) -> tuple[np.ndarray, np.ndarray]:
    """`previous` resampled onto `current`'s grid through both GeoTIFF transforms (any CRSs)."""
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, reproject

    h, w = current.shape[:2]
    out = np.zeros((3, h, w), np.uint8)
    src = np.ascontiguousarray(previous.transpose(2, 0, 1))
    reproject(
        src,
        out,
        src_transform=Affine(*prev_geo.transform),
        src_crs=CRS.from_user_input(prev_geo.crs),
        dst_transform=Affine(*cur_geo.transform),
        dst_crs=CRS.from_user_input(cur_geo.crs),
        resampling=Resampling.bilinear,
        src_nodata=None,
        dst_nodata=0,
    )
    mask = np.zeros((1, h, w), np.uint8)
    reproject(
        np.full((1, *previous.shape[:2]), 255, np.uint8),
        mask,
        src_transform=Affine(*prev_geo.transform),
        src_crs=CRS.from_user_input(prev_geo.crs),
        dst_transform=Affine(*cur_geo.transform),
        dst_crs=CRS.from_user_input(cur_geo.crs),
        resampling=Resampling.nearest,
        dst_nodata=0,
    )
    valid = cv2.erode(mask[0], np.ones((5, 5), np.uint8)) > 0
    return out.transpose(1, 2, 0).copy(), valid


def detect_changes(
    previous: np.ndarray, current: np.ndarray, valid: np.ndarray, gsd_m: float | None, cfg: SurveySettings
) -> list[ChangeCandidate]:
    """New structures in `current` that `previous` (already registered onto it) does not show."""
    a = cv2.cvtColor(cv2.GaussianBlur(previous, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    b = cv2.cvtColor(cv2.GaussianBlur(current, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    diff = np.linalg.norm(a - b, axis=2)
    diff[~valid] = 0
    changed = (diff > cfg.change_diff).astype(np.uint8)
    px_area = gsd_m * gsd_m if gsd_m else None
    k = 5 if gsd_m is None else int(np.clip(round(0.5 / gsd_m), 3, 15)) | 1  # ~0.5 m on the ground
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(changed, connectivity=8)
    min_px = cfg.change_min_area_m2 / px_area if px_area else 200.0
    max_px = cfg.change_max_area_m2 / px_area if px_area else float(changed.size) / 4
    out: list[ChangeCandidate] = []
    for i in range(1, n):
        area = float(stats[i, cv2.CC_STAT_AREA])
        if not min_px <= area <= max_px:
            continue
        region = (labels == i).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        contour = max(contours, key=cv2.contourArea)
        (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
        rectangularity = min(1.0, area / max(rw * rh, 1.0))
        corners = len(cv2.approxPolyDP(contour, 0.04 * cv2.arcLength(contour, True), True))
        if rectangularity < cfg.change_min_rectangularity or corners > MAX_CORNERS:
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        out.append(
            ChangeCandidate(
                bbox=(float(x), float(y), float(x + w), float(y + h)),
                centroid=(float(centroids[i][0]), float(centroids[i][1])),
                area_px=area,
                area_m2=area * px_area if px_area else None,
                rectangularity=rectangularity,
                mean_diff=float(diff[labels == i].mean()),
            )
        )
    return out
