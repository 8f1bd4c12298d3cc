"""Survey media → pixels + where they are: photos (EXIF/XMP pose), GeoTIFF orthomosaics (transform + CRS),
plain TIFF/PNG/JPEG without metadata (no position), videos (frames, no position without a flight log)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from inference.errors import GeoError
from inference.files import MAX_PIXELS, MAX_RASTER_BYTES, MediaError, read_image
from inference.survey.georef import CameraPose, RasterGeo
from inference.survey.metadata import read_photo_meta


@dataclass(frozen=True)
class Located:
    """A decoded survey image and how to place its pixels: `pose` (photo) or `raster` (ortho), or neither
    (`geo_note` says why)."""

    image: np.ndarray
    pose: CameraPose | None = None
    raster: RasterGeo | None = None
    taken_at: datetime | None = None
    geo_note: str = ""

    def locate(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes → (N, 2) (lat, lon) of the point on the ground each stands on; NaN if unknown.

        Nadir photos and orthos: the box centre. Tilted photos: the middle of the box's bottom edge (where an
        object meets the ground, so its height does not push it away from the camera)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        cy = (boxes[:, 1] + boxes[:, 3]) / 2
        if self.raster is not None:
            return self.raster.pixels_to_wgs84(np.column_stack([cx, cy]))
        if self.pose is not None:
            v = cy if self.pose.nadir else boxes[:, 3]
            return self.pose.pixels_to_wgs84(np.column_stack([cx, v]))
        return np.full((len(boxes), 2), np.nan)

    def gsd_m(self) -> float | None:
        if self.raster is not None:
            return self.raster.gsd_m()
        if self.pose is not None:
            return self.pose.gsd_m()
        return None

    def footprint(self) -> np.ndarray | None:
        """(4, 2) (lat, lon) of the image corners on the ground (NaN rows past the horizon), None if unplaced."""
        h, w = self.image.shape[:2]
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        if self.raster is not None:
            return self.raster.pixels_to_wgs84(corners)
        if self.pose is not None:
            return self.pose.pixels_to_wgs84(corners)
        return None


def read_geotiff(path: Path) -> tuple[np.ndarray, RasterGeo] | None:
    """(BGR image, georeference) of a GeoTIFF; None for a TIFF without georeferencing (a plain image).

    Raises `MediaError` for a TIFF with a transform but no CRS (positions would be meaningless) or bad bands."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                georef = not ds.transform.is_identity or bool(ds.gcps[0])
                if not georef and ds.crs is None:
                    return None
                if ds.crs is None:
                    raise MediaError(
                        f"{path.name}: GeoTIFF has a geotransform but an unknown CRS (no EPSG code or WKT); "
                        "export it with its coordinate reference system"
                    )
                if ds.transform.is_identity:
                    raise MediaError(f"{path.name}: GeoTIFF has a CRS but no geotransform (ground control points only)")
                if ds.width * ds.height > MAX_PIXELS:
                    raise MediaError(f"{path.name}: orthomosaic too large ({ds.width}×{ds.height}); split it in tiles")
                if ds.count < 3 and ds.count != 1:
                    raise MediaError(f"{path.name}: GeoTIFF has {ds.count} bands; expected 1 (grey) or 3-4 (RGB[A])")
                indexes = [1, 2, 3] if ds.count >= 3 else [1]
                itemsize = max(np.dtype(ds.dtypes[i - 1]).itemsize for i in indexes)
                per_sample = itemsize + (0 if all(ds.dtypes[i - 1] == "uint8" for i in indexes) else 4)
                decoded = ds.width * ds.height * len(indexes) * per_sample
                if decoded > MAX_RASTER_BYTES:
                    raise MediaError(
                        f"{path.name}: GeoTIFF too large to decode ({ds.width}×{ds.height}, {len(indexes)} bands of "
                        f"{ds.dtypes[0]}: {decoded / 1e6:.0f} MB, the limit is {MAX_RASTER_BYTES / 1e6:.0f} MB); "
                        "export it in 8 bits or split it in tiles"
                    )
                bands = ds.read(indexes)
                crs = ds.crs.to_wkt()
                t = ds.transform
    except MediaError:
        raise
    except Exception as exc:  # RasterioError, and GDAL's CPLE_* errors, which are not RasterioErrors
        raise MediaError(f"{path.name}: unreadable TIFF ({str(exc)[:300]})") from exc
    if bands.dtype != np.uint8:  # scaled to 8 bits one band at a time, in float32 (the budget above counts it)
        lo, hi = float(np.nanmin(bands)), float(np.nanmax(bands))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        scaled = np.empty(bands.shape, np.uint8)
        for i, band in enumerate(bands):
            work = band.astype(np.float32)
            work -= lo
            work *= 255.0 / max(hi - lo, 1e-9)
            np.clip(np.nan_to_num(work, nan=0.0, posinf=255.0, neginf=0.0), 0, 255, out=work)
            scaled[i] = work
        bands = scaled
    rgb = np.repeat(bands, 3, axis=0) if bands.shape[0] == 1 else bands
    bgr = np.ascontiguousarray(rgb[::-1].transpose(1, 2, 0))
    geo = RasterGeo((t.a, t.b, t.c, t.d, t.e, t.f), crs)
    try:  # a CRS that PROJ cannot take to WGS84 (user-defined without parameters) is as good as none
        centre = geo.pixels_to_wgs84(np.array([[bgr.shape[1] / 2, bgr.shape[0] / 2]]))
    except Exception:  # rasterio's CPLE_* errors are not RasterioErrors
        raise MediaError(
            f"{path.name}: GeoTIFF has an unknown CRS (no transformation to WGS84 exists); "
            "export it with an EPSG coordinate reference system"
        ) from None
    if not np.isfinite(centre).all() or not (-90 <= centre[0, 0] <= 90 and -180 <= centre[0, 1] <= 180):
        raise MediaError(f"{path.name}: GeoTIFF has an unknown CRS: its centre does not map to a WGS84 position")
    return bgr, geo


