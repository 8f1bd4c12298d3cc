"""Package trained weights as a bundled default model: `models/default/<version>/{model.pt, meta.json}`.

The weights are stripped of optimizer state and stored in half precision (ultralytics' `strip_optimizer`),
which keeps a nano model at ~5 MB, under the repository's 10 MB limit for committed weights. The ONNX
export is not committed (it is larger); workers export it once on first use (`Detector.load`).
"""

from __future__ import annotations

import json
from pathlib import Path

from models.registry import ModelVersion

MAX_BYTES = 10 * 1024 * 1024


def package_default(weights: Path, mv: ModelVersion, out_dir: Path) -> Path:
    from ultralytics.utils.torch_utils import strip_optimizer

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.pt"
    if not strip_optimizer(weights, str(target), updates={"cityeye": {"version": mv.version}}):
        raise ValueError(f"{weights}: not an ultralytics checkpoint")
    size = target.stat().st_size
    if size > MAX_BYTES:
        target.unlink()
        raise ValueError(f"{weights}: packaged model is {size / 1e6:.1f} MB, over the 10 MB limit")
    meta = mv.model_copy(update={"stage": "production"})
    (out_dir / "meta.json").write_text(json.dumps(meta.model_dump(), indent=1, ensure_ascii=False) + "\n")
    return target
