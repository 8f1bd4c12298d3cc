"""Evaluation on a simulated history with a time-ordered split (`cityeye scoring evaluate`).

The split time T is the scoring time of the case at `train_fraction` of the history. The scorer is fitted (prior,
learned, switch) on the verdicts known before T and evaluated on the cases scored from T on, against their
inspector verdicts. Features of every case use only verdicts given before its own scoring time. The forecast is
fitted on periods that end before T's day and evaluated on every period from that day on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from sklearn.metrics import roc_auc_score

from cases.scoring.features import FeatureBuilder, FeatureConfig, Verdict, VerdictHistory
from cases.scoring.forecast import CountHistory, ForecastConfig, Grid, HotspotForecaster, Occurrence
from cases.scoring.metrics import CountMetrics, ProbabilityMetrics
from cases.scoring.model import Selection, SelectionConfig, fit_scorer
from cases.scoring.simulate import SimCase


@dataclass(frozen=True, slots=True)
class EvaluationConfig:
    train_fraction: float = 0.7
    top_k: int = 10  # cases dispatched per day
    cell_m: float = 250.0
    horizons: tuple[int, ...] = (1, 7)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)


@dataclass(frozen=True, slots=True)
class DispatchPrecision:
    """Share of confirmed cases among the top `k` dispatched each day, by three orderings."""

    k: int
    days: int
    by_score: float
    by_confidence: float
    fifo: float
    base_rate: float  # share confirmed among all test cases


@dataclass(frozen=True, slots=True)
class ForecastEvaluation:
    horizon_days: int
    cell_m: float
    cells: int
    periods: int
    model: CountMetrics
    naive: CountMetrics  # the last period's count
    mean_28d: CountMetrics  # the last 28 days' mean, scaled to the period


@dataclass(frozen=True)
class EvaluationReport:
    n_train: int
    n_test: int
    selection: Selection
    scorer: ProbabilityMetrics
    confidence: ProbabilityMetrics
    prior: ProbabilityMetrics
    scorer_vs_truth_auc: float  # against the simulator's ground truth instead of the verdicts
    dispatch: DispatchPrecision
    forecasts: tuple[ForecastEvaluation, ...]


def dispatch_precision(cases: Sequence[SimCase], p: np.ndarray, k: int, utc_offset_h: float) -> DispatchPrecision:
    """Each local day, the day's cases are the queue; `k` are dispatched by score, by confidence, or first-in."""
    days: dict[object, list[int]] = {}
    for i, c in enumerate(cases):
        days.setdefault((c.snapshot.last_seen + timedelta(hours=utc_offset_h)).date(), []).append(i)
    y = np.array([c.verdict == Verdict.CONFIRMED for c in cases])
    conf = np.array([c.snapshot.max_confidence for c in cases])
    first = np.array([c.snapshot.first_seen.timestamp() for c in cases])
    hits = {"score": 0, "confidence": 0, "fifo": 0}
    sent = 0
    for idx in days.values():
        ids = np.array(idx)
        n = min(k, len(ids))
        sent += n
        hits["score"] += int(y[ids[np.argsort(-p[ids], kind="stable")[:n]]].sum())
        hits["confidence"] += int(y[ids[np.argsort(-conf[ids], kind="stable")[:n]]].sum())
        hits["fifo"] += int(y[ids[np.argsort(first[ids], kind="stable")[:n]]].sum())
    return DispatchPrecision(
        k, len(days), hits["score"] / sent, hits["confidence"] / sent, hits["fifo"] / sent, float(y.mean())
    )


def occurrences(cases: Sequence[SimCase]) -> list[Occurrence]:
    """Confirmed cases as forecast inputs (known from their verdict time on)."""
    return [
        Occurrence(c.snapshot.category, c.snapshot.lat, c.snapshot.lon, c.snapshot.first_seen, c.verdict_at)
        for c in cases
        if c.verdict == Verdict.CONFIRMED
    ]


def evaluate_forecast(
    cases: Sequence[SimCase],
    categories: Sequence[str],
    split_day: int,
    horizon: int,
    cell_m: float,
    utc_offset_h: float = 8.0,
    seed: int = 0,
) -> ForecastEvaluation:
    snaps = [c.snapshot for c in cases]
    grid = Grid.covering([s.lat for s in snaps], [s.lon for s in snaps], cell_m)
    first_day = (min(s.first_seen for s in snaps) + timedelta(hours=utc_offset_h)).date()
    last_day = (max(s.first_seen for s in snaps) + timedelta(hours=utc_offset_h)).date()
    history = CountHistory(
        occurrences(cases), grid, categories, first_day, (last_day - first_day).days + 1, utc_offset_h
    )
    fc = HotspotForecaster(ForecastConfig(horizon_days=horizon, utc_offset_h=utc_offset_h, seed=seed))
    fc.fit(history, until=split_day)
    origins = range(split_day, history.days - horizon + 1, horizon)
    y = np.concatenate([history.target(d, horizon) for d in origins])
    mu = np.concatenate([fc.predict(history, d).reshape(-1) for d in origins])
    naive = np.concatenate([history.naive(d, horizon) for d in origins])
    mean28 = np.concatenate([history.features(d, horizon)[:, 3] / 28.0 * horizon for d in origins])
    return ForecastEvaluation(
        horizon,
        cell_m,
        grid.cells,
        len(origins),
        CountMetrics.compute(y, mu),
        CountMetrics.compute(y, naive),
        CountMetrics.compute(y, mean28),
    )


