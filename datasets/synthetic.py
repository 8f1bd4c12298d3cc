"""Synthetic city scenes with exact ground truth, drawn with numpy and OpenCV only.

Two camera views are generated from one integer seed (``np.random.default_rng(seed)`` is the only source of
randomness, so a seed always gives the same bytes):

- ``street``: a fixed street camera looking at a row of facades (windows, doors, shop fronts: context, not
  labelled) above a sidewalk and a road; labelled stalls, garbage piles, garbage bins and signboards (upright,
  tilted, damaged). A global zoom makes objects range from far and tiny (10-20 px) to close and large.
- ``aerial``: a nadir drone view of ground, roads, roofs and trees; labelled construction (blue steel-sheet
  roofs, scaffolding), stalls seen from above (umbrellas, tarps) and garbage piles.

Every object is drawn as a patch with an alpha mask and pasted onto the canvas; later pastes occlude earlier
ones and the box of each object is the tight box of its still-visible mask, so boxes are exact.

``write_yolo_dataset`` writes an Ultralytics layout (plus ``data.yaml``); ``generate_video`` and
``render_frame`` render a fixed street background with objects appearing, staying, tilting and vanishing on a
timeline, for testing dwell / transient / change rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

CLASS_NAMES: tuple[str, ...] = ("stall", "garbage", "garbage_bin", "signboard", "construction")
View = Literal["street", "aerial"]
Color = tuple[int, int, int]
Rng = np.random.Generator

MIN_BOX_PX = 3.0
_MIN_VISIBLE = 0.25

# BGR palettes
_BRIGHT: tuple[Color, ...] = (
    (40, 40, 220),
    (30, 150, 240),
    (40, 210, 240),
    (60, 170, 40),
    (200, 120, 30),
    (230, 230, 230),
    (150, 60, 200),
    (20, 100, 250),
    (190, 160, 40),
    (80, 80, 200),
)
_BAG: tuple[Color, ...] = ((28, 28, 30), (35, 33, 30), (215, 215, 210), (170, 110, 40), (110, 110, 105))
_DEBRIS: tuple[Color, ...] = ((40, 70, 110), (70, 120, 170), (90, 140, 190), (60, 90, 90), (120, 120, 110))
_BIN: dict[str, Color] = {"green": (50, 125, 40), "blue": (150, 90, 25), "grey": (115, 115, 110)}
_SIGN_FILL: tuple[Color, ...] = (
    (35, 35, 190),
    (150, 70, 20),
    (235, 235, 235),
    (30, 200, 230),
    (50, 130, 40),
    (25, 25, 25),
    (20, 120, 220),
)
_FACADE: tuple[Color, ...] = (
    (170, 190, 205),
    (150, 150, 150),
    (70, 80, 150),
    (210, 215, 215),
    (140, 190, 210),
    (120, 135, 150),
)
_ROOF: tuple[Color, ...] = (
    (150, 150, 148),
    (105, 105, 105),
    (60, 70, 160),
    (70, 95, 130),
    (200, 200, 195),
    (120, 130, 140),
)
_BLUE_SHEET: tuple[Color, ...] = ((200, 140, 40), (185, 110, 30), (215, 160, 70), (170, 100, 20))


# --------------------------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class SceneObject:
    """One labelled object: detector class name, tight pixel box (x1, y1, x2, y2) and free attributes."""

    class_name: str
    xyxy: tuple[float, float, float, float]
    attrs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Scene:
    """A generated BGR uint8 image (H x W x 3) with its ground-truth objects."""

    image: np.ndarray
    objects: tuple[SceneObject, ...]


@dataclass(frozen=True)
class TimelineItem:
    """An object of a synthetic video: drawn inside ``xyxy`` while ``appear_s <= t < vanish_s``.

    ``vanish_s=None`` means it stays to the end. Signs may carry ``tilt_from_deg`` / ``tilt_to_deg`` (and
    optionally ``tilt_start_s`` / ``tilt_end_s``) to tilt during the video; ``attrs["seed"]`` fixes the look.
    """

    class_name: str
    xyxy: tuple[float, float, float, float]
    appear_s: float
    vanish_s: float | None = None
    attrs: dict[str, object] = field(default_factory=dict)

    def visible_at(self, t: float) -> bool:
        """Whether the item is on screen at time ``t`` (seconds)."""
        return self.appear_s <= t and (self.vanish_s is None or t < self.vanish_s)


# --------------------------------------------------------------------------------------------- small helpers
def _u(rng: Rng, lo: float, hi: float) -> float:
    """Uniform in [lo, hi); ``lo`` when the range is empty (tiny images, huge objects)."""
    if hi <= lo:
        return float(lo)
    return float(rng.uniform(lo, hi))


def _i(rng: Rng, lo: int, hi: int) -> int:
    """Integer in [lo, hi] inclusive."""
    return int(rng.integers(lo, hi + 1))


def _pick(rng: Rng, items: Sequence[Color]) -> Color:
    return items[int(rng.integers(len(items)))]


def _jitter(rng: Rng, color: Color, amount: float) -> Color:
    c = np.clip(np.array(color, np.float64) + rng.normal(0.0, amount, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def _scale(color: Color, f: float) -> Color:
    return (min(255, int(color[0] * f)), min(255, int(color[1] * f)), min(255, int(color[2] * f)))


def _texture(rng: Rng, h: int, w: int, base: Color, amp: float, cell: int) -> np.ndarray:
    """A BGR texture: ``base`` plus low-frequency blotches of ``cell`` px and fine grain."""
    gh, gw = max(2, h // max(cell, 1) + 2), max(2, w // max(cell, 1) + 2)
    low = cv2.resize(rng.normal(0.0, amp, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, amp * 0.35, (h, w)).astype(np.float32)
    img = np.array(base, np.float32)[None, None, :] + (low + fine)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _blob(rng: Rng, cx: float, cy: float, rx: float, ry: float, n: int = 10, rough: float = 0.3) -> np.ndarray:
    """An irregular closed polygon around (cx, cy) with radii about (rx, ry)."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = 1.0 + rng.uniform(-rough, rough, n)
    pts = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], axis=1)
    return np.round(pts).astype(np.int32)


