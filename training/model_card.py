"""Write a model card from what the commands measured: the run record, the evaluation and the dataset manifest.

Every number in the card comes from files those commands wrote, so `cityeye models card` can regenerate it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.evaluate import SIZE_BUCKETS

TEMPLATE_HEAD = """# cityeye default detector `{version}`

A YOLOv5n-architecture detector (ultralytics `yolov5n.yaml`, anchor-free head), fine-tuned from the COCO
YOLOv5n checkpoint for cityeye's city-management classes. Licence: AGPL-3.0 (ultralytics, YOLOv5).

| class | id | becomes a case of | source of its labels |
|---|---|---|---|
| stall | 0 | street_stall 占道经营 | vendors_aerial (drone chips, Colombia) + synthetic |
| garbage | 1 | garbage 暴露垃圾 | garbage_overflow_cn (`garbage`, `overflow`) + synthetic |
| garbage_bin | 2 | — (context only) | garbage_overflow_cn + synthetic |
| signboard | 3 | billboard_hazard 广告牌匾 | facade_ads_spb (`signboard`, `cantilever`, `win_ad`) + synthetic |
| construction | 4 | illegal_construction 私搭乱建 | synthetic only (blue steel-sheet roofs, scaffolding) |

`window`, `door` and `arch` of the facade dataset are dropped (not problems, and they would cost capacity).
"""

TEMPLATE_GAPS = """## Known gaps

- **No ground-level street stalls** in the real data: the only real stall labels are aerial chips from
  Colombian cities; street-camera stalls are learned from synthetic scenes only. Expect misses on real
  Chinese street-camera footage until inspectors' verdicts and the data team's labels add such images.
- **Construction and sign damage are synthetic only**: no real labelled rooftop structures, steel-sheet
  sheds, damaged or tilted signs. Tilt and movement of signs are measured geometrically by the stream rules,
  not classified by this model.
- **Scale limits**: signboards below 1 % of the frame are found less than half the time (far signs on a
  facade at 320 px input); aerial stall chips zoomed until one vendor fills the frame are not found at all
  (the close-up rows), since no training image shows vendors that large. A drone never sees them that way,
  but a street camera next to a stall does: that is the missing ground-level data again.
- **Garbage data** is web-collected; about a quarter are product shots, stock photos or collages.
- **Facade val** is small (114 images, Saint Petersburg), and its images were shipped as copies of train
  images: the dataset build left those copies out of train, so the facade numbers below are on unseen images.
- Trained at {imgsz} px on 2 CPU cores for {epochs} epochs; a GPU and larger input sizes would improve small
  objects (far signs, small garbage).
"""


def _table(split: dict[str, Any]) -> list[str]:
    lines = ["| class | boxes | P | R | mAP50 | mAP50-95 |", "|---|---:|---:|---:|---:|---:|"]
    for c, v in split["per_class"].items():
        lines.append(f"| {c} | {v['n']} | {v['P']:.3f} | {v['R']:.3f} | {v['mAP50']:.3f} | {v['mAP50-95']:.3f} |")
    o = split["overall"]
    lines.append(f"| **all** | | {o['P']:.3f} | {o['R']:.3f} | **{o['mAP50']:.3f}** | {o['mAP50-95']:.3f} |")
    return lines


def _sizes(split: dict[str, Any]) -> list[str]:
    lines = ["| class | " + " | ".join(b[0] for b in SIZE_BUCKETS) + " |", "|---|" + "---:|" * len(SIZE_BUCKETS)]
    for c, buckets in split["size_recall"].items():
        if any(n for _, n in buckets.values()):
            cells = [f"{hit / n:.2f} ({n})" if n else "–" for hit, n in buckets.values()]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def _wall_seconds(rows: list[dict[str, float]]) -> float:
    """Training time from results.csv: its `time` column restarts at 0 when a run is resumed."""
    total, last = 0.0, 0.0
    for row in rows:
        t = float(row.get("time", 0.0))
        if t < last:
            total += last
        last = t
    return total + last


def write_model_card(version: str, evaluation: Path, run: Path, out: Path, commands: list[str]) -> Path:
    metrics = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    record = json.loads((run / "cityeye_run.json").read_text(encoding="utf-8"))
    dataset = Path(record["config"]["dataset"])
    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    rows = record["results_csv"]
    epochs = int(rows[-1]["epoch"]) if rows else 0
    train_s = _wall_seconds(rows)
    lines = [TEMPLATE_HEAD.format(version=version)]
    lines += ["## Training", ""]
    lines += [
        f"- dataset version `{manifest['name']}` (manifest hash `{manifest['hash']}`): "
        + ", ".join(f"{k} {v} images" for k, v in manifest["images"].items())
    ]
    for key, src in manifest["sources"].items():
        n = manifest["images_per_source"].get(key, {})
        lines.append(
            f"  - `{key}`: {src['credit']}, licence {src['licence']}; " + ", ".join(f"{k} {v}" for k, v in n.items())
        )
    syn = manifest["images_per_source"].get("synthetic", {})
    if syn:
        lines.append(
            "  - `synthetic`: cityeye's own scene generator (`datasets/synthetic/`); "
            + ", ".join(f"{k} {v}" for k, v in syn.items())
        )
    dropped = manifest.get("left_out_train_images_leaking_into_val", [])
    lines.append(f"  - {len(dropped)} train images left out because they copy val images (leakage guard)")
    cfg = record["config"]
    lines += [
        "- start: COCO YOLOv5n (`../shared/pretrained/yolov5n.pt`, ultralytics/yolov5 @ 981548a, AGPL-3.0), "
        "backbone + neck imported by `models/legacy.py`, detection head fresh",
        f"- {epochs} epochs at {cfg['imgsz']} px, batch {cfg['batch']}, device {cfg['device']}, "
        f"{train_s / 60:.0f} min of training (wall clock, machine shared with other work) on "
        f"{record['machine']['processor']} "
        f"({record['machine']['platform']}), CPU threads {cfg.get('threads') or 'default'}; extra "
        f"ultralytics arguments {cfg.get('extra') or '{}'}",
        "- commands:",
        "",
        "```bash",
        *commands,
        "```",
        "",
    ]
    lines += [
        "## Evaluation",
        "",
        f"Measured by `cityeye evaluate` (ultralytics' validator, imgsz {metrics['imgsz']}), on the val split "
        "of every source. Recall by object size counts ground-truth boxes found at confidence 0.25 "
        "(IoU ≥ 0.5), by box area / image area.",
        "",
    ]
    for split in metrics["splits"]:
        lines += [f"### {split['name']} ({split['images']} images)", "", *_table(split), "", *_sizes(split), ""]
    lines.append(TEMPLATE_GAPS.format(imgsz=cfg["imgsz"], epochs=epochs))
    lines += [
        "## Credits",
        "",
        "- vendors_aerial_bogota: Ingenieco/pesquisaMMQ, CC BY 4.0",
        "- garbage_overflow_cn: ATANU0023/garbage_detection_dataset (Roboflow 公开数据集111 v2), CC BY 4.0",
        "- facade_ads_spb: Urban-Research-Lab/building-facades-advertising-dataset, CC0 1.0",
        "- COCO YOLOv5n weights: ultralytics/yolov5, AGPL-3.0",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
