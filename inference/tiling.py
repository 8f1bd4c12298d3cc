"""Sliced inference for large images (drone photos, orthomosaic tiles): tiles → one batched detector call → merge.

SAHI's idea (detect small objects by running the model on overlapping slices) with two differences that
make it cheaper: all slices of an image (and of several images) go through the detector as batches instead
of one call per slice, and the merge is one class-aware NMS over the shifted boxes (torchvision), not a
Python loop. An optional full-image pass keeps objects larger than a tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms

from inference.detections import Detections
from inference.detector import DetectorLike
from inference.frame import Frame


@dataclass(frozen=True)
class TileSpec:
    size: int = 640  # tile side in pixels
    overlap: float = 0.2  # fraction of the tile shared with its neighbour
    full_image: bool = True  # also run the whole image once (large objects)
    merge_iou: float = 0.5  # NMS IoU when merging boxes from overlapping tiles
    edge_margin: int = 2  # a box this close to an inner tile border counts as cut by it
    contain_ios: float = 0.7  # a box this much inside a surer box of its class is a piece of it

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"tile size must be >= 32 px, got {self.size}")
        if not 0 <= self.overlap < 0.9:
            raise ValueError(f"tile overlap must be in [0, 0.9), got {self.overlap}")


def tile_origins(length: int, size: int, overlap: float) -> list[int]:
    """Start offsets covering [0, length) with tiles of `size` overlapping by `overlap` (last tile flush)."""
    if length <= size:
        return [0]
    step = max(1, int(size * (1 - overlap)))
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return starts


def tiles_of(frame: Frame, spec: TileSpec) -> list[tuple[int, int, Frame]]:
    """(x0, y0, tile frame) for every tile of `frame`."""
    out = []
    for y0 in tile_origins(frame.height, spec.size, spec.overlap):
        for x0 in tile_origins(frame.width, spec.size, spec.overlap):
            img = np.ascontiguousarray(frame.image[y0 : y0 + spec.size, x0 : x0 + spec.size])
            out.append((x0, y0, Frame(img, frame.source_id, frame.timestamp, frame.index, frame.uri, frame.geo)))
    return out


def _cut_by_inner_border(
    xyxy: np.ndarray, x0: int, y0: int, tw: int, th: int, w: int, h: int, margin: int, overlap_px: int
) -> np.ndarray:
    """Boxes cut by an inner tile border that the neighbour across that border sees whole.

    A box touching the left border of a tile, say, lies whole in the left neighbour only if it ends within
    the overlap; a longer one is a piece of an object no tile holds whole, and is kept for the merge.
    """
    left = (xyxy[:, 0] <= x0 + margin) & (x0 > 0) & (xyxy[:, 2] < x0 + overlap_px)
    top = (xyxy[:, 1] <= y0 + margin) & (y0 > 0) & (xyxy[:, 3] < y0 + overlap_px)
    right = (xyxy[:, 2] >= x0 + tw - margin) & (x0 + tw < w) & (xyxy[:, 0] > x0 + tw - overlap_px)
    bottom = (xyxy[:, 3] >= y0 + th - margin) & (y0 + th < h) & (xyxy[:, 1] > y0 + th - overlap_px)
    return left | top | right | bottom


def _contained(xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, ios: float) -> np.ndarray:
    """Mask of boxes lying mostly (intersection / own area ≥ `ios`) inside a surer box of the same class:
    the pieces of an object that tile borders cut, once a whole box of it exists."""
    area = np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1e-6)
    order = np.lexsort((-area, -conf))  # surest first; on a tie, the larger box
    keep = np.ones(len(xyxy), bool)
    for rank, i in enumerate(order):
        if not keep[i]:
            continue
        for j in order[rank + 1 :]:
            if not keep[j] or cls[j] != cls[i]:
                continue
            iw = min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0])
            ih = min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1])
            if iw > 0 and ih > 0 and iw * ih / area[j] >= ios:
                keep[j] = False
    return ~keep


class TiledDetector:
    """Wraps a detector: `predict(frames)` slices each frame, batches all slices, merges per frame."""

    def __init__(self, detector: DetectorLike, spec: TileSpec | None = None):
        self.detector = detector
        self.spec = spec or TileSpec()

    @property
    def version(self) -> str:
        return self.detector.version

    def predict(self, frames: Sequence[Frame]) -> list[Detections]:
        jobs: list[tuple[int, int, int, Frame, bool]] = []  # frame index, x0, y0, tile, is_tile
        for i, frame in enumerate(frames):
            tiles = tiles_of(frame, self.spec)
            jobs.extend((i, x0, y0, t, len(tiles) > 1) for x0, y0, t in tiles)
            if self.spec.full_image and len(tiles) > 1:
                jobs.append((i, 0, 0, frame, False))
        results = self.detector.predict([j[3] for j in jobs])
        merged: list[list[Detections]] = [[] for _ in frames]
        for (i, x0, y0, tile, is_tile), dets in zip(jobs, results, strict=True):
            if not len(dets):
                merged[i].append(dets)
                continue
            xyxy = dets.xyxy + np.array([x0, y0, x0, y0], np.float32)
            keep = np.ones(len(dets), bool)
            if is_tile:
                f = frames[i]
                overlap_px = int(self.spec.size * self.spec.overlap)
                keep = ~_cut_by_inner_border(
                    xyxy, x0, y0, tile.width, tile.height, f.width, f.height, self.spec.edge_margin, overlap_px
                )
            merged[i].append(Detections(xyxy[keep], dets.confidence[keep], dets.class_id[keep], names=dets.names))
        return [self._merge(parts, getattr(self.detector, "names", {})) for parts in merged]

    def _merge(self, parts: list[Detections], names: dict[int, str]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty(names)
        xyxy = np.concatenate([p.xyxy for p in parts])
        conf = np.concatenate([p.confidence for p in parts])
        cls = np.concatenate([p.class_id for p in parts])
        keep = batched_nms(
            torch.from_numpy(xyxy), torch.from_numpy(conf), torch.from_numpy(cls), self.spec.merge_iou
        ).numpy()
        xyxy, conf, cls = xyxy[keep], conf[keep], cls[keep]
        pieces = _contained(xyxy, conf, cls, self.spec.contain_ios)
        return Detections(xyxy[~pieces], conf[~pieces], cls[~pieces], names=parts[0].names)
