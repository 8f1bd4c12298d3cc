"""Checks on a YOLO-layout dataset before training: broken images, bad labels and train/val leakage.

    report = check_dataset(Path("data/v3"), class_names, progress=True)
    print(report.summary())
    if not report.ok: ...

Leakage is the one that silently inflates validation metrics: the same street corner in train and val,
as a byte-identical copy (sha256) or a re-encoded, resized or slightly brightened one (perceptual hash
within ``near_dup_distance`` bits).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import imagehash
import numpy as np
from PIL import Image
from tqdm import tqdm

from datasets.formats import parse_label_line
from datasets.labels import LabelError, YoloBox, label_path_for, list_images

SPLITS = ("train", "val")
COORD_SLACK = 1e-3
_DRAFT_SIZE = (64, 64)
_EXAMPLES_PER_KIND = 5

IssueKind = Literal[
    "missing_split",
    "empty_image",
    "corrupt_image",
    "malformed_label",
    "class_out_of_range",
    "box_out_of_range",
    "box_degenerate",
    "orphan_label",
    "duplicate",
    "near_duplicate",
]


@dataclass(frozen=True, slots=True)
class CheckIssue:
    """One problem: what kind, which file, and a message that says what is wrong with it."""

    kind: IssueKind
    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class DatasetCounts:
    """Images per split and (valid) boxes per class per split."""

    images: dict[str, int]
    boxes: dict[str, dict[str, int]]


@dataclass
class CheckReport:
    issues: list[CheckIssue] = field(default_factory=list)
    counts: DatasetCounts = field(default_factory=lambda: DatasetCounts({}, {}))

    @property
    def ok(self) -> bool:
        return not self.issues

    def by_kind(self, kind: IssueKind) -> list[CheckIssue]:
        return [i for i in self.issues if i.kind == kind]

    def summary(self) -> str:
        """A few lines for a terminal: counts per split and class, issues per kind with examples."""
        splits = list(self.counts.images)
        total = sum(self.counts.images.values())
        per_split = ", ".join(f"{s} {n}" for s, n in self.counts.images.items())
        lines = [f"{total} images ({per_split}); {len(self.issues)} issue(s)"]
        classes = sorted({c for per in self.counts.boxes.values() for c in per})
        if classes:
            width = max(len(c) for c in classes)
            lines.append(f"  {'boxes':<{width}}  " + "  ".join(f"{s:>7}" for s in splits))
            for c in classes:
                row = "  ".join(f"{self.counts.boxes.get(s, {}).get(c, 0):>7}" for s in splits)
                lines.append(f"  {c:<{width}}  {row}")
        for kind, n in Counter(i.kind for i in self.issues).items():
            lines.append(f"{kind}: {n}")
            for issue in self.by_kind(kind)[:_EXAMPLES_PER_KIND]:
                lines.append(f"  {issue.path}: {issue.message}")
            if n > _EXAMPLES_PER_KIND:
                lines.append(f"  ... and {n - _EXAMPLES_PER_KIND} more")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ImageFingerprint:
    """An image's split, file hash (exact duplicates) and 64-bit perceptual hash (near duplicates)."""

    path: Path
    split: str
    sha256: str
    phash: int


# ---------------------------------------------------------------------------------------------- entry
def check_dataset(
    root: Path, class_names: list[str], near_dup_distance: int = 4, progress: bool = False
) -> CheckReport:
    """Check ``root/images/{train,val}`` and ``root/labels/{train,val}``; never raises on bad data."""
    root = Path(root)
    issues: list[CheckIssue] = []
    hashes: list[ImageFingerprint] = []
    images: dict[str, int] = {}
    boxes: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        img_dir = root / "images" / split
        if not img_dir.is_dir():
            issues.append(CheckIssue("missing_split", img_dir, f"no {split} images folder"))
            continue
        paths = list_images(img_dir)
        images[split] = len(paths)
        per_class: Counter[str] = Counter()
        for path in tqdm(paths, desc=f"check {split}", unit="img", disable=not progress):
            hashed = inspect_image(path, split)
            if isinstance(hashed, CheckIssue):
                issues.append(hashed)
            else:
                hashes.append(hashed)
            valid, label_issues = check_label_file(label_path_for(path), len(class_names))
            issues.extend(label_issues)
            per_class.update(class_names[b.class_id] for b in valid)
        boxes[split] = dict(per_class)
        issues.extend(_orphan_labels(root / "labels" / split, paths))
    issues.extend(find_leakage(hashes, near_dup_distance))
    return CheckReport(issues, DatasetCounts(images, boxes))


