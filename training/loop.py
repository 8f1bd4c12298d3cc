"""The data team's loop in one call: feedback → dataset version → fine-tune from production → compare → candidate.

`cityeye loop run` (cron) and the Celery beat job `cityeye.loop.run` (`loop.every_h`) call `run_loop`. It never
promotes: it leaves a registered candidate and a comparison report for a person to promote (gated).

The loop takes what it works with, never the service's settings: its own `LoopSettings` section, the data dir's
layout (`DataDir`), the feedback store and the detector registry (the shell's `Runtime` has both).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.errors import LoopError

if TYPE_CHECKING:
    from cases.feedback import FeedbackStore
    from models.datadir import DataDir
    from models.registry import Registry
    from training.settings import LoopSettings

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    dataset: Path
    run: Path
    candidate: str
    production: str
    report: Path
    passes: bool
    drops: list[str]
    added: int

    def summary(self) -> dict[str, Any]:
        """The result as JSON-ready values (what the Celery job returns)."""
        return {
            "candidate": self.candidate,
            "production": self.production,
            "dataset": str(self.dataset),
            "report": str(self.report),
            "gate_passes": self.passes,
            "drops": list(self.drops),
            "feedback_frames_added": self.added,
        }


def base_dataset(cfg: LoopSettings, paths: DataDir, registry: Registry, explicit: str | None = None) -> Path:
    """The dataset a new feedback version extends: `explicit`, `loop.base_dataset`, the newest feedback
    version, or the production model's own dataset."""
    from datasets.feedback import latest_feedback_dataset

    name = explicit or cfg.base_dataset
    if name is None:
        latest = latest_feedback_dataset(paths.datasets)
        if latest is not None:
            return latest
        name = registry.get("production").dataset
    path = Path(name)
    if not (path / "manifest.json").is_file():
        path = paths.datasets / name
    if not (path / "manifest.json").is_file():
        raise LoopError(
            f"base dataset {name!r} not found in {paths.datasets}: build one (`cityeye datasets build`) or pass --base"
        )
    return path


def build_feedback_dataset(
    cfg: LoopSettings,
    paths: DataDir,
    feedback: FeedbackStore,
    registry: Registry,
    name: str,
    base: str | None = None,
) -> Path:
    """Dataset version `name`: the base version (see `base_dataset`) plus every labelled feedback frame."""
    from datasets.feedback import build_from_feedback

    frames = feedback.list()
    return build_from_feedback(
        name,
        paths.datasets,
        base_dataset(cfg, paths, registry, base),
        frames,
        paths.feedback,
        include_confirmed=cfg.include_confirmed,
    )


def run_loop(
    cfg: LoopSettings,
    paths: DataDir,
    feedback: FeedbackStore,
    registry: Registry,
    name: str | None = None,
    base: str | None = None,
    epochs: int | None = None,
    extra: dict[str, Any] | None = None,
    require_new: bool = True,
    eval_splits: list[str] | None = None,
) -> LoopResult:
    """Build, train from production, evaluate both on the frozen val, register the candidate; never promote."""
    from models.offline import configure_ultralytics
    from models.registry import ModelVersion
    from training.compare import compare
    from training.train import TrainConfig, train

    configure_ultralytics(paths.root)
    name = name or "fb-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    dataset = build_feedback_dataset(cfg, paths, feedback, registry, name, base)
    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    added = int(manifest["feedback"]["added_now"])
    if require_new and added == 0:
        raise LoopError(f"no new labelled feedback since {manifest['base']['name']}; dataset {name} kept, no training")
    prod = registry.get("production")
    prod_weights = registry.weights(prod.version, "pt")
    run = train(
        TrainConfig(
            dataset=dataset,
            base=prod_weights,
            runs_dir=paths.runs,
            name=name,
            epochs=epochs or cfg.epochs,
            imgsz=cfg.imgsz,
            batch=cfg.batch,
            extra=dict(extra or {}),
        )
    )
    best = run / "weights" / "best.pt"
    weights = best if best.is_file() else run / "weights" / "last.pt"
    out = paths.reports / f"compare-{name}"
    result = compare(
        weights,
        prod_weights,
        dataset,
        out,
        cfg.margin,
        imgsz=cfg.imgsz,
        labels=(name, prod.version),
        splits=eval_splits,
    )
    registry.register(
        weights,
        ModelVersion(
            version=name,
            classes=manifest["classes"],
            imgsz=cfg.imgsz,
            metrics=result.candidate,
            dataset=name,
            dataset_hash=manifest["hash"],
            val_hash=result.val_hash,
            parent=prod.version,
            notes=f"trained by the loop from {prod.version} on {name} (+{added} feedback frames); {result.report}",
        ),
    )
    registry.record_evaluation(prod.version, result.val_hash, result.production)
    assert result.report is not None
    log.info("loop: candidate %s registered; gate %s", name, "passes" if result.passes else "refuses")
    return LoopResult(dataset, run, name, prod.version, result.report, result.passes, result.drops, added)
