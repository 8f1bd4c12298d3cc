"""Fine-tune a detector on a dataset version with ultralytics; resumable; writes a run record by the weights.

A run folder:
    <runs>/<name>/weights/{last,best}.pt      ultralytics checkpoints (last.pt resumes)
    <runs>/<name>/args.yaml                   ultralytics' resolved training config
    <runs>/<name>/cityeye_run.json            dataset name + manifest hash, base weights, metrics per class
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datasets.build import load_manifest
from training.errors import TrainingError


@dataclass(frozen=True)
class TrainConfig:
    dataset: Path
    base: Path
    runs_dir: Path
    name: str
    epochs: int = 10
    imgsz: int = 320
    batch: int = 16
    device: str = "cpu"
    patience: int = 50
    seed: int = 0
    cache: bool = True
    threads: int = 0  # torch CPU threads; 0 = ultralytics' default (cores - 1)
    extra: dict[str, Any] = field(default_factory=dict)


def run_dir(cfg: TrainConfig) -> Path:
    return cfg.runs_dir / cfg.name


def train(
    cfg: TrainConfig,
    resume: bool = False,
    callbacks: dict[str, Callable[[Any], None]] | None = None,
    resume_epochs: int | None = None,
) -> Path:
    """Fine-tune (or resume) and return the run folder. Ultralytics must be configured offline first.

    `resume_epochs` changes a resumed run's planned total (e.g. to finish sooner); the learning-rate schedule
    follows the new total from the next epoch on.

    `callbacks` attach to ultralytics' trainer events (e.g. "on_fit_epoch_end"), as its integrations do.
    """
    import torch
    from ultralytics import YOLO

    if cfg.threads:
        # ultralytics resets torch's thread count to (cores - 1) when it picks the device
        import ultralytics.utils.torch_utils as tu

        tu.NUM_THREADS = cfg.threads
    out = run_dir(cfg)
    last = out / "weights" / "last.pt"
    manifest = load_manifest(cfg.dataset)
    started = time.time()
    if resume:
        if not last.is_file():
            raise TrainingError(f"{last}: nothing to resume (no last.pt in the run folder)")
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        if ckpt.get("epoch", -1) < 0:
            raise TrainingError(f"{out}: this run finished; nothing to resume (start a new run with --base)")
        if resume_epochs is not None and resume_epochs != ckpt["train_args"].get("epochs"):
            if resume_epochs <= ckpt["epoch"] + 1:
                raise TrainingError(f"{out}: {ckpt['epoch'] + 1} epochs are done already; --epochs must be more")
            ckpt["train_args"]["epochs"] = resume_epochs
            torch.save(ckpt, last)
        del ckpt
        model = YOLO(str(last))
        _attach(model, callbacks)
        model.train(resume=True)
    else:
        if not cfg.base.is_file():
            raise TrainingError(f"{cfg.base}: base weights not found")
        if out.exists() and last.exists():
            raise TrainingError(f"{out}: run exists; use --resume to continue it or pick another --name")
        model = YOLO(str(cfg.base))
        _attach(model, callbacks)
        model.train(
            data=str(cfg.dataset / "data.yaml"),
            epochs=cfg.epochs,
            imgsz=cfg.imgsz,
            batch=cfg.batch,
            device=cfg.device,
            workers=0,
            project=str(cfg.runs_dir),
            name=cfg.name,
            exist_ok=True,
            patience=cfg.patience,
            seed=cfg.seed,
            cache="ram" if cfg.cache else False,
            plots=False,
            verbose=False,
            **cfg.extra,
        )
    record = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds_this_session": round(time.time() - started, 1),
        "config": _effective_config(cfg, out),
        "dataset": {"name": manifest["name"], "hash": manifest["hash"], "images": manifest["images"]},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "device": cfg.device,
        },
        "results_csv": _read_results(out / "results.csv"),
        "final_val_per_class": _per_class(model),
    }
    (out / "cityeye_run.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return out


def _effective_config(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """The config as run: ultralytics' resolved args.yaml wins (a resumed run keeps its own epochs, size …)."""
    import yaml

    config: dict[str, Any] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    args_file = out / "args.yaml"
    if args_file.is_file():
        resolved = yaml.safe_load(args_file.read_text(encoding="utf-8")) or {}
        for key in ("epochs", "imgsz", "batch", "device", "seed", "patience"):
            if key in resolved:
                config[key] = resolved[key]
        config["ultralytics_args"] = "args.yaml"
    return config


def _attach(model: Any, callbacks: dict[str, Callable[[Any], None]] | None) -> None:
    for event, fn in (callbacks or {}).items():
        model.add_callback(event, fn)


def _per_class(model: Any) -> dict[str, dict[str, float]]:
    """Per-class P/R/mAP of the final validation (best.pt on the dataset's val split)."""
    validator = getattr(getattr(model, "trainer", None), "validator", None)
    metrics = getattr(validator, "metrics", None)
    box = getattr(metrics, "box", None)
    if metrics is None or box is None:
        return {}
    names = metrics.names
    out = {}
    for k, ci in enumerate(box.ap_class_index):
        p, r, ap50, ap = box.class_result(k)
        out[names[int(ci)]] = {
            "P": round(float(p), 4),
            "R": round(float(r), 4),
            "mAP50": round(float(ap50), 4),
            "mAP50-95": round(float(ap), 4),
        }
    return out


def _read_results(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    lines = [ln.split(",") for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0]]
    rows = []
    for ln in lines[1:]:
        try:
            rows.append({h: float(v) for h, v in zip(header, ln, strict=False)})
        except ValueError:
            continue
    return rows
