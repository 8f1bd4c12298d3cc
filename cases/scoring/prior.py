"""The cold-start prior: P(confirmed) from detector confidence and persistence, before enough verdicts.

    P(confirmed) = σ(a + b · logit(max_confidence) + c · log1p(persistence_h))

Default coefficients (no verdicts at all): b = 1, c = 0.35, a = −c · log(2). A case seen for one hour
then scores exactly its detector confidence; one that persists longer scores higher (problems stay,
glare and passers-by do not), one seen for an instant lower. Once at least `min_fit` verdicts of both
kinds exist, `fit` re-estimates a, b and c by L2-regularised logistic regression on them: that is the
calibration (Platt scaling with persistence as a second input). The prior never looks at any other
feature, so it cannot overfit a few hundred verdicts.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.linear_model import LogisticRegression

from cases.scoring.features import COL

DEFAULT_B = 1.0
DEFAULT_C = 0.35
DEFAULT_A = -DEFAULT_C * math.log(2.0)
PRIOR_FEATURES = ("max_confidence", "persistence_h")


def _inputs(X: np.ndarray) -> np.ndarray:
    conf = np.clip(X[:, COL["max_confidence"]], 1e-4, 1 - 1e-4)
    hours = np.maximum(np.nan_to_num(X[:, COL["persistence_h"]], nan=0.0), 0.0)
    return np.column_stack([np.log(conf / (1 - conf)), np.log1p(hours)])


class ConfidencePrior:
    """sklearn-style (`fit`, `predict_proba`) logistic prior on confidence and persistence."""

    def __init__(self, min_fit: int = 20):
        self.min_fit = min_fit
        self.intercept_ = DEFAULT_A
        self.coef_ = np.array([DEFAULT_B, DEFAULT_C])
        self.n_fitted_ = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> ConfidencePrior:
        y = np.asarray(y, dtype=bool)
        if len(y) < self.min_fit or y.all() or not y.any():
            return self  # too few verdicts (or one kind only): keep the current coefficients
        lr = LogisticRegression(C=1.0).fit(_inputs(X), y)
        self.intercept_ = float(lr.intercept_[0])
        self.coef_ = lr.coef_[0].astype(float)
        self.n_fitted_ = len(y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.intercept_ + _inputs(X) @ self.coef_
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p, p])

    def describe(self) -> str:
        a, (b, c) = self.intercept_, self.coef_
        src = f"fitted on {self.n_fitted_} verdicts" if self.n_fitted_ else "defaults"
        return f"σ({a:+.3f} {b:+.3f}·logit(max_confidence) {c:+.3f}·log1p(persistence_h)) [{src}]"
