"""Drawing primitives of the synthetic generator: random helpers, colours, textures, patches, the canvas, lighting.

``np.random.Generator`` is the only source of randomness; every helper takes it explicitly, so a seed always
gives the same bytes. An object is drawn as a :class:`Patch` (BGR plus alpha) and pasted onto a
:class:`Canvas`, which keeps one visibility mask per labelled object: later pastes occlude earlier ones and
the box of each object is the tight box of its still-visible mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

Color = tuple[int, int, int]
Rng = np.random.Generator

_MIN_VISIBLE = 0.25


@dataclass(frozen=True)
class SceneObject:
    """One labelled object: detector class name, tight pixel box (x1, y1, x2, y2) and free attributes."""

    class_name: str
    xyxy: tuple[float, float, float, float]
    attrs: dict[str, object] = field(default_factory=dict)


def uniform(rng: Rng, lo: float, hi: float) -> float:
    """Uniform in [lo, hi); ``lo`` when the range is empty (tiny images, huge objects)."""
    if hi <= lo:
        return float(lo)
    return float(rng.uniform(lo, hi))


def randint(rng: Rng, lo: int, hi: int) -> int:
    """Integer in [lo, hi] inclusive."""
    return int(rng.integers(lo, hi + 1))


def pick(rng: Rng, items: Sequence[Color]) -> Color:
    return items[int(rng.integers(len(items)))]


def jitter(rng: Rng, color: Color, amount: float) -> Color:
    c = np.clip(np.array(color, np.float64) + rng.normal(0.0, amount, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def scale_color(color: Color, f: float) -> Color:
    return (min(255, int(color[0] * f)), min(255, int(color[1] * f)), min(255, int(color[2] * f)))


def texture(rng: Rng, h: int, w: int, base: Color, amp: float, cell: int) -> np.ndarray:
    """A BGR texture: ``base`` plus low-frequency blotches of ``cell`` px and fine grain."""
    gh, gw = max(2, h // max(cell, 1) + 2), max(2, w // max(cell, 1) + 2)
    low = cv2.resize(rng.normal(0.0, amp, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, amp * 0.35, (h, w)).astype(np.float32)
    img = np.array(base, np.float32)[None, None, :] + (low + fine)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def blob(rng: Rng, cx: float, cy: float, rx: float, ry: float, n: int = 10, rough: float = 0.3) -> np.ndarray:
    """An irregular closed polygon around (cx, cy) with radii about (rx, ry)."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = 1.0 + rng.uniform(-rough, rough, n)
    pts = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], axis=1)
    return np.round(pts).astype(np.int32)


class Patch:
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

    def rotated(self, deg: float) -> Patch:
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
        out = Patch(nh, nw)
        out.img = cv2.warpAffine(self.img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        out.alpha = cv2.warpAffine(self.alpha, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
        return out


@dataclass
class _Label:
    class_name: str
    attrs: dict[str, object]
    mask: np.ndarray  # bool H x W, visible pixels
    full_area: int


class Canvas:
    """The scene image plus one visibility mask per labelled object (later pastes occlude earlier ones)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.h, self.w = image.shape[:2]
        self.labels: list[_Label] = []

    def paste(
        self,
        patch: Patch,
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

    def shadow(self, patch: Patch, x: float, y: float, dx: float, dy: float, strength: float) -> None:
        """Darken the ground under a shifted copy of the patch's silhouette (no label)."""
        sil = Patch(patch.h, patch.w)
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


def photometric(rng: Rng, img: np.ndarray, strong: bool = True) -> np.ndarray:
    """Lighting gain/gradient, colour cast, sensor noise and sometimes blur."""
    h, w = img.shape[:2]
    f: np.ndarray = img.astype(np.float32)
    gain = uniform(rng, 0.65, 1.25) if strong else 1.0
    cast = np.array([uniform(rng, 0.94, 1.06) for _ in range(3)], np.float32) if strong else np.ones(3, np.float32)
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * uniform(rng, -0.2, 0.2)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * uniform(rng, -0.15, 0.15)
    f = f * (gain * (1.0 + gx + gy))[:, :, None] * cast[None, None, :]
    if strong and rng.random() < 0.45:
        f = cv2.GaussianBlur(f, (0, 0), uniform(rng, 0.5, 1.4))
    elif strong and rng.random() < 0.15:
        k = randint(rng, 3, 7)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        f = cv2.filter2D(f, -1, kernel)
    f += rng.normal(0.0, uniform(rng, 1.0, 6.0), f.shape).astype(np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)
