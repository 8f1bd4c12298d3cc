"""Dataset formats in and out: YOLO txt, COCO JSON and Pascal VOC XML, through one typed record.

Every importer returns ``list[LabeledImage]`` (boxes in pixel ``x1 y1 x2 y2``, class by name); every
exporter takes it. Converting is importing one format and exporting the other::

    images = import_voc(Path("Annotations"), Path("JPEGImages"))
    export_yolo(images, Path("out"), class_names=["stall", "garbage"], split="train")

Malformed input raises ``DatasetFormatError`` naming the file (and the line or annotation) at fault.
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, UnidentifiedImageError

from datasets.errors import DatasetFormatError
from datasets.labels import LabelError, YoloBox, label_path_for, list_images, parse_yolo_line, polygon_to_box

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class LabeledBox:
    """One object: its class name and pixel box ``(x1, y1, x2, y2)`` with ``x2 > x1`` and ``y2 > y1``."""

    class_name: str
    xyxy: XYXY

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.xyxy
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"box {self.class_name!r} {self.xyxy} has non-positive width or height")


@dataclass(frozen=True, slots=True)
class LabeledImage:
    """One image file, its pixel size and its objects."""

    path: Path
    width: int
    height: int
    boxes: tuple[LabeledBox, ...]


# ------------------------------------------------------------------------------------------- helpers
def parse_label_line(line: str, where: str) -> YoloBox:
    """One YOLO line → box: ``class cx cy w h``, or a polygon ``class x y x y ...`` → its enclosing box."""
    parts = line.split()
    if len(parts) <= 5:
        box = parse_yolo_line(line, where)
        assert isinstance(box, YoloBox)
        return box
    try:
        cls_id = int(float(parts[0]))
        coords = [float(v) for v in parts[1:]]
    except ValueError as exc:
        raise LabelError(f"{where}: not a YOLO label line: {line.strip()!r}") from exc
    if len(coords) % 2:
        raise LabelError(f"{where}: a polygon needs x y pairs, got {len(coords)} coordinates")
    return polygon_to_box(cls_id, coords)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetFormatError(f"{path}: cannot read image: {exc}") from exc


def _box(class_name: str, xyxy: XYXY, where: str) -> LabeledBox:
    try:
        return LabeledBox(class_name, xyxy)
    except ValueError as exc:
        raise DatasetFormatError(f"{where}: {exc}") from exc


def _class_index(class_names: list[str]) -> dict[str, int]:
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class names are not unique: {class_names}")
    return {name: i for i, name in enumerate(class_names)}


def _class_id(index: dict[str, int], name: str, where: Path) -> int:
    try:
        return index[name]
    except KeyError:
        raise DatasetFormatError(f"{where}: class {name!r} is not one of the export classes {list(index)}") from None


# ---------------------------------------------------------------------------------------------- YOLO
def import_yolo(images_dir: Path, labels_dir: Path, class_names: list[str]) -> list[LabeledImage]:
    """Images under ``images_dir`` with labels at the same relative path under ``labels_dir`` (``.txt``).

    Box lines and polygon (segmentation) lines are both read; polygons become their enclosing box. An
    image without a label file has no objects; label files without an image are ignored (see checks).
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    out: list[LabeledImage] = []
    for img in list_images(images_dir):
        width, height = image_size(img)
        label = (labels_dir / img.relative_to(images_dir)).with_suffix(".txt")
        boxes = _read_yolo_boxes(label, class_names, width, height)
        out.append(LabeledImage(img, width, height, boxes))
    return out


def _read_yolo_boxes(label: Path, class_names: list[str], width: int, height: int) -> tuple[LabeledBox, ...]:
    if not label.exists():
        return ()
    boxes: list[LabeledBox] = []
    for n, raw in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{label}:{n}"
        try:
            yb = parse_label_line(raw, where)
        except LabelError as exc:
            raise DatasetFormatError(str(exc)) from exc
        if not 0 <= yb.class_id < len(class_names):
            raise DatasetFormatError(f"{where}: class id {yb.class_id} outside 0..{len(class_names) - 1}")
        boxes.append(_box(class_names[yb.class_id], yb.to_xyxy(width, height), where))
    return tuple(boxes)


