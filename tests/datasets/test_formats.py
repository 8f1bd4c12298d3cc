"""Format importers/exporters: YOLO ↔ COCO ↔ VOC round trips, polygons, and errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from datasets.formats import (
    DatasetFormatError,
    LabeledBox,
    LabeledImage,
    export_coco,
    export_yolo,
    import_coco,
    import_voc,
    import_yolo,
)
from datasets.labels import read_yolo_labels

CLASSES = ["stall", "garbage", "signboard"]
W, H = 160, 120


def write_image(path: Path, seed: int = 0) -> Path:
    """A small real JPEG with smooth random content."""
    rng = np.random.default_rng(seed)
    img = cv2.resize((rng.random((6, 8, 3)) * 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def yolo_dataset(root: Path) -> tuple[Path, Path]:
    """Two images: one with box lines, one with a polygon line and a blank line."""
    images, labels = root / "images", root / "labels"
    write_image(images / "a.jpg", 1)
    write_image(images / "b.jpg", 2)
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n2 0.1 0.2 0.1 0.2\n")
    (labels / "b.txt").write_text("1 0.1 0.1 0.4 0.1 0.4 0.6 0.1 0.6\n\n")
    return images, labels


def voc_xml(filename: str, objects: list[tuple[str, tuple[int, int, int, int]]], doctype: str = "") -> str:
    objs = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for name, (x1, y1, x2, y2) in objects
    )
    return (
        f'<?xml version="1.0"?>{doctype}<annotation><folder>JPEGImages</folder>'
        f"<filename>{filename}</filename>"
        f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size>{objs}</annotation>"
    )


def boxes_close(a: tuple[LabeledBox, ...], b: tuple[LabeledBox, ...], tol: float = 1.0) -> bool:
    return len(a) == len(b) and all(
        x.class_name == y.class_name and max(abs(p - q) for p, q in zip(x.xyxy, y.xyxy, strict=True)) <= tol
        for x, y in zip(a, b, strict=True)
    )


def test_polygon_lines_become_enclosing_boxes(tmp_path: Path) -> None:
    images, labels = yolo_dataset(tmp_path)
    by_name = {im.path.name: im for im in import_yolo(images, labels, CLASSES)}
    (poly,) = by_name["b.jpg"].boxes
    assert poly.class_name == "garbage"
    assert poly.xyxy == pytest.approx((0.1 * W, 0.1 * H, 0.4 * W, 0.6 * H))
    a = by_name["a.jpg"]
    assert (a.width, a.height) == (W, H)
    assert [b.class_name for b in a.boxes] == ["stall", "signboard"]
    assert a.boxes[0].xyxy == pytest.approx((60, 30, 100, 90))


def test_yolo_to_coco_to_yolo_round_trip(tmp_path: Path) -> None:
    images, labels = yolo_dataset(tmp_path / "src")
    original = import_yolo(images, labels, CLASSES)

    coco = export_coco(original, tmp_path / "coco" / "ann.json", CLASSES, images_root=images)
    data = json.loads(coco.read_text())
    assert {c["name"] for c in data["categories"]} == set(CLASSES)
    ann = data["annotations"][0]
    assert ann["iscrowd"] == 0 and ann["bbox"] == pytest.approx([60, 30, 40, 60])
    assert ann["area"] == pytest.approx(40 * 60)
    assert data["images"][0]["file_name"] == "a.jpg"

    from_coco = import_coco(coco, images)
    data_yaml = export_yolo(from_coco, tmp_path / "out", CLASSES, split="val")
    assert yaml.safe_load(data_yaml.read_text())["names"] == dict(enumerate(CLASSES))
    out_images = tmp_path / "out" / "images" / "val"
    assert (out_images / "a.jpg").is_symlink()

    back = {im.path.name: im for im in import_yolo(out_images, tmp_path / "out" / "labels" / "val", CLASSES)}
    for im in original:
        assert boxes_close(im.boxes, back[im.path.name].boxes)


def test_voc_to_yolo_keeps_boxes(tmp_path: Path) -> None:
    write_image(tmp_path / "JPEGImages" / "street.jpg", 3)
    ann_dir = tmp_path / "Annotations"
    ann_dir.mkdir()
    objects = [("stall", (10, 20, 90, 110)), ("signboard", (100, 5, 158, 40))]
    (ann_dir / "street.xml").write_text(voc_xml("street.jpg", objects))

    (item,) = import_voc(ann_dir, tmp_path / "JPEGImages")
    assert (item.width, item.height) == (W, H)
    export_yolo([item], tmp_path / "out", CLASSES, link=False)
    out_img = tmp_path / "out" / "images" / "train" / "street.jpg"
    assert out_img.is_file() and not out_img.is_symlink()
    yolo = read_yolo_labels(tmp_path / "out" / "labels" / "train" / "street.txt")
    got = tuple(LabeledBox(CLASSES[b.class_id], b.to_xyxy(W, H)) for b in yolo)
    want = tuple(LabeledBox(n, tuple(map(float, xyxy))) for n, xyxy in objects)  # type: ignore[arg-type]
    assert boxes_close(got, want)


@pytest.mark.parametrize(
    "declaration",
    ['<!DOCTYPE annotation [<!ENTITY lol "lol">]>', '<!doctype annotation SYSTEM "file:///etc/passwd">'],
)
def test_voc_with_doctype_is_refused(tmp_path: Path, declaration: str) -> None:
    (tmp_path / "evil.xml").write_text(voc_xml("x.jpg", [("stall", (1, 1, 5, 5))], doctype=declaration))
    with pytest.raises(DatasetFormatError, match="evil.xml.*DOCTYPE"):
        import_voc(tmp_path, tmp_path)


def test_export_of_unknown_class_names_it(tmp_path: Path) -> None:
    img = write_image(tmp_path / "a.jpg")
    item = LabeledImage(img, W, H, (LabeledBox("pothole", (1, 1, 10, 10)),))
    with pytest.raises(DatasetFormatError, match="'pothole'"):
        export_yolo([item], tmp_path / "out", CLASSES)
    with pytest.raises(DatasetFormatError, match="'pothole'"):
        export_coco([item], tmp_path / "ann.json", CLASSES)


def test_coco_error_names_file_and_annotation(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
        "annotations": [{"id": 77, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "stall"}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=r"bad\.json: annotation 77: category_id 9"):
        import_coco(path, tmp_path)


def test_yolo_error_names_file_and_line(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetFormatError, match=r"a\.txt:2: class id 7"):
        import_yolo(tmp_path / "images", tmp_path / "labels", CLASSES)