def evaluate(
    sim_cases: Sequence[SimCase], categories: Sequence[str], config: EvaluationConfig | None = None
) -> EvaluationReport:
    """Fit on the earlier part of a simulated history, measure on the later part (see the module docstring)."""
    cfg = config or EvaluationConfig()
    categories = tuple(categories)
    cases = sorted(sim_cases, key=lambda c: (c.snapshot.last_seen, c.snapshot.case_id))
    history = VerdictHistory([c.record for c in cases])
    builder = FeatureBuilder(categories, cfg.features)
    fm = builder.transform([c.snapshot for c in cases], history)
    y = np.array([c.verdict == Verdict.CONFIRMED for c in cases])
    split_at = cases[int(len(cases) * cfg.train_fraction)].snapshot.last_seen
    train = np.array([c.verdict_at < split_at for c in cases])
    test = np.array([c.snapshot.last_seen >= split_at for c in cases])
    selection = fit_scorer(fm[train], y[train], categories, cfg.selection)
    prior = fit_scorer(fm[train], y[train], categories, SelectionConfig(min_verdicts=10**9)).scorer
    p = selection.scorer.predict(fm[test])
    conf = fm[test].column("max_confidence")
    test_cases = [c for c, t in zip(cases, test, strict=True) if t]
    truth = np.array([c.is_true for c in test_cases])
    first_day = (min(c.snapshot.first_seen for c in cases) + timedelta(hours=cfg.features.utc_offset_h)).date()
    split_day = ((split_at + timedelta(hours=cfg.features.utc_offset_h)).date() - first_day).days
    forecasts = tuple(
        evaluate_forecast(cases, categories, split_day, h, cfg.cell_m, cfg.features.utc_offset_h) for h in cfg.horizons
    )
    return EvaluationReport(
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        selection=selection,
        scorer=ProbabilityMetrics.compute(y[test], p),
        confidence=ProbabilityMetrics.compute(y[test], conf),
        prior=ProbabilityMetrics.compute(y[test], prior.predict(fm[test])),
        scorer_vs_truth_auc=float(roc_auc_score(truth, p)),
        dispatch=dispatch_precision(test_cases, p, cfg.top_k, cfg.features.utc_offset_h),
        forecasts=forecasts,
    )


def _goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def format_report(r: EvaluationReport) -> str:
    s, c, pr = r.scorer, r.confidence, r.prior
    lines = [
        f"cases: {r.n_train} verdicts to fit (known before the split), {r.n_test} scored after it",
        f"scorer: {r.selection.scorer.kind} ({r.selection.reason})",
        "",
        "P(confirmed) on held-out cases        AUC     Brier   logloss  ECE",
        f"  {'scorer (' + str(s.n) + ' cases)':<36}{s.auc:.3f}   {s.brier:.4f}  {s.log_loss:.4f}   {s.ece:.3f}",
        f"  cold-start prior                    {pr.auc:.3f}   {pr.brier:.4f}  {pr.log_loss:.4f}   {pr.ece:.3f}",
        f"  detector confidence alone           {c.auc:.3f}   {c.brier:.4f}  {c.log_loss:.4f}   {c.ece:.3f}",
        f"  scorer AUC against the simulator's ground truth: {r.scorer_vs_truth_auc:.3f}",
        f"  goals: AUC >= 0.85 {_goal(s.auc >= 0.85)}; AUC > confidence alone {_goal(s.auc > c.auc)}; "
        f"ECE <= 0.05 {_goal(s.ece <= 0.05)}",
        "",
        f"precision of the top {r.dispatch.k} dispatched per day ({r.dispatch.days} days; "
        f"{r.dispatch.base_rate:.3f} of all cases are confirmed)",
        f"  by P(confirmed) {r.dispatch.by_score:.3f}   by confidence {r.dispatch.by_confidence:.3f}   "
        f"FIFO {r.dispatch.fifo:.3f}",
    ]
    for f in r.forecasts:
        lines += [
            "",
            f"hotspot forecast, next {'day' if f.horizon_days == 1 else 'week'}: {f.cells} cells of {f.cell_m:.0f} m, "
            f"{f.periods} periods",
            "                          Poisson deviance   RMSE     MAE",
        ]
        for name, m in (("model", f.model), ("naive (last period)", f.naive), ("mean of last 28 days", f.mean_28d)):
            lines.append(f"  {name:<24}{m.poisson_deviance:>10.4f}      {m.rmse:.4f}   {m.mae:.4f}")
        better = f.model.poisson_deviance < f.naive.poisson_deviance
        lines.append(f"  goal: deviance below the naive baseline {_goal(better)}")
    return "\n".join(lines)