def export_yolo(
    images: list[LabeledImage], out_dir: Path, class_names: list[str], split: str = "train", link: bool = True
) -> Path:
    """Write ``out_dir/images/<split>/`` (symlinks, or copies with ``link=False``), ``labels/<split>/*.txt``
    and ``data.yaml``; returns the ``data.yaml`` path.

    Boxes are clipped to the image. Images with the same file name get a ``__<n>`` suffix. Exporting a
    second split into the same ``out_dir`` keeps the existing ``data.yaml`` if its classes agree.
    """
    out_dir = Path(out_dir)
    index = _class_index(class_names)
    img_dir, lbl_dir = out_dir / "images" / split, out_dir / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for item in images:
        dest = img_dir / _unique_name(item.path, taken)
        lines = [_yolo_line(item, b, _class_id(index, b.class_name, item.path)) for b in item.boxes]
        _place_image(item.path, dest, link)
        label_path_for(dest).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return _write_data_yaml(out_dir, class_names)


def _unique_name(path: Path, taken: set[str]) -> str:
    name, n = path.name, 1
    while name in taken:
        name, n = f"{path.stem}__{n}{path.suffix}", n + 1
    taken.add(name)
    return name


def _yolo_line(item: LabeledImage, box: LabeledBox, class_id: int) -> str:
    x1, y1, x2, y2 = box.xyxy
    clipped = (max(0.0, x1), max(0.0, y1), min(float(item.width), x2), min(float(item.height), y2))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise DatasetFormatError(f"{item.path}: box {box.class_name!r} {box.xyxy} lies outside the image")
    return YoloBox.from_xyxy(class_id, clipped, item.width, item.height).line()


def _place_image(src: Path, dest: Path, link: bool) -> None:
    if not src.is_file():
        raise DatasetFormatError(f"{src}: image file not found")
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    if link:
        os.symlink(src.resolve(), dest)
    else:
        shutil.copy2(src, dest)


def _write_data_yaml(out_dir: Path, class_names: list[str]) -> Path:
    path = out_dir / "data.yaml"
    names = dict(enumerate(class_names))
    if path.exists():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if old.get("names") != names:
            raise DatasetFormatError(f"{path}: has classes {old.get('names')}, export has {names}")
    data = {"path": str(out_dir.resolve()), "train": "images/train", "val": "images/val", "names": names}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- COCO
