"""Survey test media made by the tests: geotagged drone photos (EXIF + DJI XMP written here), GeoTIFF orthos
(written with rasterio), and the expected WGS84 positions of ground points computed through PROJ."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from inference.survey.metadata import dji_xmp, exif_bytes

LAT0, LON0 = 31.2304, 121.4737  # Shanghai
UTM51N = "EPSG:32651"
WHEN = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def expected_latlon(lat0: float, lon0: float, east: float, north: float) -> tuple[float, float]:
    """WGS84 of a point `east`/`north` metres from (lat0, lon0), by PROJ's azimuthal equidistant projection:
    an independent route to the one the product takes (a local tangent plane)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    lon, lat = transform(aeqd, CRS.from_epsg(4326), [east], [north])
    return lat[0], lon[0]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from rasterio.crs import CRS
    from rasterio.warp import transform

    aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={lat1} +lon_0={lon1} +datum=WGS84 +units=m")
    x, y = transform(CRS.from_epsg(4326), aeqd, [lon2], [lat2])
    return math.hypot(x[0], y[0])


def pixel_of(east: float, north: float, height: float, yaw: float, pitch: float, f: float, cx: float, cy: float):
    """Where a ground point appears, by plain trigonometry in the heading frame (not the product's rotation)."""
    psi, dep = math.radians(yaw), math.radians(-pitch)  # depression below the horizon
    along = east * math.sin(psi) + north * math.cos(psi)
    across = east * math.cos(psi) - north * math.sin(psi)
    z = along * math.cos(dep) + height * math.sin(dep)
    y = -along * math.sin(dep) + height * math.cos(dep)
    return cx + f * across / z, cy + f * y / z


def write_drone_photo(
    path: Path,
    image: np.ndarray,
    lat: float = LAT0,
    lon: float = LON0,
    height: float = 100.0,
    pitch: float = -90.0,
    yaw: float = 0.0,
    focal35: float = 24.0,
    ground_alt: float = 12.0,
    xmp: bool = True,
) -> Path:
    """A JPEG as a DJI drone writes it: EXIF GPS/altitude/focal length/time and XMP gimbal tags."""
    img = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    kwargs = {"exif": exif_bytes(lat, lon, ground_alt + height, 8.8, focal35, WHEN)}
    if xmp:
        kwargs["xmp"] = dji_xmp(height, ground_alt + height, pitch, yaw)
    img.save(path, "JPEG", quality=92, **kwargs)
    return path


def write_geotiff(path: Path, image: np.ndarray, x0: float, y0: float, res: float, crs: str | None = UTM51N) -> Path:
    """A 3-band GeoTIFF of a BGR image, north up, top-left corner at (x0, y0) in `crs`, `res` m per pixel."""
    import rasterio
    from rasterio.transform import from_origin

    h, w = image.shape[:2]
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 3,
        "dtype": "uint8",
        "transform": from_origin(x0, y0, res, res),
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1)))
    return path


def utm_origin(lat: float = LAT0, lon: float = LON0) -> tuple[float, float]:
    from rasterio.crs import CRS
    from rasterio.warp import transform

    x, y = transform(CRS.from_epsg(4326), CRS.from_user_input(UTM51N), [lon], [lat])
    return x[0], y[0]


def blue_roof(image: np.ndarray, x: int, y: int, w: int, h: int, seed: int = 0) -> np.ndarray:
    """`image` with a blue corrugated steel-sheet roof (the usual temporary structure) drawn at (x, y, w, h)."""
    out = image.copy()
    out[y : y + h, x : x + w] = (200, 120, 40)
    for k in range(x, x + w, 4):
        out[y : y + h, k : k + 2] = (225, 140, 55)
    return out


def noisy(image: np.ndarray, seed: int, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, **photo: float) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return write_drone_photo(Path(d) / "x.jpg", image, **photo).read_bytes()  # type: ignore[arg-type]


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def zip_bomb(mb: int = 64) -> bytes:
    """One member of `mb` MiB of zeros: ~64 KiB compressed (a 1000× ratio)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("big.jpg", "w", force_zip64=True) as fh,
    ):
        chunk = b"\xff\xd8\xff" + b"\x00" * ((1 << 20) - 3)
        for _ in range(mb):
            fh.write(chunk)
            chunk = b"\x00" * (1 << 20)
    return buf.getvalue()
