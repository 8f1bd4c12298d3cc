"""The scorer's lifecycle on the case store: refit from its verdicts, promote, rescore the open cases.

* `refit_store` (the periodic job `cityeye.scoring.refit`, Celery beat every `scoring.refit_every_s`, see
  `cityeye/jobs/scoring.py`; `cityeye scoring fit --db` in embedded mode) fits a scorer on every verdict in the
  case store (the prior until the learned model beats it on held-out verdicts, `cases.scoring.model.fit_scorer`),
  saves it as a new version and, when asked, promotes it; then fits the hotspot forecasts
  (`scoring.forecast_cell_m`, day and week) once there are `scoring.forecast_min_days` days of confirmed cases.
* `rescore_open` scores every open case again with the production scorer (the job `cityeye.scoring.rescore`,
  queued after each promotion; `cityeye scoring promote` runs it in place); `rescore_version` is that job: it
  does nothing once another version is production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from cases.scoring.errors import ScoringError
from cases.scoring.features import FeatureConfig
from cases.scoring.forecast import fit_forecast
from cases.scoring.live import LiveScorer, store_occurrences, store_training_set
from cases.scoring.model import SelectionConfig, fit_scorer
from cases.scoring.registry import ForecastStore, ScorerStore
from cases.settings import ScoringSettings
from models.taxonomy import Taxonomy

log = logging.getLogger(__name__)
HORIZONS: tuple[tuple[Literal["day", "week"], int], ...] = (("day", 1), ("week", 7))


@dataclass
class RefitReport:
    version: str
    kind: str
    verdicts: int
    reason: str
    promoted: bool
    forecasts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"scorer {self.version} ({self.kind}) fitted on {self.verdicts} verdicts: {self.reason}"]
        out.append("promoted to production" if self.promoted else "saved as a candidate (not promoted)")
        out += [f"forecast {v} saved" for v in self.forecasts] + [f"forecast skipped: {s}" for s in self.skipped]
        return out


def refit_store(
    sessions: sessionmaker[Session],
    taxonomy: Taxonomy,
    scoring: ScoringSettings,
    scorers: ScorerStore,
    forecasts: ForecastStore,
    *,
    promote: bool,
) -> RefitReport:
    """Fit a scorer (and the forecasts) on the case store; promote the scorer when `promote`."""
    categories = tuple(taxonomy.categories)
    config = FeatureConfig(radius_m=scoring.radius_m)
    fm, y = store_training_set(sessions, categories, config)
    selection = fit_scorer(fm, y, categories, SelectionConfig(min_verdicts=scoring.min_verdicts))
    card = scorers.save(selection, config, notes="fitted on the case store")
    if promote:
        scorers.promote(card.version)
    report = RefitReport(card.version, card.kind, len(y), selection.reason, promote)
    occurrences = store_occurrences(sessions)
    if occurrences:
        span = (max(o.first_seen for o in occurrences) - min(o.first_seen for o in occurrences)).days + 1
    else:
        span = 0
    if span < scoring.forecast_min_days:
        report.skipped.append(
            f"{span} days of confirmed cases < scoring.forecast_min_days ({scoring.forecast_min_days})"
        )
        return report
    for cell_m in scoring.forecast_cell_m:
        for name, days in HORIZONS:
            try:
                fitted = fit_forecast(occurrences, categories, days, cell_m)
            except ScoringError as exc:
                report.skipped.append(f"{name}/{cell_m:g} m: {exc}")
                continue
            saved = forecasts.save(
                fitted.forecaster, fitted.geojson, horizon=name, history_days=fitted.history_days, source="case store"
            )
            report.forecasts.append(saved.version)
    return report


def rescore_open(scorer: LiveScorer) -> int:
    """Score every open case with the production scorer; returns how many were scored."""
    return scorer.rescore_open()


def rescore_version(scorer: LiveScorer, version: str | None = None) -> int:
    """Rescore the open cases; a run queued for `version` does nothing once another version is production."""
    if version is not None and scorer.store.production() != version:
        log.info("rescore for %s skipped: it is no longer the production scorer", version)
        return 0
    return rescore_open(scorer)
