"""P(confirmed): the learned model, the `Scorer` that wraps either it or the prior, and the switch between them.

`fit_scorer` orders the verdicts by scoring time, holds out the latest `holdout_fraction`, fits both the prior
and the learned model (HistGradientBoosting, isotonic-calibrated with 3-fold cross-validation) on the earlier
part, and keeps the learned one only when it is better on the held-out verdicts: a lower Brier score by more
than `margin` *and* an AUC at least as high. Before `min_verdicts` verdicts (or `min_per_class` of each kind)
it does not try: the prior is used. The winner is refitted on all verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier

from cases.scoring.errors import FeatureMismatch, ScoringError
from cases.scoring.features import CATEGORICAL, FEATURE_NAMES, FeatureMatrix
from cases.scoring.metrics import ProbabilityMetrics
from cases.scoring.prior import ConfidencePrior

ScorerKind = Literal["prior", "learned"]


def make_learned(seed: int = 0) -> CalibratedClassifierCV:
    hgb = HistGradientBoostingClassifier(
        categorical_features=list(CATEGORICAL),
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=30,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    return CalibratedClassifierCV(hgb, method="isotonic", cv=3)


def baseline_row(X: np.ndarray) -> np.ndarray:
    """Reference values for attributions: the median of each numeric feature, the mode of each categorical."""
    base = np.empty(X.shape[1])
    for j, categorical in enumerate(CATEGORICAL):
        col = X[:, j][~np.isnan(X[:, j])]
        if len(col) == 0:
            base[j] = np.nan
        elif categorical:
            values, counts = np.unique(col, return_counts=True)
            base[j] = values[np.argmax(counts)]
        else:
            base[j] = float(np.median(col))
    return base


@dataclass
class Scorer:
    """A fitted P(confirmed) model with what is needed to use and explain it."""

    kind: ScorerKind
    estimator: ConfidencePrior | CalibratedClassifierCV
    categories: tuple[str, ...]
    baseline: np.ndarray  # per-feature reference row (see `baseline_row`)
    features: tuple[str, ...] = field(default=FEATURE_NAMES)

    def check_features(self, names: Sequence[str]) -> None:
        if tuple(names) != self.features:
            missing = sorted(set(self.features) - set(names))
            extra = sorted(set(names) - set(self.features))
            raise FeatureMismatch(
                f"scorer expects features {list(self.features)}; got {list(names)} "
                f"(missing {missing}, unexpected {extra}, or a different order)"
            )

    def predict_rows(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ScoringError(f"X: expected shape (n, {len(self.features)}), got {X.shape}")
        return np.clip(self.estimator.predict_proba(X)[:, 1], 0.0, 1.0)

    def predict(self, fm: FeatureMatrix) -> np.ndarray:
        """P(confirmed) of each row."""
        self.check_features(fm.names)
        return self.predict_rows(fm.X)


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    min_verdicts: int = 300
    min_per_class: int = 30
    holdout_fraction: float = 0.25
    margin: float = 0.0  # the learned model's held-out Brier score must be lower by more than this
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise ScoringError("holdout_fraction must be within 0.05 .. 0.5")


@dataclass(frozen=True)
class Selection:
    scorer: Scorer
    n_verdicts: int
    prior: ProbabilityMetrics | None  # held-out metrics, when a comparison was made
    learned: ProbabilityMetrics | None
    reason: str

    @property
    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {"n_verdicts": float(self.n_verdicts)}
        if self.prior:
            out |= self.prior.as_dict("holdout/prior")
        if self.learned:
            out |= self.learned.as_dict("holdout/learned")
        return out


def learned_is_better(prior: ProbabilityMetrics, learned: ProbabilityMetrics, margin: float = 0.0) -> bool:
    """The switch rule: strictly lower Brier (by more than `margin`) and no worse AUC on the same held-out verdicts."""
    return learned.brier < prior.brier - margin and learned.auc >= prior.auc


def fit_prior(fm: FeatureMatrix, y: np.ndarray, categories: Sequence[str]) -> Scorer:
    return Scorer("prior", ConfidencePrior().fit(fm.X, y), tuple(categories), baseline_row(fm.X))


def fit_learned(fm: FeatureMatrix, y: np.ndarray, categories: Sequence[str], seed: int = 0) -> Scorer:
    return Scorer("learned", make_learned(seed).fit(fm.X, y), tuple(categories), baseline_row(fm.X))


def fit_scorer(
    fm: FeatureMatrix, y: np.ndarray, categories: Sequence[str], config: SelectionConfig | None = None
) -> Selection:
    """Fit the prior and, with enough verdicts, the learned model; keep the learned one only if it is better."""
    cfg = config or SelectionConfig()
    y = np.asarray(y, dtype=bool)
    if len(y) != len(fm):
        raise ScoringError(f"y: expected {len(fm)} labels, got {len(y)}")
    n, n_pos = len(y), int(y.sum())
    if n < cfg.min_verdicts or min(n_pos, n - n_pos) < cfg.min_per_class:
        reason = (
            f"prior: {n} verdicts ({n_pos} confirmed) < {cfg.min_verdicts} "
            f"(or < {cfg.min_per_class} of a kind); the learned model is not tried yet"
        )
        return Selection(fit_prior(fm, y, categories), n, None, None, reason)

    order = np.argsort(fm.at, kind="stable")
    cut = int(round(n * (1 - cfg.holdout_fraction)))
    train, test = order[:cut], order[cut:]
    if 0 in (y[test].sum(), (~y[test]).sum()):
        return Selection(fit_prior(fm, y, categories), n, None, None, "prior: held-out verdicts are all of one kind")
    prior = fit_prior(fm[train], y[train], categories)
    learned = fit_learned(fm[train], y[train], categories, cfg.seed)
    pm = ProbabilityMetrics.compute(y[test], prior.predict(fm[test]))
    lm = ProbabilityMetrics.compute(y[test], learned.predict(fm[test]))
    if learned_is_better(pm, lm, cfg.margin):
        reason = f"learned: held-out Brier {lm.brier:.4f} < prior {pm.brier:.4f}, AUC {lm.auc:.3f} >= {pm.auc:.3f}"
        return Selection(fit_learned(fm, y, categories, cfg.seed), n, pm, lm, reason)
    reason = (
        f"prior: the learned model is not better on {len(test)} held-out verdicts "
        f"(Brier {lm.brier:.4f} vs {pm.brier:.4f}, AUC {lm.auc:.3f} vs {pm.auc:.3f})"
    )
    return Selection(fit_prior(fm, y, categories), n, pm, lm, reason)
