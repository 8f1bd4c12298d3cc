"""Two cameras that see the same spot: their events carry the same map position (through each camera's
homography), so each problem is one case with observations from both cameras."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from datasets.synthetic import TimelineItem
from inference.files import video_frames
from inference.holder import DetectorHolder
from inference.streams.config import CameraConfig
from inference.streams.worker import StreamWorker
from tests.inference.streams.conftest import SEED, SIZE, camera, stream_settings
from tests.inference.streams.helpers import GroundTruthDetector


def test_two_cameras_one_case_per_problem(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    worker = StreamWorker(
        stream_settings(tmp_path / "data"), holder=DetectorHolder.fixed(GroundTruthDetector(SEED, SIZE, timeline))
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


def test_events_through_the_durable_spool(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    """streams.ingest = spool: events go to the spool file first, then the ingest task (embedded thread pool
    here) stores them; flush() forgets the ones the case store has."""
    import time

    from cityeye import tasks

    video, timeline = scene
    settings = stream_settings(tmp_path / "data")
    settings.streams.ingest = "spool"
    worker = StreamWorker(settings, holder=DetectorHolder.fixed(GroundTruthDetector(SEED, SIZE, timeline)))
    try:
        assert worker.spool is not None
        cfg = CameraConfig.model_validate(camera("east", f"file://{video}"))
        t0 = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
        assert worker.runner.replay(cfg, video_frames(video, sample_fps=cfg.fps, start=t0), batch=4) == 3
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(worker.service.list_cases().items) < 3:
            time.sleep(0.1)
        assert sorted(c.category for c in worker.service.list_cases().items) == [
            "billboard_hazard",
            "garbage",
            "street_stall",
        ]
        assert worker.spool.flush() == 0  # all confirmed in the case store
    finally:
        worker.close()
        tasks.shutdown_embedded()
        tasks.set_settings(None)
