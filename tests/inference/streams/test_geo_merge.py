"""Two cameras that see the same spot: their events carry the same map position (through each camera's
homography), so each problem is one case with observations from both cameras."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cityeye.commands.streams import stream_process
from datasets.synthetic import TimelineItem
from inference.files import video_frames
from inference.holder import DetectorHolder
from inference.streams.config import CameraConfig
from tests.inference.streams.conftest import SEED, SIZE, camera, stream_settings
from tests.inference.streams.helpers import GroundTruthDetector


def test_two_cameras_one_case_per_problem(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    process = stream_process(
        stream_settings(tmp_path / "data"), holder=DetectorHolder.fixed(GroundTruthDetector(SEED, SIZE, timeline))
    )
    service = process.runtime.cases
    t0 = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    for cid in ("north", "south"):
        cfg = CameraConfig.model_validate(camera(cid, f"file://{video}"))
        assert process.worker.runner.replay(cfg, video_frames(video, sample_fps=cfg.fps, start=t0), batch=4) == 3
    cases = service.list_cases().items
    assert sorted(c.category for c in cases) == ["billboard_hazard", "garbage", "street_stall"]
    for c in cases:
        obs = service.get_case(c.id).observations
        assert sorted(o.source_id for o in obs) == ["camera:north", "camera:south"]
        assert all(o.lat is not None and o.tracker_id is not None for o in obs)
    process.close()


def test_events_through_the_durable_spool(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    """streams.ingest = spool: events go to the spool file first, then the ingest task (embedded thread pool
    here) stores them; flush() forgets the ones the case store has."""
    import time

    from cityeye import jobs as tasks

    video, timeline = scene
    settings = stream_settings(tmp_path / "data")
    settings.streams.ingest = "spool"
    process = stream_process(settings, holder=DetectorHolder.fixed(GroundTruthDetector(SEED, SIZE, timeline)))
    service = process.runtime.cases
    try:
        assert process.spool is not None and process.worker.outbox is process.spool
        cfg = CameraConfig.model_validate(camera("east", f"file://{video}"))
        t0 = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
        assert process.worker.runner.replay(cfg, video_frames(video, sample_fps=cfg.fps, start=t0), batch=4) == 3
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(service.list_cases().items) < 3:
            time.sleep(0.1)
        assert sorted(c.category for c in service.list_cases().items) == [
            "billboard_hazard",
            "garbage",
            "street_stall",
        ]
        assert process.spool.flush() == 0  # all confirmed in the case store
    finally:
        process.close()
        tasks.shutdown_embedded()
        tasks.set_settings(None)
