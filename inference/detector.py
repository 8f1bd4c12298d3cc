"""Detector runtime: load a model (PyTorch `.pt` or ONNX) and turn batches of `Frame`s into `Detections`.

A `Detector` is built by a worker when it starts (`Detector.load`), never at import time. Both backends
run through ultralytics' predictor, so pre- and post-processing (letterbox, NMS) are the same code and
the ONNX export gives the same boxes as PyTorch.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from inference import metrics
from inference.detections import Detections
from inference.errors import DetectorError
from inference.frame import Frame
from inference.settings import DetectorSettings

log = logging.getLogger(__name__)


class DetectorLike(Protocol):
    """What every stage needs of a detector: a `Detector`, a `TiledDetector` or a `DetectorHolder`."""

    @property
    def version(self) -> str: ...

    def predict(self, frames: Sequence[Frame]) -> list[Detections]: ...


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    backend: str  # "pytorch" | "onnx"
    version: str


def export_onnx(pt_path: Path, imgsz: int, out: Path | None = None) -> Path:
    """Export `pt_path` to ONNX (dynamic batch and size, simplified) at `out` (default: beside it).

    The export runs in a temporary folder and the file is moved into place when complete, so a crash
    never leaves a half-written model where a worker would load it.
    """
    from ultralytics import YOLO

    target = out or pt_path.with_suffix(".onnx")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        work = Path(tmp) / "model.pt"
        shutil.copy2(pt_path, work)
        try:
            produced = YOLO(str(work)).export(
                format="onnx", imgsz=imgsz, dynamic=True, simplify=True, device="cpu", verbose=False
            )
        except Exception as exc:
            raise DetectorError(f"{pt_path}: ONNX export failed ({exc})") from exc
        os.replace(produced, target)
    return target


def _trained_imgsz(model: Any) -> int | None:
    """The image size a checkpoint was trained (or an ONNX file exported) at, if it says."""
    for args in (getattr(model, "ckpt", None) or {}).get("train_args", {}), getattr(model, "overrides", {}):
        size = args.get("imgsz") if isinstance(args, dict) else None
        if isinstance(size, int):
            return size
        if isinstance(size, list | tuple) and size:
            return int(max(size))
    return None


class Detector:
    """One loaded detection model. `predict(frames)` → one `Detections` per frame, in order."""

    def __init__(self, model: Any, loaded: LoadedModel, cfg: DetectorSettings, imgsz: int | None = None):
        self._model = model
        self.loaded = loaded
        self.cfg = cfg
        self.imgsz: int = cfg.imgsz or imgsz or _trained_imgsz(model) or 640
        self._lock = threading.Lock()  # ultralytics predictors are not thread-safe
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(model.names).items()}

    @property
    def version(self) -> str:
        return self.loaded.version

    @classmethod
    def from_file(
        cls, path: Path, cfg: DetectorSettings, version: str | None = None, imgsz: int | None = None
    ) -> Detector:
        from ultralytics import YOLO

        if not path.is_file():
            raise DetectorError(f"{path}: model file not found")
        backend = "onnx" if path.suffix == ".onnx" else "pytorch"
        if backend == "pytorch" and cfg.device == "cpu":
            # ultralytics sets torch to (cores - 1) threads when it picks the device; a detector worker
            # owns its cores (ONNX Runtime uses all of them by default)
            import ultralytics.utils.torch_utils as tu

            tu.NUM_THREADS = cfg.threads or os.cpu_count() or 1
        try:
            model = YOLO(str(path), task="detect")
        except Exception as exc:
            raise DetectorError(f"{path}: cannot load model ({exc})") from exc
        metrics.model_loaded(version or path.stem, backend)
        return cls(model, LoadedModel(path, backend, version or path.stem), cfg, imgsz)

    @classmethod
    def load(cls, models_dir: Path, cfg: DetectorSettings) -> Detector:
        """Load `cfg.model` (a registry version or a file path) with the configured backend.

        backend=auto: on the CPU use ONNX Runtime, exporting the registry version's ONNX once if it is
        missing; on a GPU use PyTorch.
        """
        from models.registry import Registry

        spec = Path(cfg.model)
        if spec.suffix in {".pt", ".onnx"}:
            return cls.from_file(spec, cfg)
        reg = Registry(models_dir)
        mv = reg.get(cfg.model)
        pt = reg.weights(mv.version, "pt")
        use_onnx = cfg.backend == "onnx" or (cfg.backend == "auto" and cfg.device == "cpu")
        if use_onnx:
            onnx = reg.weights(mv.version, "onnx")
            if not onnx.is_file():
                log.info("exporting %s to ONNX (once)", mv.version)
                export_onnx(pt, mv.imgsz, onnx)
            return cls.from_file(onnx, cfg, mv.version, mv.imgsz)
        return cls.from_file(pt, cfg, mv.version, mv.imgsz)

    def predict(self, frames: Sequence[Frame]) -> list[Detections]:
        out: list[Detections] = []
        step = self.cfg.batch
        for i in range(0, len(frames), step):
            chunk = [f.image for f in frames[i : i + step]]
            backend = self.loaded.backend
            with self._lock, metrics.DETECTOR_LATENCY.labels(backend=backend).time():
                results = self._model.predict(
                    chunk,
                    imgsz=self.imgsz,
                    conf=self.cfg.conf,
                    iou=self.cfg.iou,
                    max_det=self.cfg.max_det,
                    device=self.cfg.device,
                    verbose=False,
                    batch=len(chunk),
                )
            metrics.DETECTOR_FRAMES.labels(backend=backend).inc(len(chunk))
            out.extend(Detections.from_ultralytics(r) for r in results)
        return out
