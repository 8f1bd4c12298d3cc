"""The bundled default model (models/default/v1) on the scene video, replayed through a camera's tracking,
zones and rules with the video's own timestamps (so the result does not depend on how fast this machine
runs the model): one case per planted problem, none for the transient stall, the real model version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cityeye.commands.streams import stream_process
from cityeye.config import DetectorSettings
from datasets.synthetic import TimelineItem
from inference.files import video_frames
from inference.streams.config import CameraConfig
from tests.inference.streams.conftest import camera, stream_settings


def test_bundled_model_one_case_per_planted_problem(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    settings = stream_settings(tmp_path / "data", detector=DetectorSettings(backend="pytorch"))
    process = stream_process(settings)  # the configured detector: production, the bundled v1
    worker, service = process.worker, process.runtime.cases
    assert worker.holder.get().version == "v1"
    cfg = CameraConfig.model_validate(camera("lane-2", f"file://{video}"))
    frames = video_frames(video, sample_fps=cfg.fps, start=datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    events = worker.runner.replay(cfg, frames, batch=4)
    cases = service.list_cases().items
    assert events == 3
    assert sorted(c.category for c in cases) == ["billboard_hazard", "garbage", "street_stall"]
    stall = next(c for c in cases if c.category == "street_stall")
    staying = next(t for t in timeline if t.class_name == "stall" and not t.attrs.get("transient"))
    assert stall.x2 < staying.xyxy[2] + 20  # the stall that stays, not the transient one at the right
    for c in cases:
        assert c.source_id == "camera:lane-2"
        assert {o.model_version for o in service.get_case(c.id).observations} == {"v1"}
    process.close()
