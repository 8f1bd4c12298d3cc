"""A running stream worker's runner (issue 5) switches model version mid-run through `DetectorHolder`: the new
version loads in the background while the old one keeps detecting; frames in == frames processed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cases.db import make_engine, migrate, session_factory
from cases.feedback import FeedbackStore
from cityeye.config import DetectorSettings, SamplingSettings, Settings, StreamSettings
from datasets.synthetic import generate_video
from inference.detections import Detections
from inference.detector import Detector
from inference.frame import Frame
from inference.holder import DetectorHolder
from inference.sampling import ActiveSampler
from inference.streams.config import CameraConfig
from inference.streams.runner import StreamRunner
from models.registry import ModelVersion, Registry
from models.taxonomy import load_taxonomy

CLASSES = ["stall", "garbage", "garbage_bin", "signboard", "construction"]


class Counting:
    """The real detector, counting the frames it is given (what the runner processed with this version)."""

    def __init__(self, inner: Detector, counts: dict[str, int], slow_load_s: float = 0.0):
        time.sleep(slow_load_s)  # a big model takes a while to load: the cameras must not wait for it
        self.inner, self.counts = inner, counts

    @property
    def version(self) -> str:
        return self.inner.version

    def predict(self, frames: list[Frame]) -> list[Detections]:
        self.counts[self.version] = self.counts.get(self.version, 0) + len(frames)
        return self.inner.predict(list(frames))


def test_a_running_stream_runner_switches_version_with_no_frame_lost(tmp_path: Path, tiny_model: Path) -> None:
    reg = Registry(tmp_path / "models")
    for v in ("m1", "m2"):
        reg.register(tiny_model, ModelVersion(version=v, classes=CLASSES, imgsz=64))
    reg.promote("m1", force=True)
    counts: dict[str, int] = {}
    cfg = DetectorSettings(conf=0.25, backend="pytorch", imgsz=64)

    def load(v: str) -> Counting:
        return Counting(Detector.from_file(reg.weights(v), cfg, v, 64), counts, slow_load_s=0.0 if v == "m1" else 1.0)

    holder = DetectorHolder(load, lambda: reg.get("production").version, poll_s=0.05)
    video = tmp_path / "cam.mp4"
    generate_video(video, seed=3, duration_s=4, fps=10, size=(160, 120))
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    migrate(settings, engine)
    store = FeedbackStore(session_factory(engine), settings.feedback_dir)
    every_frame = SamplingSettings(rate=1.0, random_rate=1.0, per_source_per_hour=100_000)
    sampler = ActiveSampler(every_frame, store, seed=0)
    runner = StreamRunner(holder, load_taxonomy(None), lambda events: None, StreamSettings(), sampler=sampler)
    collected = 0
    original_collect = runner.collect

    def counting_collect(wait_s: float):  # type: ignore[no-untyped-def]
        nonlocal collected
        got = original_collect(wait_s)
        collected += len(got)
        return got

    runner.collect = counting_collect  # type: ignore[method-assign]
    runner.set_cameras([CameraConfig(id="cam-1", url=f"file://{video}", fps=10, loop=True)])
    stop = threading.Event()
    rounds_during_load: list[int] = []

    def loop() -> None:
        while not stop.is_set():
            runner.step(wait_s=0.2)

    t = threading.Thread(target=loop)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while counts.get("m1", 0) < 5:
            assert time.monotonic() < deadline, "no frames reached the runner"
            time.sleep(0.05)
        reg.promote("m2", force=True)
        before = runner.rounds
        while counts.get("m2", 0) < 5:
            assert time.monotonic() < deadline + 30, "the runner never switched to m2"
            if not counts.get("m2"):
                rounds_during_load.append(runner.rounds - before)
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(timeout=10)
        runner.stop()
    assert holder.swaps == [("m1", "m2")]
    assert collected == runner.frames == counts["m1"] + counts["m2"]  # frames in == frames processed
    assert max(rounds_during_load) > 0, "detection went on with m1 while m2 loaded (1 s)"
    # active learning: every analysed frame was offered to the sampler with the version that saw it
    kept = [r.model_version for r in store.list(origin="sample")]
    assert {v: kept.count(v) for v in set(kept)} == counts
    engine.dispose()
