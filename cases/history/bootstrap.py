"""Bootstrap a city's scorer from its own history: a live-compatible `Scorer` fitted on imported verdicts.

The live feature set (`cases.scoring.features.FEATURES`) is computed for each labelled history record of a
mapped category with a position, as known when it was opened: category, hour, weekday, confirmed / dismissed
verdicts nearby, same-category recurrence (through the same `VerdictHistory` the live scorer uses). What a
complaint does not have (detector confidence, observations, persistence, object size, zone, camera/drone source,
source quality) is missing, so the model cannot lean on it; on live cases those columns are ignored by its
splits. The learned model is kept only if, on the latest quarter of the verdicts, it beats each category's
confirmed share (lower Brier and higher AUC); it is saved as a candidate and goes to production only through
`cityeye scoring promote` (the registry's gate: it must load with the code's feature set).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier

from cases.history.errors import HistoryError
from cases.history.evaluate import CategoryPrior
from cases.history.features import label_of
from cases.history.formats import HistoryRow
from cases.scoring.features import (
    COL,
    FEATURE_NAMES,
    CaseSnapshot,
    FeatureConfig,
    FeatureMatrix,
    Verdict,
    VerdictHistory,
    VerdictRecord,
)
from cases.scoring.metrics import ProbabilityMetrics
from cases.scoring.model import Scorer, Selection, baseline_row

MIN_VERDICTS = 300
MIN_PER_CLASS = 30


USED = (
    "category",
    "hour_of_day",
    "day_of_week",
    "source_quality",
    "confirmed_nearby",
    "dismissed_nearby",
    "recurrence",
)


class ColumnSubset:
    """A classifier on some columns of the live feature matrix (the ones a complaint has); the others are ignored.

    sklearn-style `fit` / `predict_proba` on the full matrix, so a `Scorer` can hold it like any estimator."""

    def __init__(self, columns: Sequence[str] = USED, seed: int = 0):
        self.columns = tuple(columns)
        self.seed = seed
        self.index_ = [COL[c] for c in self.columns]
        hgb = HistGradientBoostingClassifier(
            categorical_features=[c == "category" for c in self.columns],
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=30,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
        self.model_ = CalibratedClassifierCV(hgb, method="isotonic", cv=3)

    def fit(self, X: np.ndarray, y: np.ndarray) -> ColumnSubset:
        self.model_.fit(X[:, self.index_], y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(X[:, self.index_]))


def source_quality(rows: Sequence[HistoryRow], smoothing: float = 10.0) -> np.ndarray:
    """Each row's source type's confirmed share over the verdicts closed before it opened (smoothed to 0.5):
    a complaint channel's precision record, as a camera's is on live cases."""
    events = sorted((r.closed_at, r.outcome == "confirmed", r.source_type) for r in rows if r.closed_at)
    order = sorted(range(len(rows)), key=lambda i: rows[i].opened_at)
    out = np.empty(len(rows))
    counts: dict[str, list[float]] = {}
    j = 0
    for i in order:
        while j < len(events) and events[j][0] < rows[i].opened_at:
            c = counts.setdefault(events[j][2], [0.0, 0.0])
            c[0] += events[j][1]
            c[1] += 1
            j += 1
        pos, tot = counts.get(rows[i].source_type, [0.0, 0.0])
        out[i] = (pos + 0.5 * smoothing) / (tot + smoothing)
    return out


def live_features(rows: Sequence[HistoryRow], categories: Sequence[str], config: FeatureConfig) -> FeatureMatrix:
    """The live feature matrix of `rows` (labelled, mapped, positioned), each scored at its opening."""
    records = [
        VerdictRecord(
            i,
            r.category or "",
            float(r.lat or 0.0),
            float(r.lon or 0.0),
            Verdict.CONFIRMED if r.outcome == "confirmed" else Verdict.FALSE_POSITIVE,
            r.closed_at,
        )
        for i, r in enumerate(rows)
        if r.closed_at is not None
    ]
    history = VerdictHistory(records)
    X = np.full((len(rows), len(FEATURE_NAMES)), math.nan)
    offset = timedelta(hours=config.utc_offset_h)
    for i, r in enumerate(rows):
        assert r.lat is not None and r.lon is not None and r.category is not None
        probe = CaseSnapshot(i, r.category, r.lat, r.lon, r.opened_at, r.opened_at, 1, 1, "camera", 0.0, 0.0)
        confirmed, dismissed, recurrence = history.nearby(probe, r.opened_at, config)
        local = r.opened_at + offset
        X[i, COL["category"]] = categories.index(r.category)
        X[i, COL["hour_of_day"]] = local.hour
        X[i, COL["day_of_week"]] = local.weekday()
        X[i, COL["confirmed_nearby"]] = confirmed
        X[i, COL["dismissed_nearby"]] = dismissed
        X[i, COL["recurrence"]] = recurrence
    X[:, COL["source_quality"]] = source_quality(rows)
    at = np.array([r.opened_at.timestamp() for r in rows])
    return FeatureMatrix(X, np.arange(len(rows), dtype=np.int64), at)


def fit_from_history(
    rows: Sequence[HistoryRow], categories: Sequence[str], config: FeatureConfig, holdout: float = 0.25, seed: int = 0
) -> Selection:
    """Fit the live scorer on the history's verdicts; refuse (HistoryError) when it does not beat the category prior."""
    cats = tuple(categories)
    usable = sorted(
        (r for r in rows if r.category in cats and r.has_position and not math.isnan(label_of(r))),
        key=lambda r: (r.opened_at, r.source_id),
    )
    y = np.array([r.outcome == "confirmed" for r in usable])
    n, n_pos = len(y), int(y.sum())
    if n < MIN_VERDICTS or min(n_pos, n - n_pos) < MIN_PER_CLASS:
        raise HistoryError(
            f"{n} verdicts of mapped categories with a position ({n_pos} confirmed): need {MIN_VERDICTS}, "
            f"and {MIN_PER_CLASS} of each kind, to fit a scorer"
        )
    fm = live_features(usable, cats, config)
    cut = int(round(n * (1 - holdout)))
    train, test = np.arange(cut), np.arange(cut, n)
    learned = _fit(fm[train], y[train], cats, seed)
    ci = COL["category"]
    prior = CategoryPrior().fit(fm.X[train, ci], y[train])
    lm = ProbabilityMetrics.compute(y[test], learned.predict(fm[test]))
    pm = ProbabilityMetrics.compute(y[test], prior.predict(fm.X[test, ci]))
    if not (lm.brier < pm.brier and lm.auc > pm.auc):
        raise HistoryError(
            f"the scorer fitted on history does not beat the category prior on the latest {len(test)} verdicts "
            f"(Brier {lm.brier:.4f} vs {pm.brier:.4f}, AUC {lm.auc:.3f} vs {pm.auc:.3f}); nothing saved"
        )
    reason = (
        f"learned on city history: held-out Brier {lm.brier:.4f} < category prior {pm.brier:.4f}, "
        f"AUC {lm.auc:.3f} > {pm.auc:.3f}"
    )
    return Selection(_fit(fm, y, cats, seed), n, pm, lm, reason)


def _fit(fm: FeatureMatrix, y: np.ndarray, categories: tuple[str, ...], seed: int) -> Scorer:
    est = ColumnSubset(seed=seed).fit(fm.X, y)
    return Scorer("learned", cast(CalibratedClassifierCV, est), categories, baseline_row(fm.X))
