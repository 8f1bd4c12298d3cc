"""One synthetic still scene of a view ("street" or "aerial") from a seed, and a preview for humans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from datasets.synthetic.aerial import aerial_scene
from datasets.synthetic.canvas import Color, SceneObject, photometric
from datasets.synthetic.street import street_scene

View = Literal["street", "aerial"]


@dataclass(frozen=True)
class Scene:
    """A generated BGR uint8 image (H x W x 3) with its ground-truth objects."""

    image: np.ndarray
    objects: tuple[SceneObject, ...]


def generate_scene(view: View, seed: int, size: tuple[int, int] = (640, 480)) -> Scene:
    """One synthetic scene of ``view`` ("street" or "aerial") of ``size`` = (width, height), from ``seed``."""
    w, h = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    if view == "street":
        canvas = street_scene(rng, w, h)
    elif view == "aerial":
        canvas = aerial_scene(rng, w, h)
    else:
        raise ValueError(f"view must be 'street' or 'aerial', got {view!r}")
    image = photometric(rng, canvas.image)
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
