"""Build a dataset version: a folder in the YOLO layout plus a manifest that says where every file came from.

<out>/<name>/
    images/{train,val}/<source>__<file>.jpg     (real images are symlinked, crops are written)
    labels/{train,val}/<source>__<file>.txt     (classes remapped to the model's classes)
    val_<source>.txt                            (per-source validation lists, for per-source metrics)
    images/val_closeup/, labels/val_closeup/    (crops of val images where one object fills the frame)
    data.yaml                                   (what ultralytics trains on)
    manifest.json                               (sources, licences, hashes, class counts, command)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from datasets.errors import DatasetBuildError
from datasets.labels import YoloBox, label_path_for, list_images, read_yolo_labels, write_yolo_labels
from datasets.recipe import Recipe, SourceSpec

SPLITS = ("train", "val")


@dataclass
class BuildStats:
    images: Counter[str] = field(default_factory=Counter)  # split -> n
    boxes: dict[str, Counter[str]] = field(default_factory=dict)  # split -> class -> n
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, split: str, source: str, names: list[str]) -> None:
        self.images[split] += 1
        self.boxes.setdefault(split, Counter()).update(names)
        self.per_source.setdefault(source, Counter())[split] += 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _remap(boxes: list[YoloBox], src: SourceSpec, classes: list[str], where: Path) -> list[YoloBox]:
    out = []
    for b in boxes:
        if not 0 <= b.class_id < len(src.names):
            raise DatasetBuildError(f"{where}: class id {b.class_id} out of range for {len(src.names)} classes")
        target = src.remap[src.names[b.class_id]]
        if target is not None:
            out.append(YoloBox(classes.index(target), b.cx, b.cy, b.w, b.h))
    return out


def _crop_boxes(boxes: list[YoloBox], crop: tuple[int, int, int, int], w: int, h: int) -> list[YoloBox]:
    """Boxes seen through a crop (pixels x1,y1,x2,y2); a box keeps if ≥ 60 % of it lies inside."""
    cx1, cy1, cx2, cy2 = crop
    cw, ch = cx2 - cx1, cy2 - cy1
    out = []
    for b in boxes:
        x1, y1, x2, y2 = b.to_xyxy(w, h)
        ix1, iy1, ix2, iy2 = max(x1, cx1), max(y1, cy1), min(x2, cx2), min(y2, cy2)
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        if (ix2 - ix1) * (iy2 - iy1) < 0.6 * (x2 - x1) * (y2 - y1):
            continue
        out.append(YoloBox.from_xyxy(b.class_id, (ix1 - cx1, iy1 - cy1, ix2 - cx1, iy2 - cy1), cw, ch))
    return out


def closeup_crops(
    image: np.ndarray, boxes: list[YoloBox], n: int, rng: np.random.Generator, fill: tuple[float, float]
) -> list[tuple[np.ndarray, list[YoloBox]]]:
    """Crops around random labelled objects so that the object spans `fill` (min, max) of the crop side."""
    h, w = image.shape[:2]
    crops: list[tuple[np.ndarray, list[YoloBox]]] = []
    if not boxes:
        return crops
    for _ in range(n):
        b = boxes[int(rng.integers(len(boxes)))]
        x1, y1, x2, y2 = b.to_xyxy(w, h)
        side_obj = max(x2 - x1, y2 - y1, 8.0)
        side = side_obj / rng.uniform(*fill)
        side = float(min(max(side, 64.0), w, h))
        ox = rng.uniform(*sorted((min(max(0.0, x2 - side), w - side), max(0.0, min(x1, w - side)))))
        oy = rng.uniform(*sorted((min(max(0.0, y2 - side), h - side), max(0.0, min(y1, h - side)))))
        c = (int(ox), int(oy), int(min(w, ox + side)), int(min(h, oy + side)))
        kept = _crop_boxes(boxes, c, w, h)
        if kept:
            crops.append((image[c[1] : c[3], c[0] : c[2]].copy(), kept))
    return crops


def split_images_dir(root: Path, split: str) -> Path:
    """A source's images of one split: `<root>/<split>/images` (Roboflow) or `<root>/images/<split>` (ultralytics)."""
    roboflow, ultralytics = root / split / "images", root / "images" / split
    return ultralytics if not roboflow.is_dir() and ultralytics.is_dir() else roboflow


