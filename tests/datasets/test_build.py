"""Dataset versions: remapping through the recipe, close-up crops, manifest, immutability, loud failures."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.build import DatasetBuildError, build_dataset, closeup_crops
from datasets.labels import YoloBox, read_yolo_labels, write_yolo_labels
from datasets.recipe import Recipe


def make_source(root: Path, n: int = 3) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i in range(n):
            img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / "images" / f"{split}{i}.jpg"), img)
            write_yolo_labels(
                root / split / "labels" / f"{split}{i}.txt",
                [
                    YoloBox(0, 0.5, 0.5, 0.2, 0.2),
                    YoloBox(1, 0.3, 0.3, 0.1, 0.1),
                    YoloBox(2, 0.7, 0.7, 0.1, 0.1),
                ],
            )


def recipe(zoom: int = 1) -> Recipe:
    return Recipe.model_validate(
        {
            "classes": ["stall", "signboard"],
            "sources": {
                "src": {
                    "path": "src",
                    "licence": "CC0",
                    "credit": "test",
                    "names": ["a", "b", "c"],
                    "remap": {"a": "signboard", "b": None, "c": "stall"},
                    "zoom_crops": zoom,
                }
            },
        }
    )


def test_build_remaps_crops_and_writes_manifest(tmp_path):
    make_source(tmp_path / "data" / "src")
    out = build_dataset("t1", tmp_path / "ds", tmp_path / "data", recipe(), progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert m["images"] == {"train": 6, "val": 3, "val_closeup": 3}  # 3 + 3 crops, 3 val, 3 close-ups
    assert m["boxes"]["val"] == {"signboard": 3, "stall": 3}  # class "b" dropped
    assert m["sources"]["src"]["licence"] == "CC0" and len(m["hash"]) == 16
    assert len(m["files"]) == 12 and all(len(h) == 64 for h in m["files"].values())
    labels = read_yolo_labels(out / "labels" / "val" / "src__val0.txt")
    assert sorted(b.class_id for b in labels) == [0, 1]
    assert (out / "val_src.txt").read_text().count("\n") == 3
    for f in (out / "labels" / "train").glob("*zoom*.txt"):
        for b in read_yolo_labels(f):
            assert 0 <= b.cx - b.w / 2 and b.cx + b.w / 2 <= 1.0001
    with pytest.raises(DatasetBuildError, match="immutable"):
        build_dataset("t1", tmp_path / "ds", tmp_path / "data", recipe(), progress=False)


def test_build_with_synthetic_and_bad_inputs(tmp_path):
    make_source(tmp_path / "data" / "src", n=1)
    r = Recipe.model_validate({**recipe(0).model_dump(), "classes": ["stall", "signboard", "construction"]})
    out = build_dataset("s", tmp_path / "ds", tmp_path / "data", r, synthetic=(4, 2), progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert m["images_per_source"]["synthetic"] == {"train": 4, "val": 2}
    with pytest.raises(DatasetBuildError, match="no images"):
        build_dataset("x", tmp_path / "ds", tmp_path / "nowhere", recipe(), progress=False)
    with pytest.raises(DatasetBuildError, match="letters"):
        build_dataset("../evil", tmp_path / "ds", tmp_path / "data", recipe(), progress=False)
    bad = tmp_path / "data" / "src" / "train" / "labels" / "train0.txt"
    bad.write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetBuildError, match="out of range"):
        build_dataset("y", tmp_path / "ds", tmp_path / "data", recipe(), progress=False)
    assert not (tmp_path / "ds" / "y").exists()


def test_recipe_rejects_unmapped_classes():
    with pytest.raises(ValueError, match="no mapping"):
        Recipe.model_validate(
            {
                "classes": ["x"],
                "sources": {"s": {"path": "p", "licence": "l", "credit": "c", "names": ["a"], "remap": {}}},
            }
        )
    assert Recipe.load().classes == ["stall", "garbage", "garbage_bin", "signboard", "construction"]


def test_closeup_crops_make_the_object_fill_the_frame():
    img = np.zeros((600, 800, 3), np.uint8)
    box = YoloBox(0, 0.5, 0.5, 0.05, 0.05)  # 40×30 px
    crops = closeup_crops(img, [box], 5, np.random.default_rng(1), (0.6, 0.9))
    assert crops
    for _crop, boxes in crops:
        assert max(boxes[0].w, boxes[0].h) >= 0.5


def test_build_leaves_out_train_copies_of_val_images(tmp_path):
    src = tmp_path / "data" / "src"
    make_source(src)
    # plant a leak: a train image that is a re-encoded copy of a val image, and an exact copy
    val_img = cv2.imread(str(src / "val" / "images" / "val0.jpg"))
    cv2.imwrite(str(src / "train" / "images" / "leak_near.jpg"), val_img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    (src / "train" / "images" / "leak_exact.jpg").write_bytes((src / "val" / "images" / "val1.jpg").read_bytes())
    out = build_dataset("t", tmp_path / "ds", tmp_path / "data", recipe(0), progress=False)
    m = json.loads((out / "manifest.json").read_text())
    left_out = m["left_out_train_images_leaking_into_val"]
    assert sorted(x.split(" ~ ")[0] for x in left_out) == ["src/train/leak_exact.jpg", "src/train/leak_near.jpg"]
    assert m["images"]["train"] == 3
    assert not list((out / "images" / "train").glob("*leak*"))
