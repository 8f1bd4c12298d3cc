"""Live reload and active learning in a running worker: the file pipeline (frame loop) switches model mid-run
with no frame lost, every event records the version that saw it; the sampler keeps uncertain frames."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cases.db import make_engine, migrate, session_factory
from cases.feedback import FeedbackStore
from cityeye.config import DetectorSettings, PersistenceSettings, SamplingSettings, Settings
from inference.detections import Detections
from inference.detector import Detector
from inference.event import Event
from inference.frame import Frame
from inference.holder import DetectorHolder
from inference.pipeline import FilePipeline
from inference.sampling import ActiveSampler
from models.notify import publish_production
from models.registry import ModelVersion, Registry
from models.taxonomy import load_taxonomy


@dataclass
class Outcome:
    case_id: int = 1
    created: bool = True
    merged: bool = False
    duplicate: bool = False


def registry_with_two_versions(tmp_path: Path, tiny_model: Path) -> Registry:
    reg = Registry(tmp_path / "models")
    classes = ["stall", "garbage", "garbage_bin", "signboard", "construction"]
    for v in ("m1", "m2"):
        reg.register(tiny_model, ModelVersion(version=v, classes=classes, imgsz=64))
    reg.promote("m1", force=True)
    return reg


def holder_for(reg: Registry, **kw) -> DetectorHolder:  # type: ignore[no-untyped-def]
    cfg = DetectorSettings(conf=0.001, backend="pytorch", imgsz=64)
    return DetectorHolder(
        lambda v: Detector.from_file(reg.weights(v), cfg, v, 64), lambda: reg.get("production").version, **kw
    )


def test_a_running_pipeline_switches_version_mid_run_and_loses_no_frame(
    tmp_path: Path, tiny_model: Path, session_data_dir: Path, store: FeedbackStore
) -> None:
    reg = registry_with_two_versions(tmp_path, tiny_model)
    media = tmp_path / "media"
    media.mkdir()
    images = sorted((session_data_dir / "tiny" / "ds" / "images").rglob("*.jpg"))
    for i, p in enumerate(images):
        shutil.copy(p, media / f"{i:02d}.jpg")
    holder = holder_for(reg, poll_s=0.0)
    events: list[Event] = []

    def sink(e: Event) -> Outcome:
        events.append(e)
        return Outcome()

    # the weak tiny model finds mostly bins: a city taxonomy that makes bins a case category, so frames make events
    taxonomy_file = tmp_path / "taxonomy.yaml"
    shipped = Path(__file__).resolve().parents[3] / "models" / "taxonomy.yaml"
    taxonomy_file.write_text(shipped.read_text().replace("garbage_bin: null", "garbage_bin: garbage"))
    sampler = ActiveSampler(SamplingSettings(rate=1.0, random_rate=1.0, per_source_per_hour=1000), store, seed=0)
    pipeline = FilePipeline(
        holder, load_taxonomy(str(taxonomy_file)), PersistenceSettings(), sink, batch=1, sampler=sampler
    )
    seen: list[str] = []

    def on_file(report) -> None:  # type: ignore[no-untyped-def]
        seen.append(holder.version)
        if len(seen) == len(images) // 2:  # half-way: the data team promotes m2
            reg.promote("m2", force=True)
            holder.check()
            assert holder.wait_loaded()

    report = pipeline.run(media, on_file=on_file)
    assert report.total("frames") == len(images) == len(list(media.iterdir()))  # frames in == frames processed
    assert not report.errors
    assert holder.swaps == [("m1", "m2")]
    assert seen[: len(images) // 2] == ["m1"] * (len(images) // 2) and seen[-1] == "m2"
    half = len(images) // 2
    by_file: dict[str, set[str]] = {}
    for e in events:
        by_file.setdefault(e.source_id, set()).add(e.model_version)
    assert [sorted(by_file[k]) for k in sorted(by_file)] == [["m1"]] * half + [["m2"]] * (len(images) - half)
    # every frame was offered to the sampler with the version that saw it
    assert [r.model_version for r in store.list(origin="sample")] == ["m1"] * half + ["m2"] * (len(images) - half)


def test_a_redis_notice_makes_the_holder_reload_without_waiting_for_the_poll(
    tmp_path: Path, tiny_model: Path, redis_url: str
) -> None:
    reg = registry_with_two_versions(tmp_path, tiny_model)
    holder = holder_for(reg, poll_s=3600.0, redis_url=redis_url)
    try:
        deadline = time.monotonic() + 10
        while publish_production(redis_url, "m1") < 1:  # until the listener has subscribed
            assert time.monotonic() < deadline
            time.sleep(0.05)
        frame = Frame(np.zeros((64, 64, 3), np.uint8), "cam", datetime.now(UTC))
        assert holder.predict_versioned([frame])[0] == "m1"
        reg.promote("m2", force=True)
        assert holder.predict_versioned([frame])[0] == "m1"  # the hourly poll is far away
        publish_production(redis_url, "m2")
        deadline = time.monotonic() + 20
        while holder.predict_versioned([frame])[0] != "m2":
            assert time.monotonic() < deadline, "no reload after the notice"
            time.sleep(0.05)
    finally:
        holder.close()


def test_a_model_that_fails_to_load_keeps_the_running_one(tmp_path: Path, tiny_model: Path) -> None:
    reg = registry_with_two_versions(tmp_path, tiny_model)
    holder = holder_for(reg, poll_s=0.0, background=False)
    reg.weights("m2").write_bytes(b"not a model")
    reg.promote("m2", force=True)
    frame = Frame(np.zeros((64, 64, 3), np.uint8), "cam", datetime.now(UTC))
    assert holder.predict_versioned([frame])[0] == "m1"
    assert holder.swaps == []


def dets(conf: list[float], boxes: list[list[float]], cls: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.array(conf), np.array(cls), names={0: "stall", 1: "garbage"})


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    migrate(settings, engine)
    return FeedbackStore(session_factory(engine), settings.feedback_dir)


def test_the_sampler_keeps_uncertain_and_contested_frames_within_caps_and_budget(store: FeedbackStore) -> None:
    now = [0.0]
    cfg = SamplingSettings(rate=1.0, random_rate=0.0, low_conf=0.25, high_conf=0.5, per_source_per_hour=2)
    sampler = ActiveSampler(cfg, store, seed=0, clock=lambda: now[0])
    img = (np.random.default_rng(0).integers(0, 255, (48, 64, 3))).astype(np.uint8)

    def frame(src: str = "cam-1") -> Frame:
        return Frame(img, src, datetime.now(UTC))

    sure = dets([0.9], [[1, 1, 20, 20]], [0])
    assert sampler.offer(frame(), sure, "m1") is None
    assert sampler.offer(frame(), dets([0.3], [[1, 1, 20, 20]], [0]), "m1") == "uncertain"
    contested = dets([0.9, 0.8], [[1, 1, 20, 20], [2, 2, 21, 21]], [0, 1])
    assert sampler.offer(frame(), contested, "m1") == "contested"
    assert sampler.offer(frame(), contested, "m1") is None  # cam-1's cap of 2 per hour
    assert sampler.offer(frame("cam-2"), contested, "m1") == "contested"
    now[0] = 3601.0
    assert sampler.offer(frame(), contested, "m1") == "contested"  # a new hour
    rows = store.list(origin="sample")
    assert [(r.source_id, r.reason, r.model_version, r.labelled) for r in rows] == [
        ("cam-1", "uncertain", "m1", False),
        ("cam-1", "contested", "m1", False),
        ("cam-2", "contested", "m1", False),
        ("cam-1", "contested", "m1", False),
    ]
    assert rows[1].predictions[1] == {"class_name": "garbage", "xyxy": [2.0, 2.0, 21.0, 21.0]}
    assert store.image_path(rows[0]).is_file()
    # the storage budget: already used up → nothing more is kept
    tight = ActiveSampler(cfg.model_copy(update={"budget_mb": store.sample_bytes() / 1e6}), store, seed=0)
    assert tight.offer(frame("cam-3"), contested, "m1") is None and tight.skipped["budget"] == 1
