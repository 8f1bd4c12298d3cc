"""Synthetic videos: a fixed street background with objects appearing, staying, tilting and vanishing.

A :class:`TimelineItem` says what is drawn where and when; :func:`render_frame` composes the frame at a time
and :func:`generate_video` writes the frames as an MP4, for testing dwell / transient / change rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from datasets.synthetic.canvas import Canvas, Patch, SceneObject, photometric, uniform
from datasets.synthetic.objects import BOX_DRAWERS
from datasets.synthetic.street import draw_street_background


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


def street_background(seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The fixed, object-free street background a video of ``seed`` uses."""
    rng = np.random.default_rng(seed)
    img, _ = draw_street_background(rng, int(size[0]), int(size[1]), uniform(rng, 0.8, 1.3) * size[0] / 640.0)
    return photometric(rng, img, strong=False)


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


def _item_patch(item: TimelineItem, index: int, t: float) -> tuple[Patch, dict[str, object]]:
    """The patch of a timeline item at time t (same look every frame)."""
    rng = np.random.default_rng(_item_seed(item, index))
    x1, y1, x2, y2 = item.xyxy
    w, h = max(2.0, x2 - x1), max(2.0, y2 - y1)
    draw = BOX_DRAWERS.get(item.class_name)
    if draw is None:
        raise ValueError(f"unknown class {item.class_name!r}; expected one of {tuple(BOX_DRAWERS)}")
    return draw(rng, w, h, item.attrs, _item_tilt(item, t))


def render_frame(
    background: np.ndarray,
    timeline: Sequence[TimelineItem],
    t: float,
) -> tuple[np.ndarray, tuple[SceneObject, ...]]:
    """Draw the items of ``timeline`` visible at ``t`` over ``background``; returns (BGR image, objects)."""
    canvas = Canvas(background.copy())
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
    _, layout = draw_street_background(rng, w, h, uniform(rng, 0.8, 1.3) * w / 640.0)
    rng = np.random.default_rng([seed, 1])
    d, z = float(duration_s), layout.zoom
    ground = (layout.y_base + layout.y_curb) / 2 + uniform(rng, 0, (h - layout.y_curb) * 0.4)
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
            round(uniform(rng, 0.1, 0.3) * d, 2),
            None,
            {"seed": int(rng.integers(1 << 30))},
        ),
        TimelineItem(
            "garbage",
            box(0.55 * w, ground + 10 * z, gw, gw * 0.55),
            round(uniform(rng, 0.2, 0.5) * d, 2),
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
    t0 = round(uniform(rng, 0.3, 0.7) * d, 2)
    items.append(
        TimelineItem(
            "stall",
            box(0.87 * w, ground, sw * 0.7, sw * 0.8),
            t0,
            round(t0 + uniform(rng, 0.8, 1.5), 2),
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
