"""Scorer versions on disk, under `<data_dir>/scorers/`:

    <version>/scorer.joblib    the fitted `Scorer` (joblib pickle of the sklearn objects)
    <version>/card.json        `ScorerCard`: kind, feature list and levels, feature config, metrics, checksum
    production.json            the promoted version (the one live cases are scored with) and the ones before it

Both are `models.versions.VersionRegistry`s over a `CardLayout` (the registry type the detector registry,
`models/registry.py`, uses too): a saved version is a candidate until `promote` makes it production (the
previous one is archived, `rollback` goes back to it), and a version's files never change once written.

Forecasts (`ForecastStore`, under `<data_dir>/forecasts/`) are kept the same way, one folder per fit:
    <version>/forecaster.joblib   the fitted `HotspotForecaster`
    <version>/forecast.geojson    its forecast for the period after the history it was fitted on
    <version>/card.json           `ForecastCard`: horizon, cell size, categories, period, checksums

Loading checks, before unpickling anything, that the card parses, that its feature list and category / zone /
source-kind levels are the ones this code computes (`FeatureMismatch` otherwise) and that the pickle's SHA-256
is the card's (`ScorerFileError`: corrupt or replaced). The pickle is only ever read from this directory,
which the service itself writes; the checksum is an integrity check, not a defence against someone who can
write there.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import joblib
import sklearn
from pydantic import BaseModel, ConfigDict, Field

from cases.scoring.errors import FeatureMismatch, ScorerFileError
from cases.scoring.features import FEATURE_NAMES, SOURCE_KINDS, ZONES, FeatureConfig
from cases.scoring.model import Scorer, Selection
from models.datadir import DataDir
from models.versions import CardLayout, Promotion, Stage, VersionRegistry, atomic_write, now_iso, sha256_file

__all__ = ["ForecastCard", "ForecastStore", "Promotion", "ScorerCard", "ScorerStore", "forecast_store", "scorer_store"]

CARD = "card.json"
PICKLE = "scorer.joblib"
PRODUCTION = "production.json"
FORECASTER = "forecaster.joblib"
FORECAST = "forecast.geojson"


class ScorerCard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    kind: Literal["prior", "learned"]
    features: list[str]
    categories: list[str]
    zones: list[str]
    source_kinds: list[str]
    feature_config: dict[str, float]
    metrics: dict[str, float] = Field(default_factory=dict)
    reason: str = ""
    created_at: str = Field(default_factory=now_iso)
    sha256: str
    sklearn_version: str = sklearn.__version__
    notes: str = ""

    def check_code(self, categories: tuple[str, ...] | None = None) -> None:
        """Raise `FeatureMismatch` unless this card's features and levels are what the code computes."""
        checks = [
            ("features", self.features, list(FEATURE_NAMES)),
            ("zones", self.zones, list(ZONES)),
            ("source_kinds", self.source_kinds, list(SOURCE_KINDS)),
        ]
        if categories is not None:
            checks.append(("categories", self.categories, list(categories)))
        for what, saved, code in checks:
            if saved != code:
                raise FeatureMismatch(
                    f"scorer {self.version}: its {what} {saved} differ from the code's {code}; "
                    f"refit it (`cityeye scoring fit`)"
                )


