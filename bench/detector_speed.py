"""Benchmark: PyTorch vs ONNX Runtime, ms per image, same weights and same frames, measured in one run.

    python bench/detector_speed.py [--model production|PATH.pt] [--imgsz 320] [--frames 32] [--batch 1 8]
                                   [--dataset DATASET_DIR]   # also mAP50 per val split of that dataset version

Frames are synthetic street scenes (project-made). Prints ms/image per backend and batch size, and the
ratio PyTorch ÷ ONNX (how many times faster ONNX Runtime is). Both backends run through cityeye's
`Detector` (ultralytics pre/post-processing), so the ratio is what a worker sees.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--model", default="production", help="registry version or .pt file")
    ap.add_argument("--data-dir", default=os.environ.get("CITYEYE_DATA_DIR", "cityeye-data"))
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", help=argparse.SUPPRESS)  # BACKEND:BATCH, internal: one measurement per process
    ap.add_argument("--dataset", help="dataset version folder: also print mAP50 of the model on each val split")
    args = ap.parse_args()

    from models.offline import configure_ultralytics

    configure_ultralytics(Path(args.data_dir))
    import torch

    from bench.common import model_files
    from cityeye.config import DetectorSettings
    from datasets.synthetic import generate_scene
    from inference.detector import Detector
    from inference.frame import Frame

    pt, onnx = model_files(args.model, Path(args.data_dir), args.imgsz)
    frames = [
        Frame(generate_scene("street", seed=900 + i, size=(640, 480)).image, "bench", datetime.now(UTC))
        for i in range(args.frames)
    ]
    if args.only:
        backend, batch = args.only.split(":")
        det = Detector.from_file(
            pt if backend == "pytorch" else onnx, DetectorSettings(imgsz=args.imgsz, batch=int(batch), conf=0.25)
        )
        det.predict(frames[: int(batch)])  # warm-up (graph build, allocations)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            det.predict(frames)
            times.append((time.perf_counter() - t) * 1000 / len(frames))
        print(f"RESULT {statistics.median(times):.3f} threads={torch.get_num_threads()}")
        return 0
    # each backend runs in its own process: a PyTorch thread pool left spinning would slow ONNX Runtime
    results: dict[tuple[str, int], float] = {}
    for batch in args.batch:
        for backend in ("pytorch", "onnx"):
            cmd = [
                sys.executable,
                __file__,
                "--model",
                str(pt),
                "--data-dir",
                args.data_dir,
                "--imgsz",
                str(args.imgsz),
                "--frames",
                str(args.frames),
                "--repeat",
                str(args.repeat),
                "--only",
                f"{backend}:{batch}",
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT "))
            results[(backend, batch)] = float(line.split()[1])
            print(f"  batch {batch:>2}  {backend:<8} {results[(backend, batch)]:7.1f} ms/image  ({line.split()[2]})")
        ratio = results[("pytorch", batch)] / results[("onnx", batch)]
        print(f"  batch {batch:>2}  PyTorch ms / ONNX Runtime ms = {ratio:.2f}")
    if args.dataset:
        from training.evaluate import evaluate

        out = Path(args.data_dir) / "bench" / "quality"
        for r in evaluate(pt, Path(args.dataset), out, imgsz=args.imgsz):
            per_class = ", ".join(f"{c} {v['mAP50']:.3f}" for c, v in r.per_class.items())
            print(f"  mAP50 {r.overall['mAP50']:.3f}  {r.name:<22} ({r.images} images; {per_class})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
