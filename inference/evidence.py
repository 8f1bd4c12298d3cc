"""Evidence pictures: the frame with the problem's box drawn, and a crop around it."""

from __future__ import annotations

import cv2
import numpy as np

from inference.detections import Detections

# BGR colours per category; context classes are grey
COLOURS = {
    "street_stall": (0, 165, 255),
    "garbage": (0, 200, 0),
    "illegal_construction": (255, 80, 0),
    "billboard_hazard": (200, 0, 200),
    None: (160, 160, 160),
}


def annotate(
    image: np.ndarray, detections: Detections, categories: list[str | None], highlight: int | None = None
) -> np.ndarray:
    """A copy of `image` with every box drawn; the `highlight` index thicker. Labels are ASCII (Hershey fonts)."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 900)
    for i, (box, conf, name) in enumerate(
        zip(detections.xyxy, detections.confidence, detections.class_name, strict=True)
    ):
        colour = COLOURS.get(categories[i], COLOURS[None])
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        thick = max(2, int(3 * scale)) * (2 if i == highlight else 1)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        label = f"{name} {conf:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale * 1.4, 1)
        ty = max(th + 4, y1)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty), colour, -1)
        cv2.putText(
            out,
            label,
            (x1 + 2, ty - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * scale * 1.4,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def crop(image: np.ndarray, box: np.ndarray, pad: float = 0.25, min_side: int = 32) -> np.ndarray:
    """The box plus `pad` of its size on each side, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = max(x2 - x1, min_side), max(y2 - y1, min_side)
    cx1, cy1 = int(max(0, x1 - pad * bw)), int(max(0, y1 - pad * bh))
    cx2, cy2 = int(min(w, x2 + pad * bw)), int(min(h, y2 + pad * bh))
    if cx2 <= cx1 or cy2 <= cy1:
        return image.copy()
    return image[cy1:cy2, cx1:cx2].copy()
