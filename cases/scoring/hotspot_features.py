"""Space-time features of a cell's complaint counts, and the count models the back-test fits on them.

Every feature at origin index d reads only days before d: the cell's counts over the last 7, 28, 91 and 365 days,
the same period 52 weeks earlier (and the three weeks around it), the 28- and 365-day counts of the 8 neighbouring
cells and the 365-day count of the next ring (5 × 5 less 3 × 3), the days since the cell's last complaint, the
city-wide 7-day count and 28-day trend (the last 28 days against the 365-day rate), and the season of the origin
(day of year as sin/cos) and its weekday.

Models: `hgb`, `HistGradientBoostingRegressor(loss="poisson")`; `glm`, a Poisson regression
(`PoissonRegressor`) on log(1 + count) features.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor

from cases.scoring.errors import ScoringError

if TYPE_CHECKING:
    from cases.scoring.backtest import BacktestConfig, CellCounts

HOTSPOT_FEATURES: tuple[str, ...] = (
    "last_7d",
    "last_28d",
    "last_91d",
    "last_365d",
    "same_period_last_year",
    "around_last_year_21d",
    "neighbours_28d",
    "neighbours_365d",
    "ring2_365d",
    "days_since_last",
    "city_7d",
    "city_trend_28d",
    "season_sin",
    "season_cos",
    "weekday",
)
_COUNT_COLUMNS = 12  # the first 12 are counts (log1p for the GLM)
_MAX_GAP = 400


def _ring(grid_counts: np.ndarray, ny: int, nx: int, r: int) -> np.ndarray:
    """Sum over the (2r+1)² block around each cell (itself included), flat."""
    g = grid_counts.reshape(ny, nx)
    padded = np.pad(g, r)
    total = np.zeros_like(g)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            total += padded[r + dy : r + dy + ny, r + dx : r + dx + nx]
    return total.reshape(-1)


class SpaceTimeFeatures:
    """Feature rows for the study-area cells at an origin, cached per origin (they are reused by every refit)."""

    def __init__(self, counts: CellCounts, area: np.ndarray, horizon: int):
        self.counts, self.area, self.horizon = counts, area, horizon
        days = np.arange(counts.days, dtype=np.int16)[:, None]
        seen = np.where(counts.counts > 0, days, np.int16(-1)).astype(np.int16)
        self.last_seen = np.maximum.accumulate(seen, axis=0)  # [day, cell]: last day <= day with a complaint
        self._cache: dict[int, np.ndarray] = {}

    def matrix(self, d: int) -> np.ndarray:
        if d not in self._cache:
            self._cache[d] = self._build(d)
        return self._cache[d]

    def _build(self, d: int) -> np.ndarray:
        c, h, g = self.counts, self.horizon, self.counts.grid
        w7, w28, w91, w365 = (c.window(d - n, d) for n in (7, 28, 91, 365))
        last_year = c.window(d - 364, d - 364 + h)
        around = c.window(d - 371, d - 357 + h)
        n28 = _ring(w28, g.ny, g.nx, 1) - w28
        r1 = _ring(w365, g.ny, g.nx, 1)
        n365 = r1 - w365
        ring2 = _ring(w365, g.ny, g.nx, 2) - r1
        if d > 0:
            last = self.last_seen[min(d, c.days) - 1].astype(float)
            gap = np.where(last >= 0, d - last, _MAX_GAP)
        else:
            gap = np.full(g.cells, float(_MAX_GAP))
        gap = np.minimum(gap, _MAX_GAP)
        city7 = np.full(g.cells, w7.sum())
        rate365 = w365.sum() * 28 / 365
        city_trend = np.full(g.cells, w28.sum() / rate365 if rate365 > 0 else 1.0)
        start = c.first_day + timedelta(days=d)
        doy = 2 * math.pi * start.timetuple().tm_yday / 365.25
        const = [np.full(g.cells, v) for v in (math.sin(doy), math.cos(doy), float(start.weekday()))]
        cols = [w7, w28, w91, w365, last_year, around, n28, n365, ring2, gap, city7, city_trend, *const]
        return np.stack([col[self.area] for col in cols], axis=1).astype(np.float32)

    def target(self, d: int) -> np.ndarray:
        return self.counts.window(d, d + self.horizon)[self.area]


class _LogPoissonGLM:
    """Poisson regression on log(1 + counts) and standardised columns."""

    def __init__(self) -> None:
        self.model = PoissonRegressor(alpha=1e-4, max_iter=300)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _x(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float).copy()
        X[:, :_COUNT_COLUMNS] = np.log1p(np.maximum(X[:, :_COUNT_COLUMNS], 0))
        return X

    def fit(self, X: np.ndarray, y: np.ndarray) -> _LogPoissonGLM:
        Z = self._x(X)
        self.mean, self.std = Z.mean(axis=0), Z.std(axis=0) + 1e-9
        self.model.fit((Z - self.mean) / self.std, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        assert self.mean is not None and self.std is not None
        return np.asarray(self.model.predict((self._x(X) - self.mean) / self.std))


def training_origins(d: int, config: BacktestConfig) -> list[int]:
    """Origins t whose target period [t, t + horizon) ends by origin d, within `train_days` before it."""
    h = config.horizon_days
    out, t = [], d - h
    while t >= max(d - config.train_days, 28):
        out.append(t)
        t -= config.train_stride_days
    return out[::-1]


def fit_model(name: str, feats: SpaceTimeFeatures, d: int, config: BacktestConfig) -> Any:
    """Fit model `name` on the training origins before origin index d."""
    origins = training_origins(d, config)
    if len(origins) < 4:
        raise ScoringError(
            f"forecast back-test: only {len(origins)} training origins before the first; need more history"
        )
    X = np.concatenate([feats.matrix(t) for t in origins])
    y = np.concatenate([feats.target(t) for t in origins])
    if name == "glm":
        return _LogPoissonGLM().fit(X, y)
    if name == "hgb":
        return HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=100,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=config.seed,
        ).fit(X, y)
    raise ScoringError(f"unknown model {name!r}")
