"""The bundled default model (models/default/v1, PyTorch backend) on the scene video through a file camera:
the same one case per planted problem as with the detector double, and the real model version on them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cityeye.config import DetectorSettings
from datasets.synthetic import TimelineItem
from inference.streams.config import CameraConfig
from inference.streams.worker import StreamWorker, default_holder
from tests.test_streams.conftest import camera, stream_settings


def test_bundled_model_one_case_per_planted_problem(tmp_path: Path, scene: tuple[Path, list[TimelineItem]]) -> None:
    video, timeline = scene
    settings = stream_settings(tmp_path / "data", detector=DetectorSettings(backend="pytorch"))
    worker = StreamWorker(settings, holder=default_holder(settings))
    assert worker.holder.get().version == "v1"
    worker.store.create(CameraConfig.model_validate(camera("lane-2", f"file://{video}")))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.runner.status().get("lane-2", {}).get("state") != "ended":
            time.sleep(0.2)
        assert worker.runner.status()["lane-2"]["state"] == "ended"  # the whole file was played
        time.sleep(0.5)  # the last round's events are ingested
    finally:
        stop.set()
        thread.join(timeout=20)
    cases = worker.service.list_cases().items
    assert sorted(c.category for c in cases) == ["billboard_hazard", "garbage", "street_stall"]
    stall = next(c for c in cases if c.category == "street_stall")
    staying = next(t for t in timeline if t.class_name == "stall" and not t.attrs.get("transient"))
    assert stall.x2 < staying.xyxy[2] + 20  # the stall that stays, not the transient one at the right
    for c in cases:
        assert {o.model_version for o in worker.service.get_case(c.id).observations} == {"v1"}
