"""Street-camera scenes: a row of facades above a sidewalk and a road, with signs, stalls, piles and bins.

A global zoom makes objects range from far and tiny (10-20 px) to close and large; a mild keystone warp
stands for the camera's yaw and pitch. Facades, windows and shop fronts are context, never labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthetic.canvas import Canvas, Color, Rng, jitter, pick, randint, scale_color, texture, uniform
from datasets.synthetic.objects import BIN_COLORS, garbage_bin, garbage_pile, signboard, street_stall

_FACADE: tuple[Color, ...] = (
    (170, 190, 205),
    (150, 150, 150),
    (70, 80, 150),
    (210, 215, 215),
    (140, 190, 210),
    (120, 135, 150),
)


@dataclass(frozen=True)
class StreetLayout:
    """Where things can go in a street background."""

    y_base: int  # facade meets sidewalk
    y_curb: int  # sidewalk meets road
    shop_band: tuple[int, int]  # y range of the storefront sign band
    zoom: float


def draw_street_background(rng: Rng, w: int, h: int, zoom: float) -> tuple[np.ndarray, StreetLayout]:
    """Sky, facades with windows and shop fronts, sidewalk, road with markings. Nothing is labelled."""
    y_base = int(h * uniform(rng, 0.45, 0.62))
    y_curb = min(h - 10, y_base + int(h * uniform(rng, 0.12, 0.22)))
    sky_top = jitter(rng, (235, 200, 160), 15)
    sky = np.linspace(np.array(sky_top, np.float32), np.array((245, 230, 215), np.float32), h)[:, None, :]
    img = np.repeat(sky, w, axis=1).astype(np.uint8)
    img[y_base:y_curb] = texture(rng, y_curb - y_base, w, jitter(rng, (150, 160, 165), 12), 10, 20)
    img[y_curb:] = texture(rng, h - y_curb, w, jitter(rng, (85, 85, 88), 8), 8, 30)
    # sidewalk tiles and curb
    tile = max(4, int(30 * zoom))
    for x in range(-int(rng.integers(tile)), w, tile):
        cv2.line(img, (x, y_base), (x - int(tile * 0.6), y_curb), (125, 130, 135), 1)
    cv2.rectangle(img, (0, y_curb - max(1, int(4 * zoom))), (w, y_curb), (180, 185, 185), -1)
    # lane markings
    lane_y = y_curb + int((h - y_curb) * uniform(rng, 0.4, 0.7))
    dash = max(6, int(60 * zoom))
    for x in range(-int(rng.integers(dash)), w, dash * 2):
        cv2.rectangle(img, (x, lane_y), (x + dash, lane_y + max(1, int(5 * zoom))), (220, 220, 220), -1)
    x = -int(uniform(rng, 0, 150) * zoom)
    shop_h = max(6, int(uniform(rng, 70, 100) * zoom))
    band_h = max(3, int(uniform(rng, 25, 45) * zoom))
    while x < w:
        bw = max(20, int(uniform(rng, 160, 420) * zoom))
        top = int(y_base - uniform(rng, 180, 480) * zoom)
        _facade(rng, img, x, max(top, -1), min(w, x + bw), y_base, shop_h, band_h, zoom)
        x += bw + int(uniform(rng, 0, 30) * zoom)
    band = (y_base - shop_h - band_h, y_base - shop_h)
    return img, StreetLayout(y_base, y_curb, band, zoom)


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
    wall = jitter(rng, pick(rng, _FACADE), 10)
    img[ya:y2, xa:x2] = texture(rng, y2 - ya, x2 - xa, wall, 7, 15)
    cv2.line(img, (x1, ya), (x1, y2), scale_color(wall, 0.7), max(1, int(2 * zoom)))
    ww, wh = max(3, int(uniform(rng, 25, 45) * zoom)), max(4, int(uniform(rng, 35, 60) * zoom))
    gx, gy = ww + max(2, int(uniform(rng, 15, 40) * zoom)), wh + max(3, int(uniform(rng, 25, 45) * zoom))
    glass = jitter(rng, (110, 95, 80), 15)
    frame = pick(rng, ((230, 230, 230), (60, 60, 60), (150, 150, 150)))
    top_floor = y2 - shop_h - band_h - gy
    for wy in range(top_floor, y1 + wh // 2, -gy):
        for wx in range(x1 + gx // 2, x2 - ww, gx):
            lit = scale_color(glass, uniform(rng, 0.8, 1.5))
            cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), frame, -1)
            cv2.rectangle(img, (wx + 1, wy + 1), (wx + ww - 1, wy + wh - 1), lit, -1)
            if ww > 10:
                cv2.line(img, (wx + ww // 2, wy), (wx + ww // 2, wy + wh), frame, 1)
            if rng.random() < 0.15 and ww > 8:  # air conditioner unit
                cv2.rectangle(img, (wx, wy + wh + 2), (wx + ww * 2 // 3, wy + wh + 2 + wh // 3), (215, 215, 210), -1)
    # storefront: glass, a door, a roller shutter sometimes
    sy = y2 - shop_h
    cv2.rectangle(img, (x1 + 3, sy), (x2 - 3, y2), scale_color(glass, 0.8), -1)
    if rng.random() < 0.3:
        for yy in range(sy, y2, max(2, int(4 * zoom))):
            cv2.line(img, (x1 + 3, yy), (x2 - 3, yy), (150, 150, 150), 1)
    dw = max(3, int(uniform(rng, 30, 50) * zoom))
    dx = int(uniform(rng, x1 + 5, max(x1 + 6, x2 - dw - 5)))
    cv2.rectangle(img, (dx, y2 - int(shop_h * 0.9)), (dx + dw, y2), (50, 45, 40), -1)
    cv2.rectangle(img, (x1, sy - band_h), (x2, sy), scale_color(wall, 0.85), -1)


def _sign_box(rng: Rng, layout: StreetLayout, w: int, h: int) -> tuple[float, float, float, float, str]:
    """A sign placement (x, y, width, height, kind) on the facades."""
    z = layout.zoom
    r = rng.random()
    if r < 0.12:  # close-up: a big sign filling a large part of the frame
        sw = uniform(rng, 0.45, 0.9) * w
        sh = sw * uniform(rng, 0.25, 0.6)
        return (
            uniform(rng, -0.05 * w, w - sw * 0.9),
            uniform(rng, 0.02 * h, max(0.03 * h, layout.y_base - sh)),
            sw,
            sh,
            "closeup",
        )
    if r < 0.6:
        sw = uniform(rng, 90, 280) * z
        sh = min(sw * uniform(rng, 0.18, 0.35), (layout.shop_band[1] - layout.shop_band[0]) * 1.2 + 3)
        return (
            uniform(rng, -0.05 * sw, w - sw * 0.95),
            layout.shop_band[0] + uniform(rng, -0.1, 0.1) * sh,
            sw,
            sh,
            "shop",
        )
    if r < 0.8:
        sh = uniform(rng, 80, 220) * z
        sw = sh * uniform(rng, 0.25, 0.4)
        return uniform(rng, 0, w - sw), layout.shop_band[0] - sh - uniform(rng, 0, 60) * z, sw, sh, "vertical"
    sw = uniform(rng, 120, 320) * z
    sh = sw * uniform(rng, 0.35, 0.6)
    return uniform(rng, 0, w - sw), layout.shop_band[0] - sh - uniform(rng, 20, 200) * z, sw, sh, "billboard"


def _sign_variant(rng: Rng) -> tuple[float, bool]:
    """(tilt_deg, damaged) for a random sign: upright, tilted 5-30 deg, damaged, or both."""
    r = rng.random()
    tilt = float(rng.choice([-1.0, 1.0])) * uniform(rng, 5, 30) if r < 0.35 or r > 0.85 else 0.0
    damaged = 0.6 < r
    return round(tilt, 2), bool(damaged)


def _place_street_sign(rng: Rng, canvas: Canvas, layout: StreetLayout) -> None:
    x, y, sw, sh, kind = _sign_box(rng, layout, canvas.w, canvas.h)
    tilt, damaged = _sign_variant(rng)
    patch = signboard(rng, sw, sh, damaged).rotated(tilt)
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


def _ground_y(rng: Rng, layout: StreetLayout, h: int, on_road: float) -> float:
    """A y for an object's bottom edge: on the sidewalk, or (with probability ``on_road``) on the road."""
    y_max = layout.y_curb + (h - layout.y_curb) * (0.9 if rng.random() < on_road else 0.05)
    return uniform(rng, layout.y_base + 3, max(layout.y_base + 4, y_max))


