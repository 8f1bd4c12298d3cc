"""Geo-location: photos with EXIF/XMP written by the test → pixel boxes → WGS84, against PROJ; GeoTIFFs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inference.errors import GeoError
from inference.files import MediaError
from inference.survey.georef import CameraPose, focal_px
from inference.survey.media import load, read_geotiff
from inference.survey.metadata import parse_xmp, read_photo_meta
from tests.inference.survey.factories import (
    LAT0,
    LON0,
    WHEN,
    distance_m,
    expected_latlon,
    pixel_of,
    utm_origin,
    write_drone_photo,
    write_geotiff,
)
from tests.integration.security.corpus import RASTER, geotiff_deep

W, H = 4000, 3000
# stated bound: position error of an object boxed to the whole pixel, nadir and 30° off nadir, 100 m above ground
# (measured: ≤ 0.025 m; the pose itself, GPS ± 1-3 m and gimbal ± 1°, dominates real errors)
BOUND_M = 0.5
GROUND = [(0.0, 0.0), (25.0, -18.0), (-40.0, 22.0), (12.5, 30.0), (-8.0, -35.0)]


@pytest.mark.parametrize(("pitch", "yaw"), [(-90.0, 0.0), (-90.0, 37.0), (-60.0, 0.0), (-60.0, 215.0)])
def test_objects_at_known_ground_positions_are_placed_within_the_bound(
    tmp_path: Path, pitch: float, yaw: float
) -> None:
    photo = write_drone_photo(tmp_path / "dji.jpg", np.zeros((H, W, 3), np.uint8), pitch=pitch, yaw=yaw, height=100.0)
    located = load(photo, "jpeg")
    assert located.pose is not None, located.geo_note
    assert located.taken_at == WHEN
    f = 24.0 / math.hypot(36, 24) * math.hypot(W, H)
    boxes, expected = [], []
    for east, north in GROUND:
        # for a tilted view the target is offset along the view so it lands in the frame
        if pitch > -80:
            heading = math.radians(yaw)
            dist = 100.0 / math.tan(math.radians(-pitch))
            east, north = east + dist * math.sin(heading), north + dist * math.cos(heading)
        u, v = pixel_of(east, north, 100.0, yaw, pitch, f, W / 2, H / 2)
        assert 0 <= u < W and 0 <= v < H
        # a 40 × 60 px box: centred on the point (nadir) or standing on it (tilted: the point is the bottom edge)
        box = [u - 20, v - 30, u + 20, v + 30] if pitch <= -80 else [u - 20, v - 60, u + 20, v]
        boxes.append([round(c) for c in box])  # a detector's box: whole pixels
        expected.append(expected_latlon(LAT0, LON0, east, north))
    got = located.locate(np.array(boxes))
    errors = [distance_m(e[0], e[1], g[0], g[1]) for e, g in zip(expected, got, strict=True)]
    assert max(errors) < BOUND_M, errors


def test_xmp_and_exif_are_read_from_the_file(tmp_path: Path) -> None:
    photo = write_drone_photo(
        tmp_path / "p.jpg", np.zeros((300, 400, 3), np.uint8), pitch=-45.5, yaw=-120.25, height=80
    )
    meta = read_photo_meta(photo)
    assert meta.lat == pytest.approx(LAT0, abs=1e-7) and meta.lon == pytest.approx(LON0, abs=1e-7)
    assert (meta.gimbal_pitch, meta.gimbal_yaw, meta.rel_alt_m) == (-45.5, -120.25, 80.0)
    assert meta.focal35_mm == 24 and meta.camera == "DJI FC3411"
    assert parse_xmp(b"<drone-dji:GimbalPitchDegree>-90.0</drone-dji:GimbalPitchDegree>") == {
        "GimbalPitchDegree": -90.0
    }
    assert parse_xmp(b'drone-dji:GimbalYawDegree="nan" drone-dji:X="1e999"') == {}


def test_without_xmp_the_flight_metadata_gives_the_height_and_nadir_is_assumed(tmp_path: Path) -> None:
    photo = write_drone_photo(
        tmp_path / "p.jpg", np.zeros((300, 400, 3), np.uint8), height=60, ground_alt=12, xmp=False
    )
    assert "height above ground unknown" in load(photo, "jpeg").geo_note
    pose = load(photo, "jpeg", ground_alt_m=12.0).pose
    assert pose is not None and pose.height_m == pytest.approx(60.0) and pose.pitch_deg == -90


def test_rays_at_the_horizon_have_no_position_and_bad_poses_are_refused() -> None:
    pose = CameraPose(LAT0, LON0, 50.0, 0.0, -5.0, 1000.0, 500.0, 400.0)
    out = pose.pixels_to_ground(np.array([[500.0, 0.0], [500.0, 800.0]]))
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    with pytest.raises(GeoError, match="height above ground"):
        CameraPose(LAT0, LON0, 0.0, 0.0, -90.0, 1000.0, 500.0, 400.0)
    with pytest.raises(GeoError, match="focal length unknown"):
        focal_px(4000, 3000, 8.8, None, None)


def test_geotiff_pixels_map_to_wgs84_through_its_crs(tmp_path: Path) -> None:
    x0, y0 = utm_origin()
    tif = write_geotiff(tmp_path / "ortho.tif", np.zeros((200, 300, 3), np.uint8), x0 - 10, y0 + 5, 0.1)
    image, geo = read_geotiff(tif) or (None, None)
    assert image is not None and geo is not None and image.shape == (200, 300, 3)
    assert geo.gsd_m() == pytest.approx(0.1)
    lat, lon = geo.pixels_to_wgs84(np.array([[100.0, 50.0]]))[0]  # 10 m east, 5 m south of the corner: the origin
    assert distance_m(LAT0, LON0, lat, lon) < 0.01


def test_a_geotiff_without_crs_is_a_clear_error_and_a_plain_tiff_is_an_image(tmp_path: Path) -> None:
    tif = write_geotiff(tmp_path / "nocrs.tif", np.zeros((50, 60, 3), np.uint8), 1000.0, 2000.0, 0.1, crs=None)
    with pytest.raises(MediaError, match="unknown CRS"):
        load(tif, "tiff")
    from tests.integration.security.corpus import geotiff_unknown_crs

    user_defined = tmp_path / "user.tif"
    user_defined.write_bytes(geotiff_unknown_crs())  # a user-defined CRS without parameters: just as unknown
    with pytest.raises(MediaError, match="unknown CRS"):
        load(user_defined, "tiff")
    from PIL import Image

    plain = tmp_path / "plain.tif"
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(plain)
    located = load(plain, "tiff")
    assert located.raster is None and located.pose is None and "no GPS" in located.geo_note


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6


def test_a_geotiff_is_capped_by_decoded_bytes_not_only_pixels(tmp_path: Path) -> None:
    """10 MP of float64 in 3 bands is ~250 KB on disk but 240 MB decoded (+405 MB RSS before the cap): refused
    before any band is read; the same pixels in 8 bits are read."""
    tif = tmp_path / "f64.tif"
    tif.write_bytes(RASTER[0].make())
    assert tif.stat().st_size < 1_000_000
    before = _rss_mb()
    with pytest.raises(MediaError, match=r"GeoTIFF too large to decode \(3200×3125, 3 bands of float64: 360 MB"):
        read_geotiff(tif)
    assert _rss_mb() - before < 50
    small = tmp_path / "u16.tif"
    small.write_bytes(geotiff_deep(300, 200, "uint16"))
    image, geo = read_geotiff(small) or (None, None)
    assert image is not None and image.dtype == np.uint8 and image.shape == (200, 300, 3) and geo is not None
