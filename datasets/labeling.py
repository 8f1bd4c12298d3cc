"""Feedback frames to and from labelling tools: Label Studio (JSON tasks) and CVAT ("CVAT for images 1.1" XML).

Export writes the frames' images (linked) and the model's detections as pre-annotations; the file names carry
the feedback id (`fb<id>_<sha>.jpg`, and `data.feedback_id` for Label Studio), so import finds each frame again
and stores the labeller's boxes as its label set (`FeedbackStore.set_labels`).

Label Studio: import `tasks.json` with the labelling config in `label_config.xml`, serve `images/` (e.g. local
storage), export "JSON" and import it back. CVAT: create a task from `images/`, upload `annotations.xml` as
"CVAT for images 1.1", correct, export in the same format and import it back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cases.feedback import Box
from datasets.errors import LabelingFormatError

NAME_RE = re.compile(r"^fb(\d+)_")


def _name(frame: Any) -> str:
    return f"fb{frame.id}_{frame.sha256[:12]}.jpg"


def _link_images(frames: Sequence[Any], feedback_root: Path, out: Path) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    for f in frames:
        dst = out / "images" / _name(f)
        if dst.exists():
            continue
        try:
            os.symlink((feedback_root / f.image).resolve(), dst)
        except OSError:
            shutil.copy2(feedback_root / f.image, dst)


def _boxes_of(frame: Any) -> list[dict[str, Any]]:
    return list(frame.boxes) if frame.labelled else list(frame.predictions)


def export_label_studio(
    frames: Sequence[Any],
    feedback_root: Path,
    out: Path,
    classes: Sequence[str],
    url_prefix: str = "/data/local-files/?d=images/",
) -> Path:
    _link_images(frames, feedback_root, out)
    tasks = []
    for f in frames:
        result = [
            {
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": f.width,
                "original_height": f.height,
                "image_rotation": 0,
                "value": {
                    "x": 100.0 * b["xyxy"][0] / f.width,
                    "y": 100.0 * b["xyxy"][1] / f.height,
                    "width": 100.0 * (b["xyxy"][2] - b["xyxy"][0]) / f.width,
                    "height": 100.0 * (b["xyxy"][3] - b["xyxy"][1]) / f.height,
                    "rotation": 0,
                    "rectanglelabels": [b["class_name"]],
                },
            }
            for b in _boxes_of(f)
        ]
        tasks.append(
            {
                "data": {"image": url_prefix + _name(f), "feedback_id": f.id, "source_id": f.source_id},
                "predictions": [{"model_version": f.model_version, "result": result}],
            }
        )
    (out / "tasks.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    labels = "".join(f'    <Label value="{c}"/>\n' for c in classes)
    (out / "label_config.xml").write_text(
        f'<View>\n  <Image name="image" value="$image"/>\n  <RectangleLabels name="label" toName="image">\n{labels}'
        "  </RectangleLabels>\n</View>\n",
        encoding="utf-8",
    )
    return out / "tasks.json"


def import_label_studio(path: Path) -> dict[int, list[Box]]:
    """Label Studio's JSON export → {feedback id: boxes} (the last non-cancelled annotation of each task)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabelingFormatError(f"{path}: not a Label Studio JSON export ({exc})") from exc
    if not isinstance(tasks, list):
        raise LabelingFormatError(f"{path}: expected a list of tasks")
    out: dict[int, list[Box]] = {}
    for i, task in enumerate(tasks):
        data = task.get("data", {}) if isinstance(task, dict) else {}
        fid = data.get("feedback_id")
        if fid is None and (m := NAME_RE.match(Path(str(data.get("image", ""))).name.split("=")[-1])):
            fid = int(m.group(1))
        if fid is None:
            raise LabelingFormatError(f"{path}: task {i} has no feedback_id")
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        if not annotations:
            continue
        boxes = []
        for r in annotations[-1].get("result", []):
            if r.get("type") != "rectanglelabels":
                continue
            v, w, h = r["value"], float(r["original_width"]), float(r["original_height"])
            x1, y1 = v["x"] * w / 100.0, v["y"] * h / 100.0
            boxes.append(
                Box(v["rectanglelabels"][0], (x1, y1, x1 + v["width"] * w / 100.0, y1 + v["height"] * h / 100.0))
            )
        out[int(fid)] = boxes
    return out


def export_cvat(frames: Sequence[Any], feedback_root: Path, out: Path, classes: Sequence[str]) -> Path:
    _link_images(frames, feedback_root, out)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    labels = ET.SubElement(task, "labels")
    for c in classes:
        ET.SubElement(ET.SubElement(labels, "label"), "name").text = c
    for i, f in enumerate(frames):
        img = ET.SubElement(root, "image", id=str(i), name=_name(f), width=str(f.width), height=str(f.height))
        for b in _boxes_of(f):
            x1, y1, x2, y2 = b["xyxy"]
            ET.SubElement(
                img,
                "box",
                label=b["class_name"],
                source="auto",
                occluded="0",
                xtl=f"{x1:.2f}",
                ytl=f"{y1:.2f}",
                xbr=f"{x2:.2f}",
                ybr=f"{y2:.2f}",
                z_order="0",
            )
    ET.indent(root)
    target = out / "annotations.xml"
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
    return target


def import_cvat(path: Path) -> dict[int, list[Box]]:
    """CVAT for images 1.1 XML → {feedback id: boxes}; every image in the file (no box = nothing there)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise LabelingFormatError(f"{path}: not a CVAT XML file ({exc})") from exc
    out: dict[int, list[Box]] = {}
    for img in root.iter("image"):
        m = NAME_RE.match(Path(img.get("name", "")).name)
        if m is None:
            raise LabelingFormatError(f"{path}: image {img.get('name')!r} is not an exported feedback frame")
        out[int(m.group(1))] = [
            Box(b.get("label", ""), tuple(float(b.get(k, "nan")) for k in ("xtl", "ytl", "xbr", "ybr")))  # type: ignore[arg-type]
            for b in img.iter("box")
        ]
    return out