def _place_street_ground(rng: Rng, canvas: Canvas, layout: StreetLayout, kind: str, yb: float) -> None:
    """Stand a stall, pile or bin on the ground line ``yb`` (lower in the frame = closer = bigger)."""
    w, h = canvas.w, canvas.h
    s = layout.zoom * (1.0 + 1.2 * (yb - layout.y_base) / max(1, h - layout.y_base))
    if kind == "stall":
        sw = uniform(rng, 90, 170) * s
        patch, attrs = street_stall(rng, sw, sw * uniform(rng, 0.9, 1.3))
        x = uniform(rng, -0.1 * sw, w - 0.9 * sw)
        canvas.shadow(patch, x, yb - patch.h, patch.w * 0.15, 0, 0.0)
        canvas.paste(patch, x, yb - patch.h, "stall", attrs)
    elif kind == "garbage":
        gw = uniform(rng, 40, 140) * s
        patch, attrs = garbage_pile(rng, gw, gw * uniform(rng, 0.4, 0.7))
        canvas.paste(
            patch, uniform(rng, -0.1 * gw, w - 0.9 * gw), yb - patch.h, "garbage", {**attrs, "overflow": False}
        )
    else:
        _place_bin(rng, canvas, uniform(rng, 30, 50) * s, yb, overflow=rng.random() < 0.45)


