"""Evaluate a detector on a dataset version: per class, per source, per object size; Markdown report + plots.

    <out>/report.md                 the tables below, with the command that made them
    <out>/metrics.json              the same numbers, for the registry and the promotion gate
    <out>/<split>/*.png             ultralytics' PR curve and confusion matrix per evaluated split

P/R/mAP50/mAP50-95 come from ultralytics' validator (its COCO-style AP). Recall per object-size bucket is
not something ultralytics or the stack's libraries report, so `size_recall` matches predictions to
ground truth itself (greedy, IoU ≥ 0.5, same class, at the deployment confidence).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from datasets.labels import label_path_for, read_yolo_labels

# relative box area (box area / image area) buckets: a far sign ... a sign that fills the frame
SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("tiny <0.1%", 0.0, 0.001),
    ("small 0.1-1%", 0.001, 0.01),
    ("medium 1-10%", 0.01, 0.1),
    ("large 10-40%", 0.1, 0.4),
    ("fills frame >40%", 0.4, 1.01),
)


@dataclass
class SplitResult:
    name: str
    images: int
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> P, R, mAP50, mAP50-95, n
    overall: dict[str, float] = field(default_factory=dict)
    size_recall: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # class -> bucket -> [hit, n]
    plots: list[str] = field(default_factory=list)


def _val_lists(dataset: Path) -> dict[str, str]:
    """Evaluation splits: all of val, each source's val list, and the close-up crops if present."""
    splits = {"val (all sources)": "images/val"}
    for f in sorted(dataset.glob("val_*.txt")):
        splits[f"val: {f.stem[4:]}"] = f.name
    if (dataset / "images" / "val_closeup").is_dir():
        splits["val close-ups"] = "images/val_closeup"
    return splits


def _image_paths(dataset: Path, spec: str) -> list[Path]:
    p = dataset / spec
    if p.is_file():
        return [dataset / line.strip() for line in p.read_text().splitlines() if line.strip()]
    return sorted(x for x in p.iterdir() if x.is_file())


def size_recall(
    model: Any, images: list[Path], names: list[str], imgsz: int, conf: float, batch: int = 16
) -> dict[str, dict[str, list[int]]]:
    """Per class and size bucket: [ground-truth boxes found, ground-truth boxes] at confidence `conf`."""
    from inference.detections import box_iou

    out: dict[str, dict[str, list[int]]] = {n: {b[0]: [0, 0] for b in SIZE_BUCKETS} for n in names}
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        results = model.predict([str(p) for p in chunk], imgsz=imgsz, conf=conf, verbose=False, batch=len(chunk))
        for path, res in zip(chunk, results, strict=True):
            h, w = res.orig_shape
            gts = read_yolo_labels(label_path_for(path))
            pred_xyxy = res.boxes.xyxy.cpu().numpy() if res.boxes is not None else np.zeros((0, 4))
            pred_cls = res.boxes.cls.cpu().numpy().astype(int) if res.boxes is not None else np.zeros(0, int)
            used = np.zeros(len(pred_xyxy), bool)
            for gt in gts:
                g = np.array([gt.to_xyxy(w, h)], np.float32)
                rel = gt.w * gt.h
                bucket = next(b[0] for b in SIZE_BUCKETS if b[1] <= rel < b[2])
                cell = out[names[gt.class_id]][bucket]
                cell[1] += 1
                cand = np.where((pred_cls == gt.class_id) & ~used)[0]
                if len(cand):
                    ious = box_iou(g, pred_xyxy[cand].astype(np.float32))[0]
                    j = int(np.argmax(ious))
                    if ious[j] >= 0.5:
                        used[cand[j]] = True
                        cell[0] += 1
    return out


