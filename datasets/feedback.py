"""A dataset version from feedback: the previous version's training set + hard examples from the field.

    paths = DataDir(data_dir)
    build_from_feedback("fb-2026-11-24", paths.datasets, base=paths.datasets / "v2", frames=store.list(labelled=True),
                        feedback_root=paths.feedback)

* train = the base version's train images and labels (links, unchanged) + every labelled feedback frame not
  in the base yet: a false positive's frame with an empty label file (a negative), a corrected or labelled
  frame with its boxes. Frames copying a validation image (SHA-256 or perceptual hash, `LeakGuard`) are left
  out and listed.
* val (and `val_<source>.txt`, `val_closeup`) = the base's, file for file: `val_hash` is unchanged, so the
  candidate and production are compared on the same frozen split.
* `manifest.json` records the base (name, hash, val_hash) and, per added file, the feedback id, origin,
  verdict, case, camera and the model version that produced the detection.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from datasets.build import DatasetBuildError, LeakGuard, load_manifest, sha256_file
from datasets.labels import YoloBox, label_path_for, read_yolo_labels, write_yolo_labels

FEEDBACK_SOURCE = "feedback"


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def _labels_of(frame: Any, include_confirmed: bool) -> list[dict[str, Any]] | None:
    """The frame's label set, or None when it has none to train on."""
    if frame.labelled:
        return list(frame.boxes)
    if include_confirmed and frame.origin == "verdict" and frame.verdict in ("confirmed", "duplicate"):
        return list(frame.predictions)
    return None


def build_from_feedback(
    name: str,
    out_root: Path,
    base: Path,
    frames: Sequence[Any],
    feedback_root: Path,
    include_confirmed: bool = False,
    near_dup_distance: int = 4,
) -> Path:
    """Write dataset version `name` = `base` + the labelled feedback `frames`; return its folder."""
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise DatasetBuildError(f"dataset name {name!r}: use letters, digits, '-', '_' and '.' only")
    out = out_root / name
    if out.exists():
        raise DatasetBuildError(f"{out}: dataset version exists already; versions are immutable, pick a new name")
    base_m = load_manifest(base)
    classes: list[str] = base_m["classes"]
    tmp = out_root / f".{name}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    files: dict[str, str] = {}
    # 1. the base version, file for file (images linked to their originals, labels copied)
    for rel, digest in base_m["files"].items():
        src = base / rel
        if not src.exists():
            raise DatasetBuildError(f"{src}: file of the base version is missing")
        _link(src, tmp / rel)
        label = label_path_for(src)
        if label.is_file():
            dst = label_path_for(tmp / rel)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(label, dst)
        files[rel] = digest
    for lst in base.glob("val_*.txt"):
        shutil.copy2(lst, tmp / lst.name)
    # 2. the hard examples
    guard = LeakGuard(sorted(base / r for r in base_m["files"] if r.startswith("images/val/")), near_dup_distance)
    already = {a["sha256"] for a in base_m.get("feedback", {}).get("added", [])}
    added: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    by_sha: dict[str, Any] = {}
    for f in frames:  # one frame per image; a correction or a label beats a verdict on the same image
        labels = _labels_of(f, include_confirmed)
        if labels is None:
            continue
        prev = by_sha.get(f.sha256)
        if prev is None or (prev.origin == "verdict" and f.origin != "verdict"):
            by_sha[f.sha256] = f
    boxes_count: Counter[str] = Counter()
    for sha, f in sorted(by_sha.items(), key=lambda kv: kv[1].id):
        if sha in already:
            continue
        image = feedback_root / f.image
        why = None
        if not image.is_file():
            why = "image file missing"
        elif (twin := guard.twin_of(image)) is not None:
            why = f"copies validation image {twin}"
        labels = _labels_of(f, include_confirmed) or []
        unknown = sorted({b["class_name"] for b in labels} - set(classes))
        if why is None and unknown:
            why = f"classes {unknown} are not the dataset's"
        if why is not None:
            skipped.append({"feedback_id": f.id, "reason": why})
            continue
        rel = f"images/train/{FEEDBACK_SOURCE}__{f.id}_{sha[:12]}.jpg"
        _link(image, tmp / rel)
        yolo = [YoloBox.from_xyxy(classes.index(b["class_name"]), tuple(b["xyxy"]), f.width, f.height) for b in labels]
        write_yolo_labels(label_path_for(tmp / rel), yolo)
        boxes_count.update(b["class_name"] for b in labels)
        files[rel] = sha256_file(image)
        added.append(
            {
                "file": rel,
                "feedback_id": f.id,
                "sha256": sha,
                "origin": f.origin,
                "verdict": f.verdict,
                "case_id": f.case_id,
                "observation_id": f.observation_id,
                "source_id": f.source_id,
                "model_version": f.model_version,
                "negative": not labels,
                "boxes": len(labels),
            }
        )
    # 3. counts, data.yaml and the manifest
    images: Counter[str] = Counter()
    boxes: dict[str, Counter[str]] = {}
    for rel in files:
        split = rel.split("/")[1]
        images[split] += 1
        for b in read_yolo_labels(label_path_for(tmp / rel)):
            boxes.setdefault(split, Counter())[classes[b.class_id]] += 1
    per_source = {k: dict(v) for k, v in base_m.get("images_per_source", {}).items()}
    if added:
        per_source[FEEDBACK_SOURCE] = {"train": len(added)}
    data_yaml = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(classes)),
    }
    (tmp / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False), encoding="utf-8")
    val_files = {k: v for k, v in files.items() if k.startswith("images/val/")}
    val_hash = hashlib.sha256(json.dumps(val_files, sort_keys=True).encode()).hexdigest()[:16]
    if base_m.get("val_hash") and val_hash != base_m["val_hash"]:
        raise DatasetBuildError(f"{base}: its val split does not match its manifest's val_hash (files changed?)")
    prior = base_m.get("feedback", {}).get("added", [])
    manifest = {
        **{k: v for k, v in base_m.items() if k in ("sources", "synthetic", "left_out_train_images_leaking_into_val")},
        "name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "seed": base_m.get("seed", 0),
        "classes": classes,
        "base": {"name": base_m["name"], "hash": base_m["hash"], "val_hash": base_m.get("val_hash", "")},
        "feedback": {
            "added": prior + added,
            "added_now": len(added),
            "negatives_now": sum(a["negative"] for a in added),
            "by_origin_now": dict(Counter(a["origin"] for a in added)),
            "boxes_now": dict(boxes_count),
            "skipped": skipped,
        },
        "images": dict(images),
        "boxes": {k: dict(v) for k, v in boxes.items()},
        "images_per_source": per_source,
        "files": files,
    }
    manifest["hash"] = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    manifest["val_hash"] = val_hash
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out)
    return out


def latest_feedback_dataset(datasets_dir: Path) -> Path | None:
    """The newest dataset version built from feedback (the next one extends it), if any."""
    found = []
    for m in datasets_dir.glob("*/manifest.json"):
        data = json.loads(m.read_text(encoding="utf-8"))
        if "feedback" in data:
            found.append((data["created_at"], m.parent.name, m.parent))
    return max(found)[2] if found else None
