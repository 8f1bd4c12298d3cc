"""Case features for P(confirmed), computed only from what is known at the scoring time.

`CaseSnapshot` is a case as the scorer sees it (observations summarised, nothing about its verdict);
`VerdictHistory` holds the inspector verdicts of earlier cases; `FeatureBuilder.transform` turns snapshots
plus history into a `FeatureMatrix` whose columns are `FEATURES`, in that order.

No leakage: a snapshot must not be newer than its scoring time (`LeakageError` otherwise), and the history
only counts verdicts given strictly before the scoring time (`verdict_at < at`), never the case's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np

from cases.scoring.errors import LeakageError, ScoringError
from inference.geo import EARTH_RADIUS_M

SourceKind = Literal["camera", "drone", "mixed"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("camera", "drone", "mixed")
ZONES: tuple[str, ...] = ("residential", "commercial", "market", "industrial", "park")


class Verdict(StrEnum):
    CONFIRMED = "confirmed"  # the inspector found the problem on site
    FALSE_POSITIVE = "false_positive"  # nothing there (or not a problem): the case is dismissed


def _aware(name: str, t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ScoringError(f"{name}: naive datetime {t.isoformat()} refused; use timezone-aware UTC")


@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """A case as known at some moment: its observations summarised. Holds nothing about its verdict."""

    case_id: int
    category: str
    lat: float
    lon: float
    first_seen: datetime
    last_seen: datetime
    observation_count: int
    source_count: int
    source_kind: SourceKind
    max_confidence: float
    mean_confidence: float
    object_size_m2: float | None = None  # ground area of the detected object, when geo-projected
    source_quality: float | None = None  # 0..1, the best observing source's precision record
    zone: str | None = None  # one of ZONES, when the location falls in a mapped zone

    def __post_init__(self) -> None:
        _aware("first_seen", self.first_seen)
        _aware("last_seen", self.last_seen)
        if self.last_seen < self.first_seen:
            raise ScoringError(f"case {self.case_id}: last_seen before first_seen")
        if self.observation_count < 1 or self.source_count < 1 or self.source_count > self.observation_count:
            raise ScoringError(
                f"case {self.case_id}: need 1 <= source_count <= observation_count, "
                f"got {self.source_count} sources, {self.observation_count} observations"
            )
        if not (0.0 <= self.mean_confidence <= self.max_confidence <= 1.0):
            raise ScoringError(
                f"case {self.case_id}: need 0 <= mean_confidence <= max_confidence <= 1, "
                f"got {self.mean_confidence}, {self.max_confidence}"
            )
        if self.source_kind not in SOURCE_KINDS:
            raise ScoringError(f"case {self.case_id}: source_kind {self.source_kind!r} not in {SOURCE_KINDS}")

    @property
    def persistence_h(self) -> float:
        return (self.last_seen - self.first_seen).total_seconds() / 3600.0


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """An inspector's verdict on a case, with where and when."""

    case_id: int
    category: str
    lat: float
    lon: float
    verdict: Verdict
    verdict_at: datetime

    def __post_init__(self) -> None:
        _aware("verdict_at", self.verdict_at)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    kind: Literal["numeric", "categorical"]
    description: str


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("category", "categorical", "problem category (index into the taxonomy's categories)"),
    FeatureSpec("max_confidence", "numeric", "highest detector confidence over the observations"),
    FeatureSpec("mean_confidence", "numeric", "mean detector confidence over the observations"),
    FeatureSpec("observation_count", "numeric", "number of observations (events) merged into the case"),
    FeatureSpec("source_count", "numeric", "number of distinct cameras / drone surveys that saw it"),
    FeatureSpec("persistence_h", "numeric", "hours between first and last sighting"),
    FeatureSpec("object_size_m2", "numeric", "ground area of the object in m² (missing without geo)"),
    FeatureSpec("hour_of_day", "numeric", "local hour of the first sighting (0..23)"),
    FeatureSpec("day_of_week", "numeric", "local weekday of the first sighting (0 = Monday)"),
    FeatureSpec("zone", "categorical", "zone type of the location (index into ZONES; missing if unmapped)"),
    FeatureSpec("source_kind", "categorical", "camera, drone or mixed (index into SOURCE_KINDS)"),
    FeatureSpec("source_quality", "numeric", "best observing source's quality 0..1 (missing if unknown)"),
    FeatureSpec("confirmed_nearby", "numeric", "confirmed verdicts within radius_m in the past window_days"),
    FeatureSpec("dismissed_nearby", "numeric", "false-positive verdicts within radius_m in the past window_days"),
    FeatureSpec("recurrence", "numeric", "same-category confirmed verdicts within radius_m in recurrence_days"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL: tuple[bool, ...] = tuple(f.kind == "categorical" for f in FEATURES)
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """How the location-history features look back, and the city's clock."""

    radius_m: float = 50.0
    window_days: float = 30.0
    recurrence_days: float = 90.0
    utc_offset_h: float = 8.0  # local time of the city (China Standard Time) for hour/weekday

    def __post_init__(self) -> None:
        if self.radius_m <= 0 or self.window_days <= 0 or self.recurrence_days <= 0:
            raise ScoringError("radius_m, window_days and recurrence_days must be > 0")


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows of features (columns `FEATURE_NAMES`), each with its case id and scoring time (epoch s)."""

    X: np.ndarray
    case_ids: np.ndarray
    at: np.ndarray
    names: tuple[str, ...] = field(default=FEATURE_NAMES)

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.shape[1] != len(self.names):
            raise ScoringError(f"X: expected shape (n, {len(self.names)}), got {self.X.shape}")
        if self.case_ids.shape != (len(self.X),) or self.at.shape != (len(self.X),):
            raise ScoringError(
                f"case_ids/at: expected shape ({len(self.X)},), got {self.case_ids.shape} / {self.at.shape}"
            )

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index: np.ndarray | slice) -> FeatureMatrix:
        """Boolean mask, integer array or slice: the same type with those rows."""
        return FeatureMatrix(self.X[index], self.case_ids[index], self.at[index], self.names)

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


def _epoch(t: datetime) -> float:
    return t.timestamp()


class VerdictHistory:
    """Verdicts indexed by time and place, for "what happened near here before `at`" queries.

    Positions are projected to metres (equirectangular around `ref_lat`), accurate to well under 1 %
    over a city; radii of tens to hundreds of metres are what it is for.
    """

    def __init__(self, records: Sequence[VerdictRecord], ref_lat: float | None = None):
        recs = sorted(records, key=lambda r: (r.verdict_at, r.case_id))
        lats = np.array([r.lat for r in recs], dtype=float)
        self.ref_lat = float(ref_lat if ref_lat is not None else (lats.mean() if len(lats) else 0.0))
        self._t = np.array([_epoch(r.verdict_at) for r in recs], dtype=float)
        self._x, self._y = self.project(lats, np.array([r.lon for r in recs], dtype=float))
        self._confirmed = np.array([r.verdict == Verdict.CONFIRMED for r in recs], dtype=bool)
        self._category = np.array([r.category for r in recs], dtype=object)
        self._case = np.array([r.case_id for r in recs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._t)

    def project(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = math.pi / 180.0 * EARTH_RADIUS_M
        return lon * k * math.cos(math.radians(self.ref_lat)), lat * k

    def nearby(self, case: CaseSnapshot, at: datetime, config: FeatureConfig) -> tuple[int, int, int]:
        """(confirmed in window, dismissed in window, same-category confirmed in recurrence window)
        within `config.radius_m` of the case, counting only verdicts given before `at`, never its own."""
        t = _epoch(at)
        longest = max(config.window_days, config.recurrence_days) * 86400.0
        lo, hi = np.searchsorted(self._t, [t - longest, t], side="left")
        if hi <= lo:
            return 0, 0, 0
        x, y = self.project(np.array([case.lat]), np.array([case.lon]))
        sl = slice(lo, hi)
        near = (self._x[sl] - x[0]) ** 2 + (self._y[sl] - y[0]) ** 2 <= config.radius_m**2
        near &= self._case[sl] != case.case_id
        in_window = self._t[sl] >= t - config.window_days * 86400.0
        in_recur = self._t[sl] >= t - config.recurrence_days * 86400.0
        conf = self._confirmed[sl]
        return (
            int(np.count_nonzero(near & in_window & conf)),
            int(np.count_nonzero(near & in_window & ~conf)),
            int(np.count_nonzero(near & in_recur & conf & (self._category[sl] == case.category))),
        )


class FeatureBuilder:
    """Snapshots + verdict history → `FeatureMatrix`. `categories` fixes the category encoding (taxonomy order)."""

    def __init__(self, categories: Sequence[str], config: FeatureConfig | None = None):
        if not categories:
            raise ScoringError("no categories")
        self.categories = tuple(categories)
        self.config = config or FeatureConfig()

    def row(self, case: CaseSnapshot, history: VerdictHistory, at: datetime) -> np.ndarray:
        _aware("at", at)
        if case.last_seen > at:
            raise LeakageError(
                f"case {case.case_id}: snapshot last_seen {case.last_seen.isoformat()} is after "
                f"the scoring time {at.isoformat()}"
            )
        if case.category not in self.categories:
            raise ScoringError(f"case {case.case_id}: unknown category {case.category!r}; known: {self.categories}")
        local = (case.first_seen + timedelta(hours=self.config.utc_offset_h)).astimezone(UTC)
        confirmed, dismissed, recurrence = history.nearby(case, at, self.config)
        nan = math.nan
        values = {
            "category": float(self.categories.index(case.category)),
            "max_confidence": case.max_confidence,
            "mean_confidence": case.mean_confidence,
            "observation_count": float(case.observation_count),
            "source_count": float(case.source_count),
            "persistence_h": case.persistence_h,
            "object_size_m2": nan if case.object_size_m2 is None else case.object_size_m2,
            "hour_of_day": float(local.hour),
            "day_of_week": float(local.weekday()),
            "zone": float(ZONES.index(case.zone)) if case.zone in ZONES else nan,
            "source_kind": float(SOURCE_KINDS.index(case.source_kind)),
            "source_quality": nan if case.source_quality is None else case.source_quality,
            "confirmed_nearby": float(confirmed),
            "dismissed_nearby": float(dismissed),
            "recurrence": float(recurrence),
        }
        return np.array([values[name] for name in FEATURE_NAMES], dtype=float)

    def transform(
        self, cases: Sequence[CaseSnapshot], history: VerdictHistory, at: Sequence[datetime] | None = None
    ) -> FeatureMatrix:
        """Features of each case scored at `at[i]` (default: its `last_seen`, the moment it was last updated)."""
        times = list(at) if at is not None else [c.last_seen for c in cases]
        if len(times) != len(cases):
            raise ScoringError(f"at: expected {len(cases)} times, got {len(times)}")
        X = np.empty((len(cases), len(FEATURE_NAMES)), dtype=float)
        for i, (case, t) in enumerate(zip(cases, times, strict=True)):
            X[i] = self.row(case, history, t)
        return FeatureMatrix(
            X,
            np.array([c.case_id for c in cases], dtype=np.int64),
            np.array([_epoch(t) for t in times], dtype=float),
        )
