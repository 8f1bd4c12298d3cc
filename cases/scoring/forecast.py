"""Hotspot forecast: expected confirmed problems per category per grid cell for the next day or week.

`Grid` cuts the city into square cells of `cell_m` metres. `CountHistory` counts confirmed problems per local
day, cell and category, by the day they were first seen. The forecast for the period starting at local day d
uses only what was known at local midnight of d: problems first seen before d *and* confirmed before that
midnight (a construction confirmed three weeks after it appeared is not counted until then).

Features per (cell, category, origin day): counts in the last period, last 7 and 28 days, the same period one
week earlier, the long-run rate of the cell, the 28-day count of the 8 neighbouring cells, the city-wide 7-day
count of the category, the weekday and the season (day of year as sin/cos). The model is a
`HistGradientBoostingRegressor(loss="poisson")`; the naive baseline repeats the last period's count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from cases.scoring.errors import ScoringError
from inference.geo import EARTH_RADIUS_M

FORECAST_FEATURES: tuple[str, ...] = (
    "category",
    "last_period",
    "last_7d",
    "last_28d",
    "period_week_before",
    "longrun_per_period",
    "neighbours_28d",
    "city_7d",
    "weekday",
    "season_sin",
    "season_cos",
)
_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M


@dataclass(frozen=True, slots=True)
class Grid:
    """Square cells of `cell_m` metres from the south-west corner (`south`, `west`), `nx` × `ny` of them."""

    south: float
    west: float
    cell_m: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if self.cell_m <= 0 or self.nx < 1 or self.ny < 1:
            raise ScoringError(f"grid: cell_m > 0 and nx, ny >= 1 needed, got {self.cell_m}, {self.nx}, {self.ny}")

    @classmethod
    def covering(cls, lats: Sequence[float], lons: Sequence[float], cell_m: float) -> Grid:
        if len(lats) == 0:
            raise ScoringError("grid: no points to cover")
        south, north, west, east = min(lats), max(lats), min(lons), max(lons)
        kx = _M_PER_DEG * math.cos(math.radians((south + north) / 2))
        nx = int((east - west) * kx // cell_m) + 1
        ny = int((north - south) * _M_PER_DEG // cell_m) + 1
        return cls(south, west, cell_m, nx, ny)

    @property
    def cells(self) -> int:
        return self.nx * self.ny

    @property
    def _kx(self) -> float:
        return _M_PER_DEG * math.cos(math.radians(self.south + self.ny * self.cell_m / _M_PER_DEG / 2))

    def cell_of(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Flat cell index (iy · nx + ix) of each point; −1 outside the grid."""
        ix = np.floor((np.asarray(lon) - self.west) * self._kx / self.cell_m).astype(int)
        iy = np.floor((np.asarray(lat) - self.south) * _M_PER_DEG / self.cell_m).astype(int)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, iy * self.nx + ix, -1)

    def ring(self, cell: int) -> list[list[float]]:
        """The cell's outline as a closed GeoJSON ring of [lon, lat]."""
        iy, ix = divmod(cell, self.nx)
        w = self.west + ix * self.cell_m / self._kx
        e = self.west + (ix + 1) * self.cell_m / self._kx
        s = self.south + iy * self.cell_m / _M_PER_DEG
        n = self.south + (iy + 1) * self.cell_m / _M_PER_DEG
        return [[w, s], [e, s], [e, n], [w, n], [w, s]]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A confirmed problem: where, which category, when first seen and when its confirmation was known."""

    category: str
    lat: float
    lon: float
    first_seen: datetime
    known_at: datetime


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    horizon_days: int = 1  # 1: next day, 7: next week
    min_history_days: int = 14  # origins earlier than this are not used for fitting
    utc_offset_h: float = 8.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_days not in (1, 7):
            raise ScoringError(f"horizon_days must be 1 (day) or 7 (week), got {self.horizon_days}")


class CountHistory:
    """Confirmed problems as counts[day, cell, category], plus what was still unconfirmed at each midnight."""

    def __init__(
        self,
        occurrences: Sequence[Occurrence],
        grid: Grid,
        categories: Sequence[str],
        first_day: date,
        days: int,
        utc_offset_h: float = 8.0,
    ):
        self.grid, self.categories, self.first_day, self.days = grid, tuple(categories), first_day, days
        self.offset = timedelta(hours=utc_offset_h)
        self.counts = np.zeros((days, grid.cells, len(self.categories)), dtype=np.int32)
        pending: list[tuple[int, int, int, int]] = []  # (day seen, last origin still pending, cell, category)
        for o in occurrences:
            if o.category not in self.categories:
                continue
            cell = int(grid.cell_of(np.array([o.lat]), np.array([o.lon]))[0])
            day = self.day_of(o.first_seen)
            if cell < 0 or not 0 <= day < days:
                continue
            k = self.categories.index(o.category)
            self.counts[day, cell, k] += 1
            known_day = self.day_of(o.known_at)  # pending at origins d with day < d <= known_day
            if known_day > day:
                pending.append((day, known_day, cell, k))
        self.pending = np.array(pending, dtype=np.int64).reshape(-1, 4)
        self.cum = np.concatenate([np.zeros((1, grid.cells, len(self.categories))), np.cumsum(self.counts, axis=0)])

    def day_of(self, t: datetime) -> int:
        local = (t.astimezone(UTC) + self.offset).date()
        return (local - self.first_day).days

    def midnight(self, d: int) -> datetime:
        """Local midnight of day d, as an aware UTC datetime."""
        return datetime.combine(self.first_day + timedelta(days=d), datetime.min.time(), UTC) - self.offset

    def _window(self, d: int, lo: int, hi: int) -> np.ndarray:
        """Counts over days [d − lo, d − hi) known at origin d: (cells, categories)."""
        a, b = max(d - lo, 0), max(min(d - hi, self.days), 0)
        w = self.cum[b] - self.cum[a] if b > a else np.zeros(self.cum.shape[1:])
        if len(self.pending):
            p = self.pending
            m = (p[:, 0] >= a) & (p[:, 0] < b) & (p[:, 0] < d) & (d <= p[:, 1])
            np.subtract.at(w, (p[m, 2], p[m, 3]), 1)
        return w

    def features(self, d: int, horizon: int) -> np.ndarray:
        """Rows (cells × categories, len(FORECAST_FEATURES)) for the period starting at local day d."""
        g, nk = self.grid, len(self.categories)
        last = self._window(d, horizon, 0)
        last7 = self._window(d, 7, 0)
        last28 = self._window(d, 28, 0)
        week_before = self._window(d, 7, 7 - horizon) if horizon < 7 else self._window(d, 14, 7)
        longrun = self._window(d, d, 0) / max(d, 1) * horizon
        grid28 = last28.reshape(g.ny, g.nx, nk)
        padded = np.pad(grid28, ((1, 1), (1, 1), (0, 0)))
        neigh = sum(padded[1 + dy : 1 + dy + g.ny, 1 + dx : 1 + dx + g.nx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        neigh = (neigh - grid28).reshape(g.cells, nk)
        city7 = np.broadcast_to(last7.sum(axis=0, keepdims=True), last7.shape)
        start = self.first_day + timedelta(days=d)
        doy = 2 * math.pi * start.timetuple().tm_yday / 365.25
        cat = np.broadcast_to(np.arange(nk, dtype=float), last.shape)
        const = [np.full(last.shape, v) for v in (start.weekday(), math.sin(doy), math.cos(doy))]
        cols = [cat, last, last7, last28, week_before, longrun, neigh, city7, *const]
        return np.stack([c.reshape(-1) for c in cols], axis=1)

    def target(self, d: int, horizon: int) -> np.ndarray:
        """What actually happened over days [d, d + horizon): (cells × categories,)."""
        if d + horizon > self.days:
            raise ScoringError(f"no complete period at day {d} (history has {self.days} days)")
        return (self.cum[d + horizon] - self.cum[d]).reshape(-1)

    def naive(self, d: int, horizon: int) -> np.ndarray:
        """The baseline: the last period's count, as known at origin d."""
        return self._window(d, horizon, 0).reshape(-1)


