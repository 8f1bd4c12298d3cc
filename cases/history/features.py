"""Features of P(confirmed) for complaints with no detector: who reported it, what, when, and what happened nearby.

Each row is scored at the moment it was opened (`opened_at`) and sees only what was known then: verdicts of
records closed strictly before that moment, reports opened strictly before it, never its own. Columns are
`HISTORY_FEATURES`, in that order; a row without a position has NaN for the neighbourhood columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sklearn.neighbors import KDTree

from cases.history.formats import OTHER, HistoryRow
from inference.geo import EARTH_RADIUS_M

SOURCE_TYPES: tuple[str, ...] = ("camera", "drone", "inspector", "employee", "phone", "app", "citizen", "other")
MAX_TYPES = 250  # raw types kept as levels (HistGradientBoosting takes at most 255 categories)

HISTORY_FEATURES: tuple[tuple[str, bool, str], ...] = (
    # (name, categorical, description)
    ("category", True, "mapped cityeye category (taxonomy order, then 'other')"),
    ("raw_type", True, "the source's own complaint type (the most common types; the rest missing)"),
    ("source_type", True, "how it came in: camera, drone, inspector, employee, phone, app, citizen, other"),
    ("hour_of_day", False, "local hour it was opened"),
    ("day_of_week", False, "local weekday it was opened (0 = Monday)"),
    ("has_position", False, "1 when the record has a usable position"),
    ("confirmed_nearby", False, "confirmed verdicts within radius_m, known in the past window_days"),
    ("dismissed_nearby", False, "dismissed verdicts within radius_m, known in the past window_days"),
    ("type_confirmed_nearby", False, "same-type confirmed verdicts within radius_m in recurrence_days"),
    ("type_dismissed_nearby", False, "same-type dismissed verdicts within radius_m in recurrence_days"),
    ("type_reports_nearby", False, "same-type reports opened within radius_m in the past report_days"),
    ("type_open_nearby", False, "same-type reports within radius_m opened before and still open then"),
    ("type_rate", False, "the type's confirmed share among verdicts known then (smoothed towards 0.5)"),
    ("source_rate", False, "the source type's confirmed share among verdicts known then (smoothed)"),
)
HISTORY_FEATURE_NAMES: tuple[str, ...] = tuple(f[0] for f in HISTORY_FEATURES)
HISTORY_CATEGORICAL: tuple[bool, ...] = tuple(f[1] for f in HISTORY_FEATURES)


@dataclass(frozen=True, slots=True)
class HistoryFeatureConfig:
    radius_m: float = 100.0
    window_days: float = 30.0
    recurrence_days: float = 90.0
    report_days: float = 7.0
    utc_offset_h: float = -4.0  # the city's local time for hour / weekday (Boston in summer)
    smoothing: float = 10.0  # pseudo-verdicts of the rate features


def label_of(row: HistoryRow) -> float:
    """1 confirmed, 0 dismissed, NaN otherwise (excluded, open, no verdict)."""
    return 1.0 if row.outcome == "confirmed" else 0.0 if row.outcome == "dismissed" else math.nan


class HistoryFeatures:
    """Rows → feature matrix. `categories` (the taxonomy's) and the raw-type levels fix the encodings."""

    def __init__(self, categories: Sequence[str], types: Sequence[str], config: HistoryFeatureConfig | None = None):
        self.categories = (*tuple(categories), OTHER)
        self.types = tuple(types)[:MAX_TYPES]
        self.config = config or HistoryFeatureConfig()

    @classmethod
    def levels(cls, rows: Sequence[HistoryRow]) -> tuple[str, ...]:
        """The most common raw types of `rows` (the fitting rows), most common first."""
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.raw_type] = counts.get(r.raw_type, 0) + 1
        return tuple(sorted(counts, key=lambda t: (-counts[t], t))[:MAX_TYPES])

    def transform(self, rows: Sequence[HistoryRow], context: Sequence[HistoryRow] | None = None) -> np.ndarray:
        """Features of each of `rows`, scored at its `opened_at`, from what `context` (default: `rows`) held
        before then. `rows` must be a subset of `context` (by identity of source id) or disjoint from it."""
        cfg = self.config
        ctx = list(context) if context is not None else list(rows)
        n = len(rows)
        X = np.full((n, len(HISTORY_FEATURE_NAMES)), np.nan)
        col = {name: j for j, name in enumerate(HISTORY_FEATURE_NAMES)}
        cat_index = {c: i for i, c in enumerate(self.categories)}
        type_index = {t: i for i, t in enumerate(self.types)}
        offset = timedelta(hours=cfg.utc_offset_h)
        for i, r in enumerate(rows):
            X[i, col["category"]] = cat_index.get(r.category or OTHER, len(self.categories) - 1)
            X[i, col["raw_type"]] = type_index.get(r.raw_type, math.nan)
            st = r.source_type if r.source_type in SOURCE_TYPES else "other"
            X[i, col["source_type"]] = SOURCE_TYPES.index(st)
            local = r.opened_at + offset
            X[i, col["hour_of_day"]] = local.hour
            X[i, col["day_of_week"]] = local.weekday()
            X[i, col["has_position"]] = float(r.has_position)
        self._rates(rows, ctx, X, col)
        self._nearby(rows, ctx, X, col)
        return X

    def _rates(self, rows: Sequence[HistoryRow], ctx: Sequence[HistoryRow], X: np.ndarray, col: dict[str, int]) -> None:
        """Running confirmed shares per type and per source type, over verdicts closed before each row opened."""
        k = self.config.smoothing
        events = sorted(
            ((r.closed_at.timestamp(), label_of(r), r.raw_type, r.source_type) for r in ctx if r.closed_at),
            key=lambda e: e[0],
        )
        events = [e for e in events if not math.isnan(e[1])]
        order = sorted(range(len(rows)), key=lambda i: rows[i].opened_at)
        by_type: dict[str, list[float]] = {}
        by_source: dict[str, list[float]] = {}
        j = 0
        for i in order:
            t = rows[i].opened_at.timestamp()
            while j < len(events) and events[j][0] < t:
                _, y, rt, st = events[j]
                by_type.setdefault(rt, [0.0, 0.0])
                by_source.setdefault(st, [0.0, 0.0])
                by_type[rt][0] += y
                by_type[rt][1] += 1
                by_source[st][0] += y
                by_source[st][1] += 1
                j += 1
            pos, tot = by_type.get(rows[i].raw_type, [0.0, 0.0])
            X[i, col["type_rate"]] = (pos + 0.5 * k) / (tot + k)
            pos, tot = by_source.get(rows[i].source_type, [0.0, 0.0])
            X[i, col["source_rate"]] = (pos + 0.5 * k) / (tot + k)

    def _nearby(
        self, rows: Sequence[HistoryRow], ctx: Sequence[HistoryRow], X: np.ndarray, col: dict[str, int]
    ) -> None:
        cfg = self.config
        placed = [r for r in ctx if r.has_position]
        if not placed:
            return
        ref_lat = float(np.mean([r.lat for r in placed]))
        kx = math.pi / 180.0 * EARTH_RADIUS_M

        def xy(rs: Sequence[HistoryRow]) -> np.ndarray:
            lat = np.array([r.lat for r in rs], dtype=float)
            lon = np.array([r.lon for r in rs], dtype=float)
            return np.column_stack([lon * kx * math.cos(math.radians(ref_lat)), lat * kx])

        tree = KDTree(xy(placed))
        opened = np.array([r.opened_at.timestamp() for r in placed])
        closed = np.array([r.closed_at.timestamp() if r.closed_at else math.inf for r in placed])
        label = np.array([label_of(r) for r in placed])
        types = np.array([r.raw_type for r in placed], dtype=object)
        ids = np.array([r.source_id for r in placed], dtype=object)
        which = [i for i, r in enumerate(rows) if r.has_position]
        if not which:
            return
        neighbours = tree.query_radius(xy([rows[i] for i in which]), r=cfg.radius_m)
        win, rec, rep = cfg.window_days * 86400.0, cfg.recurrence_days * 86400.0, cfg.report_days * 86400.0
        for i, nb in zip(which, neighbours, strict=True):
            r = rows[i]
            t = r.opened_at.timestamp()
            nb = nb[ids[nb] != r.source_id]
            c, o, y = closed[nb], opened[nb], label[nb]
            same = types[nb] == r.raw_type
            known = c < t
            X[i, col["confirmed_nearby"]] = np.count_nonzero(known & (c >= t - win) & (y == 1))
            X[i, col["dismissed_nearby"]] = np.count_nonzero(known & (c >= t - win) & (y == 0))
            X[i, col["type_confirmed_nearby"]] = np.count_nonzero(same & known & (c >= t - rec) & (y == 1))
            X[i, col["type_dismissed_nearby"]] = np.count_nonzero(same & known & (c >= t - rec) & (y == 0))
            X[i, col["type_reports_nearby"]] = np.count_nonzero(same & (o < t) & (o >= t - rep))
            X[i, col["type_open_nearby"]] = np.count_nonzero(same & (o < t) & (c >= t))