class LeakGuard:
    """Fingerprints of the validation images; `twin_of(train_image)` names the val image it copies, if any."""

    def __init__(self, val_images: list[Path], near_dup_distance: int, progress: bool = False):
        from datasets.checks import ImageFingerprint, inspect_image

        self.distance = near_dup_distance
        prints = [inspect_image(p, "val") for p in tqdm(val_images, desc="fingerprint val", disable=not progress)]
        self.val = [f for f in prints if isinstance(f, ImageFingerprint)]
        self.by_sha = {f.sha256: f.path for f in self.val}
        self.phash = np.array([f.phash for f in self.val], dtype=np.uint64)

    def twin_of(self, image: Path) -> str | None:
        from datasets.checks import ImageFingerprint, inspect_image

        f = inspect_image(image, "train")
        if not isinstance(f, ImageFingerprint) or not len(self.val):
            return None
        if f.sha256 in self.by_sha:
            return self.by_sha[f.sha256].name
        dist = np.array([bin(int(x)).count("1") for x in np.bitwise_xor(self.phash, np.uint64(f.phash))])
        j = int(np.argmin(dist))
        return self.val[j].path.name if dist[j] <= self.distance else None


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def build_dataset(
    name: str,
    out_root: Path,
    data_root: Path,
    recipe: Recipe,
    synthetic: tuple[int, int] = (0, 0),
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
    near_dup_distance: int = 4,
) -> Path:
    """Build dataset version `name` under `out_root`; return its folder. Refuses to overwrite a version."""
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise DatasetBuildError(f"dataset name {name!r}: use letters, digits, '-', '_' and '.' only")
    out = out_root / name
    if out.exists():
        raise DatasetBuildError(f"{out}: dataset version exists already; versions are immutable, pick a new name")
    tmp = out_root / f".{name}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    stats = BuildStats()
    files: dict[str, str] = {}
    val_lists: dict[str, list[str]] = {}
    classes = recipe.classes

    def emit(
        split: str,
        source: str,
        stem: str,
        boxes: list[YoloBox],
        image_src: Path | None = None,
        image: np.ndarray | None = None,
    ) -> None:
        img_dst = tmp / "images" / split / f"{source}__{stem}.jpg"
        if image_src is not None:
            _link(image_src, img_dst.with_suffix(image_src.suffix.lower()))
            img_dst = img_dst.with_suffix(image_src.suffix.lower())
        else:
            assert image is not None
            img_dst.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(img_dst), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
                raise DatasetBuildError(f"{img_dst}: cannot write image")
        write_yolo_labels(tmp / "labels" / split / f"{source}__{stem}.txt", boxes)
        rel = img_dst.relative_to(tmp).as_posix()
        files[rel] = sha256_file(img_dst)
        stats.add(split, source, [classes[b.class_id] for b in boxes])
        if split == "val":
            val_lists.setdefault(source, []).append(rel)

    sources: dict[tuple[str, str], list[Path]] = {}
    for key, src in recipe.sources.items():
        root = data_root / src.path
        for split in SPLITS:
            folder = split_images_dir(root, split)
            images = list_images(folder)
            if not images:
                raise DatasetBuildError(f"{folder}: no images (is --data-root right?)")
            sources[(key, split)] = images[:limit] if limit else images
    # The validation images are frozen; a train image that is a copy or near-copy of any of them is left out
    # (sources do ship such leaks: facade_ads_spb's val images are all byte-identical to train images).
    guard = LeakGuard(
        [p for (_, split), imgs in sources.items() if split == "val" for p in imgs], near_dup_distance, progress
    )
    dropped: list[str] = []
    for key, src in recipe.sources.items():
        for split in SPLITS:
            images = sources[(key, split)]
            for img_path in tqdm(images, desc=f"{key}/{split}", disable=not progress, leave=False):
                if split == "train" and (twin := guard.twin_of(img_path)) is not None:
                    dropped.append(f"{key}/train/{img_path.name} ~ {twin}")
                    continue
                boxes = _remap(read_yolo_labels(label_path_for(img_path)), src, classes, img_path)
                emit(split, key, img_path.stem, boxes, image_src=img_path)
                n_crops = src.zoom_crops if split == "train" else 1
                if not boxes or n_crops == 0:
                    continue
                image = cv2.imread(str(img_path))
                if image is None:
                    raise DatasetBuildError(f"{img_path}: unreadable image")
                fill = (0.35, 0.9) if split == "train" else (0.6, 0.95)
                for i, (crop, cboxes) in enumerate(closeup_crops(image, boxes, n_crops, rng, fill)):
                    emit(
                        "train" if split == "train" else "val_closeup",
                        key,
                        f"{img_path.stem}_zoom{i}",
                        cboxes,
                        image=crop,
                    )

    n_train, n_val = synthetic
    if n_train or n_val:
        from datasets.synthetic import write_yolo_dataset  # the generator is heavy-ish; import on use

        syn_dir = tmp / ".synthetic"
        write_yolo_dataset(syn_dir, n_train, n_val, seed=seed, class_names=tuple(classes))
        for split in SPLITS:
            for img_path in list_images(syn_dir / "images" / split):
                boxes = read_yolo_labels(label_path_for(img_path))
                emit(split, "synthetic", img_path.stem, boxes, image=cv2.imread(str(img_path)))
        shutil.rmtree(syn_dir)

    for source, rels in val_lists.items():
        (tmp / f"val_{source}.txt").write_text("".join(f"./{r}\n" for r in rels), encoding="utf-8")
    data_yaml = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(classes)),
    }
    (tmp / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False), encoding="utf-8")
    manifest = {
        "name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "seed": seed,
        "classes": classes,
        "sources": {
            k: {
                "path": s.path,
                "licence": s.licence,
                "credit": s.credit,
                "view": s.view,
                "remap": s.remap,
                "zoom_crops": s.zoom_crops,
            }
            for k, s in recipe.sources.items()
        },
        "synthetic": {"train": n_train, "val": n_val},
        "left_out_train_images_leaking_into_val": dropped,
        "images": dict(stats.images),
        "boxes": {k: dict(v) for k, v in stats.boxes.items()},
        "images_per_source": {k: dict(v) for k, v in stats.per_source.items()},
        "files": files,
    }
    manifest["hash"] = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    # the frozen validation set on its own: models are only compared when this matches
    val_files = {k: v for k, v in files.items() if k.startswith("images/val/")}
    manifest["val_hash"] = hashlib.sha256(json.dumps(val_files, sort_keys=True).encode()).hexdigest()[:16]
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out)
    return out


def load_manifest(dataset_dir: Path) -> dict:
    path = dataset_dir / "manifest.json"
    if not path.is_file():
        raise DatasetBuildError(f"{dataset_dir}: not a dataset version (no manifest.json)")
    return json.loads(path.read_text(encoding="utf-8"))
