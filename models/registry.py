"""The model registry: detector versions with stage, metrics, dataset hash and lineage.

On disk, under `<data_dir>/models/`:
    registry.json                 {"versions": {<version>: ModelVersion as JSON}}
    <version>/model.pt            the PyTorch weights
    <version>/model.onnx          the ONNX export (made on first CPU use, or by `cityeye models export`)

The bundled default model (`models/default/<version>/` in the package) is registered as `production`
the first time a registry is opened with no production version, so a fresh install has a model.
Promotion is gated: no category's mAP50 may drop more than `margin` against production.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BUNDLED_DIR = Path(__file__).with_name("default")
Stage = Literal["candidate", "production", "archived"]


class RegistryError(ValueError):
    """Unknown version, refused promotion, or a broken registry file."""


class PromotionRefused(RegistryError):
    """The candidate is worse than production on some category by more than the margin."""


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
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
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
    def __init__(self, root: Path, bundled_dir: Path = BUNDLED_DIR):
        self.root = Path(root)
        self.bundled_dir = bundled_dir
        self.index = self.root / "registry.json"

    # ---- persistence --------------------------------------------------------------------------
    def _load(self) -> dict[str, ModelVersion]:
        if not self.index.is_file():
            return {}
        try:
            raw = json.loads(self.index.read_text(encoding="utf-8"))
            return {k: ModelVersion.model_validate(v) for k, v in raw["versions"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"{self.index}: unreadable registry ({exc})") from exc

    def _save(self, versions: dict[str, ModelVersion]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {"versions": {k: v.model_dump() for k, v in versions.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".registry.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False)
        os.replace(tmp, self.index)

    def _ensure_bundled(self, versions: dict[str, ModelVersion]) -> dict[str, ModelVersion]:
        if any(v.stage == "production" for v in versions.values()):
            return versions
        for meta in sorted(self.bundled_dir.glob("*/meta.json")):
            mv = ModelVersion.model_validate_json(meta.read_text(encoding="utf-8"))
            if mv.version in versions:
                continue
            dst = self.root / mv.version
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(meta.parent / "model.pt", dst / "model.pt")
            mv.stage = "production"
            mv.promoted_at = mv.promoted_at or datetime.now(UTC).isoformat(timespec="seconds")
            versions[mv.version] = mv
            self._save(versions)
            break
        return versions

    # ---- queries ------------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        return sorted(self._ensure_bundled(self._load()).values(), key=lambda v: v.created_at)

    def get(self, version: str) -> ModelVersion:
        versions = self._ensure_bundled(self._load())
        if version == "production":
            prod = [v for v in versions.values() if v.stage == "production"]
            if not prod:
                raise RegistryError("no production model: register one and promote it")
            return prod[0]
        if version not in versions:
            raise RegistryError(f"model version {version!r} not found; known: {sorted(versions)}")
        return versions[version]

    def weights(self, version: str, fmt: Literal["pt", "onnx"] = "pt") -> Path:
        mv = self.get(version)
        return self.root / mv.version / f"model.{fmt}"

    # ---- changes ------------------------------------------------------------------------------
    def register(self, weights: Path, mv: ModelVersion) -> ModelVersion:
        versions = self._ensure_bundled(self._load())
        if mv.version in versions:
            raise RegistryError(f"model version {mv.version!r} exists already; versions are immutable")
        if not weights.is_file():
            raise RegistryError(f"{weights}: weights file not found")
        dst = self.root / mv.version
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy2(weights, dst / "model.pt")
        mv = mv.model_copy(update={"stage": "candidate"})
        versions[mv.version] = mv
        self._save(versions)
        return mv

    def record_evaluation(self, version: str, val_hash: str, metrics: dict[str, float]) -> ModelVersion:
        """Keep `version`'s metrics on another frozen val split (so the gate can compare on that split)."""
        versions = self._ensure_bundled(self._load())
        mv = self.get(version).model_copy(
            update={"evaluations": {**self.get(version).evaluations, val_hash: dict(metrics)}}
        )
        versions[mv.version] = mv
        self._save(versions)
        return mv

    def add_note(self, version: str, line: str) -> ModelVersion:
        """Append a dated line to a version's notes (who promoted it and why)."""
        versions = self._ensure_bundled(self._load())
        mv = self.get(version)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        versions[mv.version] = mv = mv.model_copy(update={"notes": _append(mv.notes, f"{now}: {line}")})
        self._save(versions)
        return mv

    def rollback(self, note: str = "") -> ModelVersion:
        """Production goes back to the version that was production before it (the newest archived promotion)."""
        versions = self._ensure_bundled(self._load())
        prod = next((v for v in versions.values() if v.stage == "production"), None)
        previous = sorted(
            (v for v in versions.values() if v.stage == "archived" and v.promoted_at),
            key=lambda v: v.promoted_at or "",
        )
        if prod is None or not previous:
            raise RegistryError("nothing to roll back to: no earlier production version in the registry")
        back = previous[-1]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        line = f"{now}: rolled back from {prod.version}" + (f" ({note})" if note else "")
        versions[prod.version] = prod.model_copy(
            update={"stage": "archived", "promoted_at": None, "notes": _append(prod.notes, line)}
        )
        versions[back.version] = back.model_copy(
            update={"stage": "production", "promoted_at": now, "notes": _append(back.notes, line)}
        )
        self._save(versions)
        return versions[back.version]

    def promote(self, version: str, margin: float = 0.02, force: bool = False) -> ModelVersion:
        versions = self._ensure_bundled(self._load())
        cand = self.get(version)
        prod = next((v for v in versions.values() if v.stage == "production"), None)
        notes = cand.notes
        if prod is not None and prod.version != cand.version:
            drops = gate(cand, prod, margin)
            if drops and not force:
                raise PromotionRefused(f"promotion of {version} refused: " + "; ".join(drops))
            if drops:
                notes = (notes + "\n" if notes else "") + "promoted with force over the gate: " + "; ".join(drops)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for v in versions.values():
            if v.stage == "production" and v.version != cand.version:
                v.stage = "archived"
        versions[cand.version] = cand.model_copy(update={"stage": "production", "promoted_at": now, "notes": notes})
        self._save(versions)
        return versions[cand.version]


def _append(notes: str, line: str) -> str:
    return (notes + "\n" if notes else "") + line


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