class HotspotForecaster:
    def __init__(self, config: ForecastConfig | None = None):
        self.config = config or ForecastConfig()
        self.model: HistGradientBoostingRegressor | None = None

    def origins(self, history: CountHistory, until: int) -> range:
        """Origins whose whole target period ends by day `until` (exclusive)."""
        return range(self.config.min_history_days, until - self.config.horizon_days + 1)

    def fit(self, history: CountHistory, until: int | None = None) -> HotspotForecaster:
        """Fit on every origin whose target period ends before day `until` (default: the end of history)."""
        h = self.config.horizon_days
        days = self.origins(history, history.days if until is None else until)
        if len(days) < 7:
            raise ScoringError(f"forecast: {len(days)} usable days; need more history")
        X = np.concatenate([history.features(d, h) for d in days])
        y = np.concatenate([history.target(d, h) for d in days])
        self.model = HistGradientBoostingRegressor(
            loss="poisson",
            categorical_features=[name == "category" for name in FORECAST_FEATURES],
            max_iter=100,
            learning_rate=0.05,
            max_leaf_nodes=7,
            min_samples_leaf=200,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.config.seed,
        ).fit(X, y)
        return self

    def predict(self, history: CountHistory, d: int) -> np.ndarray:
        """Expected counts (cells, categories) for the period starting at local day d."""
        if self.model is None:
            raise ScoringError("forecast: fit the forecaster first")
        mu = self.model.predict(history.features(d, self.config.horizon_days))
        return mu.reshape(history.grid.cells, len(history.categories))


