"""The data team's loop in one call: feedback → dataset version → fine-tune from production → compare → candidate.

`cityeye loop run` (cron) and the Celery beat job `cityeye.loop_run` (`loop.every_h`) call `run_loop`. It never
promotes: it leaves a registered candidate and a comparison report for a person to promote (gated).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cityeye.config import Settings


log = logging.getLogger(__name__)


class LoopError(RuntimeError):
    """The loop cannot run (no base dataset, nothing new to learn from, …)."""


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


def feedback_store(settings: Settings) -> Any:
    from cases.db import make_engine, migrate, session_factory
    from cases.feedback import FeedbackStore

    engine = make_engine(settings)
    migrate(settings, engine)
    return FeedbackStore(session_factory(engine), settings.feedback_dir)


def base_dataset(settings: Settings, explicit: str | None = None) -> Path:
    """The dataset a new feedback version extends: `explicit`, `loop.base_dataset`, the newest feedback
    version, or the production model's own dataset."""
    from datasets.feedback import latest_feedback_dataset
    from models.registry import Registry

    name = explicit or settings.loop.base_dataset
    if name is None:
        latest = latest_feedback_dataset(settings.datasets_dir)
        if latest is not None:
            return latest
        name = Registry(settings.models_dir).get("production").dataset
    path = Path(name)
    if not (path / "manifest.json").is_file():
        path = settings.datasets_dir / name
    if not (path / "manifest.json").is_file():
        raise LoopError(
            f"base dataset {name!r} not found in {settings.datasets_dir}: build one (`cityeye datasets build`) "
            "or pass --base"
        )
    return path


def build_feedback_dataset(settings: Settings, name: str, base: str | None = None) -> Path:
    from datasets.feedback import build_from_feedback

    store = feedback_store(settings)
    frames = store.list()
    return build_from_feedback(
        name,
        settings.datasets_dir,
        base_dataset(settings, base),
        frames,
        settings.feedback_dir,
        include_confirmed=settings.loop.include_confirmed,
    )


def run_loop(
    settings: Settings,
    name: str | None = None,
    base: str | None = None,
    epochs: int | None = None,
    extra: dict[str, Any] | None = None,
    require_new: bool = True,
    eval_splits: list[str] | None = None,
) -> LoopResult:
    """Build, train from production, evaluate both on the frozen val, register the candidate; never promote."""
    from models.offline import configure_ultralytics
    from models.registry import ModelVersion, Registry
    from training.compare import compare
    from training.train import TrainConfig, train

    configure_ultralytics(settings.data_dir)
    name = name or "fb-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    cfg = settings.loop
    dataset = build_feedback_dataset(settings, name, base)
    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    added = int(manifest["feedback"]["added_now"])
    if require_new and added == 0:
        raise LoopError(f"no new labelled feedback since {manifest['base']['name']}; dataset {name} kept, no training")
    reg = Registry(settings.models_dir)
    prod = reg.get("production")
    prod_weights = reg.weights(prod.version, "pt")
    run = train(
        TrainConfig(
            dataset=dataset,
            base=prod_weights,
            runs_dir=settings.data_dir / "runs",
            name=name,
            epochs=epochs or cfg.epochs,
            imgsz=cfg.imgsz,
            batch=cfg.batch,
            extra=dict(extra or {}),
        )
    )
    best = run / "weights" / "best.pt"
    weights = best if best.is_file() else run / "weights" / "last.pt"
    out = settings.data_dir / "reports" / f"compare-{name}"
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
    reg.register(
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
    reg.record_evaluation(prod.version, result.val_hash, result.production)
    assert result.report is not None
    log.info("loop: candidate %s registered; gate %s", name, "passes" if result.passes else "refuses")
    return LoopResult(dataset, run, name, prod.version, result.report, result.passes, result.drops, added)
