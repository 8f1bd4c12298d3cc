"""Dataset checks: broken images, bad labels, and train/val leakage (exact and near duplicates)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.checks import check_dataset

CLASSES = ["stall", "garbage", "signboard"]
W, H = 160, 120
GOOD_LABEL = "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n"


def scene(seed: int) -> np.ndarray:
    """Smooth random content: distinct seeds give perceptually distinct images."""
    rng = np.random.default_rng(seed)
    return cv2.resize((rng.random((6, 8, 3)) * 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)


def add_image(root: Path, split: str, name: str, img: np.ndarray, label: str = GOOD_LABEL, quality: int = 95) -> Path:
    path = root / "images" / split / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    label_path = root / "labels" / split / f"{name}.txt"
    label_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.write_text(label)
    return path


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """Four train and two val images, all distinct, with valid labels."""
    for i in range(4):
        add_image(tmp_path, "train", f"t{i}", scene(i))
    for i in range(2):
        add_image(tmp_path, "val", f"v{i}", scene(100 + i))
    return tmp_path


def kinds(root: Path) -> dict[str, set[str]]:
    report = check_dataset(root, CLASSES)
    out: dict[str, set[str]] = {}
    for issue in report.issues:
        out.setdefault(issue.kind, set()).add(issue.path.name)
    return out


def test_clean_dataset_passes_with_counts(clean: Path) -> None:
    report = check_dataset(clean, CLASSES, progress=True)
    assert report.ok, report.summary()
    assert report.counts.images == {"train": 4, "val": 2}
    assert report.counts.boxes == {"train": {"stall": 4, "garbage": 4}, "val": {"stall": 2, "garbage": 2}}
    assert "6 images (train 4, val 2)" in report.summary()


def test_leakage_catches_exact_and_near_duplicates_only(clean: Path) -> None:
    train_img = clean / "images" / "train" / "t0.jpg"
    shutil.copy(train_img, clean / "images" / "val" / "copy.jpg")
    brighter = np.clip(scene(2).astype(np.int16) + 8, 0, 255).astype(np.uint8)
    add_image(clean, "val", "brighter", brighter, quality=70)  # train t2 was written at quality 95
    add_image(clean, "val", "requality", scene(3), quality=40)

    report = check_dataset(clean, CLASSES)
    dup, near = report.by_kind("duplicate"), report.by_kind("near_duplicate")
    assert [i.path.name for i in dup] == ["copy.jpg"] and "t0.jpg" in dup[0].message
    assert {i.path.name: i.message for i in near}.keys() == {"brighter.jpg", "requality.jpg"}
    assert "t2.jpg" in next(i.message for i in near if i.path.name == "brighter.jpg")
    assert "t3.jpg" in next(i.message for i in near if i.path.name == "requality.jpg")
    assert {i.kind for i in report.issues} == {"duplicate", "near_duplicate"}  # v0, v1 not flagged
    assert "near_duplicate: 2" in report.summary()


def test_bad_labels_are_reported(clean: Path) -> None:
    add_image(clean, "train", "outside", scene(10), "0 0.95 0.5 0.2 0.2\n")
    add_image(clean, "train", "slack", scene(11), "0 0.9005 0.5 0.2 0.2\n")  # within 1e-3: fine
    add_image(clean, "train", "badclass", scene(12), "3 0.5 0.5 0.2 0.2\n")
    add_image(clean, "train", "flat", scene(13), "0 0.5 0.5 0.0 0.2\n")
    add_image(clean, "val", "garbled", scene(14), "0 0.5 0.5\nstall 0.5 0.5 0.1 0.1\n")
    (clean / "labels" / "val" / "lonely.txt").write_text(GOOD_LABEL)

    found = kinds(clean)
    assert found == {
        "box_out_of_range": {"outside.txt"},
        "class_out_of_range": {"badclass.txt"},
        "box_degenerate": {"flat.txt"},
        "malformed_label": {"garbled.txt"},
        "orphan_label": {"lonely.txt"},
    }
    report = check_dataset(clean, CLASSES)
    assert len(report.by_kind("malformed_label")) == 2  # one per bad line
    assert report.counts.boxes["train"]["stall"] == 5  # the valid "slack" box counts, bad ones do not


def test_broken_images_are_reported(clean: Path) -> None:
    good = add_image(clean, "train", "truncated", scene(20))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    (clean / "images" / "train" / "notes.jpg").write_text("this is not a picture\n")
    (clean / "images" / "val" / "empty.jpg").write_bytes(b"")

    assert kinds(clean) == {"corrupt_image": {"truncated.jpg", "notes.jpg"}, "empty_image": {"empty.jpg"}}


def test_missing_val_split_is_reported(tmp_path: Path) -> None:
    add_image(tmp_path, "train", "t0", scene(0))
    report = check_dataset(tmp_path, CLASSES)
    assert [i.kind for i in report.issues] == ["missing_split"]
    assert report.counts.images == {"train": 1}
