"""Scorer versions on disk, under `<data_dir>/scorers/`:

    <version>/scorer.joblib    the fitted `Scorer` (joblib pickle of the sklearn objects)
    <version>/card.json        `ScorerCard`: kind, feature list and levels, feature config, metrics, checksum
    production.json            the promoted version (the one live cases are scored with) and the ones before it

A saved version is a candidate until `promote` makes it production (the previous one is archived); like the
detector registry (`models/registry.py`) a version never changes once written.

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

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import joblib
import sklearn
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cases.scoring.errors import FeatureMismatch, ScorerFileError
from cases.scoring.features import FEATURE_NAMES, SOURCE_KINDS, ZONES, FeatureConfig
from cases.scoring.model import Scorer, Selection

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
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
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


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    promoted_at: str
    archived: list[str] = Field(default_factory=list, description="versions promoted before, newest last")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class ScorerStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def save(
        self, selection: Selection, config: FeatureConfig, version: str | None = None, notes: str = ""
    ) -> ScorerCard:
        scorer = selection.scorer
        if version is None:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            version = f"{scorer.kind}-{stamp}"
            n = 1
            while (self.root / version).exists():
                n += 1
                version = f"{scorer.kind}-{stamp}-{n}"
        folder = self.root / version
        if folder.exists():
            raise ScorerFileError(f"scorer version {version} already exists in {self.root}")
        folder.mkdir(parents=True)
        pkl = folder / PICKLE
        joblib.dump(scorer, pkl)
        card = ScorerCard(
            version=version,
            kind=scorer.kind,
            features=list(scorer.features),
            categories=list(scorer.categories),
            zones=list(ZONES),
            source_kinds=list(SOURCE_KINDS),
            feature_config={k: float(v) for k, v in asdict(config).items()},
            metrics=selection.metrics,
            reason=selection.reason,
            sha256=_sha256(pkl),
            notes=notes,
        )
        _atomic_write(folder / CARD, card.model_dump_json(indent=2).encode())
        return card

    def card(self, version: str) -> ScorerCard:
        path = self.root / version / CARD
        if not path.is_file():
            raise ScorerFileError(f"scorer {version!r}: no {CARD} in {path.parent}")
        try:
            return ScorerCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            raise ScorerFileError(f"{path}: unreadable scorer card ({str(exc).splitlines()[0]})") from exc

    def versions(self) -> list[ScorerCard]:
        """Every readable card, oldest first (an unreadable one is an error: nothing is silently skipped)."""
        if not self.root.is_dir():
            return []
        cards = [self.card(p.name) for p in self.root.iterdir() if (p / CARD).is_file()]
        return sorted(cards, key=lambda c: (c.created_at, c.version))

    def latest(self) -> str | None:
        cards = self.versions()
        return cards[-1].version if cards else None

    def load(self, version: str, categories: tuple[str, ...] | None = None) -> tuple[Scorer, ScorerCard]:
        """The scorer and its card; fails loudly on a mismatched feature set or a corrupt file."""
        card = self.card(version)
        card.check_code(categories)
        pkl = self.root / version / PICKLE
        if not pkl.is_file():
            raise ScorerFileError(f"scorer {version}: {pkl} is missing")
        if _sha256(pkl) != card.sha256:
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
        path = self.root / PRODUCTION
        if not path.is_file():
            return None
        try:
            return Promotion.model_validate_json(path.read_text(encoding="utf-8")).version
        except (ValueError, ValidationError) as exc:
            raise ScorerFileError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from exc

    def production_stamp(self) -> float:
        """Changes whenever a version is promoted (the file's mtime; 0 when none is): cheap to poll."""
        try:
            return (self.root / PRODUCTION).stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0

    def stage(self, version: str) -> Literal["candidate", "production", "archived"]:
        path = self.root / PRODUCTION
        if not path.is_file():
            return "candidate"
        promotion = Promotion.model_validate_json(path.read_text(encoding="utf-8"))
        if promotion.version == version:
            return "production"
        return "archived" if version in promotion.archived else "candidate"

    def promote(self, version: str) -> ScorerCard:
        """Make `version` the production scorer; it must load (a broken or mismatched one is refused)."""
        self.load(version)
        card = self.card(version)
        current = self.production()
        archived: list[str] = []
        path = self.root / PRODUCTION
        if path.is_file():
            archived = Promotion.model_validate_json(path.read_text(encoding="utf-8")).archived
        if current is not None and current != version:
            archived = [v for v in archived if v != current] + [current]
        archived = [v for v in archived if v != version]
        promotion = Promotion(
            version=version, promoted_at=datetime.now(UTC).isoformat(timespec="seconds"), archived=archived
        )
        _atomic_write(path, promotion.model_dump_json(indent=2).encode())
        return card

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
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    sha256: str
    geojson_sha256: str


class ForecastStore:
    """Fitted hotspot forecasts, one folder per fit; the newest per (horizon, cell size) is the one served."""

    def __init__(self, root: Path):
        self.root = Path(root)

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
        base = f"{horizon}-{cell_m:g}m-{stamp}"
        version, n = base, 1
        while (self.root / version).exists():
            n += 1
            version = f"{base}-{n}"
        folder = self.root / version
        folder.mkdir(parents=True)
        joblib.dump(forecaster, folder / FORECASTER)
        _atomic_write(folder / FORECAST, json.dumps(geojson, ensure_ascii=False).encode())
        card = ForecastCard(
            version=version,
            horizon=horizon,
            cell_m=cell_m,
            categories=list(props["categories"]),
            period_start=props["period_start"],
            period_end=props["period_end"],
            history_days=history_days,
            source=source,
            sha256=_sha256(folder / FORECASTER),
            geojson_sha256=_sha256(folder / FORECAST),
        )
        _atomic_write(folder / CARD, card.model_dump_json(indent=2).encode())
        return card

    def cards(self) -> list[ForecastCard]:
        """Every forecast, oldest first (an unreadable card is an error)."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            path = folder / CARD
            if not path.is_file():
                continue
            try:
                out.append(ForecastCard.model_validate_json(path.read_text(encoding="utf-8")))
            except (ValueError, ValidationError) as exc:
                raise ScorerFileError(f"{path}: unreadable forecast card ({str(exc).splitlines()[0]})") from exc
        return sorted(out, key=lambda c: (c.created_at, c.version))

    def latest(self, horizon: str, cell_m: float | None = None) -> ForecastCard | None:
        """The newest forecast for `horizon` (and `cell_m`, when given)."""
        cards = [c for c in self.cards() if c.horizon == horizon and (cell_m is None or c.cell_m == cell_m)]
        return cards[-1] if cards else None

    def geojson(self, card: ForecastCard) -> dict[str, Any]:
        """The stored forecast, checked against its card."""
        path = self.root / card.version / FORECAST
        if not path.is_file() or _sha256(path) != card.geojson_sha256:
            raise ScorerFileError(f"forecast {card.version}: {path} is missing or corrupt")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
