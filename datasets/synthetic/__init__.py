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

``write_yolo_dataset`` writes an Ultralytics layout (plus ``data.yaml``) whose class ids follow the taxonomy;
``generate_video`` and ``render_frame`` render a fixed street background with objects appearing, staying,
tilting and vanishing on a timeline, for testing dwell / transient / change rules.

Modules, one job each: ``canvas`` (drawing primitives, noise, lighting), ``objects`` (stalls, garbage, bins,
signs, construction), ``street`` and ``aerial`` (the two views), ``scenes`` (a still scene from a seed),
``video`` (timelines, frames, MP4 writing), ``labels`` (YOLO labels, dataset layout, class ids).
"""

from __future__ import annotations

from datasets.synthetic.canvas import SceneObject
from datasets.synthetic.labels import CLASS_NAMES, MIN_BOX_PX, taxonomy_class_names, write_yolo_dataset, yolo_lines
from datasets.synthetic.scenes import Scene, View, draw_objects_preview, generate_scene
from datasets.synthetic.video import TimelineItem, default_timeline, generate_video, render_frame, street_background

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
    "taxonomy_class_names",
    "write_yolo_dataset",
    "yolo_lines",
]
