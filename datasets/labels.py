"""YOLO label files: one box per line, `class cx cy w h`, normalised to [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets.errors import LabelError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True, slots=True)
class YoloBox:
    class_id: int
    cx: float
    cy: float
    w: float
    h: float

    def to_xyxy(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (
            (self.cx - self.w / 2) * width,
            (self.cy - self.h / 2) * height,
            (self.cx + self.w / 2) * width,
            (self.cy + self.h / 2) * height,
        )

    @classmethod
    def from_xyxy(cls, class_id: int, xyxy: tuple[float, float, float, float], width: int, height: int) -> YoloBox:
        x1, y1, x2, y2 = xyxy
        return cls(class_id, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)

    def line(self) -> str:
        return f"{self.class_id} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


def parse_yolo_line(line: str, where: str = "") -> YoloBox | list[tuple[float, float]]:
    """A box line (5 fields) → `YoloBox`; a polygon line (class + ≥3 xy pairs) → its points, class first."""
    parts = line.split()
    try:
        cls_id = int(float(parts[0]))
        vals = [float(v) for v in parts[1:]]
    except (ValueError, IndexError) as exc:
        raise LabelError(f"{where}: not a YOLO label line: {line.strip()!r}") from exc
    if len(vals) == 4:
        return YoloBox(cls_id, *vals)
    if len(vals) >= 6 and len(vals) % 2 == 0:
        raise LabelError(f"{where}: polygon line where a box was expected")
    raise LabelError(f"{where}: expected 5 fields (class cx cy w h), got {len(parts)}")


def polygon_to_box(class_id: int, coords: list[float]) -> YoloBox:
    """A YOLO segmentation polygon (normalised x y pairs) → its enclosing box."""
    xs, ys = coords[0::2], coords[1::2]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    return YoloBox(class_id, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def read_yolo_labels(path: Path, allow_polygons: bool = True) -> list[YoloBox]:
    """Read a YOLO txt file (boxes, or polygons turned into boxes). A missing file means no objects."""
    if not path.exists():
        return []
    boxes: list[YoloBox] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.split()
        where = f"{path}:{n}"
        if len(parts) > 5 and allow_polygons:
            try:
                coords = [float(v) for v in parts[1:]]
                cls_id = int(float(parts[0]))
            except ValueError as exc:
                raise LabelError(f"{where}: not a YOLO label line: {raw.strip()!r}") from exc
            if len(coords) < 6 or len(coords) % 2:
                raise LabelError(f"{where}: a polygon needs at least 3 x y pairs")
            boxes.append(polygon_to_box(cls_id, coords))
            continue
        box = parse_yolo_line(raw, where)
        assert isinstance(box, YoloBox)
        boxes.append(box)
    return boxes


def write_yolo_labels(path: Path, boxes: list[YoloBox]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(b.line() + "\n" for b in boxes), encoding="utf-8")


def label_path_for(image_path: Path) -> Path:
    """YOLO convention: .../images/<split>/x.jpg ↔ .../labels/<split>/x.txt (or images/ ↔ labels/)."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