def evaluate(
    weights: Path,
    dataset: Path,
    out: Path,
    imgsz: int = 320,
    conf: float = 0.25,
    device: str = "cpu",
    splits: list[str] | None = None,
) -> list[SplitResult]:
    """Run ultralytics' validator on each evaluation split and measure recall per size bucket."""
    from ultralytics import YOLO

    data = yaml.safe_load((dataset / "data.yaml").read_text())
    names = [data["names"][i] for i in sorted(data["names"])]
    out.mkdir(parents=True, exist_ok=True)
    results: list[SplitResult] = []
    for label, spec in _val_lists(dataset).items():
        if splits and not any(s in label for s in splits):
            continue
        images = _image_paths(dataset, spec)
        if not images:
            continue
        slug = label.replace(" ", "_").replace(":", "").replace("(", "").replace(")", "")
        split_yaml = out / f"{slug}.yaml"
        split_yaml.write_text(
            yaml.safe_dump({"path": str(dataset.resolve()), "train": spec, "val": spec, "names": data["names"]})
        )
        model = YOLO(str(weights))
        m = model.val(
            data=str(split_yaml),
            imgsz=imgsz,
            batch=16,
            device=device,
            plots=True,
            verbose=False,
            project=str(out),
            name=slug,
            exist_ok=True,
            workers=0,
        )
        res = SplitResult(name=label, images=len(images))
        box = m.box
        for k, ci in enumerate(box.ap_class_index):
            p, r, ap50, ap = box.class_result(k)
            res.per_class[names[int(ci)]] = {
                "P": float(p),
                "R": float(r),
                "mAP50": float(ap50),
                "mAP50-95": float(ap),
                "n": int(m.nt_per_class[int(ci)]),
            }
        mp, mr, map50, map_ = box.mean_results()
        res.overall = {"P": float(mp), "R": float(mr), "mAP50": float(map50), "mAP50-95": float(map_)}
        res.size_recall = size_recall(model, images, names, imgsz, conf)
        res.plots = sorted(str(p.relative_to(out)) for p in (out / slug).glob("*.png"))
        results.append(res)
    write_report(results, out, weights, dataset, imgsz, conf)
    return results


def registry_metrics(results: list[SplitResult]) -> dict[str, float]:
    """Flatten the all-sources split into registry keys: mAP50/<class>, mAP50/all, mAP50-95/all."""
    main = next((r for r in results if r.name.startswith("val (all")), results[0] if results else None)
    if main is None:
        return {}
    metrics = {f"mAP50/{c}": round(v["mAP50"], 4) for c, v in main.per_class.items()}
    metrics["mAP50/all"] = round(main.overall["mAP50"], 4)
    metrics["mAP50-95/all"] = round(main.overall["mAP50-95"], 4)
    for r in results:
        if r.name.startswith("val: "):
            metrics[f"source/{r.name[5:]}/mAP50"] = round(r.overall["mAP50"], 4)
    return metrics


def write_report(results: list[SplitResult], out: Path, weights: Path, dataset: Path, imgsz: int, conf: float) -> Path:
    manifest = json.loads((dataset / "manifest.json").read_text()) if (dataset / "manifest.json").is_file() else {}
    lines = [
        f"# Evaluation of `{weights.name}` on dataset `{manifest.get('name', dataset.name)}`",
        "",
        f"- dataset hash `{manifest.get('hash', '?')}`, imgsz {imgsz}, size-recall confidence {conf}",
        f"- made {datetime.now(UTC).isoformat(timespec='seconds')} by `{' '.join(sys.argv)}`",
        "",
    ]
    for r in results:
        lines += [
            f"## {r.name} ({r.images} images)",
            "",
            "| class | boxes | P | R | mAP50 | mAP50-95 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for c, v in r.per_class.items():
            lines.append(f"| {c} | {v['n']} | {v['P']:.3f} | {v['R']:.3f} | {v['mAP50']:.3f} | {v['mAP50-95']:.3f} |")
        o = r.overall
        lines.append(f"| **all** | | {o['P']:.3f} | {o['R']:.3f} | {o['mAP50']:.3f} | {o['mAP50-95']:.3f} |")
        lines += [
            "",
            "Recall by object size (box area / image area):",
            "",
            "| class | " + " | ".join(b[0] for b in SIZE_BUCKETS) + " |",
            "|---|" + "---:|" * len(SIZE_BUCKETS),
        ]
        for c, buckets in r.size_recall.items():
            if not any(n for _, n in buckets.values()):
                continue
            cells = [f"{hit / n:.2f} ({n})" if n else "–" for hit, n in buckets.values()]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines += [""] + [f"![{p}]({p})" for p in r.plots if "PR_curve" in p or "confusion_matrix_normalized" in p]
        lines.append("")
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    payload = {
        "weights": str(weights),
        "dataset": manifest.get("name"),
        "dataset_hash": manifest.get("hash"),
        "imgsz": imgsz,
        "splits": [r.__dict__ for r in results],
        "registry": registry_metrics(results),
    }
    (out / "metrics.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return report