class ScorerStore:
    """Scorer versions: a `VersionRegistry[ScorerCard]`; promotion is refused unless the version loads."""

    def __init__(self, root: Path):
        self.root = Path(root)
        layout = CardLayout(self.root, ScorerCard.model_validate, what="scorer", error=ScorerFileError, card=CARD)
        self.registry = VersionRegistry(layout)

    def save(
        self, selection: Selection, config: FeatureConfig, version: str | None = None, notes: str = ""
    ) -> ScorerCard:
        scorer = selection.scorer
        if version is None:
            version = self.registry.unique_version(f"{scorer.kind}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}")

        def build(folder: Path) -> ScorerCard:
            pkl = folder / PICKLE
            joblib.dump(scorer, pkl)
            return ScorerCard(
                version=version,
                kind=scorer.kind,
                features=list(scorer.features),
                categories=list(scorer.categories),
                zones=list(ZONES),
                source_kinds=list(SOURCE_KINDS),
                feature_config={k: float(v) for k, v in asdict(config).items()},
                metrics=selection.metrics,
                reason=selection.reason,
                sha256=sha256_file(pkl),
                notes=notes,
            )

        return self.registry.add(version, build)

    def card(self, version: str) -> ScorerCard:
        return self.registry.get(version)

    def versions(self) -> list[ScorerCard]:
        """Every readable card, oldest first (an unreadable one is an error: nothing is silently skipped)."""
        return self.registry.versions()

    def latest(self) -> str | None:
        card = self.registry.latest()
        return None if card is None else card.version

    def load(self, version: str, categories: tuple[str, ...] | None = None) -> tuple[Scorer, ScorerCard]:
        """The scorer and its card; fails loudly on a mismatched feature set or a corrupt file."""
        card = self.card(version)
        card.check_code(categories)
        pkl = self.registry.path(version) / PICKLE
        if not pkl.is_file():
            raise ScorerFileError(f"scorer {version}: {pkl} is missing")
        if sha256_file(pkl) != card.sha256:
            raise ScorerFileError(f"scorer {version}: {pkl} is corrupt (SHA-256 differs from its card)")
        try:
            scorer = joblib.load(pkl)
        except Exception as exc:  # a pickle can fail in any way; all of them mean "this file is unusable"
            raise ScorerFileError(f"scorer {version}: cannot load {pkl} ({type(exc).__name__}: {exc})") from exc
        if not isinstance(scorer, Scorer):
            raise ScorerFileError(f"scorer {version}: {pkl} holds a {type(scorer).__name__}, not a Scorer")
        scorer.check_features(card.features)
        scorer.check_features(FEATURE_NAMES)
        if scorer.kind != card.kind:
            raise ScorerFileError(f"scorer {version}: card says {card.kind}, file holds {scorer.kind}")
        return scorer, card

    # ---- stages -------------------------------------------------------------------------------------------
    def production(self) -> str | None:
        """The promoted version (None: no scorer promoted yet)."""
        return self.registry.production_version()

    def production_stamp(self) -> float:
        """Changes whenever a version is promoted (the file's mtime; 0 when none is): cheap to poll."""
        return self.registry.stamp()

    def stage(self, version: str) -> Stage:
        return self.registry.stage(version)

    def promote(self, version: str) -> ScorerCard:
        """Make `version` the production scorer; it must load (a broken or mismatched one is refused)."""

        def check(cand: ScorerCard, prod: ScorerCard | None) -> list[str]:
            self.load(cand.version)
            return []

        return self.registry.promote(version, check)

    def rollback(self, note: str = "") -> ScorerCard:
        """Production goes back to the scorer promoted before the current one."""
        return self.registry.rollback(note)

    def feature_config(self, card: ScorerCard) -> FeatureConfig:
        try:
            return FeatureConfig(**card.feature_config)
        except TypeError as exc:
            raise FeatureMismatch(f"scorer {card.version}: feature_config {card.feature_config} ({exc})") from exc


class ForecastCard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    horizon: Literal["day", "week"]
    cell_m: float
    categories: list[str]
    period_start: str
    period_end: str
    history_days: int
    source: str = Field(default="", description="what it was fitted on, e.g. 'case store' or 'simulated city'")
    created_at: str = Field(default_factory=now_iso)
    sha256: str
    geojson_sha256: str


class ForecastStore:
    """Fitted hotspot forecasts, one folder per fit; the newest per (horizon, cell size) is the one served."""

    def __init__(self, root: Path):
        self.root = Path(root)
        layout = CardLayout(self.root, ForecastCard.model_validate, what="forecast", error=ScorerFileError, card=CARD)
        self.registry = VersionRegistry(layout)

    def save(
        self,
        forecaster: Any,
        geojson: dict[str, Any],
        *,
        horizon: Literal["day", "week"],
        history_days: int,
        source: str = "",
    ) -> ForecastCard:
        props = geojson["properties"]
        cell_m = float(props["cell_m"])
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        version = self.registry.unique_version(f"{horizon}-{cell_m:g}m-{stamp}")

        def build(folder: Path) -> ForecastCard:
            joblib.dump(forecaster, folder / FORECASTER)
            atomic_write(folder / FORECAST, json.dumps(geojson, ensure_ascii=False).encode())
            return ForecastCard(
                version=version,
                horizon=horizon,
                cell_m=cell_m,
                categories=list(props["categories"]),
                period_start=props["period_start"],
                period_end=props["period_end"],
                history_days=history_days,
                source=source,
                sha256=sha256_file(folder / FORECASTER),
                geojson_sha256=sha256_file(folder / FORECAST),
            )

        return self.registry.add(version, build)

    def cards(self) -> list[ForecastCard]:
        """Every forecast, oldest first (an unreadable card is an error)."""
        return self.registry.versions()

    def latest(self, horizon: str, cell_m: float | None = None) -> ForecastCard | None:
        """The newest forecast for `horizon` (and `cell_m`, when given)."""
        cards = [c for c in self.cards() if c.horizon == horizon and (cell_m is None or c.cell_m == cell_m)]
        return cards[-1] if cards else None

    def geojson(self, card: ForecastCard) -> dict[str, Any]:
        """The stored forecast, checked against its card."""
        path = self.registry.path(card.version) / FORECAST
        if not path.is_file() or sha256_file(path) != card.geojson_sha256:
            raise ScorerFileError(f"forecast {card.version}: {path} is missing or corrupt")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data


def scorer_store(paths: DataDir) -> ScorerStore:
    """The data dir's scorer registry."""
    return ScorerStore(paths.scorers)


def forecast_store(paths: DataDir) -> ForecastStore:
    """The data dir's forecast registry."""
    return ForecastStore(paths.forecasts)
