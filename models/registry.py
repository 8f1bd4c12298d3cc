"""The model registry: detector versions with stage, metrics, dataset hash and lineage.

A `models.versions.VersionRegistry[ModelVersion]` (the one registry type, shared with scorers and forecasts)
over an `IndexLayout`; this module adds the weights files, the bundled default and the mAP50 gate.

On disk, under `<data_dir>/models/`:
    registry.json                 {"versions": {<version>: ModelVersion as JSON}}
    <version>/model.pt            the PyTorch weights
    <version>/model.onnx          the ONNX export (made on first CPU use, or by `cityeye models export`)

The bundled default model (`models/default/<version>/` in the package) is registered as `production`
the first time a registry is opened with no production version, so a fresh install has a model.
Promotion is gated: no category's mAP50 may drop more than `margin` against production.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.versions import IndexLayout, PromotionRefused, RegistryError, Stage, VersionRegistry, now_iso

__all__ = ["BUNDLED_DIR", "ModelVersion", "PromotionRefused", "Registry", "RegistryError", "Stage", "gate"]

BUNDLED_DIR = Path(__file__).with_name("default")


class ModelVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    stage: Stage = "candidate"
    classes: list[str]
    imgsz: int = Field(default=320, ge=32, le=4096)
    metrics: dict[str, float] = Field(default_factory=dict, description="e.g. mAP50/<class>, mAP50/all")
    dataset: str = ""
    dataset_hash: str = ""
    val_hash: str = Field(default="", description="hash of the validation split the metrics were measured on")
    parent: str | None = None
    created_at: str = Field(default_factory=now_iso)
    promoted_at: str | None = None
    notes: str = ""
    evaluations: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="metrics re-measured on other frozen val splits, by val_hash (the loop's comparisons)",
    )

    def metrics_on(self, val_hash: str) -> dict[str, float] | None:
        """Metrics measured on the validation split `val_hash`, if any."""
        if val_hash in self.evaluations:
            return self.evaluations[val_hash]
        if not val_hash or val_hash == self.val_hash:
            return self.metrics
        return None


class Registry:
    """The detector registry: a `VersionRegistry[ModelVersion]` over `registry.json`, weights in `<version>/`."""

    def __init__(self, root: Path, bundled_dir: Path = BUNDLED_DIR):
        self.root = Path(root)
        self.bundled_dir = bundled_dir
        self.layout: IndexLayout[ModelVersion] = IndexLayout(self.root, ModelVersion.model_validate)
        self.index = self.layout.index
        self.registry = VersionRegistry(self.layout, bootstrap=self._ensure_bundled)

    def _ensure_bundled(self) -> None:
        """Register the bundled default as production when no version is production."""
        stages = self.layout.read_stages()
        if stages.production is not None:
            return
        versions = self.layout.read_all()
        for meta in sorted(self.bundled_dir.glob("*/meta.json")):
            mv = ModelVersion.model_validate_json(meta.read_text(encoding="utf-8"))
            if mv.version in versions:
                continue
            dst = self.root / mv.version
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(meta.parent / "model.pt", dst / "model.pt")
            mv = mv.model_copy(update={"stage": "production", "promoted_at": mv.promoted_at or now_iso()})
            self.layout.commit({mv.version: mv}, replace(stages, production=mv.version, promoted_at=mv.promoted_at))
            break

    # ---- queries ------------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        return self.registry.versions()

    def get(self, version: str) -> ModelVersion:
        """A version, or the production one for `"production"`."""
        if version == "production":
            prod = self.registry.production()
            if prod is None:
                raise RegistryError("no production model: register one and promote it")
            return prod
        return self.registry.get(version)

    def weights(self, version: str, fmt: Literal["pt", "onnx"] = "pt") -> Path:
        mv = self.get(version)
        return self.registry.path(mv.version) / f"model.{fmt}"

    # ---- changes ------------------------------------------------------------------------------
    def register(self, weights: Path, mv: ModelVersion) -> ModelVersion:
        if self.registry.exists(mv.version):
            raise self.layout.duplicate(mv.version)
        if not weights.is_file():
            raise RegistryError(f"{weights}: weights file not found")

        def build(folder: Path) -> ModelVersion:
            shutil.copy2(weights, folder / "model.pt")
            return mv.model_copy(update={"stage": "candidate"})

        return self.registry.add(mv.version, build)

    def record_evaluation(self, version: str, val_hash: str, metrics: dict[str, float]) -> ModelVersion:
        """Keep `version`'s metrics on another frozen val split (so the gate can compare on that split)."""
        mv = self.get(version)
        return self.registry.update(mv.version, evaluations={**mv.evaluations, val_hash: dict(metrics)})

    def add_note(self, version: str, line: str) -> ModelVersion:
        """Append a dated line to a version's notes (who promoted it and why)."""
        return self.registry.add_note(self.get(version).version, line)

    def rollback(self, note: str = "") -> ModelVersion:
        """Production goes back to the version that was production before it (the newest archived promotion)."""
        return self.registry.rollback(note)

    def promote(self, version: str, margin: float = 0.02, force: bool = False) -> ModelVersion:
        """Make `version` production unless a category's mAP50 drops more than `margin` (`gate`)."""

        def check(cand: ModelVersion, prod: ModelVersion | None) -> list[str]:
            return gate(cand, prod, margin) if prod is not None and prod.version != cand.version else []

        return self.registry.promote(self.get(version).version, check, force=force)


def gate(candidate: ModelVersion, production: ModelVersion, margin: float) -> list[str]:
    """Per-category mAP50 drops larger than `margin` on the same frozen val split; empty = may promote.

    Production's metrics on the candidate's split are its own, or a re-measurement kept in `evaluations`.
    """
    same_split = candidate.val_hash and production.val_hash
    prod_metrics = production.metrics_on(candidate.val_hash) if same_split else production.metrics
    if prod_metrics is None:
        return [
            f"metrics were measured on different validation sets ({candidate.val_hash or '?'} vs "
            f"{production.val_hash}); evaluate both on the same frozen val split"
        ]
    drops = []
    for key, prod_value in sorted(prod_metrics.items()):
        if not key.startswith("mAP50/"):
            continue
        cand_value = candidate.metrics.get(key)
        if cand_value is None:
            drops.append(f"{key} missing for the candidate")
        elif cand_value < prod_value - margin:
            drops.append(f"{key} {cand_value:.3f} < production {prod_value:.3f} - margin {margin:.3f}")
    return drops
