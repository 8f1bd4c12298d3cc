"""Aerial (nadir drone) scenes: ground, grass, roads, roofs and trees, with construction, stalls and garbage."""

from __future__ import annotations

import math

import cv2
import numpy as np

from datasets.synthetic.canvas import (
    Canvas,
    Color,
    Patch,
    Rng,
    blob,
    jitter,
    pick,
    randint,
    scale_color,
    texture,
    uniform,
)
from datasets.synthetic.objects import aerial_stall, construction, garbage_pile

_ROOF: tuple[Color, ...] = (
    (150, 150, 148),
    (105, 105, 105),
    (60, 70, 160),
    (70, 95, 130),
    (200, 200, 195),
    (120, 130, 140),
)


def _aerial_background(
    rng: Rng,
    w: int,
    h: int,
    k: float,
) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """Ground, grass, roads and roofs (``k`` = pixel scale). Returns the image and the boxes roofs occupy."""
    ground = pick(rng, ((120, 150, 160), (110, 140, 130), (150, 160, 165), (90, 130, 120)))
    img = texture(rng, h, w, ground, 14, 40)
    if rng.random() < 0.6:  # grass patches
        for _ in range(randint(rng, 1, 4)):
            m = np.zeros((h, w), np.uint8)
            outline = blob(
                rng, uniform(rng, 0, w), uniform(rng, 0, h), uniform(rng, 40, 150) * k, uniform(rng, 40, 150) * k
            )
            cv2.fillPoly(m, [outline], 255)
            grass = texture(rng, h, w, jitter(rng, (70, 130, 90), 10), 12, 10)
            img = np.where((m > 0)[:, :, None], grass, img)
    angle = uniform(rng, 0, 180)
    for _ in range(randint(rng, 1, 3)):
        _road(rng, img, angle + float(rng.choice([0.0, 90.0])), k)
    occupied: list[tuple[float, float, float, float]] = []
    canvas = Canvas(img)
    sun = (uniform(rng, -1, 1), uniform(rng, 0.3, 1))
    for _ in range(randint(rng, 2, 9)):
        rw, rh = uniform(rng, 35, 140) * k, uniform(rng, 30, 110) * k
        x, y = uniform(rng, -rw * 0.3, w - rw * 0.7), uniform(rng, -rh * 0.3, h - rh * 0.7)
        roof = _roof(rng, rw, rh).rotated(angle % 90 + uniform(rng, -4, 4))
        canvas.shadow(roof, x, y, sun[0] * rw * 0.12, sun[1] * rh * 0.12, 0.45)
        canvas.paste(roof, x, y)
        occupied.append((x, y, x + roof.w, y + roof.h))
    return canvas.image, occupied


def _road(rng: Rng, img: np.ndarray, angle: float, k: float) -> None:
    """A straight asphalt road through (most of) the image, with kerbs and a dashed centre line."""
    h, w = img.shape[:2]
    cx, cy = uniform(rng, 0.1, 0.9) * w, uniform(rng, 0.1, 0.9) * h
    d = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
    length = 2 * (w + h)
    p1 = (int(cx - d[0] * length), int(cy - d[1] * length))
    p2 = (int(cx + d[0] * length), int(cy + d[1] * length))
    width = max(3, int(uniform(rng, 18, 55) * k))
    cv2.line(img, p1, p2, jitter(rng, (80, 82, 85), 6), width)
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


def _roof(rng: Rng, w: float, h: float) -> Patch:
    """A plain roof from above: flat with parapet and rooftop units, or pitched with a ridge."""
    p = Patch(h, w)
    c = jitter(rng, pick(rng, _ROOF), 10)
    p.rect(0, 0, w - 1, h - 1, c)
    if rng.random() < 0.5:
        p.rect(0, 0, w - 1, h / 2, scale_color(c, 1.12))
        p.line((0, h / 2), (w - 1, h / 2), scale_color(c, 0.7), max(1, h * 0.03))
    else:
        cv2.rectangle(p.img, (0, 0), (p.w - 1, p.h - 1), scale_color(c, 0.75), max(1, int(min(w, h) * 0.05)))
        for _ in range(randint(rng, 0, 4)):
            x, y = uniform(rng, 0.1, 0.8) * w, uniform(rng, 0.1, 0.8) * h
            if rng.random() < 0.5:
                p.rect(x, y, x + uniform(rng, 4, 10), y + uniform(rng, 4, 8), (210, 210, 205))
            else:
                p.circle(x, y, uniform(rng, 3, 6), (190, 190, 190))
    p.grain(rng, 4)
    return p


def _tree(rng: Rng, r: float) -> Patch:
    p = Patch(2 * r + 2, 2 * r + 2)
    base = jitter(rng, (50, 110, 60), 12)
    for _ in range(randint(rng, 5, 12)):
        a, d = uniform(rng, 0, 2 * math.pi), uniform(rng, 0, r * 0.5)
        p.circle(
            r + 1 + d * math.cos(a),
            r + 1 + d * math.sin(a),
            r * uniform(rng, 0.35, 0.55),
            scale_color(base, uniform(rng, 0.75, 1.25)),
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
        x, y = uniform(rng, -0.1 * bw, w - 0.9 * bw), uniform(rng, -0.1 * bh, h - 0.9 * bh)
        ov = sum(
            max(0.0, min(x + bw, b[2]) - max(x, b[0])) * max(0.0, min(y + bh, b[3]) - max(y, b[1])) for b in occupied
        )
        if ov < best_overlap:
            best, best_overlap = (x, y), ov
        if ov == 0:
            break
    return best


def aerial_scene(rng: Rng, w: int, h: int) -> Canvas:
    k = min(w / 640.0, h / 480.0) * uniform(rng, 0.7, 1.4)  # ground sampling distance varies between flights
    img, occupied = _aerial_background(rng, w, h, k)
    canvas = Canvas(img)
    sun = (uniform(rng, -1, 1), uniform(rng, 0.3, 1))
    items: list[tuple[Patch, str | None, dict[str, object], float]] = []
    for _ in range(randint(rng, 0, 3) + (1 if rng.random() < 0.7 else 0)):
        p, a = construction(rng, uniform(rng, 30, 140) * k, uniform(rng, 25, 110) * k)
        items.append((p, "construction", a, 0.4))
    for _ in range(randint(rng, 0, 5)):
        p, a = aerial_stall(rng, uniform(rng, 9, 34) * k)
        items.append((p, "stall", a, 0.35))
    for _ in range(randint(rng, 0, 3)):
        gw = uniform(rng, 10, 55) * k
        p, a = garbage_pile(rng, gw, gw * uniform(rng, 0.6, 1.0), aerial=True)
        items.append((p, "garbage", {**a, "overflow": False}, 0.15))
    for _ in range(randint(rng, 2, 12)):
        items.append((_tree(rng, uniform(rng, 6, 22) * k), None, {}, 0.4))
    order = rng.permutation(len(items))
    for idx in order:
        patch, name, attrs, shade = items[int(idx)]
        x, y = _free_spot(rng, w, h, patch.w, patch.h, occupied)
        canvas.shadow(patch, x, y, sun[0] * patch.w * 0.15, sun[1] * patch.h * 0.15, shade)
        canvas.paste(patch, x, y, name, attrs)
        occupied.append((x, y, x + patch.w, y + patch.h))
    return canvas