def to_geojson(
    history: CountHistory, expected: np.ndarray, d: int, horizon: int, min_total: float = 0.0
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: one Polygon per cell whose expected total is at least `min_total`."""
    grid, cats = history.grid, history.categories
    if expected.shape != (grid.cells, len(cats)):
        raise ScoringError(f"expected: shape ({grid.cells}, {len(cats)}) needed, got {expected.shape}")
    start, end = history.midnight(d), history.midnight(d + horizon)
    features = []
    for cell in range(grid.cells):
        total = float(expected[cell].sum())
        if total < min_total:
            continue
        iy, ix = divmod(cell, grid.nx)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [grid.ring(cell)]},
                "properties": {
                    "cell": cell,
                    "ix": ix,
                    "iy": iy,
                    "expected": {c: round(float(expected[cell, k]), 4) for k, c in enumerate(cats)},
                    "total": round(total, 4),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "properties": {
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "cell_m": grid.cell_m,
            "categories": list(cats),
        },
        "features": features,
    }


@dataclass(frozen=True)
class FittedForecast:
    forecaster: HotspotForecaster
    geojson: dict[str, Any]
    history_days: int


def fit_forecast(
    occurrences: Sequence[Occurrence],
    categories: Sequence[str],
    horizon_days: int,
    cell_m: float,
    min_total: float = 0.0,
    utc_offset_h: float = 8.0,
) -> FittedForecast:
    """Fit a forecaster on every confirmed problem and forecast the period right after the history.

    The grid covers the problems; the history runs from the local day of the first one to that of the last.
    """
    if not occurrences:
        raise ScoringError("forecast: no confirmed problems with a position to learn from")
    cfg = ForecastConfig(horizon_days=horizon_days, utc_offset_h=utc_offset_h)
    grid = Grid.covering([o.lat for o in occurrences], [o.lon for o in occurrences], cell_m)
    offset = timedelta(hours=utc_offset_h)
    first_day = (min(o.first_seen for o in occurrences) + offset).date()
    days = ((max(o.first_seen for o in occurrences) + offset).date() - first_day).days + 1
    history = CountHistory(occurrences, grid, categories, first_day, days, utc_offset_h)
    forecaster = HotspotForecaster(cfg).fit(history)
    expected = forecaster.predict(history, days)  # the period after the history: features need days < `days`
    return FittedForecast(forecaster, to_geojson(history, expected, days, horizon_days, min_total), days)
