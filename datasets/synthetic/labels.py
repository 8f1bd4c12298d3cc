"""YOLO labels and the Ultralytics dataset layout of synthetic scenes; class ids come from the taxonomy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2

from datasets.synthetic.objects import BOX_DRAWERS
from datasets.synthetic.scenes import Scene, View, generate_scene
from models.taxonomy import Taxonomy

MIN_BOX_PX = 3.0


def taxonomy_class_names(taxonomy: Taxonomy) -> tuple[str, ...]:
    """The taxonomy's detector classes that the generator draws, in the taxonomy's order: index = YOLO class id."""
    return tuple(name for name in taxonomy.classes if name in BOX_DRAWERS)


CLASS_NAMES: tuple[str, ...] = taxonomy_class_names(Taxonomy.load())
"""The label classes of the bundled taxonomy (``models/taxonomy.yaml``), by id; pass ``class_names`` for another."""


def yolo_lines(scene: Scene, class_names: Sequence[str] = CLASS_NAMES, min_px: float = MIN_BOX_PX) -> list[str]:
    """YOLO label lines ``class cx cy w h`` (normalised) for the objects whose class is in ``class_names``."""
    h, w = scene.image.shape[:2]
    lines: list[str] = []
    for obj in scene.objects:
        if obj.class_name not in class_names:
            continue
        x1, y1, x2, y2 = obj.xyxy
        if x2 - x1 < min_px or y2 - y1 < min_px:
            continue
        cid = list(class_names).index(obj.class_name)
        lines.append(f"{cid} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return lines


def write_yolo_dataset(
    out_dir: Path,
    n_train: int,
    n_val: int,
    seed: int,
    views: Sequence[View] = ("street", "aerial"),
    size: tuple[int, int] = (640, 480),
    class_names: Sequence[str] = CLASS_NAMES,
) -> dict[str, dict[str, int]]:
    """Write an Ultralytics YOLO dataset (images/, labels/, data.yaml) and return per-split class counts.

    Scene seeds are ``seed * 1_000_000 + i`` for train and ``seed * 1_000_000 + 500_000 + i`` for val, so the
    splits never share a scene. Views alternate in the order given. Boxes under 3 px are dropped.
    """
    if n_train >= 500_000 or n_val >= 500_000:
        raise ValueError("n_train and n_val must each be below 500000")
    if not views:
        raise ValueError("views must not be empty")
    out_dir = Path(out_dir)
    counts: dict[str, dict[str, int]] = {}
    for split, n, offset in (("train", n_train, 0), ("val", n_val, 500_000)):
        img_dir, lbl_dir = out_dir / "images" / split, out_dir / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        split_counts = dict.fromkeys(class_names, 0)
        for i in range(n):
            scene_seed = seed * 1_000_000 + offset + i
            view = views[i % len(views)]
            scene = generate_scene(view, scene_seed, size)
            stem = f"syn_{view}_{scene_seed}"
            cv2.imwrite(str(img_dir / f"{stem}.jpg"), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            lines = yolo_lines(scene, class_names)
            (lbl_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
            for line in lines:
                split_counts[class_names[int(line.split()[0])]] += 1
        counts[split] = split_counts
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(class_names))
    (out_dir / "data.yaml").write_text(
        f"path: {out_dir.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"
    )
    return counts
