"""P(confirmed) on a city's own history: fit before a date, measure after it, against two baselines.

`evaluate_history` orders the records by when they were opened; the scorer and the baselines are fitted on the
verdicts known before `split_at` (opened and closed before it) and measured on the labelled records opened from
`split_at` on, each scored at its opening with what was known then. Baselines: the category prior (each mapped
category's confirmed share before the split) and a logistic regression on category + hour of day.
Metrics: AUC, Brier, ECE (10 equal-width bins), overall, on the mapped categories (all but "other"), and per
category; a reliability diagram as PNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from cases.history.errors import HistoryError
from cases.history.features import (
    HISTORY_CATEGORICAL,
    HISTORY_FEATURE_NAMES,
    HistoryFeatureConfig,
    HistoryFeatures,
    label_of,
)
from cases.history.formats import HistoryRow
from cases.scoring.metrics import ProbabilityMetrics

MODELS = ("scorer", "category prior", "logistic category+hour")


def make_history_model(seed: int = 0) -> CalibratedClassifierCV:
    hgb = HistGradientBoostingClassifier(
        categorical_features=list(HISTORY_CATEGORICAL),
        max_iter=150,
        learning_rate=0.08,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    return CalibratedClassifierCV(hgb, method="isotonic", cv=3)


class CategoryPrior:
    """Each category's confirmed share in the fitting verdicts (smoothed towards the overall share)."""

    def __init__(self, smoothing: float = 5.0):
        self.smoothing = smoothing
        self.rates: dict[float, float] = {}
        self.overall = 0.5

    def fit(self, cat: np.ndarray, y: np.ndarray) -> CategoryPrior:
        self.overall = float(y.mean())
        for c in np.unique(cat):
            m = cat == c
            self.rates[float(c)] = float((y[m].sum() + self.smoothing * self.overall) / (m.sum() + self.smoothing))
        return self

    def predict(self, cat: np.ndarray) -> np.ndarray:
        return np.array([self.rates.get(float(c), self.overall) for c in cat])


@dataclass(frozen=True)
class HistoryEvaluation:
    split_at: datetime
    n_train: int
    n_test: int
    categories: tuple[str, ...]  # the encoding of `category` (taxonomy order, then "other")
    test_category: np.ndarray  # category index of each test row
    y: np.ndarray
    p: dict[str, np.ndarray]  # model name -> P(confirmed) of each test row
    metrics: dict[str, dict[str, ProbabilityMetrics]] = field(default_factory=dict)  # group -> model -> metrics
    plot: Path | None = None


def _metrics(y: np.ndarray, p: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, ProbabilityMetrics]:
    return {name: ProbabilityMetrics.compute(y[mask], p[name][mask]) for name in MODELS}


def evaluate_history(
    rows: Sequence[HistoryRow],
    categories: Sequence[str],
    split_at: datetime,
    config: HistoryFeatureConfig | None = None,
    seed: int = 0,
) -> HistoryEvaluation:
    rows = sorted(rows, key=lambda r: (r.opened_at, r.source_id))
    y_all = np.array([label_of(r) for r in rows])
    labelled = ~np.isnan(y_all)
    opened = np.array([r.opened_at >= split_at for r in rows])
    known = np.array([r.closed_at is not None and r.closed_at < split_at for r in rows])
    train = labelled & ~opened & known
    test = labelled & opened
    if train.sum() < 50 or len(np.unique(y_all[train])) < 2:
        raise HistoryError(
            f"too few verdicts before {split_at:%Y-%m-%d} to fit ({int(train.sum())}; need 50, both kinds)"
        )
    if test.sum() == 0:
        raise HistoryError(f"no labelled records opened on or after {split_at:%Y-%m-%d}")
    types = HistoryFeatures.levels([r for r, t in zip(rows, train, strict=True) if t])
    feats = HistoryFeatures(categories, types, config)
    X = feats.transform(rows)
    y = y_all.astype(float)
    Xtr, ytr, Xte, yte = X[train], y[train] == 1, X[test], y[test] == 1
    model = make_history_model(seed).fit(Xtr, ytr)
    ci = HISTORY_FEATURE_NAMES.index("category")
    hi = HISTORY_FEATURE_NAMES.index("hour_of_day")
    prior = CategoryPrior().fit(Xtr[:, ci], ytr)
    logistic = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(C=1.0, max_iter=1000))
    logistic.fit(Xtr[:, [ci, hi]], ytr)
    p = {
        "scorer": model.predict_proba(Xte)[:, 1],
        "category prior": prior.predict(Xte[:, ci]),
        "logistic category+hour": logistic.predict_proba(Xte[:, [ci, hi]])[:, 1],
    }
    cat = Xte[:, ci]
    other = len(feats.categories) - 1
    groups = {"all": np.ones(len(yte), dtype=bool), "mapped": cat != other}
    for k, name in enumerate(feats.categories):
        groups[name] = cat == k
    metrics = {g: _metrics(yte, p, m) for g, m in groups.items() if m.any()}
    return HistoryEvaluation(split_at, int(train.sum()), int(test.sum()), feats.categories, cat, yte, p, metrics)


