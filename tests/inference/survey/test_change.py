"""Change detection between two synthetic orthomosaics of one area: a new blue steel roof → exactly one
construction case; none when a permit covers it; a registered pair of photos by feature matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.synthetic import generate_scene
from inference.survey.change import detect_changes, warp_features
from tests.inference.survey.conftest import Env
from tests.inference.survey.factories import (
    LAT0,
    blue_roof,
    distance_m,
    expected_latlon,
    noisy,
    utm_origin,
    write_geotiff,
)

RES = 0.1  # m per pixel
ROOF = (430, 260, 90, 60)  # x, y, w, h in the big scene: a 9 m × 6 m roof


def _orthos(tmp_path: Path) -> tuple[Path, Path, tuple[float, float]]:
    """Two orthos of one place a month apart: the second is shifted 5 m east / 2 m south, with a new roof.
    Returns their paths and the roof centre's expected (lat, lon)."""
    scene = generate_scene("aerial", seed=7, size=(1000, 700)).image
    after = blue_roof(scene, *ROOF)
    x0, y0 = utm_origin()
    before = write_geotiff(tmp_path / "may.tif", noisy(scene[0:600, 0:800], 1), x0, y0, RES)
    after_path = write_geotiff(
        tmp_path / "june.tif", noisy(after[20:620, 50:850], 2), x0 + 50 * RES, y0 - 20 * RES, RES
    )
    cx, cy = ROOF[0] + ROOF[2] / 2, ROOF[1] + ROOF[3] / 2  # in the big scene, whose corner is (x0, y0)
    from rasterio.crs import CRS
    from rasterio.warp import transform

    lon, lat = transform(CRS.from_user_input("EPSG:32651"), CRS.from_epsg(4326), [x0 + cx * RES], [y0 - cy * RES])
    return before, after_path, (lat[0], lon[0])


def _run(env: Env, area: str, path: Path) -> int:
    survey = env.store.create(area)
    env.add(survey.id, path)
    env.processor().run(survey.id)
    return survey.id


def _construction_cases(env: Env) -> list:
    return [c for c in env.service.list_cases().items if c.category == "illegal_construction"]


def test_a_new_structure_between_two_orthos_is_exactly_one_construction_case(env: Env, tmp_path: Path) -> None:
    before, after, (lat, lon) = _orthos(tmp_path)
    _run(env, "xuhui-3", before)
    assert _construction_cases(env) == []  # the first survey has nothing to compare with
    second = _run(env, "xuhui-3", after)
    cases = _construction_cases(env)
    assert len(cases) == 1
    assert distance_m(lat, lon, cases[0].lat, cases[0].lon) < 1.0
    findings = [f for f in env.store.findings(second) if f.kind == "change"]
    assert len(findings) == 1 and findings[0].case_id == cases[0].id and findings[0].permit is None
    # processing the same survey again changes nothing (same event ids: duplicates)
    env.processor().run(second)
    assert len(_construction_cases(env)) == 1
    assert len([f for f in env.store.findings(second) if f.kind == "change"]) == 1
    # another area's survey is not compared with this one
    _run(env, "minhang-1", after)
    assert len(_construction_cases(env)) == 1


def test_a_new_structure_on_the_permit_register_raises_no_case(env: Env, tmp_path: Path) -> None:
    before, after, (lat, lon) = _orthos(tmp_path)
    ring = [
        list(expected_latlon(lat, lon, e, n))[::-1] for e, n in [(-10, -10), (10, -10), (10, 10), (-10, 10), (-10, -10)]
    ]
    env.store.add_permits(
        "xuhui-3",
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "XH-2026-114"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            ],
        },
    )
    _run(env, "xuhui-3", before)
    second = _run(env, "xuhui-3", after)
    assert _construction_cases(env) == []
    findings = [f for f in env.store.findings(second) if f.kind == "change"]
    assert len(findings) == 1 and findings[0].permit == "XH-2026-114" and findings[0].case_id is None


def test_unchanged_orthos_give_no_candidates_and_trees_are_not_structures(tmp_path: Path) -> None:
    from cityeye.config import SurveySettings

    scene = generate_scene("aerial", seed=3, size=(800, 600)).image
    valid = np.ones(scene.shape[:2], bool)
    cfg = SurveySettings()
    assert detect_changes(noisy(scene, 1), noisy(scene, 2), valid, RES, cfg) == []
    import cv2

    grown = scene.copy()
    cv2.circle(grown, (400, 300), 45, (40, 110, 50), -1)  # a tree crown: a disc, new but not a structure
    assert detect_changes(scene, grown, valid, RES, cfg) == []
    assert len(detect_changes(scene, blue_roof(scene, 300, 200, 90, 60), valid, RES, cfg)) == 1


def test_photos_are_registered_by_feature_matching(tmp_path: Path) -> None:
    scene = generate_scene("aerial", seed=11, size=(900, 700)).image
    prev, cur = scene[0:600, 0:800], blue_roof(scene, 400, 300, 80, 60)[30:630, 60:860]
    pair = warp_features(prev, cur)
    assert pair is not None
    warped, valid = pair
    from cityeye.config import SurveySettings

    found = detect_changes(warped, cur, valid, RES, SurveySettings())
    assert len(found) == 1
    x1, y1, x2, y2 = found[0].bbox
    assert x1 == pytest.approx(340, abs=4) and y1 == pytest.approx(270, abs=4)


def test_a_structure_seen_by_a_street_camera_and_by_the_survey_is_one_case(env: Env, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from inference.frame import GeoContext
    from tests.cases.factories import make_event

    before, after, (lat, lon) = _orthos(tmp_path)
    near = expected_latlon(lat, lon, 6.0, -4.0)  # the camera's estimate is a few metres off
    camera = env.service.ingest(
        make_event(
            category="illegal_construction",
            class_name="construction",
            source_id="cam-17",
            start=datetime.now(UTC),
            geo=GeoContext(*near),
        )
    )
    assert camera.created
    _run(env, "xuhui-3", before)
    second = _run(env, "xuhui-3", after)
    cases = _construction_cases(env)
    assert [c.id for c in cases] == [camera.case_id] and cases[0].observation_count == 2
    assert [f.case_id for f in env.store.findings(second) if f.kind == "change"] == [camera.case_id]


def test_photos_of_two_surveys_pair_by_camera_position_and_a_new_roof_is_one_case(env: Env, tmp_path: Path) -> None:
    from tests.inference.survey.factories import write_drone_photo

    scene = generate_scene("aerial", seed=21, size=(1000, 750)).image
    may = write_drone_photo(tmp_path / "may.jpg", scene[0:600, 0:800], height=100.0)
    june = write_drone_photo(
        tmp_path / "june.jpg", blue_roof(scene, 450, 300, 90, 60)[20:620, 30:830], height=100.0, lat=LAT0 + 2e-5
    )
    far = write_drone_photo(tmp_path / "far.jpg", scene[100:700, 100:900], height=100.0, lat=LAT0 + 0.01)
    _run(env, "songjiang-1", may)
    second = env.store.create("songjiang-1")
    env.add(second.id, june, far)  # `far` is 1.1 km away: never paired, never decoded for change detection
    env.processor().run(second.id)
    cases = _construction_cases(env)
    assert len(cases) == 1
    [finding] = [f for f in env.store.findings(second.id) if f.kind == "change"]
    assert finding.case_id == cases[0].id
