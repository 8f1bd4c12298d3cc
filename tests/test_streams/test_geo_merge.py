"""Two cameras that see the same spot: their events carry the same map position (through each camera's
homography), so each problem is one case with observations from both cameras."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from datasets.synthetic import TimelineItem
from inference.sources import video_frames
from inference.streams.config import CameraConfig
from inference.streams.runner import DetectorHolder
from inference.streams.worker import StreamWorker
from tests.test_streams.conftest import SEED, SIZE, camera, stream_settings
from tests.test_streams.helpers import GroundTruthDetector


def test_two_cameras_one_case_per_problem(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    worker = StreamWorker(
        stream_settings(tmp_path / "data"), holder=DetectorHolder(GroundTruthDetector(SEED, SIZE, timeline))
    )
    t0 = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    for cid in ("north", "south"):
        cfg = CameraConfig.model_validate(camera(cid, f"file://{video}"))
        assert worker.runner.replay(cfg, video_frames(video, sample_fps=cfg.fps, start=t0), batch=4) == 3
    cases = worker.service.list_cases().items
    assert sorted(c.category for c in cases) == ["billboard_hazard", "garbage", "street_stall"]
    for c in cases:
        obs = worker.service.get_case(c.id).observations
        assert sorted(o.source_id for o in obs) == ["camera:north", "camera:south"]
        assert all(o.lat is not None and o.tracker_id is not None for o in obs)
    worker.close()