def load(
    path: Path,
    kind: str,
    ground_alt_m: float | None = None,
    height_m: float | None = None,
    sensor_width_mm: float | None = None,
) -> Located:
    """Decode one survey image and place it; `MediaError` when the file itself is bad."""
    if kind == "tiff":
        geotiff = read_geotiff(path)
        if geotiff is not None:
            return Located(image=geotiff[0], raster=geotiff[1])
    image = read_image(path)
    try:
        meta = read_photo_meta(path)
    except OSError as exc:
        return Located(image=image, geo_note=f"no position: unreadable metadata ({exc})")
    try:
        pose = meta.pose(ground_alt_m, height_m, sensor_width_mm)
    except GeoError as exc:
        return Located(image=image, taken_at=meta.taken_at, geo_note=f"no position: {exc}")
    if (meta.width, meta.height) != (image.shape[1], image.shape[0]) or not math.isfinite(pose.f_px):
        return Located(image=image, taken_at=meta.taken_at, geo_note="no position: EXIF size differs from the image")
    return Located(image=image, pose=pose, taken_at=meta.taken_at)


@dataclass(frozen=True)
class Placement:
    """Where an image lies, read from its metadata alone (no pixels decoded): for pairing images for change
    detection. `bbox` is (min_lat, min_lon, max_lat, max_lon) of its ground footprint."""

    pose: CameraPose | None
    raster: RasterGeo | None
    bbox: tuple[float, float, float, float]

    def overlaps(self, other: Placement) -> bool:
        a, b = self.bbox, other.bbox
        return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _bbox(corners: np.ndarray, extra: Sequence[tuple[float, float]] = ()) -> tuple[float, float, float, float] | None:
    pts = [tuple(c) for c in corners if np.isfinite(c).all()] + list(extra)
    if not pts:
        return None
    arr = np.array(pts, np.float64)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 0].max()), float(arr[:, 1].max())


def placement(
    path: Path,
    kind: str,
    ground_alt_m: float | None = None,
    height_m: float | None = None,
    sensor_width_mm: float | None = None,
) -> Placement | None:
    """The placement of a survey image from its header / metadata; None when it has none or cannot be read."""
    if kind == "tiff":
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as ds:
                    if ds.crs is not None and not ds.transform.is_identity:
                        t, w, h = ds.transform, ds.width, ds.height
                        geo = RasterGeo((t.a, t.b, t.c, t.d, t.e, t.f), ds.crs.to_wkt())
                        corners = geo.pixels_to_wgs84(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64))
                        box = _bbox(corners)
                        return Placement(None, geo, box) if box else None
        except Exception:
            return None
    try:
        meta = read_photo_meta(path)
        pose = meta.pose(ground_alt_m, height_m, sensor_width_mm)
    except (OSError, GeoError):
        return None
    w, h = meta.width, meta.height
    corners = pose.pixels_to_wgs84(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64))
    box = _bbox(corners, [(pose.lat, pose.lon)])
    return Placement(pose, None, box) if box else None