def import_coco(json_path: Path, images_dir: Path) -> list[LabeledImage]:
    """A COCO detection JSON: ``bbox`` ``[x, y, w, h]`` → xyxy, class names from ``categories``.

    ``file_name`` is taken relative to ``images_dir``. Crowd annotations (``iscrowd: 1``) are skipped,
    as detector training does. Images without annotations are kept with no boxes.
    """
    json_path, images_dir = Path(json_path), Path(images_dir)
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        entries = {int(e["id"]): e for e in data["images"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetFormatError(f"{json_path}: not a COCO detection file: {exc!r}") from exc
    boxes: dict[int, list[LabeledBox]] = {i: [] for i in entries}
    for n, ann in enumerate(data.get("annotations", [])):
        ann_id = ann.get("id", f"#{n}") if isinstance(ann, dict) else f"#{n}"
        where = f"{json_path}: annotation {ann_id}"
        parsed = _coco_annotation(ann, categories, entries, where)
        if parsed is not None:
            boxes[parsed[0]].append(parsed[1])
    return [_coco_image(e, images_dir, boxes[i], json_path) for i, e in entries.items()]


def _coco_annotation(
    ann: Any, categories: dict[int, str], entries: dict[int, Any], where: str
) -> tuple[int, LabeledBox] | None:
    try:
        image_id, cat_id = int(ann["image_id"]), int(ann["category_id"])
        x, y, w, h = (float(v) for v in ann["bbox"])
        crowd = bool(ann.get("iscrowd", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetFormatError(f"{where}: needs image_id, category_id, bbox [x, y, w, h]: {exc!r}") from exc
    if image_id not in entries:
        raise DatasetFormatError(f"{where}: image_id {image_id} is not in 'images'")
    if cat_id not in categories:
        raise DatasetFormatError(f"{where}: category_id {cat_id} is not in 'categories'")
    if crowd:
        return None
    return image_id, _box(categories[cat_id], (x, y, x + w, y + h), where)


def _coco_image(entry: Any, images_dir: Path, boxes: list[LabeledBox], json_path: Path) -> LabeledImage:
    try:
        path = images_dir / str(entry["file_name"])
        width, height = int(entry.get("width") or 0), int(entry.get("height") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetFormatError(f"{json_path}: image {entry!r} needs file_name, width, height") from exc
    if width <= 0 or height <= 0:
        width, height = image_size(path)
    return LabeledImage(path, width, height, tuple(boxes))


def export_coco(
    images: list[LabeledImage], out_json: Path, class_names: list[str], images_root: Path | None = None
) -> Path:
    """Write a COCO detection JSON (images, annotations with ``bbox`` xywh, ``area``, ``iscrowd: 0``,
    categories with ids from 1) that Label Studio and CVAT import.

    ``file_name`` is the path relative to ``images_root`` when given, else the bare file name.
    """
    out_json = Path(out_json)
    index = _class_index(class_names)
    coco_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(images, 1):
        name = item.path.relative_to(images_root).as_posix() if images_root else item.path.name
        coco_images.append({"id": image_id, "file_name": name, "width": item.width, "height": item.height})
        for box in item.boxes:
            annotations.append(_coco_ann(len(annotations) + 1, image_id, index, box, item.path))
    data = {
        "info": {"description": "exported by cityeye"},
        "licenses": [],
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(class_names)],
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return out_json


def _coco_ann(ann_id: int, image_id: int, index: dict[str, int], box: LabeledBox, src: Path) -> dict[str, Any]:
    x1, y1, x2, y2 = box.xyxy
    w, h = x2 - x1, y2 - y1
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": _class_id(index, box.class_name, src) + 1,
        "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
        "area": round(w * h, 3),
        "iscrowd": 0,
        "segmentation": [],
    }


# ----------------------------------------------------------------------------------------------- VOC
_UNSAFE_XML = (b"<!doctype", b"<!entity")


def import_voc(annotations_dir: Path, images_dir: Path) -> list[LabeledImage]:
    """Pascal VOC XML files under ``annotations_dir``; ``<filename>`` is looked up in ``images_dir``.

    Coordinates are taken as written (no 1-based shift). Files with a DOCTYPE or ENTITY declaration are
    refused rather than parsed, so entity-expansion attacks never reach the parser.
    """
    annotations_dir, images_dir = Path(annotations_dir), Path(images_dir)
    return [_read_voc(p, images_dir) for p in sorted(annotations_dir.rglob("*.xml"))]


def _read_voc(xml_path: Path, images_dir: Path) -> LabeledImage:
    raw = xml_path.read_bytes()
    if any(tag in raw.lower() for tag in _UNSAFE_XML):
        raise DatasetFormatError(f"{xml_path}: DOCTYPE/ENTITY declarations are not accepted")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise DatasetFormatError(f"{xml_path}: not well-formed XML: {exc}") from exc
    filename = (root.findtext("filename") or "").strip()
    if not filename:
        raise DatasetFormatError(f"{xml_path}: no <filename>")
    path = images_dir / filename
    width, height = _voc_size(root, xml_path)
    if width <= 0 or height <= 0:
        width, height = image_size(path)
    boxes = tuple(_voc_object(obj, xml_path, n) for n, obj in enumerate(root.iter("object"), 1))
    return LabeledImage(path, width, height, boxes)


def _voc_size(root: ET.Element, xml_path: Path) -> tuple[int, int]:
    try:
        return int(float(root.findtext("size/width") or 0)), int(float(root.findtext("size/height") or 0))
    except ValueError as exc:
        raise DatasetFormatError(f"{xml_path}: <size> is not numeric") from exc


def _voc_object(obj: ET.Element, xml_path: Path, n: int) -> LabeledBox:
    where = f"{xml_path}: object {n}"
    name = (obj.findtext("name") or "").strip()
    if not name:
        raise DatasetFormatError(f"{where}: no <name>")
    try:
        xyxy = tuple(float(obj.findtext(f"bndbox/{k}") or "") for k in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError as exc:
        raise DatasetFormatError(f"{where}: <bndbox> needs numeric xmin, ymin, xmax, ymax") from exc
    return _box(name, (xyxy[0], xyxy[1], xyxy[2], xyxy[3]), where)