class _Patch:
    """A BGR patch with an alpha channel; every fill draws into both."""

    def __init__(self, h: float, w: float) -> None:
        self.h, self.w = max(1, int(round(h))), max(1, int(round(w)))
        self.img: np.ndarray = np.zeros((self.h, self.w, 3), np.uint8)
        self.alpha: np.ndarray = np.zeros((self.h, self.w), np.uint8)

    def poly(self, pts: np.ndarray, color: Color) -> None:
        cv2.fillPoly(self.img, [pts.astype(np.int32)], color)
        cv2.fillPoly(self.alpha, [pts.astype(np.int32)], 255)

    def rect(self, x1: float, y1: float, x2: float, y2: float, color: Color) -> None:
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(self.img, p1, p2, color, -1)
        cv2.rectangle(self.alpha, p1, p2, 255, -1)

    def circle(self, cx: float, cy: float, r: float, color: Color) -> None:
        c, rr = (int(round(cx)), int(round(cy))), max(1, int(round(r)))
        cv2.circle(self.img, c, rr, color, -1)
        cv2.circle(self.alpha, c, rr, 255, -1)

    def sector(self, cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, color: Color) -> None:
        c, ax = (int(round(cx)), int(round(cy))), (max(1, int(round(rx))), max(1, int(round(ry))))
        cv2.ellipse(self.img, c, ax, 0, a0, a1, color, -1)
        cv2.ellipse(self.alpha, c, ax, 0, a0, a1, 255, -1)

    def line(self, p1: tuple[float, float], p2: tuple[float, float], color: Color, t: float) -> None:
        a, b = (int(round(p1[0])), int(round(p1[1]))), (int(round(p2[0])), int(round(p2[1])))
        th = max(1, int(round(t)))
        cv2.line(self.img, a, b, color, th)
        cv2.line(self.alpha, a, b, 255, th)

    def grain(self, rng: Rng, amp: float) -> None:
        """Add fine noise where the patch is opaque, so surfaces are not flat colour."""
        noise = rng.normal(0.0, amp, self.img.shape).astype(np.float32)
        self.img = np.clip(self.img.astype(np.float32) + noise, 0, 255).astype(np.uint8)

    def rotated(self, deg: float) -> _Patch:
        """The patch rotated by ``deg`` (counter-clockwise) on an enlarged canvas."""
        if abs(deg) < 1e-3:
            return self
        rad = math.radians(deg)
        cos, sin = abs(math.cos(rad)), abs(math.sin(rad))
        nw, nh = (
            int(math.ceil(self.w * cos + self.h * sin)) + 2,
            int(math.ceil(self.w * sin + self.h * cos)) + 2,
        )
        m = cv2.getRotationMatrix2D((self.w / 2.0, self.h / 2.0), deg, 1.0)
        m[0, 2] += (nw - self.w) / 2.0
        m[1, 2] += (nh - self.h) / 2.0
        out = _Patch(nh, nw)
        out.img = cv2.warpAffine(self.img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        out.alpha = cv2.warpAffine(self.alpha, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
        return out


@dataclass
class _Label:
    class_name: str
    attrs: dict[str, object]
    mask: np.ndarray  # bool H x W, visible pixels
    full_area: int


class _Canvas:
    """The scene image plus one visibility mask per labelled object (later pastes occlude earlier ones)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.h, self.w = image.shape[:2]
        self.labels: list[_Label] = []

    def paste(
        self,
        patch: _Patch,
        x: float,
        y: float,
        class_name: str | None = None,
        attrs: dict[str, object] | None = None,
    ) -> None:
        """Alpha-blend ``patch`` with its top-left corner at (x, y); label it if ``class_name`` is given."""
        x0, y0 = int(round(x)), int(round(y))
        ix1, iy1 = max(0, x0), max(0, y0)
        ix2, iy2 = min(self.w, x0 + patch.w), min(self.h, y0 + patch.h)
        if ix1 >= ix2 or iy1 >= iy2:
            return
        a = patch.alpha[iy1 - y0 : iy2 - y0, ix1 - x0 : ix2 - x0]
        src = patch.img[iy1 - y0 : iy2 - y0, ix1 - x0 : ix2 - x0].astype(np.float32)
        dst = self.image[iy1:iy2, ix1:ix2].astype(np.float32)
        af = (a.astype(np.float32) / 255.0)[:, :, None]
        self.image[iy1:iy2, ix1:ix2] = np.clip(src * af + dst * (1.0 - af), 0, 255).astype(np.uint8)
        solid = a > 127
        for label in self.labels:
            label.mask[iy1:iy2, ix1:ix2] &= ~solid
        if class_name is not None:
            mask = np.zeros((self.h, self.w), bool)
            mask[iy1:iy2, ix1:ix2] = solid
            full = int((patch.alpha > 127).sum())
            self.labels.append(_Label(class_name, dict(attrs or {}), mask, max(full, 1)))

    def shadow(self, patch: _Patch, x: float, y: float, dx: float, dy: float, strength: float) -> None:
        """Darken the ground under a shifted copy of the patch's silhouette (no label)."""
        sil = _Patch(patch.h, patch.w)
        sil.alpha = cv2.GaussianBlur(patch.alpha, (0, 0), 1.5)
        x0, y0 = int(round(x + dx)), int(round(y + dy))
        ix1, iy1 = max(0, x0), max(0, y0)
        ix2, iy2 = min(self.w, x0 + sil.w), min(self.h, y0 + sil.h)
        if ix1 >= ix2 or iy1 >= iy2:
            return
        a = sil.alpha[iy1 - y0 : iy2 - y0, ix1 - x0 : ix2 - x0].astype(np.float32) / 255.0
        region = self.image[iy1:iy2, ix1:ix2].astype(np.float32)
        self.image[iy1:iy2, ix1:ix2] = (region * (1.0 - strength * a)[:, :, None]).astype(np.uint8)

    def warp(self, m: np.ndarray) -> None:
        """Apply a homography to the image and every label mask (boxes follow the warped pixels)."""
        size = (self.w, self.h)
        self.image = cv2.warpPerspective(self.image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        for label in self.labels:
            warped = cv2.warpPerspective(label.mask.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST)
            label.mask = warped > 0

    def objects(self) -> tuple[SceneObject, ...]:
        """Tight boxes of what is still visible; objects mostly hidden by later pastes are dropped."""
        out: list[SceneObject] = []
        for label in self.labels:
            ys, xs = np.nonzero(label.mask)
            if xs.size == 0 or xs.size < _MIN_VISIBLE * label.full_area:
                continue
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
                continue
            out.append(SceneObject(label.class_name, box, label.attrs))
        return tuple(out)


# --------------------------------------------------------------------------------------------- object patches
def _stall_street(rng: Rng, w: float, h: float) -> tuple[_Patch, dict[str, object]]:
    """A stall seen from the side: umbrella or striped awning, table with goods, maybe a vendor."""
    p = _Patch(h, w)
    kind = "umbrella" if rng.random() < 0.5 else "awning"
    c1, c2 = _pick(rng, _BRIGHT), _pick(rng, _BRIGHT)
    table_top, table_h = 0.58 * h, 0.12 * h
    tx1, tx2 = 0.12 * w, 0.88 * w
    if kind == "umbrella":
        cx, ry, rx = w / 2, 0.25 * h, 0.48 * w
        p.line((cx, 0.3 * h), (cx, h - 1), (170, 170, 170), max(1, w * 0.02))
        n = _i(rng, 6, 10)
        for k in range(n):
            p.sector(cx, ry + 1, rx, ry, 180 + 180 * k / n, 180 + 180 * (k + 1) / n, c1 if k % 2 else c2)
        p.rect(cx - rx, ry, cx + rx, ry + max(1, 0.02 * h), _scale(c1, 0.7))
    else:
        top, bot = 0.02 * h, 0.22 * h
        for x in (0.06 * w, 0.94 * w):
            p.line((x, bot), (x, h - 1), (150, 150, 150), max(1, w * 0.015))
        n = _i(rng, 4, 9)
        for k in range(n):
            xa, xb = w * k / n, w * (k + 1) / n
            p.poly(
                np.array([[xa + 0.04 * w * (1 - 2 * k / n), top], [xb, top], [xb, bot], [xa, bot]]),
                c1 if k % 2 else (235, 235, 235),
            )
            p.sector((xa + xb) / 2, bot, (xb - xa) / 2, 0.04 * h, 0, 180, c1 if k % 2 else (235, 235, 235))
    person = rng.random() < 0.45
    if person:  # the vendor stands behind the table
        px = _u(rng, 0.2, 0.8) * w
        skin, shirt = _jitter(rng, (120, 160, 200), 15), _jitter(rng, _pick(rng, _BRIGHT), 30)
        head = 0.05 * h
        p.circle(px, 0.33 * h, head, skin)
        p.circle(px, 0.33 * h - head * 0.4, head * 0.9, _jitter(rng, (30, 30, 35), 8))
        p.circle(px, 0.33 * h + head * 0.15, head * 0.85, skin)
        p.rect(px - 0.07 * w, 0.33 * h + head, px + 0.07 * w, table_top + 0.05 * h, shirt)
    cloth = _pick(rng, ((200, 200, 200), (60, 90, 140), (40, 40, 160), (140, 100, 60)))
    p.rect(tx1, table_top, tx2, table_top + table_h, cloth)
    if rng.random() < 0.5:
        p.rect(tx1, table_top, tx2, h - 1, _scale(cloth, 0.85))
    else:
        for x in (tx1 + 2, tx2 - 2):
            p.line((x, table_top), (x, h - 1), (70, 70, 70), max(1, w * 0.015))
    for _ in range(_i(rng, 6, 22)):
        gx, gr = _u(rng, tx1 + 2, tx2 - 2), max(1.0, _u(rng, 0.015, 0.045) * w)
        p.circle(gx, table_top - gr * 0.6, gr, _jitter(rng, _pick(rng, _BRIGHT), 25))
    p.grain(rng, 6)
    return p, {"kind": kind, "person": person}


def _stall_aerial(rng: Rng, size: float) -> tuple[_Patch, dict[str, object]]:
    """A stall from above: a round/square umbrella with coloured segments, or a tarp."""
    kind = "umbrella" if rng.random() < 0.6 else "tarp"
    if kind == "umbrella":
        p = _Patch(size, size)
        c1, c2 = _pick(rng, _BRIGHT), _pick(rng, _BRIGHT)
        n = _i(rng, 6, 10)
        for k in range(n):
            p.sector(
                size / 2,
                size / 2,
                size / 2 - 1,
                size / 2 - 1,
                360 * k / n,
                360 * (k + 1) / n,
                c1 if k % 2 else c2,
            )
        p.circle(size / 2, size / 2, max(1, size * 0.05), (60, 60, 60))
        if rng.random() < 0.5:
            for k in range(n):
                a = 2 * math.pi * k / n
                p.line(
                    (size / 2, size / 2),
                    (size / 2 + (size / 2 - 1) * math.cos(a), size / 2 + (size / 2 - 1) * math.sin(a)),
                    _scale(c1, 0.6),
                    1,
                )
    else:
        w, h = size, size * _u(rng, 0.6, 1.0)
        p = _Patch(h, w)
        c = _pick(rng, ((170, 110, 30), (40, 40, 200), (40, 160, 60), (220, 220, 220), (30, 140, 230)))
        p.rect(0, 0, w - 1, h - 1, c)
        for _ in range(_i(rng, 1, 3)):
            p.line((_u(rng, 0, w), 0), (_u(rng, 0, w), h - 1), _scale(c, 0.75), 1)
        for _ in range(_i(rng, 3, 10)):
            p.circle(_u(rng, 0, w), _u(rng, 0, h), max(1, size * 0.05), _pick(rng, _BRIGHT))
    p.grain(rng, 5)
    return p.rotated(_u(rng, 0, 90)), {"kind": kind}


def _garbage_pile(rng: Rng, w: float, h: float, aerial: bool = False) -> tuple[_Patch, dict[str, object]]:
    """A pile of bags and debris: irregular polygons heaped into a mound (or scattered, from above)."""
    p = _Patch(h, w)
    n = _i(rng, 8, 26)
    items: list[tuple[float, float, float, float, bool]] = []
    for _ in range(n):
        x = _u(rng, 0.12, 0.88) * w
        bag = rng.random() < 0.55
        r = _u(rng, 0.08, 0.2) * min(w, h * 1.6) if bag else _u(rng, 0.04, 0.12) * min(w, h * 1.6)
        if aerial:
            y = float(np.clip(rng.normal(0.5, 0.18), 0.15, 0.85)) * h
        else:
            mound = max(0.0, 1.0 - ((x - w / 2) / (w / 2)) ** 2) * (h - r)
            y = h - r - _u(rng, 0, mound)
        items.append((y, x, r, r, bag))
    items.sort(key=lambda it: it[0])
    for y, x, rx, ry, bag in items:
        if bag:
            _bag(rng, p, x, y, rx, ry * _u(rng, 0.7, 1.0))
        elif rng.random() < 0.35:  # a flattened or crushed carton
            color = _jitter(rng, (80, 135, 175), 15)
            box = cv2.boxPoints(((x, y), (rx * _u(rng, 1.5, 2.6), ry * _u(rng, 0.9, 1.6)), _u(rng, -40, 40)))
            p.poly(box, color)
            p.line(tuple(box[0]), tuple(box[2]), _scale(color, 0.7), 1)
        else:
            color = _jitter(rng, _pick(rng, _DEBRIS), 15)
            p.poly(_blob(rng, x, y, rx * _u(rng, 0.8, 1.8), ry * 0.7, n=_i(rng, 3, 6), rough=0.45), color)
    p.grain(rng, 7)
    if aerial:
        p = p.rotated(_u(rng, 0, 180))
    return p, {"items": n}


def _bag(rng: Rng, p: _Patch, x: float, y: float, rx: float, ry: float) -> None:
    """A tied plastic bag: lumpy body, darker underside, a knot on top and a sheen line."""
    color = _jitter(rng, _pick(rng, _BAG), 10)
    p.poly(_blob(rng, x, y, rx, ry, n=_i(rng, 8, 12), rough=0.18), color)
    p.sector(x, y + ry * 0.1, rx * 0.9, ry * 0.8, 10, 170, _scale(color, 0.75))
    knot = np.array(
        [
            [x - rx * 0.18, y - ry * 0.8],
            [x + rx * 0.18, y - ry * 0.8],
            [x + rx * 0.05, y - ry * 1.2],
            [x - rx * 0.25, y - ry * 1.25],
        ]
    )
    p.poly(knot, _scale(color, 0.9))
    hi = _scale(color, 1.6) if sum(color) < 200 else _scale(color, 0.82)
    p.line((x - rx * 0.5, y - ry * 0.2), (x - rx * 0.1, y - ry * 0.6), hi, max(1, rx * 0.12))


def _garbage_bin(rng: Rng, w: float, h: float, color_name: str) -> _Patch:
    """A wheeled bin with a lid, seen from the side."""
    p = _Patch(h, w)
    body = _jitter(rng, _BIN[color_name], 12)
    lid_h = max(1.0, 0.12 * h)
    p.poly(np.array([[0.04 * w, lid_h], [0.96 * w, lid_h], [0.88 * w, 0.93 * h], [0.12 * w, 0.93 * h]]), body)
    p.rect(0, 0, w - 1, lid_h, _scale(body, 0.7))
    p.rect(0.2 * w, 0.25 * h, 0.28 * w, 0.85 * h, _scale(body, 1.25))
    if rng.random() < 0.6:
        p.rect(0.4 * w, 0.35 * h, 0.75 * w, 0.55 * h, (225, 225, 225))
    for x in (0.22 * w, 0.78 * w):
        p.circle(x, 0.93 * h, max(1, 0.07 * h), (30, 30, 30))
    p.grain(rng, 5)
    return p


def _random_text(rng: Rng, n: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    return "".join(letters[int(rng.integers(len(letters)))] for _ in range(n))


def _signboard(rng: Rng, w: float, h: float, damaged: bool) -> _Patch:
    """A framed sign: fill colour, ASCII text (stripes when small); damaged = cut corner, cracks, rust."""
    p = _Patch(h, w)
    fill = _jitter(rng, _pick(rng, _SIGN_FILL), 8)
    border = _pick(rng, ((180, 180, 180), (40, 40, 40), (30, 200, 230), (235, 235, 235)))
    bt = max(1.0, min(w, h) * _u(rng, 0.04, 0.1))
    p.rect(0, 0, w - 1, h - 1, border)
    p.rect(bt, bt, w - 1 - bt, h - 1 - bt, fill)
    ink = (240, 240, 240) if sum(fill) < 380 else _pick(rng, ((30, 30, 180), (20, 20, 20), (140, 60, 20)))
    iw, ih = w - 2 * bt, h - 2 * bt
    vertical = ih > 1.6 * iw
    if min(iw, ih) >= 10 and not vertical:
        lines = 1 if ih < 2.2 * iw / 6 or rng.random() < 0.6 else 2
        for k in range(lines):
            text = _random_text(rng, _i(rng, 3, 10))
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 1.0, 2)
            scale = min(0.85 * iw / tw, 0.7 * ih / lines / th)
            thick = max(1, int(round(scale * 2)))
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
            ty = bt + ih * (k + 0.5) / lines + th / 2
            cv2.putText(
                p.img,
                text,
                (int(bt + (iw - tw) / 2), int(ty)),
                cv2.FONT_HERSHEY_DUPLEX,
                scale,
                ink,
                thick,
                cv2.LINE_AA,
            )
    else:
        n = max(1, int((ih if vertical else iw) / max(3.0, (iw if vertical else ih) * 0.9)))
        for k in range(min(n, 12)):
            if vertical:
                y0 = bt + ih * (k + 0.15) / n
                cv2.rectangle(
                    p.img,
                    (int(bt + iw * 0.2), int(y0)),
                    (int(bt + iw * 0.8), int(y0 + ih * 0.6 / n)),
                    ink,
                    -1,
                )
            else:
                x0 = bt + iw * (k + 0.15) / n
                cv2.rectangle(
                    p.img,
                    (int(x0), int(bt + ih * 0.25)),
                    (int(x0 + iw * 0.65 / n), int(bt + ih * 0.75)),
                    ink,
                    -1,
                )
    if rng.random() < 0.3 and min(iw, ih) > 12:
        r = min(iw, ih) * 0.3
        cv2.circle(p.img, (int(bt + r * 1.2), int(h / 2)), int(r), _pick(rng, _BRIGHT), -1, cv2.LINE_AA)
    if damaged:
        _damage(rng, p, w, h)
    p.grain(rng, 4)
    return p


def _damage(rng: Rng, p: _Patch, w: float, h: float) -> None:
    """Cut away a corner, draw cracks and rust stains on a sign patch."""
    cx, cy = (0.0 if rng.random() < 0.5 else w - 1), (0.0 if rng.random() < 0.5 else h - 1)
    dx, dy = _u(rng, 0.15, 0.45) * w, _u(rng, 0.25, 0.7) * h
    sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
    tri = np.array([[cx, cy], [cx + sx * dx, cy], [cx + sx * dx * 0.4, cy + sy * dy * 0.5], [cx, cy + sy * dy]])
    cv2.fillPoly(p.alpha, [tri.astype(np.int32)], 0)
    cv2.fillPoly(p.img, [tri.astype(np.int32)], (0, 0, 0))
    for _ in range(_i(rng, 1, 4)):
        pts = [(_u(rng, 0, w), _u(rng, 0, h))]
        for _ in range(_i(rng, 3, 7)):
            pts.append((pts[-1][0] + rng.normal(0, w * 0.08), pts[-1][1] + rng.normal(0, h * 0.15)))
        arr = np.array(pts, np.int32)
        cv2.polylines(p.img, [arr], False, (25, 25, 25), max(1, int(min(w, h) * 0.02)), cv2.LINE_AA)
    for _ in range(_i(rng, 0, 3)):
        stain = np.zeros((p.h, p.w), np.uint8)
        cv2.fillPoly(stain, [_blob(rng, _u(rng, 0, w), _u(rng, 0, h), w * 0.1, h * 0.2)], 255)
        m = (stain > 0)[:, :, None]
        rust = np.array((40, 70, 120), np.float32)
        p.img = np.where(m, (p.img.astype(np.float32) * 0.4 + rust * 0.6).astype(np.uint8), p.img)


def _construction(rng: Rng, w: float, h: float) -> tuple[_Patch, dict[str, object]]:
    """From above: a blue corrugated steel-sheet roof, or scaffolding (pipe grid, often green netting)."""
    p = _Patch(h, w)
    kind = "blue_roof" if rng.random() < 0.65 else "scaffolding"
    if kind == "blue_roof":
        base = _jitter(rng, _pick(rng, _BLUE_SHEET), 10)
        p.rect(0, 0, w - 1, h - 1, base)
        step = _u(rng, 2.5, 5.0)
        along_w = rng.random() < 0.5
        n = int((w if along_w else h) / step)
        for k in range(n):
            c = _scale(base, 1.18 if k % 2 else 0.82)
            if along_w:
                p.line((k * step, 0), (k * step, h - 1), c, 1)
            else:
                p.line((0, k * step), (w - 1, k * step), c, 1)
        if rng.random() < 0.6:
            if along_w:
                p.line((0, h / 2), (w - 1, h / 2), _scale(base, 0.6), max(1, h * 0.03))
            else:
                p.line((w / 2, 0), (w / 2, h - 1), _scale(base, 0.6), max(1, w * 0.03))
        for _ in range(_i(rng, 0, 2)):
            x, y = _u(rng, 0, w * 0.8), _u(rng, 0, h * 0.8)
            p.rect(x, y, x + w * 0.2, y + h * 0.15, _jitter(rng, (190, 190, 185), 15))
    else:
        net = rng.random() < 0.6
        base = _jitter(rng, (70, 150, 60) if net else (130, 135, 140), 12)
        p.rect(0, 0, w - 1, h - 1, base)
        if not net:
            for _ in range(_i(rng, 2, 6)):
                x, y = _u(rng, 0, w * 0.8), _u(rng, 0, h * 0.8)
                p.rect(
                    x,
                    y,
                    x + _u(rng, 0.1, 0.3) * w,
                    y + _u(rng, 0.1, 0.3) * h,
                    _jitter(rng, (100, 110, 120), 15),
                )
        pipe = _pick(rng, ((200, 200, 200), (60, 140, 220), (170, 170, 160)))
        step = _u(rng, 4.0, 9.0)
        for k in range(int(w / step) + 1):
            p.line((k * step, 0), (k * step, h - 1), pipe, 1)
        for k in range(int(h / step) + 1):
            p.line((0, k * step), (w - 1, k * step), pipe, 1)
        cv2.rectangle(p.img, (0, 0), (p.w - 1, p.h - 1), pipe, max(1, int(min(w, h) * 0.04)))
    p.grain(rng, 5)
    return p.rotated(_u(rng, -25, 25) if rng.random() < 0.7 else _u(rng, -90, 90)), {"kind": kind}


# --------------------------------------------------------------------------------------------- street view
@dataclass(frozen=True)
class _StreetLayout:
    """Where things can go in a street background."""

    y_base: int  # facade meets sidewalk
    y_curb: int  # sidewalk meets road
    shop_band: tuple[int, int]  # y range of the storefront sign band
    zoom: float


def _street_background(rng: Rng, w: int, h: int, zoom: float) -> tuple[np.ndarray, _StreetLayout]:
    """Sky, facades with windows and shop fronts, sidewalk, road with markings. Nothing is labelled."""
    y_base = int(h * _u(rng, 0.45, 0.62))
    y_curb = min(h - 10, y_base + int(h * _u(rng, 0.12, 0.22)))
    sky_top = _jitter(rng, (235, 200, 160), 15)
    sky = np.linspace(np.array(sky_top, np.float32), np.array((245, 230, 215), np.float32), h)[:, None, :]
    img = np.repeat(sky, w, axis=1).astype(np.uint8)
    img[y_base:y_curb] = _texture(rng, y_curb - y_base, w, _jitter(rng, (150, 160, 165), 12), 10, 20)
    img[y_curb:] = _texture(rng, h - y_curb, w, _jitter(rng, (85, 85, 88), 8), 8, 30)
    # sidewalk tiles and curb
    tile = max(4, int(30 * zoom))
    for x in range(-int(rng.integers(tile)), w, tile):
        cv2.line(img, (x, y_base), (x - int(tile * 0.6), y_curb), (125, 130, 135), 1)
    cv2.rectangle(img, (0, y_curb - max(1, int(4 * zoom))), (w, y_curb), (180, 185, 185), -1)
    # lane markings
    lane_y = y_curb + int((h - y_curb) * _u(rng, 0.4, 0.7))
    dash = max(6, int(60 * zoom))
    for x in range(-int(rng.integers(dash)), w, dash * 2):
        cv2.rectangle(img, (x, lane_y), (x + dash, lane_y + max(1, int(5 * zoom))), (220, 220, 220), -1)
    x = -int(_u(rng, 0, 150) * zoom)
    shop_h = max(6, int(_u(rng, 70, 100) * zoom))
    band_h = max(3, int(_u(rng, 25, 45) * zoom))
    while x < w:
        bw = max(20, int(_u(rng, 160, 420) * zoom))
        top = int(y_base - _u(rng, 180, 480) * zoom)
        _facade(rng, img, x, max(top, -1), min(w, x + bw), y_base, shop_h, band_h, zoom)
        x += bw + int(_u(rng, 0, 30) * zoom)
    band = (y_base - shop_h - band_h, y_base - shop_h)
    return img, _StreetLayout(y_base, y_curb, band, zoom)


def _facade(
    rng: Rng,
    img: np.ndarray,
    x1: int,
    y1: int,
    x2: int,
    y2: int,
    shop_h: int,
    band_h: int,
    zoom: float,
) -> None:
    """One building facade: wall texture, window grid, storefront glass and a door."""
    if x2 <= max(x1, 0) or y2 <= max(y1, 0):
        return
    xa, ya = max(0, x1), max(0, y1)
    wall = _jitter(rng, _pick(rng, _FACADE), 10)
    img[ya:y2, xa:x2] = _texture(rng, y2 - ya, x2 - xa, wall, 7, 15)
    cv2.line(img, (x1, ya), (x1, y2), _scale(wall, 0.7), max(1, int(2 * zoom)))
    ww, wh = max(3, int(_u(rng, 25, 45) * zoom)), max(4, int(_u(rng, 35, 60) * zoom))
    gx, gy = ww + max(2, int(_u(rng, 15, 40) * zoom)), wh + max(3, int(_u(rng, 25, 45) * zoom))
    glass = _jitter(rng, (110, 95, 80), 15)
    frame = _pick(rng, ((230, 230, 230), (60, 60, 60), (150, 150, 150)))
    top_floor = y2 - shop_h - band_h - gy
    for wy in range(top_floor, y1 + wh // 2, -gy):
        for wx in range(x1 + gx // 2, x2 - ww, gx):
            lit = _scale(glass, _u(rng, 0.8, 1.5))
            cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), frame, -1)
            cv2.rectangle(img, (wx + 1, wy + 1), (wx + ww - 1, wy + wh - 1), lit, -1)
            if ww > 10:
                cv2.line(img, (wx + ww // 2, wy), (wx + ww // 2, wy + wh), frame, 1)
            if rng.random() < 0.15 and ww > 8:  # air conditioner unit
                cv2.rectangle(img, (wx, wy + wh + 2), (wx + ww * 2 // 3, wy + wh + 2 + wh // 3), (215, 215, 210), -1)
    # storefront: glass, a door, a roller shutter sometimes
    sy = y2 - shop_h
    cv2.rectangle(img, (x1 + 3, sy), (x2 - 3, y2), _scale(glass, 0.8), -1)
    if rng.random() < 0.3:
        for yy in range(sy, y2, max(2, int(4 * zoom))):
            cv2.line(img, (x1 + 3, yy), (x2 - 3, yy), (150, 150, 150), 1)
    dw = max(3, int(_u(rng, 30, 50) * zoom))
    dx = int(_u(rng, x1 + 5, max(x1 + 6, x2 - dw - 5)))
    cv2.rectangle(img, (dx, y2 - int(shop_h * 0.9)), (dx + dw, y2), (50, 45, 40), -1)
    cv2.rectangle(img, (x1, sy - band_h), (x2, sy), _scale(wall, 0.85), -1)


def _sign_box(rng: Rng, layout: _StreetLayout, w: int, h: int) -> tuple[float, float, float, float, str]:
    """A sign placement (x, y, width, height, kind) on the facades."""
    z = layout.zoom
    r = rng.random()
    if r < 0.12:  # close-up: a big sign filling a large part of the frame
        sw = _u(rng, 0.45, 0.9) * w
        sh = sw * _u(rng, 0.25, 0.6)
        return (
            _u(rng, -0.05 * w, w - sw * 0.9),
            _u(rng, 0.02 * h, max(0.03 * h, layout.y_base - sh)),
            sw,
            sh,
            "closeup",
        )
    if r < 0.6:
        sw = _u(rng, 90, 280) * z
        sh = min(sw * _u(rng, 0.18, 0.35), (layout.shop_band[1] - layout.shop_band[0]) * 1.2 + 3)
        return (
            _u(rng, -0.05 * sw, w - sw * 0.95),
            layout.shop_band[0] + _u(rng, -0.1, 0.1) * sh,
            sw,
            sh,
            "shop",
        )
    if r < 0.8:
        sh = _u(rng, 80, 220) * z
        sw = sh * _u(rng, 0.25, 0.4)
        return _u(rng, 0, w - sw), layout.shop_band[0] - sh - _u(rng, 0, 60) * z, sw, sh, "vertical"
    sw = _u(rng, 120, 320) * z
    sh = sw * _u(rng, 0.35, 0.6)
    return _u(rng, 0, w - sw), layout.shop_band[0] - sh - _u(rng, 20, 200) * z, sw, sh, "billboard"


def _sign_variant(rng: Rng) -> tuple[float, bool]:
    """(tilt_deg, damaged) for a random sign: upright, tilted 5-30 deg, damaged, or both."""
    r = rng.random()
    tilt = float(rng.choice([-1.0, 1.0])) * _u(rng, 5, 30) if r < 0.35 or r > 0.85 else 0.0
    damaged = 0.6 < r
    return round(tilt, 2), bool(damaged)


def _place_street_sign(rng: Rng, canvas: _Canvas, layout: _StreetLayout) -> None:
    x, y, sw, sh, kind = _sign_box(rng, layout, canvas.w, canvas.h)
    tilt, damaged = _sign_variant(rng)
    patch = _signboard(rng, sw, sh, damaged).rotated(tilt)
    cx, cy = x + sw / 2, y + sh / 2
    if tilt:  # a loosened sign sags down on one side
        cy += abs(math.sin(math.radians(tilt))) * sw * 0.25
    canvas.paste(
        patch,
        cx - patch.w / 2,
        cy - patch.h / 2,
        "signboard",
        {"tilt_deg": tilt, "damaged": damaged, "kind": kind},
    )


def _ground_y(rng: Rng, layout: _StreetLayout, h: int, on_road: float) -> float:
    """A y for an object's bottom edge: on the sidewalk, or (with probability ``on_road``) on the road."""
    y_max = layout.y_curb + (h - layout.y_curb) * (0.9 if rng.random() < on_road else 0.05)
    return _u(rng, layout.y_base + 3, max(layout.y_base + 4, y_max))


def _place_street_ground(rng: Rng, canvas: _Canvas, layout: _StreetLayout, kind: str, yb: float) -> None:
    """Stand a stall, pile or bin on the ground line ``yb`` (lower in the frame = closer = bigger)."""
    w, h = canvas.w, canvas.h
    s = layout.zoom * (1.0 + 1.2 * (yb - layout.y_base) / max(1, h - layout.y_base))
    if kind == "stall":
        sw = _u(rng, 90, 170) * s
        patch, attrs = _stall_street(rng, sw, sw * _u(rng, 0.9, 1.3))
        x = _u(rng, -0.1 * sw, w - 0.9 * sw)
        canvas.shadow(patch, x, yb - patch.h, patch.w * 0.15, 0, 0.0)
        canvas.paste(patch, x, yb - patch.h, "stall", attrs)
    elif kind == "garbage":
        gw = _u(rng, 40, 140) * s
        patch, attrs = _garbage_pile(rng, gw, gw * _u(rng, 0.4, 0.7))
        canvas.paste(patch, _u(rng, -0.1 * gw, w - 0.9 * gw), yb - patch.h, "garbage", {**attrs, "overflow": False})
    else:
        _place_bin(rng, canvas, _u(rng, 30, 50) * s, yb, overflow=rng.random() < 0.45)


def _place_bin(rng: Rng, canvas: _Canvas, bw: float, yb: float, overflow: bool) -> None:
    """A bin standing on y=yb; an overflowing one gets a garbage pile heaped over its lid (two labels)."""
    color = str(rng.choice(list(_BIN)))
    bh = bw * _u(rng, 1.25, 1.5)
    x = _u(rng, 0, canvas.w - bw)
    canvas.paste(_garbage_bin(rng, bw, bh, color), x, yb - bh, "garbage_bin", {"overflow": overflow, "color": color})
    if overflow:
        pw = bw * _u(rng, 1.1, 1.6)
        pile, attrs = _garbage_pile(rng, pw, pw * _u(rng, 0.45, 0.7))
        canvas.paste(
            pile,
            x + bw / 2 - pw / 2,
            yb - bh - pile.h * 0.65,
            "garbage",
            {**attrs, "overflow": True, "on_bin": True},
        )


def _street_scene(rng: Rng, w: int, h: int) -> _Canvas:
    zoom = float(math.exp(_u(rng, math.log(0.22), math.log(2.0)))) * w / 640.0
    img, layout = _street_background(rng, w, h, zoom)
    canvas = _Canvas(img)
    for _ in range(_i(rng, 1, 4 if zoom > 1 else 7)):
        _place_street_sign(rng, canvas, layout)
    kinds = ["stall"] * _i(rng, 0, 3) + ["garbage"] * _i(rng, 0, 3) + ["garbage_bin"] * _i(rng, 0, 3)
    if zoom < 0.6:
        kinds += ["stall", "garbage_bin", "garbage"] * _i(rng, 0, 2)
    ground = [(_ground_y(rng, layout, h, on_road=0.35), kind) for kind in kinds]
    for yb, kind in sorted(ground):
        _place_street_ground(rng, canvas, layout, kind, yb)
    _building_shadow(rng, canvas.image, layout)
    if rng.random() < 0.7:
        canvas.warp(_keystone(rng, w, h))
    return canvas


def _keystone(rng: Rng, w: int, h: int) -> np.ndarray:
    """A mild perspective (camera yaw/pitch) homography whose output is fully covered by the source image."""
    inset = [(_u(rng, 0, 0.1) * w, _u(rng, 0, 0.08) * h) for _ in range(4)]
    src = np.array(
        [
            [inset[0][0], inset[0][1]],
            [w - 1 - inset[1][0], inset[1][1]],
            [w - 1 - inset[2][0], h - 1 - inset[2][1]],
            [inset[3][0], h - 1 - inset[3][1]],
        ],
        np.float32,
    )
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _building_shadow(rng: Rng, img: np.ndarray, layout: _StreetLayout) -> None:
    """A soft diagonal shadow cast across part of the scene."""
    if rng.random() < 0.4:
        return
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    x0 = _u(rng, -0.3, 0.8) * w
    pts = np.array(
        [
            [x0, 0],
            [x0 + _u(rng, 0.2, 0.6) * w, 0],
            [x0 + _u(rng, 0.0, 0.7) * w, h],
            [x0 - _u(rng, 0.2, 0.5) * w, h],
        ],
        np.int32,
    )
    cv2.fillPoly(mask, [pts], 255)
    soft = cv2.GaussianBlur(mask, (0, 0), 6).astype(np.float32) / 255.0
    dark = 1.0 - _u(rng, 0.2, 0.45) * soft
    img[:] = (img.astype(np.float32) * dark[:, :, None]).astype(np.uint8)


# --------------------------------------------------------------------------------------------- aerial view
def _aerial_background(
    rng: Rng,
    w: int,
    h: int,
    k: float,
) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """Ground, grass, roads and roofs (``k`` = pixel scale). Returns the image and the boxes roofs occupy."""
    ground = _pick(rng, ((120, 150, 160), (110, 140, 130), (150, 160, 165), (90, 130, 120)))
    img = _texture(rng, h, w, ground, 14, 40)
    if rng.random() < 0.6:  # grass patches
        for _ in range(_i(rng, 1, 4)):
            m = np.zeros((h, w), np.uint8)
            blob = _blob(rng, _u(rng, 0, w), _u(rng, 0, h), _u(rng, 40, 150) * k, _u(rng, 40, 150) * k)
            cv2.fillPoly(m, [blob], 255)
            grass = _texture(rng, h, w, _jitter(rng, (70, 130, 90), 10), 12, 10)
            img = np.where((m > 0)[:, :, None], grass, img)
    angle = _u(rng, 0, 180)
    for _ in range(_i(rng, 1, 3)):
        _road(rng, img, angle + float(rng.choice([0.0, 90.0])), k)
    occupied: list[tuple[float, float, float, float]] = []
    canvas = _Canvas(img)
    sun = (_u(rng, -1, 1), _u(rng, 0.3, 1))
    for _ in range(_i(rng, 2, 9)):
        rw, rh = _u(rng, 35, 140) * k, _u(rng, 30, 110) * k
        x, y = _u(rng, -rw * 0.3, w - rw * 0.7), _u(rng, -rh * 0.3, h - rh * 0.7)
        roof = _roof(rng, rw, rh).rotated(angle % 90 + _u(rng, -4, 4))
        canvas.shadow(roof, x, y, sun[0] * rw * 0.12, sun[1] * rh * 0.12, 0.45)
        canvas.paste(roof, x, y)
        occupied.append((x, y, x + roof.w, y + roof.h))
    return canvas.image, occupied


def _road(rng: Rng, img: np.ndarray, angle: float, k: float) -> None:
    """A straight asphalt road through (most of) the image, with kerbs and a dashed centre line."""
    h, w = img.shape[:2]
    cx, cy = _u(rng, 0.1, 0.9) * w, _u(rng, 0.1, 0.9) * h
    d = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
    length = 2 * (w + h)
    p1 = (int(cx - d[0] * length), int(cy - d[1] * length))
    p2 = (int(cx + d[0] * length), int(cy + d[1] * length))
    width = max(3, int(_u(rng, 18, 55) * k))
    cv2.line(img, p1, p2, _jitter(rng, (80, 82, 85), 6), width)
    if width > 30:  # kerb lines
        off = (int(-d[1] * width / 2), int(d[0] * width / 2))
        for sgn in (-1, 1):
            a, b = (p1[0] + sgn * off[0], p1[1] + sgn * off[1]), (p2[0] + sgn * off[0], p2[1] + sgn * off[1])
            cv2.line(img, a, b, (160, 165, 165), 2, cv2.LINE_AA)
    n = int(2 * length / 20)
    for k in range(0, n, 2):
        a = (int(p1[0] + d[0] * k * 20), int(p1[1] + d[1] * k * 20))
        b = (int(p1[0] + d[0] * (k + 1) * 20), int(p1[1] + d[1] * (k + 1) * 20))
        cv2.line(img, a, b, (215, 215, 215), 1, cv2.LINE_AA)


def _roof(rng: Rng, w: float, h: float) -> _Patch:
    """A plain roof from above: flat with parapet and rooftop units, or pitched with a ridge."""
    p = _Patch(h, w)
    c = _jitter(rng, _pick(rng, _ROOF), 10)
    p.rect(0, 0, w - 1, h - 1, c)
    if rng.random() < 0.5:
        p.rect(0, 0, w - 1, h / 2, _scale(c, 1.12))
        p.line((0, h / 2), (w - 1, h / 2), _scale(c, 0.7), max(1, h * 0.03))
    else:
        cv2.rectangle(p.img, (0, 0), (p.w - 1, p.h - 1), _scale(c, 0.75), max(1, int(min(w, h) * 0.05)))
        for _ in range(_i(rng, 0, 4)):
            x, y = _u(rng, 0.1, 0.8) * w, _u(rng, 0.1, 0.8) * h
            if rng.random() < 0.5:
                p.rect(x, y, x + _u(rng, 4, 10), y + _u(rng, 4, 8), (210, 210, 205))
            else:
                p.circle(x, y, _u(rng, 3, 6), (190, 190, 190))
    p.grain(rng, 4)
    return p


def _tree(rng: Rng, r: float) -> _Patch:
    p = _Patch(2 * r + 2, 2 * r + 2)
    base = _jitter(rng, (50, 110, 60), 12)
    for _ in range(_i(rng, 5, 12)):
        a, d = _u(rng, 0, 2 * math.pi), _u(rng, 0, r * 0.5)
        p.circle(
            r + 1 + d * math.cos(a),
            r + 1 + d * math.sin(a),
            r * _u(rng, 0.35, 0.55),
            _scale(base, _u(rng, 0.75, 1.25)),
        )
    p.grain(rng, 8)
    return p


def _free_spot(
    rng: Rng,
    w: int,
    h: int,
    bw: float,
    bh: float,
    occupied: list[tuple[float, float, float, float]],
) -> tuple[float, float]:
    """A top-left point where a bw x bh box overlaps little with the occupied boxes (best of a few tries)."""
    best, best_overlap = (0.0, 0.0), math.inf
    for _ in range(12):
        x, y = _u(rng, -0.1 * bw, w - 0.9 * bw), _u(rng, -0.1 * bh, h - 0.9 * bh)
        ov = sum(
            max(0.0, min(x + bw, b[2]) - max(x, b[0])) * max(0.0, min(y + bh, b[3]) - max(y, b[1])) for b in occupied
        )
        if ov < best_overlap:
            best, best_overlap = (x, y), ov
        if ov == 0:
            break
    return best


def _aerial_scene(rng: Rng, w: int, h: int) -> _Canvas:
    k = min(w / 640.0, h / 480.0) * _u(rng, 0.7, 1.4)  # ground sampling distance varies between flights
    img, occupied = _aerial_background(rng, w, h, k)
    canvas = _Canvas(img)
    sun = (_u(rng, -1, 1), _u(rng, 0.3, 1))
    items: list[tuple[_Patch, str | None, dict[str, object], float]] = []
    for _ in range(_i(rng, 0, 3) + (1 if rng.random() < 0.7 else 0)):
        p, a = _construction(rng, _u(rng, 30, 140) * k, _u(rng, 25, 110) * k)
        items.append((p, "construction", a, 0.4))
    for _ in range(_i(rng, 0, 5)):
        p, a = _stall_aerial(rng, _u(rng, 9, 34) * k)
        items.append((p, "stall", a, 0.35))
    for _ in range(_i(rng, 0, 3)):
        gw = _u(rng, 10, 55) * k
        p, a = _garbage_pile(rng, gw, gw * _u(rng, 0.6, 1.0), aerial=True)
        items.append((p, "garbage", {**a, "overflow": False}, 0.15))
    for _ in range(_i(rng, 2, 12)):
        items.append((_tree(rng, _u(rng, 6, 22) * k), None, {}, 0.4))
    order = rng.permutation(len(items))
    for idx in order:
        patch, name, attrs, shade = items[int(idx)]
        x, y = _free_spot(rng, w, h, patch.w, patch.h, occupied)
        canvas.shadow(patch, x, y, sun[0] * patch.w * 0.15, sun[1] * patch.h * 0.15, shade)
        canvas.paste(patch, x, y, name, attrs)
        occupied.append((x, y, x + patch.w, y + patch.h))
    return canvas


# --------------------------------------------------------------------------------------------- photometrics
def _photometric(rng: Rng, img: np.ndarray, strong: bool = True) -> np.ndarray:
    """Lighting gain/gradient, colour cast, sensor noise and sometimes blur."""
    h, w = img.shape[:2]
    f: np.ndarray = img.astype(np.float32)
    gain = _u(rng, 0.65, 1.25) if strong else 1.0
    cast = np.array([_u(rng, 0.94, 1.06) for _ in range(3)], np.float32) if strong else np.ones(3, np.float32)
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * _u(rng, -0.2, 0.2)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * _u(rng, -0.15, 0.15)
    f = f * (gain * (1.0 + gx + gy))[:, :, None] * cast[None, None, :]
    if strong and rng.random() < 0.45:
        f = cv2.GaussianBlur(f, (0, 0), _u(rng, 0.5, 1.4))
    elif strong and rng.random() < 0.15:
        k = _i(rng, 3, 7)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        f = cv2.filter2D(f, -1, kernel)
    f += rng.normal(0.0, _u(rng, 1.0, 6.0), f.shape).astype(np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- public API
def generate_scene(view: View, seed: int, size: tuple[int, int] = (640, 480)) -> Scene:
    """One synthetic scene of ``view`` ("street" or "aerial") of ``size`` = (width, height), from ``seed``."""
    w, h = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    if view == "street":
        canvas = _street_scene(rng, w, h)
    elif view == "aerial":
        canvas = _aerial_scene(rng, w, h)
    else:
        raise ValueError(f"view must be 'street' or 'aerial', got {view!r}")
    image = _photometric(rng, canvas.image)
    return Scene(image=image, objects=canvas.objects())


def draw_objects_preview(scene: Scene) -> np.ndarray:
    """A copy of the scene image with its ground-truth boxes and class names drawn, for humans."""
    colors: dict[str, Color] = {
        "stall": (0, 200, 255),
        "garbage": (0, 0, 255),
        "garbage_bin": (255, 0, 255),
        "signboard": (0, 255, 0),
        "construction": (255, 128, 0),
    }
    out = scene.image.copy()
    for obj in scene.objects:
        c = colors.get(obj.class_name, (255, 255, 255))
        x1, y1, x2, y2 = (int(round(v)) for v in obj.xyxy)
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), c, 1)
        tag = obj.class_name
        if obj.attrs.get("tilt_deg"):
            tag += f" {obj.attrs['tilt_deg']:.0f}deg"
        if obj.attrs.get("damaged") or obj.attrs.get("overflow"):
            tag += " !"
        cv2.putText(out, tag, (x1, max(8, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, c, 1, cv2.LINE_AA)
    return out


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


# --------------------------------------------------------------------------------------------- video
def street_background(seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The fixed, object-free street background a video of ``seed`` uses."""
    rng = np.random.default_rng(seed)
    img, _ = _street_background(rng, int(size[0]), int(size[1]), _u(rng, 0.8, 1.3) * size[0] / 640.0)
    return _photometric(rng, img, strong=False)


def _item_seed(item: TimelineItem, index: int) -> int:
    s = item.attrs.get("seed")
    if isinstance(s, int):
        return s
    return index * 7919 + int(item.xyxy[0]) * 31 + int(item.xyxy[1])


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) else float(default)


def _item_tilt(item: TimelineItem, t: float) -> float:
    """The tilt of a sign at time t, interpolated between tilt_from_deg and tilt_to_deg."""
    t_from, t_to = item.attrs.get("tilt_from_deg"), item.attrs.get("tilt_to_deg")
    if not isinstance(t_from, int | float) or not isinstance(t_to, int | float):
        tilt = item.attrs.get("tilt_deg", 0.0)
        return float(tilt) if isinstance(tilt, int | float) else 0.0
    s = _number(item.attrs.get("tilt_start_s"), item.appear_s)
    e = _number(item.attrs.get("tilt_end_s"), item.vanish_s if item.vanish_s is not None else s + 10.0)
    frac = 1.0 if e <= s else min(1.0, max(0.0, (t - s) / (e - s)))
    return float(t_from) + (float(t_to) - float(t_from)) * frac


def _item_patch(item: TimelineItem, index: int, t: float) -> tuple[_Patch, dict[str, object]]:
    """The patch of a timeline item at time t (same look every frame)."""
    rng = np.random.default_rng(_item_seed(item, index))
    x1, y1, x2, y2 = item.xyxy
    w, h = max(2.0, x2 - x1), max(2.0, y2 - y1)
    attrs: dict[str, object] = {}
    if item.class_name == "stall":
        patch, attrs = _stall_street(rng, w, h)
    elif item.class_name == "garbage":
        patch, attrs = _garbage_pile(rng, w, h)
    elif item.class_name == "garbage_bin":
        patch = _garbage_bin(rng, w, h, str(item.attrs.get("color", "green")))
    elif item.class_name == "signboard":
        tilt = _item_tilt(item, t)
        patch = _signboard(rng, w, h, bool(item.attrs.get("damaged", False))).rotated(tilt)
        attrs = {"tilt_deg": round(tilt, 2), "damaged": bool(item.attrs.get("damaged", False))}
    elif item.class_name == "construction":
        patch, attrs = _construction(rng, w, h)
    else:
        raise ValueError(f"unknown class {item.class_name!r}; expected one of {CLASS_NAMES}")
    return patch, attrs


def render_frame(
    background: np.ndarray,
    timeline: Sequence[TimelineItem],
    t: float,
) -> tuple[np.ndarray, tuple[SceneObject, ...]]:
    """Draw the items of ``timeline`` visible at ``t`` over ``background``; returns (BGR image, objects)."""
    canvas = _Canvas(background.copy())
    for index, item in enumerate(timeline):
        if not item.visible_at(t):
            continue
        patch, attrs = _item_patch(item, index, t)
        cx, cy = (item.xyxy[0] + item.xyxy[2]) / 2, (item.xyxy[1] + item.xyxy[3]) / 2
        canvas.paste(
            patch,
            cx - patch.w / 2,
            cy - patch.h / 2,
            item.class_name,
            {**item.attrs, **attrs, "timeline_index": index},
        )
    noise_rng = np.random.default_rng(int(round(t * 1000)) + 1)
    noise = noise_rng.normal(0.0, 2.0, canvas.image.shape).astype(np.float32)
    image = np.clip(canvas.image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return image, canvas.objects()


def default_timeline(seed: int, duration_s: float = 20, size: tuple[int, int] = (640, 480)) -> list[TimelineItem]:
    """A stall and a pile that appear and stay, a sign tilting 0 -> 20 deg, and a transient stall (< 2 s)."""
    rng = np.random.default_rng(seed)
    w, h = int(size[0]), int(size[1])
    _, layout = _street_background(rng, w, h, _u(rng, 0.8, 1.3) * w / 640.0)
    rng = np.random.default_rng([seed, 1])
    d, z = float(duration_s), layout.zoom
    ground = (layout.y_base + layout.y_curb) / 2 + _u(rng, 0, (h - layout.y_curb) * 0.4)
    depth = 1.0 + 1.2 * (ground - layout.y_base) / max(1, h - layout.y_base)

    def box(cx: float, bottom: float, bw: float, bh: float) -> tuple[float, float, float, float]:
        return (cx - bw / 2, bottom - bh, cx + bw / 2, bottom)

    sw = 110 * z * depth
    gw = 100 * z * depth
    sign_w, sign_h = 150 * z, 45 * z
    sign_y = layout.shop_band[0] + sign_h / 2
    items = [
        TimelineItem(
            "stall",
            box(0.2 * w, ground, sw, sw * 1.1),
            round(_u(rng, 0.1, 0.3) * d, 2),
            None,
            {"seed": int(rng.integers(1 << 30))},
        ),
        TimelineItem(
            "garbage",
            box(0.55 * w, ground + 10 * z, gw, gw * 0.55),
            round(_u(rng, 0.2, 0.5) * d, 2),
            None,
            {"seed": int(rng.integers(1 << 30))},
        ),
        TimelineItem(
            "signboard",
            (0.45 * w, sign_y - sign_h / 2, 0.45 * w + sign_w, sign_y + sign_h / 2),
            0.0,
            None,
            {
                "seed": int(rng.integers(1 << 30)),
                "tilt_from_deg": 0.0,
                "tilt_to_deg": 20.0,
                "tilt_start_s": round(0.3 * d, 2),
                "tilt_end_s": round(0.6 * d, 2),
            },
        ),
    ]
    t0 = round(_u(rng, 0.3, 0.7) * d, 2)
    items.append(
        TimelineItem(
            "stall",
            box(0.87 * w, ground, sw * 0.7, sw * 0.8),
            t0,
            round(t0 + _u(rng, 0.8, 1.5), 2),
            {"seed": int(rng.integers(1 << 30)), "transient": True},
        )
    )
    return items


def generate_video(
    path: Path,
    seed: int,
    duration_s: float = 20,
    fps: float = 10,
    size: tuple[int, int] = (640, 480),
    timeline: list[TimelineItem] | None = None,
) -> list[TimelineItem]:
    """Write an MP4 (mp4v) of a fixed street background with ``timeline`` objects; returns the timeline.

    Frame ``i`` shows time ``i / fps``; there are ``round(duration_s * fps)`` frames.
    """
    if timeline is None:
        timeline = default_timeline(seed, duration_s, size)
    background = street_background(seed, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (int(size[0]), int(size[1])))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path}")
    try:
        for i in range(int(round(duration_s * fps))):
            frame, _ = render_frame(background, timeline, i / fps)
            writer.write(frame)
    finally:
        writer.release()
    return timeline


__all__ = [
    "CLASS_NAMES",
    "MIN_BOX_PX",
    "Scene",
    "SceneObject",
    "TimelineItem",
    "View",
    "default_timeline",
    "draw_objects_preview",
    "generate_scene",
    "generate_video",
    "render_frame",
    "street_background",
    "write_yolo_dataset",
    "yolo_lines",
]
