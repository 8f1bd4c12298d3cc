"""Sliced inference geometry: every object found once, in full-image coordinates, across tile borders."""

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from inference.detections import Detections
from inference.frame import Frame
from inference.tiling import TiledDetector, TileSpec, tile_origins


class BrightBlobDetector:
    """A real, classical detector: connected components of white pixels (class 0), confidence 0.9.

    It sees each tile at full resolution, like a YOLO tile would, so the test checks the slicing and merging.
    """

    version = "blobs"
    names = {0: "garbage"}

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, frames):
        self.calls.append(len(frames))
        out = []
        for f in frames:
            mask = (f.image[:, :, 0] > 200).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]]
            out.append(
                Detections(
                    np.array(boxes, np.float32).reshape(-1, 4), [0.9] * len(boxes), [0] * len(boxes), names=self.names
                )
            )
        return out


def frame_with(boxes, w=2000, h=1500):
    img = np.zeros((h, w, 3), np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[y1:y2, x1:x2] = 255
    return Frame(img, "drone", datetime.now(UTC))


def test_tile_origins_cover_the_image():
    assert tile_origins(500, 640, 0.2) == [0]
    starts = tile_origins(2000, 640, 0.2)
    assert starts[0] == 0 and starts[-1] == 2000 - 640
    assert all(b - a <= 640 for a, b in zip(starts, starts[1:], strict=False))


def test_small_objects_found_once_across_tile_borders():
    planted = [(100, 100, 112, 110), (505, 300, 530, 320), (1000, 700, 1012, 712), (1980, 1480, 1995, 1495)]
    det = BrightBlobDetector()
    tiled = TiledDetector(det, TileSpec(size=640, overlap=0.2, full_image=False))
    (result,) = tiled.predict([frame_with(planted)])
    got = sorted(map(tuple, result.xyxy.astype(int).tolist()))
    assert got == sorted(planted)
    assert det.calls == [12]  # one batched call for all 4×3 tiles


def test_large_object_kept_by_the_full_image_pass_and_batches_span_frames():
    big = (300, 300, 1500, 1200)  # larger than a tile: every tile sees only a cut piece
    det = BrightBlobDetector()
    tiled = TiledDetector(det, TileSpec(size=640, overlap=0.2, full_image=True))
    a, b = tiled.predict([frame_with([big]), frame_with([(10, 10, 20, 20)])])
    assert [tuple(map(int, x)) for x in a.xyxy] == [big]
    assert [tuple(map(int, x)) for x in b.xyxy] == [(10, 10, 20, 20)]
    assert det.calls == [26]  # 2 frames × (12 tiles + 1 full image) in one call


def test_bad_tile_spec():
    with pytest.raises(ValueError, match="overlap"):
        TileSpec(overlap=0.95)
    with pytest.raises(ValueError, match="size"):
        TileSpec(size=8)