# --------------------------------------------------------------------------------------------- images
def inspect_image(path: Path, split: str) -> ImageFingerprint | CheckIssue:
    """Read, verify and fully decode one image (JPEGs at reduced size), then hash it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return CheckIssue("corrupt_image", path, f"cannot read: {exc}")
    if not data:
        return CheckIssue("empty_image", path, "zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            im.draft("L", _DRAFT_SIZE)  # JPEG: decode at 1/2..1/8 scale; a no-op for other formats
            im.load()
            phash = int(str(imagehash.phash(im)), 16)
    except Exception as exc:  # any failure to decode means the file is unusable
        return CheckIssue("corrupt_image", path, f"cannot decode: {type(exc).__name__}: {exc}")
    return ImageFingerprint(path, split, hashlib.sha256(data).hexdigest(), phash)


# --------------------------------------------------------------------------------------------- labels
def check_label_file(path: Path, n_classes: int) -> tuple[list[YoloBox], list[CheckIssue]]:
    """The valid boxes of one YOLO label file, and an issue per bad line. A missing file means no objects."""
    if not path.exists():
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [CheckIssue("malformed_label", path, f"cannot read as UTF-8 text: {exc}")]
    valid: list[YoloBox] = []
    issues: list[CheckIssue] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        box_or_issue = _check_line(raw, path, n, n_classes)
        if isinstance(box_or_issue, CheckIssue):
            issues.append(box_or_issue)
        else:
            valid.append(box_or_issue)
    return valid, issues


def _check_line(raw: str, path: Path, n: int, n_classes: int) -> YoloBox | CheckIssue:
    try:
        box = parse_label_line(raw, f"line {n}")
    except LabelError as exc:
        return CheckIssue("malformed_label", path, str(exc))
    values = (box.cx, box.cy, box.w, box.h)
    if not all(math.isfinite(v) for v in values):
        return CheckIssue("malformed_label", path, f"line {n}: non-finite value: {raw.strip()!r}")
    if not 0 <= box.class_id < n_classes:
        message = f"line {n}: class id {box.class_id} outside 0..{n_classes - 1}"
        return CheckIssue("class_out_of_range", path, message)
    if box.w <= 0 or box.h <= 0:
        return CheckIssue("box_degenerate", path, f"line {n}: non-positive size w={box.w:g} h={box.h:g}")
    edges = (box.cx - box.w / 2, box.cy - box.h / 2, box.cx + box.w / 2, box.cy + box.h / 2)
    if min(edges) < -COORD_SLACK or max(edges) > 1 + COORD_SLACK:
        return CheckIssue("box_out_of_range", path, f"line {n}: box reaches outside [0, 1]: {raw.strip()!r}")
    return box


def _orphan_labels(label_dir: Path, images: list[Path]) -> list[CheckIssue]:
    if not label_dir.is_dir():
        return []
    expected = {label_path_for(p) for p in images}
    return [
        CheckIssue("orphan_label", p, "label file without an image")
        for p in sorted(label_dir.rglob("*.txt"))
        if p not in expected and p.name != "classes.txt"
    ]


# -------------------------------------------------------------------------------------------- leakage
def find_leakage(hashes: list[ImageFingerprint], near_dup_distance: int) -> list[CheckIssue]:
    """Val images that are byte-identical to, or within ``near_dup_distance`` phash bits of, a train image.

    One issue per val image, naming its closest train image.
    """
    train = [h for h in hashes if h.split == "train"]
    val = [h for h in hashes if h.split == "val"]
    if not train or not val:
        return []
    by_sha: dict[str, list[Path]] = defaultdict(list)
    for h in train:
        by_sha[h.sha256].append(h.path)
    train_ph = np.array([h.phash for h in train], dtype=np.uint64)
    issues: list[CheckIssue] = []
    for v in val:
        if v.sha256 in by_sha:
            issues.append(CheckIssue("duplicate", v.path, f"same bytes as train image {by_sha[v.sha256][0]}"))
            continue
        distances = np.bitwise_count(train_ph ^ np.uint64(v.phash))
        j = int(np.argmin(distances))
        if int(distances[j]) <= near_dup_distance:
            issues.append(
                CheckIssue(
                    "near_duplicate",
                    v.path,
                    f"looks like train image {train[j].path} "
                    f"(phash distance {int(distances[j])} <= {near_dup_distance})",
                )
            )
    return issues