def _place_bin(rng: Rng, canvas: Canvas, bw: float, yb: float, overflow: bool) -> None:
    """A bin standing on y=yb; an overflowing one gets a garbage pile heaped over its lid (two labels)."""
    color = str(rng.choice(list(BIN_COLORS)))
    bh = bw * uniform(rng, 1.25, 1.5)
    x = uniform(rng, 0, canvas.w - bw)
    canvas.paste(garbage_bin(rng, bw, bh, color), x, yb - bh, "garbage_bin", {"overflow": overflow, "color": color})
    if overflow:
        pw = bw * uniform(rng, 1.1, 1.6)
        pile, attrs = garbage_pile(rng, pw, pw * uniform(rng, 0.45, 0.7))
        canvas.paste(
            pile,
            x + bw / 2 - pw / 2,
            yb - bh - pile.h * 0.65,
            "garbage",
            {**attrs, "overflow": True, "on_bin": True},
        )


def street_scene(rng: Rng, w: int, h: int) -> Canvas:
    zoom = float(math.exp(uniform(rng, math.log(0.22), math.log(2.0)))) * w / 640.0
    img, layout = draw_street_background(rng, w, h, zoom)
    canvas = Canvas(img)
    for _ in range(randint(rng, 1, 4 if zoom > 1 else 7)):
        _place_street_sign(rng, canvas, layout)
    kinds = ["stall"] * randint(rng, 0, 3) + ["garbage"] * randint(rng, 0, 3) + ["garbage_bin"] * randint(rng, 0, 3)
    if zoom < 0.6:
        kinds += ["stall", "garbage_bin", "garbage"] * randint(rng, 0, 2)
    ground = [(_ground_y(rng, layout, h, on_road=0.35), kind) for kind in kinds]
    for yb, kind in sorted(ground):
        _place_street_ground(rng, canvas, layout, kind, yb)
    _building_shadow(rng, canvas.image, layout)
    if rng.random() < 0.7:
        canvas.warp(_keystone(rng, w, h))
    return canvas


def _keystone(rng: Rng, w: int, h: int) -> np.ndarray:
    """A mild perspective (camera yaw/pitch) homography whose output is fully covered by the source image."""
    inset = [(uniform(rng, 0, 0.1) * w, uniform(rng, 0, 0.08) * h) for _ in range(4)]
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


def _building_shadow(rng: Rng, img: np.ndarray, layout: StreetLayout) -> None:
    """A soft diagonal shadow cast across part of the scene."""
    if rng.random() < 0.4:
        return
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    x0 = uniform(rng, -0.3, 0.8) * w
    pts = np.array(
        [
            [x0, 0],
            [x0 + uniform(rng, 0.2, 0.6) * w, 0],
            [x0 + uniform(rng, 0.0, 0.7) * w, h],
            [x0 - uniform(rng, 0.2, 0.5) * w, h],
        ],
        np.int32,
    )
    cv2.fillPoly(mask, [pts], 255)
    soft = cv2.GaussianBlur(mask, (0, 0), 6).astype(np.float32) / 255.0
    dark = 1.0 - uniform(rng, 0.2, 0.45) * soft
    img[:] = (img.astype(np.float32) * dark[:, :, None]).astype(np.uint8)
