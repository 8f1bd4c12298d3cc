"""Feedback frames to Label Studio / CVAT and back: pre-annotations out, the labeller's boxes in."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cases.feedback import Box, FeedbackError, FeedbackStore
from cityeye.cli import main
from cityeye.config import SamplingSettings, Settings
from cityeye.runtime import Runtime
from datasets.labeling import LabelingFormatError, export_cvat, export_label_studio, import_cvat, import_label_studio
from inference.detections import Detections
from inference.frame import Frame
from inference.sampling import ActiveSampler

CLASSES = ["stall", "garbage", "garbage_bin", "signboard", "construction"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> Iterator[FeedbackStore]:
    with Runtime.from_settings(settings, webhooks="off") as rt:
        yield rt.feedback


def two_samples(store: FeedbackStore) -> list:  # type: ignore[type-arg]
    sampler = ActiveSampler(SamplingSettings(rate=1.0), store, seed=0)
    for i in range(2):
        img = np.random.default_rng(i).integers(0, 255, (100, 200, 3)).astype(np.uint8)
        dets = Detections(
            np.array([[20, 10, 60, 50]], np.float32), np.array([0.3]), np.array([1]), names={1: "garbage"}
        )
        assert sampler.offer(Frame(img, f"cam-{i}", datetime.now(UTC)), dets, "v1") == "uncertain"
    return store.list(origin="sample")


def test_label_studio_round_trip(settings: Settings, store: FeedbackStore, tmp_path: Path) -> None:
    frames = two_samples(store)
    out = tmp_path / "ls"
    tasks_file = export_label_studio(frames, settings.feedback_dir, out, CLASSES)
    tasks = json.loads(tasks_file.read_text())
    pred = tasks[0]["predictions"][0]
    assert pred["model_version"] == "v1"
    assert pred["result"][0]["value"] | {} == {
        "x": 10.0,
        "y": 10.0,
        "width": 20.0,
        "height": 40.0,
        "rotation": 0,
        "rectanglelabels": ["garbage"],
    }
    assert (out / "images" / Path(tasks[0]["data"]["image"]).name.split("=")[-1]).is_file()
    assert '<Label value="signboard"/>' in (out / "label_config.xml").read_text()
    # the labeller accepts frame 1's box as a stall and deletes frame 2's
    tasks[0]["annotations"] = [
        {"result": [dict(pred["result"][0], value=dict(pred["result"][0]["value"], rectanglelabels=["stall"]))]}
    ]
    tasks[1]["annotations"] = [{"result": []}]
    exported = tmp_path / "ls-export.json"
    exported.write_text(json.dumps(tasks))
    assert (
        main(
            [
                "--data-dir",
                str(settings.data_dir),
                "datasets",
                "label-import",
                "--format",
                "label-studio",
                str(exported),
            ]
        )
        == 0
    )
    a, b = store.list(origin="sample")
    assert a.labelled and a.boxes == [{"class_name": "stall", "xyxy": [20.0, 10.0, 60.0, 50.0]}]
    assert b.labelled and b.boxes == []
    assert store.list(labelled=False) == []


def test_cvat_round_trip_and_bad_files(settings: Settings, store: FeedbackStore, tmp_path: Path) -> None:
    two_samples(store)
    assert (
        main(
            [
                "--data-dir",
                str(settings.data_dir),
                "datasets",
                "label-export",
                "--format",
                "cvat",
                "--out",
                str(tmp_path / "cv"),
            ]
        )
        == 0
    )
    xml = tmp_path / "cv" / "annotations.xml"
    root = ET.parse(xml).getroot()
    images = root.findall("image")
    assert len(images) == 2 and images[0].find("box").get("label") == "garbage"  # type: ignore[union-attr]
    box = images[0].find("box")
    assert box is not None
    box.set("label", "signboard")
    box.set("xbr", "250")  # beyond the 200 px frame: clipped
    ET.ElementTree(root).write(xml)
    labels = import_cvat(xml)
    ids = sorted(labels)
    for fid, boxes in labels.items():
        store.set_labels(fid, boxes, "cvat", CLASSES)
    assert store.get(ids[0]).boxes == [{"class_name": "signboard", "xyxy": [20.0, 10.0, 200.0, 50.0]}]
    assert store.get(ids[1]).boxes == [{"class_name": "garbage", "xyxy": [20.0, 10.0, 60.0, 50.0]}]
    with pytest.raises(FeedbackError, match="unknown class 'tree'"):
        store.set_labels(ids[0], [Box("tree", (1, 1, 5, 5))], "cvat", CLASSES)
    (tmp_path / "bad.xml").write_text("<annotations><image name='x.jpg'/></annotations>")
    with pytest.raises(LabelingFormatError, match="not an exported feedback frame"):
        import_cvat(tmp_path / "bad.xml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LabelingFormatError):
        import_label_studio(tmp_path / "bad.json")
    assert (
        main(
            [
                "--data-dir",
                str(settings.data_dir),
                "datasets",
                "label-import",
                "--format",
                "cvat",
                str(tmp_path / "bad.xml"),
            ]
        )
        == 1
    )
    assert export_cvat([], settings.feedback_dir, tmp_path / "empty", CLASSES).is_file()
