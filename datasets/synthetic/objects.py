"""Labelled object patches: stalls (street and aerial), garbage piles, bins, signboards, construction.

Each function draws one object into a fresh :class:`~datasets.synthetic.canvas.Patch` from the caller's
generator. :data:`BOX_DRAWERS` draws an object of a detector class into a given box (the video timeline uses
it); its keys are the classes the generator can draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import cv2
import numpy as np

from datasets.synthetic.canvas import Color, Patch, Rng, blob, jitter, pick, randint, scale_color, uniform

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
BIN_COLORS: dict[str, Color] = {"green": (50, 125, 40), "blue": (150, 90, 25), "grey": (115, 115, 110)}
_SIGN_FILL: tuple[Color, ...] = (
    (35, 35, 190),
    (150, 70, 20),
    (235, 235, 235),
    (30, 200, 230),
    (50, 130, 40),
    (25, 25, 25),
    (20, 120, 220),
)
_BLUE_SHEET: tuple[Color, ...] = ((200, 140, 40), (185, 110, 30), (215, 160, 70), (170, 100, 20))


def street_stall(rng: Rng, w: float, h: float) -> tuple[Patch, dict[str, object]]:
    """A stall seen from the side: umbrella or striped awning, table with goods, maybe a vendor."""
    p = Patch(h, w)
    kind = "umbrella" if rng.random() < 0.5 else "awning"
    c1, c2 = pick(rng, _BRIGHT), pick(rng, _BRIGHT)
    table_top, table_h = 0.58 * h, 0.12 * h
    tx1, tx2 = 0.12 * w, 0.88 * w
    if kind == "umbrella":
        cx, ry, rx = w / 2, 0.25 * h, 0.48 * w
        p.line((cx, 0.3 * h), (cx, h - 1), (170, 170, 170), max(1, w * 0.02))
        n = randint(rng, 6, 10)
        for k in range(n):
            p.sector(cx, ry + 1, rx, ry, 180 + 180 * k / n, 180 + 180 * (k + 1) / n, c1 if k % 2 else c2)
        p.rect(cx - rx, ry, cx + rx, ry + max(1, 0.02 * h), scale_color(c1, 0.7))
    else:
        top, bot = 0.02 * h, 0.22 * h
        for x in (0.06 * w, 0.94 * w):
            p.line((x, bot), (x, h - 1), (150, 150, 150), max(1, w * 0.015))
        n = randint(rng, 4, 9)
        for k in range(n):
            xa, xb = w * k / n, w * (k + 1) / n
            p.poly(
                np.array([[xa + 0.04 * w * (1 - 2 * k / n), top], [xb, top], [xb, bot], [xa, bot]]),
                c1 if k % 2 else (235, 235, 235),
            )
            p.sector((xa + xb) / 2, bot, (xb - xa) / 2, 0.04 * h, 0, 180, c1 if k % 2 else (235, 235, 235))
    person = rng.random() < 0.45
    if person:  # the vendor stands behind the table
        px = uniform(rng, 0.2, 0.8) * w
        skin, shirt = jitter(rng, (120, 160, 200), 15), jitter(rng, pick(rng, _BRIGHT), 30)
        head = 0.05 * h
        p.circle(px, 0.33 * h, head, skin)
        p.circle(px, 0.33 * h - head * 0.4, head * 0.9, jitter(rng, (30, 30, 35), 8))
        p.circle(px, 0.33 * h + head * 0.15, head * 0.85, skin)
        p.rect(px - 0.07 * w, 0.33 * h + head, px + 0.07 * w, table_top + 0.05 * h, shirt)
    cloth = pick(rng, ((200, 200, 200), (60, 90, 140), (40, 40, 160), (140, 100, 60)))
    p.rect(tx1, table_top, tx2, table_top + table_h, cloth)
    if rng.random() < 0.5:
        p.rect(tx1, table_top, tx2, h - 1, scale_color(cloth, 0.85))
    else:
        for x in (tx1 + 2, tx2 - 2):
            p.line((x, table_top), (x, h - 1), (70, 70, 70), max(1, w * 0.015))
    for _ in range(randint(rng, 6, 22)):
        gx, gr = uniform(rng, tx1 + 2, tx2 - 2), max(1.0, uniform(rng, 0.015, 0.045) * w)
        p.circle(gx, table_top - gr * 0.6, gr, jitter(rng, pick(rng, _BRIGHT), 25))
    p.grain(rng, 6)
    return p, {"kind": kind, "person": person}


def aerial_stall(rng: Rng, size: float) -> tuple[Patch, dict[str, object]]:
    """A stall from above: a round/square umbrella with coloured segments, or a tarp."""
    kind = "umbrella" if rng.random() < 0.6 else "tarp"
    if kind == "umbrella":
        p = Patch(size, size)
        c1, c2 = pick(rng, _BRIGHT), pick(rng, _BRIGHT)
        n = randint(rng, 6, 10)
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
                    scale_color(c1, 0.6),
                    1,
                )
    else:
        w, h = size, size * uniform(rng, 0.6, 1.0)
        p = Patch(h, w)
        c = pick(rng, ((170, 110, 30), (40, 40, 200), (40, 160, 60), (220, 220, 220), (30, 140, 230)))
        p.rect(0, 0, w - 1, h - 1, c)
        for _ in range(randint(rng, 1, 3)):
            p.line((uniform(rng, 0, w), 0), (uniform(rng, 0, w), h - 1), scale_color(c, 0.75), 1)
        for _ in range(randint(rng, 3, 10)):
            p.circle(uniform(rng, 0, w), uniform(rng, 0, h), max(1, size * 0.05), pick(rng, _BRIGHT))
    p.grain(rng, 5)
    return p.rotated(uniform(rng, 0, 90)), {"kind": kind}


def garbage_pile(rng: Rng, w: float, h: float, aerial: bool = False) -> tuple[Patch, dict[str, object]]:
    """A pile of bags and debris: irregular polygons heaped into a mound (or scattered, from above)."""
    p = Patch(h, w)
    n = randint(rng, 8, 26)
    items: list[tuple[float, float, float, float, bool]] = []
    for _ in range(n):
        x = uniform(rng, 0.12, 0.88) * w
        bag = rng.random() < 0.55
        r = uniform(rng, 0.08, 0.2) * min(w, h * 1.6) if bag else uniform(rng, 0.04, 0.12) * min(w, h * 1.6)
        if aerial:
            y = float(np.clip(rng.normal(0.5, 0.18), 0.15, 0.85)) * h
        else:
            mound = max(0.0, 1.0 - ((x - w / 2) / (w / 2)) ** 2) * (h - r)
            y = h - r - uniform(rng, 0, mound)
        items.append((y, x, r, r, bag))
    items.sort(key=lambda it: it[0])
    for y, x, rx, ry, bag in items:
        if bag:
            _bag(rng, p, x, y, rx, ry * uniform(rng, 0.7, 1.0))
        elif rng.random() < 0.35:  # a flattened or crushed carton
            color = jitter(rng, (80, 135, 175), 15)
            box = cv2.boxPoints(
                ((x, y), (rx * uniform(rng, 1.5, 2.6), ry * uniform(rng, 0.9, 1.6)), uniform(rng, -40, 40))
            )
            p.poly(box, color)
            p.line(tuple(box[0]), tuple(box[2]), scale_color(color, 0.7), 1)
        else:
            color = jitter(rng, pick(rng, _DEBRIS), 15)
            p.poly(blob(rng, x, y, rx * uniform(rng, 0.8, 1.8), ry * 0.7, n=randint(rng, 3, 6), rough=0.45), color)
    p.grain(rng, 7)
    if aerial:
        p = p.rotated(uniform(rng, 0, 180))
    return p, {"items": n}


def _bag(rng: Rng, p: Patch, x: float, y: float, rx: float, ry: float) -> None:
    """A tied plastic bag: lumpy body, darker underside, a knot on top and a sheen line."""
    color = jitter(rng, pick(rng, _BAG), 10)
    p.poly(blob(rng, x, y, rx, ry, n=randint(rng, 8, 12), rough=0.18), color)
    p.sector(x, y + ry * 0.1, rx * 0.9, ry * 0.8, 10, 170, scale_color(color, 0.75))
    knot = np.array(
        [
            [x - rx * 0.18, y - ry * 0.8],
            [x + rx * 0.18, y - ry * 0.8],
            [x + rx * 0.05, y - ry * 1.2],
            [x - rx * 0.25, y - ry * 1.25],
        ]
    )
    p.poly(knot, scale_color(color, 0.9))
    hi = scale_color(color, 1.6) if sum(color) < 200 else scale_color(color, 0.82)
    p.line((x - rx * 0.5, y - ry * 0.2), (x - rx * 0.1, y - ry * 0.6), hi, max(1, rx * 0.12))


def garbage_bin(rng: Rng, w: float, h: float, color_name: str) -> Patch:
    """A wheeled bin with a lid, seen from the side."""
    p = Patch(h, w)
    body = jitter(rng, BIN_COLORS[color_name], 12)
    lid_h = max(1.0, 0.12 * h)
    p.poly(np.array([[0.04 * w, lid_h], [0.96 * w, lid_h], [0.88 * w, 0.93 * h], [0.12 * w, 0.93 * h]]), body)
    p.rect(0, 0, w - 1, lid_h, scale_color(body, 0.7))
    p.rect(0.2 * w, 0.25 * h, 0.28 * w, 0.85 * h, scale_color(body, 1.25))
    if rng.random() < 0.6:
        p.rect(0.4 * w, 0.35 * h, 0.75 * w, 0.55 * h, (225, 225, 225))
    for x in (0.22 * w, 0.78 * w):
        p.circle(x, 0.93 * h, max(1, 0.07 * h), (30, 30, 30))
    p.grain(rng, 5)
    return p


def _random_text(rng: Rng, n: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    return "".join(letters[int(rng.integers(len(letters)))] for _ in range(n))


def signboard(rng: Rng, w: float, h: float, damaged: bool) -> Patch:
    """A framed sign: fill colour, ASCII text (stripes when small); damaged = cut corner, cracks, rust."""
    p = Patch(h, w)
    fill = jitter(rng, pick(rng, _SIGN_FILL), 8)
    border = pick(rng, ((180, 180, 180), (40, 40, 40), (30, 200, 230), (235, 235, 235)))
    bt = max(1.0, min(w, h) * uniform(rng, 0.04, 0.1))
    p.rect(0, 0, w - 1, h - 1, border)
    p.rect(bt, bt, w - 1 - bt, h - 1 - bt, fill)
    ink = (240, 240, 240) if sum(fill) < 380 else pick(rng, ((30, 30, 180), (20, 20, 20), (140, 60, 20)))
    iw, ih = w - 2 * bt, h - 2 * bt
    vertical = ih > 1.6 * iw
    if min(iw, ih) >= 10 and not vertical:
        lines = 1 if ih < 2.2 * iw / 6 or rng.random() < 0.6 else 2
        for k in range(lines):
            text = _random_text(rng, randint(rng, 3, 10))
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
        cv2.circle(p.img, (int(bt + r * 1.2), int(h / 2)), int(r), pick(rng, _BRIGHT), -1, cv2.LINE_AA)
    if damaged:
        _damage(rng, p, w, h)
    p.grain(rng, 4)
    return p


def _damage(rng: Rng, p: Patch, w: float, h: float) -> None:
    """Cut away a corner, draw cracks and rust stains on a sign patch."""
    cx, cy = (0.0 if rng.random() < 0.5 else w - 1), (0.0 if rng.random() < 0.5 else h - 1)
    dx, dy = uniform(rng, 0.15, 0.45) * w, uniform(rng, 0.25, 0.7) * h
    sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
    tri = np.array([[cx, cy], [cx + sx * dx, cy], [cx + sx * dx * 0.4, cy + sy * dy * 0.5], [cx, cy + sy * dy]])
    cv2.fillPoly(p.alpha, [tri.astype(np.int32)], 0)
    cv2.fillPoly(p.img, [tri.astype(np.int32)], (0, 0, 0))
    for _ in range(randint(rng, 1, 4)):
        pts = [(uniform(rng, 0, w), uniform(rng, 0, h))]
        for _ in range(randint(rng, 3, 7)):
            pts.append((pts[-1][0] + rng.normal(0, w * 0.08), pts[-1][1] + rng.normal(0, h * 0.15)))
        arr = np.array(pts, np.int32)
        cv2.polylines(p.img, [arr], False, (25, 25, 25), max(1, int(min(w, h) * 0.02)), cv2.LINE_AA)
    for _ in range(randint(rng, 0, 3)):
        stain = np.zeros((p.h, p.w), np.uint8)
        cv2.fillPoly(stain, [blob(rng, uniform(rng, 0, w), uniform(rng, 0, h), w * 0.1, h * 0.2)], 255)
        m = (stain > 0)[:, :, None]
        rust = np.array((40, 70, 120), np.float32)
        p.img = np.where(m, (p.img.astype(np.float32) * 0.4 + rust * 0.6).astype(np.uint8), p.img)


def construction(rng: Rng, w: float, h: float) -> tuple[Patch, dict[str, object]]:
    """From above: a blue corrugated steel-sheet roof, or scaffolding (pipe grid, often green netting)."""
    p = Patch(h, w)
    kind = "blue_roof" if rng.random() < 0.65 else "scaffolding"
    if kind == "blue_roof":
        base = jitter(rng, pick(rng, _BLUE_SHEET), 10)
        p.rect(0, 0, w - 1, h - 1, base)
        step = uniform(rng, 2.5, 5.0)
        along_w = rng.random() < 0.5
        n = int((w if along_w else h) / step)
        for k in range(n):
            c = scale_color(base, 1.18 if k % 2 else 0.82)
            if along_w:
                p.line((k * step, 0), (k * step, h - 1), c, 1)
            else:
                p.line((0, k * step), (w - 1, k * step), c, 1)
        if rng.random() < 0.6:
            if along_w:
                p.line((0, h / 2), (w - 1, h / 2), scale_color(base, 0.6), max(1, h * 0.03))
            else:
                p.line((w / 2, 0), (w / 2, h - 1), scale_color(base, 0.6), max(1, w * 0.03))
        for _ in range(randint(rng, 0, 2)):
            x, y = uniform(rng, 0, w * 0.8), uniform(rng, 0, h * 0.8)
            p.rect(x, y, x + w * 0.2, y + h * 0.15, jitter(rng, (190, 190, 185), 15))
    else:
        net = rng.random() < 0.6
        base = jitter(rng, (70, 150, 60) if net else (130, 135, 140), 12)
        p.rect(0, 0, w - 1, h - 1, base)
        if not net:
            for _ in range(randint(rng, 2, 6)):
                x, y = uniform(rng, 0, w * 0.8), uniform(rng, 0, h * 0.8)
                p.rect(
                    x,
                    y,
                    x + uniform(rng, 0.1, 0.3) * w,
                    y + uniform(rng, 0.1, 0.3) * h,
                    jitter(rng, (100, 110, 120), 15),
                )
        pipe = pick(rng, ((200, 200, 200), (60, 140, 220), (170, 170, 160)))
        step = uniform(rng, 4.0, 9.0)
        for k in range(int(w / step) + 1):
            p.line((k * step, 0), (k * step, h - 1), pipe, 1)
        for k in range(int(h / step) + 1):
            p.line((0, k * step), (w - 1, k * step), pipe, 1)
        cv2.rectangle(p.img, (0, 0), (p.w - 1, p.h - 1), pipe, max(1, int(min(w, h) * 0.04)))
    p.grain(rng, 5)
    return p.rotated(uniform(rng, -25, 25) if rng.random() < 0.7 else uniform(rng, -90, 90)), {"kind": kind}


# --------------------------------------------------------------------------------------------- by class
Drawn = tuple[Patch, dict[str, object]]
BoxDrawer = Callable[[Rng, float, float, Mapping[str, object], float], Drawn]
"""Draws an object of one class in a ``w x h`` box: ``(rng, w, h, attrs, tilt_deg) -> (patch, attrs)``."""


def _stall_in_box(rng: Rng, w: float, h: float, attrs: Mapping[str, object], tilt: float) -> Drawn:
    return street_stall(rng, w, h)


def _garbage_in_box(rng: Rng, w: float, h: float, attrs: Mapping[str, object], tilt: float) -> Drawn:
    return garbage_pile(rng, w, h)


def _bin_in_box(rng: Rng, w: float, h: float, attrs: Mapping[str, object], tilt: float) -> Drawn:
    return garbage_bin(rng, w, h, str(attrs.get("color", "green"))), {}


def _sign_in_box(rng: Rng, w: float, h: float, attrs: Mapping[str, object], tilt: float) -> Drawn:
    damaged = bool(attrs.get("damaged", False))
    return signboard(rng, w, h, damaged).rotated(tilt), {"tilt_deg": round(tilt, 2), "damaged": damaged}


def _construction_in_box(rng: Rng, w: float, h: float, attrs: Mapping[str, object], tilt: float) -> Drawn:
    return construction(rng, w, h)


BOX_DRAWERS: dict[str, BoxDrawer] = {
    "stall": _stall_in_box,
    "garbage": _garbage_in_box,
    "garbage_bin": _bin_in_box,
    "signboard": _sign_in_box,
    "construction": _construction_in_box,
}
"""The detector classes the generator draws (which ids they get is the taxonomy's business: see ``labels``)."""
