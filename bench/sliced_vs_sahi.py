"""Benchmark P4: sliced inference on a large drone image, cityeye's batched tiler vs SAHI, in one run.

    pip install --no-deps sahi==0.12.8 shapely==2.2.0     # SAHI itself pulls opencv-python: avoid it
    python bench/sliced_vs_sahi.py [--model production|PATH.pt] [--tile 320] [--overlap 0.2] [--repeat 2]

The image is 4000×3000, a mosaic of synthetic drone views (project-made) whose objects stay at their
native size, so they are small against the whole image; ground truth comes with it. Both sides use the
same weights, tile size, overlap, confidence, and a full-image pass. Prints seconds per image, the ratio
SAHI ÷ cityeye, and recall (IoU ≥ 0.5, same class) of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mosaic(seed: int, cols: int = 5, rows: int = 5, cell: tuple[int, int] = (800, 600)):
    from datasets.synthetic import CLASS_NAMES, generate_scene

    w, h = cell
    img = np.zeros((rows * h, cols * w, 3), np.uint8)
    gt = []
    for r in range(rows):
        for c in range(cols):
            s = generate_scene("aerial", seed=seed + r * cols + c, size=cell)
            img[r * h : (r + 1) * h, c * w : (c + 1) * w] = s.image
            for o in s.objects:
                x1, y1, x2, y2 = o.xyxy
                gt.append((CLASS_NAMES.index(o.class_name), x1 + c * w, y1 + r * h, x2 + c * w, y2 + r * h))
    return img, np.array(gt, np.float32)


def recall(gt: np.ndarray, xyxy: np.ndarray, cls: np.ndarray) -> float:
    from inference.detections import box_iou

    used = np.zeros(len(xyxy), bool)
    hit = 0
    for g in gt:
        cand = np.where((cls == int(g[0])) & ~used)[0]
        if len(cand):
            ious = box_iou(g[None, 1:], xyxy[cand])[0]
            j = int(np.argmax(ious))
            if ious[j] >= 0.5:
                used[cand[j]] = True
                hit += 1
    return hit / max(1, len(gt))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="production")
    ap.add_argument("--data-dir", default=os.environ.get("CITYEYE_DATA_DIR", "cityeye-data"))
    ap.add_argument("--tile", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from models.offline import configure_ultralytics

    configure_ultralytics(Path(args.data_dir))
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    from bench.common import model_files
    from cityeye.config import DetectorSettings
    from inference.detector import Detector
    from inference.frame import Frame
    from inference.tiling import TiledDetector, TileSpec

    pt, onnx = model_files(args.model, Path(args.data_dir), args.tile)
    image, gt = mosaic(seed=4242)
    frame = Frame(image, "survey", datetime.now(UTC))
    print(
        f"image {image.shape[1]}x{image.shape[0]}, {len(gt)} objects, tile {args.tile}, overlap {args.overlap},"
        f" conf {args.conf}, cores {os.cpu_count()}"
    )

    def timed(fn):
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t)
        return best, out

    spec = TileSpec(size=args.tile, overlap=args.overlap, full_image=True)
    ours = {}
    for backend, path in (("onnx", onnx), ("pytorch", pt)):
        det = Detector.from_file(path, DetectorSettings(imgsz=args.tile, conf=args.conf, batch=args.batch))
        secs, (dets,) = timed(lambda det=det: TiledDetector(det, spec).predict([frame]))
        ours[backend] = (secs, recall(gt, dets.xyxy, dets.class_id))
        print(f"  cityeye tiler ({backend:<7}, batch {args.batch}): {secs:6.2f} s/image, recall {ours[backend][1]:.3f}")

    sahi_model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(pt), confidence_threshold=args.conf, device="cpu", image_size=args.tile
    )
    rgb = image[:, :, ::-1].copy()

    def run_sahi():
        return get_sliced_prediction(
            rgb,
            sahi_model,
            slice_height=args.tile,
            slice_width=args.tile,
            overlap_height_ratio=args.overlap,
            overlap_width_ratio=args.overlap,
            perform_standard_pred=True,
            verbose=0,
        )

    secs, res = timed(run_sahi)
    preds = res.object_prediction_list
    xyxy = np.array([p.bbox.to_xyxy() for p in preds], np.float32).reshape(-1, 4)
    cls = np.array([p.category.id for p in preds], np.int64)
    sahi_recall = recall(gt, xyxy, cls)
    print(
        f"  SAHI {getattr(sys.modules['sahi'], '__version__', '')} (pytorch, one slice per call): {secs:6.2f} s/image,"
        f" recall {sahi_recall:.3f}"
    )
    for backend, (s, r) in ours.items():
        print(f"  SAHI time / cityeye ({backend}) time = {secs / s:.2f}x  (recall {r:.3f} vs SAHI {sahi_recall:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