def reliability_plot(ev: HistoryEvaluation, path: Path, bins: int = 10) -> Path:
    """Observed confirmed share against mean score per bin, all records and mapped categories, every model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    other = len(ev.categories) - 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, (title, mask) in zip(
        axes, (("all records", np.ones(len(ev.y), bool)), ("mapped categories", ev.test_category != other)), strict=True
    ):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for name in MODELS:
            p, y = ev.p[name][mask], ev.y[mask]
            idx = np.minimum((p * bins).astype(int), bins - 1)
            xs, ys = [], []
            for b in range(bins):
                m = idx == b
                if m.any():
                    xs.append(p[m].mean())
                    ys.append(y[m].mean())
            ece = (
                ev.metrics[title.split()[0] if title == "all records" else "mapped"][name].ece
                if mask.any()
                else math.nan
            )
            ax.plot(xs, ys, marker="o", label=f"{name} (ECE {ece:.3f})")
        ax.set(title=f"{title}, after {ev.split_at:%Y-%m-%d} (n={int(mask.sum())})", xlabel="P(confirmed)")
        ax.set(ylabel="observed confirmed share", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_history_report(ev: HistoryEvaluation) -> str:
    lines = [
        f"P(confirmed) on city history: fitted on {ev.n_train} verdicts known before {ev.split_at:%Y-%m-%d}, "
        f"measured on {ev.n_test} labelled records opened from then on",
        f"{'group':<24}{'n':>6}{'confirmed':>10}  {'model':<24}{'AUC':>7}{'Brier':>8}{'ECE':>7}",
    ]
    for group, by_model in ev.metrics.items():
        for k, name in enumerate(MODELS):
            m = by_model[name]
            head = f"{group:<24}{m.n:>6}" if k == 0 else " " * 30
            share = f"{ev.y[_group_mask(ev, group)].mean():>10.3f}" if k == 0 else " " * 10
            lines.append(f"{head}{share}  {name:<24}{m.auc:>7.3f}{m.brier:>8.4f}{m.ece:>7.3f}")
    mapped = ev.metrics.get("mapped")
    if mapped:
        s, pr = mapped["scorer"], mapped["category prior"]
        ok = s.auc >= 0.87 and s.auc >= pr.auc + 0.05 and s.ece <= 0.03
        lines.append(
            f"goal on mapped categories (AUC >= 0.87 and >= prior + 0.05, ECE <= 0.03): {'met' if ok else 'NOT met'} "
            f"(AUC {s.auc:.3f} vs prior {pr.auc:.3f}, ECE {s.ece:.3f})"
        )
    if ev.plot:
        lines.append(f"reliability plot: {ev.plot}")
    return "\n".join(lines)


def _group_mask(ev: HistoryEvaluation, group: str) -> np.ndarray:
    other = len(ev.categories) - 1
    if group == "all":
        return np.ones(len(ev.y), dtype=bool)
    if group == "mapped":
        return ev.test_category != other
    return ev.test_category == ev.categories.index(group)
