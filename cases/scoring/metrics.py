"""Metrics of probabilistic scores and count forecasts, shared by model selection and evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ_b (n_b / n) · |observed rate_b − mean score_b| over `bins` equal-width score bins."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return math.nan
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(total)


@dataclass(frozen=True, slots=True)
class ProbabilityMetrics:
    """How good P(confirmed) is on labelled cases; `auc` is NaN when only one class is present."""

    n: int
    auc: float
    brier: float
    log_loss: float
    ece: float

    @classmethod
    def compute(cls, y: np.ndarray, p: np.ndarray) -> ProbabilityMetrics:
        y = np.asarray(y, dtype=bool)
        p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
        both = 0 < y.sum() < len(y)
        return cls(
            n=len(y),
            auc=float(roc_auc_score(y, p)) if both else math.nan,
            brier=float(brier_score_loss(y, p)),
            log_loss=float(log_loss(y, p, labels=[False, True])),
            ece=expected_calibration_error(y, p),
        )

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/{k}": float(getattr(self, k)) for k in ("n", "auc", "brier", "log_loss", "ece")}


def poisson_deviance(y: np.ndarray, mu: np.ndarray, floor: float = 0.01) -> float:
    """Mean Poisson deviance 2·(y·log(y/μ) − (y − μ)), with μ floored at `floor` (a zero forecast of a
    non-zero count would otherwise be infinitely wrong, which says little about a naive baseline)."""
    y = np.asarray(y, dtype=float)
    mu = np.maximum(np.asarray(mu, dtype=float), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(np.mean(2.0 * (term - (y - mu))))


@dataclass(frozen=True, slots=True)
class CountMetrics:
    n: int
    mae: float
    rmse: float
    poisson_deviance: float

    @classmethod
    def compute(cls, y: np.ndarray, mu: np.ndarray) -> CountMetrics:
        y = np.asarray(y, dtype=float)
        mu = np.asarray(mu, dtype=float)
        return cls(
            n=len(y),
            mae=float(np.mean(np.abs(y - mu))),
            rmse=float(np.sqrt(np.mean((y - mu) ** 2))),
            poisson_deviance=poisson_deviance(y, mu),
        )
