"""Priority = P(confirmed) × category severity × SLA urgency, with its parts and the reasons behind P.

SLA urgency (`sla_urgency`), from the time left in the case's current lifecycle step against that step's limit
(`models/taxonomy.yaml`, `sla_hours`): 1.0 when the step has just begun, rising linearly to 2.0 at the deadline,
then on up to 3.0 when a whole further limit has passed; 0 for closed or dismissed cases (nothing to dispatch).

Reasons (`explain`): the attribution of feature j is P(x) − P(x with feature j set to its baseline), the baseline
being the training median (numeric) or mode (categorical) kept in the scorer. It is exact for what it says
("had this case had a typical value of j, its score would be that much lower") and needs one prediction per
feature. The largest |attributions| become sentences built from the case's own feature values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cases.scoring.errors import ScoringError
from cases.scoring.features import COL, FEATURE_NAMES, SOURCE_KINDS, ZONES, FeatureConfig, FeatureMatrix
from cases.scoring.model import Scorer
from cases.status import CaseStatus
from models.taxonomy import Taxonomy

STEP_OF_STATUS: dict[CaseStatus, str] = {
    CaseStatus.DETECTED: "register",
    CaseStatus.REGISTERED: "dispatch",
    CaseStatus.DISPATCHED: "handle",
    CaseStatus.HANDLED: "verify",
    CaseStatus.VERIFIED: "close",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class SlaState:
    """Where a case is in its lifecycle: its status and when it entered that step (aware UTC)."""

    status: CaseStatus
    step_started_at: datetime


@dataclass(frozen=True, slots=True)
class Reason:
    feature: str
    value: float
    contribution: float  # P(x) − P(x with this feature at its baseline)
    text: str  # plain words, e.g. "seen by 3 cameras", "5 confirmed cases within 50 m in 30 days"


@dataclass(frozen=True, slots=True)
class PriorityScore:
    case_id: int
    p_confirmed: float
    severity: int
    urgency: float
    priority: float
    hours_left: float | None  # in the current step; negative when overdue; None for closed/dismissed cases
    scorer_kind: str
    reasons: tuple[Reason, ...]


def sla_urgency(state: SlaState, category: str, taxonomy: Taxonomy, now: datetime) -> tuple[float, float | None]:
    """(urgency, hours left in the step); see the module docstring for the scale."""
    step = STEP_OF_STATUS.get(state.status)
    if step is None:
        return 0.0, None
    limit = taxonomy.categories[category].sla_hours.hours(step)
    elapsed = (now - state.step_started_at).total_seconds() / 3600.0
    left = limit - elapsed
    used = max(elapsed, 0.0) / limit
    return (1.0 + used if used <= 1.0 else min(3.0, 2.0 + (used - 1.0))), left


def _hours(h: float) -> str:
    if h < 1:
        return f"{h * 60:.0f} min"
    if h < 48:
        return f"{h:.1f} h" if h < 10 else f"{h:.0f} h"
    return f"{h / 24:.0f} days"


def describe(feature: str, x: np.ndarray, categories: tuple[str, ...], config: FeatureConfig) -> str:
    """One feature of one row in plain words (the row's own values, so reasons can be checked against them)."""
    v = float(x[COL[feature]])
    radius_m, window_days, recurrence_days = config.radius_m, config.window_days, config.recurrence_days
    kind = SOURCE_KINDS[int(x[COL["source_kind"]])] if not math.isnan(x[COL["source_kind"]]) else "camera"
    noun = {"camera": "cameras", "drone": "drone surveys", "mixed": "cameras and drone surveys"}[kind]
    if math.isnan(v):
        return f"{feature.replace('_', ' ')} unknown"
    match feature:
        case "category":
            return f"category {categories[int(v)]}"
        case "max_confidence":
            return f"detector confidence up to {v:.2f}"
        case "mean_confidence":
            return f"mean detector confidence {v:.2f}"
        case "observation_count":
            return f"seen {int(v)} times"
        case "source_count":
            return f"seen by {int(v)} {noun if v != 1 else noun[:-1]}"
        case "persistence_h":
            return f"present over {_hours(v)}"
        case "object_size_m2":
            return f"object about {v:.1f} m²"
        case "hour_of_day":
            return f"first seen at {int(v):02d}:00" + (" (night)" if v >= 20 or v < 6 else "")
        case "day_of_week":
            return f"first seen on a {WEEKDAYS[int(v)]}"
        case "zone":
            return f"in a {ZONES[int(v)]} zone"
        case "source_kind":
            return f"seen by {kind if kind != 'mixed' else 'cameras and drones'}"
        case "source_quality":
            return f"source quality {v:.2f}" + (" (poor)" if v < 0.5 else " (good)" if v >= 0.8 else "")
        case "confirmed_nearby":
            return f"{int(v)} confirmed cases within {radius_m:.0f} m in {window_days:.0f} days"
        case "dismissed_nearby":
            return f"{int(v)} false alarms within {radius_m:.0f} m in {window_days:.0f} days"
        case "recurrence":
            cat = categories[int(x[COL["category"]])]
            return f"{cat} confirmed {int(v)} times within {radius_m:.0f} m in {recurrence_days:.0f} days"
    raise ScoringError(f"no description for feature {feature!r}")


def attributions(scorer: Scorer, X: np.ndarray) -> np.ndarray:
    """P(x) − P(x with feature j at the scorer's baseline), for every row x of `X` (or one row) and feature j.

    All rows go through the model in one call: (n, features) for an (n, features) `X`, (features,) for one row.
    """
    single = X.ndim == 1
    X = np.atleast_2d(X)
    n, m = X.shape
    rows = np.repeat(X[:, None, :], m + 1, axis=1)  # (n, m + 1, m): the row itself, then one per feature
    idx = np.arange(m)
    rows[:, idx + 1, idx] = scorer.baseline[idx]
    p = scorer.predict_rows(rows.reshape(n * (m + 1), m)).reshape(n, m + 1)
    out = p[:, :1] - p[:, 1:]
    return out[0] if single else out


def _reasons(
    scorer: Scorer, x: np.ndarray, contrib: np.ndarray, config: FeatureConfig, top: int, min_abs: float
) -> tuple[Reason, ...]:
    order = np.argsort(-np.abs(contrib), kind="stable")
    out = []
    for j in order[:top]:
        if abs(contrib[j]) < min_abs:
            break
        name = FEATURE_NAMES[j]
        text = describe(name, x, scorer.categories, config)
        direction = "raises" if contrib[j] > 0 else "lowers"
        out.append(Reason(name, float(x[j]), float(contrib[j]), f"{text} ({direction} P by {abs(contrib[j]):.2f})"))
    return tuple(out)


def explain(
    scorer: Scorer,
    x: np.ndarray,
    config: FeatureConfig | None = None,
    top: int = 3,
    min_abs: float = 0.01,
) -> tuple[Reason, ...]:
    """The `top` features that move this row's P(confirmed) most (at least `min_abs`), in plain words."""
    return _reasons(scorer, x, attributions(scorer, x), config or FeatureConfig(), top, min_abs)


def explain_many(
    scorer: Scorer,
    X: np.ndarray,
    config: FeatureConfig | None = None,
    top: int = 3,
    min_abs: float = 0.01,
) -> list[tuple[Reason, ...]]:
    """`explain` for every row of `X`, with one model call for all of them."""
    if len(X) == 0:
        return []
    contrib = attributions(scorer, X)
    cfg = config or FeatureConfig()
    return [_reasons(scorer, X[i], contrib[i], cfg, top, min_abs) for i in range(len(X))]


def prioritise(
    scorer: Scorer,
    fm: FeatureMatrix,
    states: list[SlaState],
    taxonomy: Taxonomy,
    now: datetime,
    config: FeatureConfig | None = None,
    top_reasons: int = 3,
) -> list[PriorityScore]:
    """A `PriorityScore` per row of `fm`, in the same order (sort by `.priority` to dispatch)."""
    if len(states) != len(fm):
        raise ScoringError(f"states: expected {len(fm)}, got {len(states)}")
    p = scorer.predict(fm)
    explained = explain_many(scorer, fm.X, config, top_reasons)
    out = []
    for i, state in enumerate(states):
        category = scorer.categories[int(fm.X[i, COL["category"]])]
        if category not in taxonomy.categories:
            raise ScoringError(f"category {category!r} is not in the taxonomy")
        severity = taxonomy.categories[category].severity
        urgency, left = sla_urgency(state, category, taxonomy, now)
        reasons = explained[i]
        out.append(
            PriorityScore(
                case_id=int(fm.case_ids[i]),
                p_confirmed=float(p[i]),
                severity=severity,
                urgency=urgency,
                priority=float(p[i]) * severity * urgency,
                hours_left=left,
                scorer_kind=scorer.kind,
                reasons=reasons,
            )
        )
    return out
