"""Rolling-origin back-test of the hotspot forecast on a city's complaint history.

The history is counted per local day (`timezone`) and grid cell (`CellCounts`). The forecast origin rolls
through the test period one horizon (day or week) at a time; at every origin each method ranks the cells by its
expected count for the period [origin, origin + horizon) and is scored on what actually happened there. The
learned models are refitted every `refit_days` on origins of the previous `train_days`, each with a target period
that ends by the current origin, so nothing on or after an origin is used to forecast it
(`tests/cases/scoring/test_backtest.py` checks that adding a row after an origin changes no forecast at or before
it).

The study area is the cells with at least one complaint before the first origin; the top `top` share of them is
"forecast hot". Hit rate = the share of the period's complaints (in the grid) that fell in the hot cells, PAI =
hit rate ÷ area share (`hot_share`), Poisson deviance = mean over study-area cells and origins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from cases.scoring.errors import ScoringError
from cases.scoring.forecast import Grid
from cases.scoring.hotspot_features import SpaceTimeFeatures, fit_model
from cases.scoring.metrics import poisson_deviance

DROPPED_OUTCOMES = frozenset({"excluded"})
BASELINES = ("last 28 days", "last 365 days", "same week last year")
MODELS = ("hgb", "glm")
DEVIANCE_FLOOR = 1e-3


class HistoryRecord(Protocol):
    """The fields the back-test reads from a history row."""

    @property
    def opened_at(self) -> datetime: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def outcome(self) -> str | None: ...


def _day(t: datetime, zone: ZoneInfo) -> date:
    """The local day of `t` (a naive `t` is taken as UTC)."""
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(zone).date()


class CellCounts:
    """counts[day, cell]: complaints per local day (from `first_day`) and grid cell; cumulative sums for windows."""

    def __init__(self, grid: Grid, first_day: date, days: int, points: Iterable[tuple[date, float, float]]):
        self.grid, self.first_day, self.days = grid, first_day, days
        self.counts = np.zeros((days, grid.cells), dtype=np.int32)
        self.outside = 0
        ds, lats, lons = [], [], []
        for d, lat, lon in points:
            i = (d - first_day).days
            if 0 <= i < days:
                ds.append(i)
                lats.append(lat)
                lons.append(lon)
        if ds:
            cells = grid.cell_of(np.array(lats), np.array(lons))
            inside = cells >= 0
            self.outside = int((~inside).sum())
            np.add.at(self.counts, (np.array(ds)[inside], cells[inside]), 1)
        self.cum = np.concatenate([np.zeros((1, grid.cells), dtype=np.int64), np.cumsum(self.counts, axis=0)])

    def window(self, lo: int, hi: int) -> np.ndarray:
        """Counts per cell over days [lo, hi) (clipped to the history)."""
        a, b = min(max(lo, 0), self.days), min(max(hi, 0), self.days)
        return (self.cum[b] - self.cum[a]).astype(float) if b > a else np.zeros(self.grid.cells)

    def index(self, d: date) -> int:
        return (d - self.first_day).days


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    start: date  # the first origin
    end: date  # the last day a forecast period may cover (inclusive)
    cell_m: float = 250.0
    horizon_days: int = 7
    top: float = 0.01
    refit_days: int = 28
    train_days: int = 365
    train_stride_days: int = 7
    models: tuple[str, ...] = MODELS
    timezone: str = "UTC"  # days are local days of this zone (a history mapping's `timezone`)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_days not in (1, 7):
            raise ScoringError(f"horizon must be 1 (day) or 7 (week) days, got {self.horizon_days}")
        if not 0 < self.top < 1:
            raise ScoringError(f"--top is a share of the cells, 0 < top < 1, got {self.top}")
        if self.end < self.start + timedelta(days=self.horizon_days - 1):
            raise ScoringError(f"the period {self.start} .. {self.end} holds no whole {self.horizon_days}-day horizon")
        if self.cell_m <= 0:
            raise ScoringError(f"--cell-m must be > 0, got {self.cell_m}")
        unknown = set(self.models) - set(MODELS)
        if unknown:
            raise ScoringError(f"unknown models {sorted(unknown)} (known: {', '.join(MODELS)})")

    @property
    def lookback_days(self) -> int:
        """History kept before the first origin: the training window plus the longest feature window."""
        return self.train_days + 371


def hot_hits(mu: np.ndarray, y: np.ndarray, k: int) -> float:
    """Complaints in the `k` cells with the highest `mu`, expected over a random order of tied cells.

    Cells above the k-th value count fully; the cells tied at it share the remaining slots equally, so a
    baseline full of equal counts is neither favoured nor penalised by an arbitrary cell order.
    """
    mu, y = np.asarray(mu, dtype=float), np.asarray(y, dtype=float)
    if not 0 < k <= len(mu):
        raise ScoringError(f"k must be in 1..{len(mu)}, got {k}")
    threshold = np.partition(mu, len(mu) - k)[len(mu) - k]
    above, tied = mu > threshold, mu == threshold
    slots = k - int(above.sum())
    return float(y[above].sum() + y[tied].sum() * slots / int(tied.sum()))


def pai(hit_rate: float, hot_share: float) -> float:
    """Predictive accuracy index: the share of complaints caught ÷ the share of area flagged."""
    if not 0 < hot_share <= 1:
        raise ScoringError(f"area share must be in (0, 1], got {hot_share}")
    return hit_rate / hot_share


@dataclass
class MethodScore:
    hits: float = 0.0
    deviance_sum: float = 0.0

    def add(self, mu: np.ndarray, y_area: np.ndarray, k: int) -> None:
        self.hits += hot_hits(mu, y_area, k)
        self.deviance_sum += poisson_deviance(y_area, mu, floor=DEVIANCE_FLOOR) * len(y_area)


@dataclass
class BacktestResult:
    config: BacktestConfig
    grid_cells: int
    area_cells: int
    hot_cells: int
    origins: list[date] = field(default_factory=list)
    events: float = 0.0  # complaints in the forecast periods, inside the grid
    events_outside_area: float = 0.0  # ... of which in grid cells outside the study area
    rows_outside_grid: int = 0
    fits: int = 0
    wall_s: float = 0.0
    scores: dict[str, MethodScore] = field(default_factory=dict)
    predictions: dict[date, dict[str, np.ndarray]] = field(default_factory=dict)  # when keep_predictions

    @property
    def hot_share(self) -> float:
        return self.hot_cells / self.area_cells

    def hit_rate(self, method: str) -> float:
        return self.scores[method].hits / self.events if self.events else math.nan

    def pai(self, method: str) -> float:
        return pai(self.hit_rate(method), self.hot_share)

    def deviance(self, method: str) -> float:
        n = len(self.origins) * self.area_cells
        return self.scores[method].deviance_sum / n if n else math.nan

    def best_baseline(self) -> str:
        return max(BASELINES, key=self.pai)


def baselines(counts: CellCounts, d: int, horizon: int) -> dict[str, np.ndarray]:
    """The naive forecasts at origin index d, scaled to the horizon."""
    return {
        "last 28 days": counts.window(d - 28, d) * horizon / 28,
        "last 365 days": counts.window(d - 365, d) * horizon / 365,
        "same week last year": counts.window(d - 364, d - 364 + horizon),  # 52 weeks back: same weekdays
    }


def _points(rows: Iterable[HistoryRecord], zone: ZoneInfo) -> list[tuple[date, float, float]]:
    out = []
    for r in rows:
        if r.lat is None or r.lon is None or (r.outcome or "") in DROPPED_OUTCOMES:
            continue
        out.append((_day(r.opened_at, zone), float(r.lat), float(r.lon)))
    return out


def run_backtest(
    rows: Iterable[HistoryRecord],
    config: BacktestConfig,
    keep_predictions: bool = False,
    progress: Callable[[date, int], None] | None = None,
) -> BacktestResult:
    """Roll the origin from `config.start` through `config.end`; score every model and baseline at each origin."""
    t0 = time.monotonic()
    h = config.horizon_days
    points = _points(rows, ZoneInfo(config.timezone))
    before = [p for p in points if p[0] < config.start]
    if not before:
        raise ScoringError(f"no complaints with a position before {config.start}: nothing to learn from")
    first_day = max(min(p[0] for p in before), config.start - timedelta(days=config.lookback_days))
    before = [p for p in before if p[0] >= first_day]
    grid = Grid.covering([p[1] for p in before], [p[2] for p in before], config.cell_m)
    days = (config.end - first_day).days + 1
    counts = CellCounts(grid, first_day, days, points)
    s0 = counts.index(config.start)
    area = np.flatnonzero(counts.window(0, s0) > 0)
    k = max(1, math.ceil(config.top * len(area)))
    result = BacktestResult(config, grid.cells, len(area), k, rows_outside_grid=counts.outside)
    result.scores = {m: MethodScore() for m in (*config.models, *BASELINES)}
    feats = SpaceTimeFeatures(counts, area, h)
    fitted: dict[str, object] = {}
    last_fit: int | None = None
    d = s0
    while d + h <= days:
        if last_fit is None or d - last_fit >= config.refit_days:
            fitted = {m: fit_model(m, feats, d, config) for m in config.models}
            last_fit, result.fits = d, result.fits + 1
        y = counts.window(d, d + h)
        y_area = y[area]
        preds = {n: b[area] for n, b in baselines(counts, d, h).items()}
        if fitted:
            X = feats.matrix(d)
            for m, model in fitted.items():
                preds[m] = np.asarray(model.predict(X), dtype=float)  # type: ignore[attr-defined]
        for name, mu in preds.items():
            result.scores[name].add(mu, y_area, k)
        origin = first_day + timedelta(days=d)
        result.origins.append(origin)
        result.events += float(y.sum())
        result.events_outside_area += float(y.sum() - y_area.sum())
        if keep_predictions:
            result.predictions[origin] = preds
        if progress:
            progress(origin, len(result.origins))
        d += h
    result.wall_s = time.monotonic() - t0
    return result


def format_result(result: BacktestResult) -> str:
    c = result.config
    horizon = "daily" if c.horizon_days == 1 else "weekly"
    lines = [
        f"forecast back-test {c.start} .. {c.end}: {len(result.origins)} {horizon} origins, {c.cell_m:g} m cells, "
        f"refit every {c.refit_days} days on the previous {c.train_days} days ({result.fits} fits)",
        f"study area: {result.area_cells} cells with a complaint before {c.start} (grid {result.grid_cells}); "
        f"top {c.top:.2%} = {result.hot_cells} cells",
        f"complaints in the forecast periods: {result.events:.0f} ({result.events_outside_area:.0f} in cells "
        f"outside the study area; {result.rows_outside_grid} rows outside the grid)",
        "",
        f"{'method':<22}{'hit rate':>9}{'PAI':>8}{'deviance':>10}",
    ]
    for name in result.scores:
        label = f"model ({name})" if name in MODELS else name
        lines.append(f"{label:<22}{result.hit_rate(name):>9.3f}{result.pai(name):>8.2f}{result.deviance(name):>10.4f}")
    best = result.best_baseline()
    for m in c.models:
        ratio = result.pai(m) / result.pai(best) if result.pai(best) > 0 else math.nan
        lines.append(f"model ({m}) PAI ÷ best baseline ({best}): {ratio:.2f}")
    lines.append(f"wall time {result.wall_s:.0f} s")
    return "\n".join(lines)
