"""The scorer's lifecycle: refit from the case store's verdicts, promote, rescore the open cases.

* `refit` (Celery beat every `scoring.refit_every_s`, `PERIODIC` in `cityeye.tasks`; `cityeye scoring fit --db`
  in embedded mode) fits a scorer on every verdict in the case store (the prior until the learned model beats
  it on held-out verdicts, `cases.scoring.model.fit_scorer`), saves it as a new version and, with
  `scoring.auto_promote`, promotes it; then fits the hotspot forecasts (`scoring.forecast_cell_m`, day and week)
  once there are `scoring.forecast_min_days` days of confirmed cases.
* `rescore` scores every open case again with the production scorer; queued after each promotion
  (`cityeye scoring promote` runs it in place).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from celery import shared_task
from sqlalchemy.orm import Session, sessionmaker

from cases.scoring.errors import ScoringError
from cases.scoring.features import FeatureConfig
from cases.scoring.forecast import fit_forecast
from cases.scoring.live import LiveScorer, scorer_store, store_occurrences, store_training_set
from cases.scoring.model import SelectionConfig, fit_scorer
from cases.scoring.registry import ForecastStore
from cityeye.tasks import current_settings, submit
from models.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from cityeye.config import Settings

log = logging.getLogger(__name__)
REFIT = "cases.scoring.refit"
RESCORE = "cases.scoring.rescore"
HORIZONS: tuple[tuple[Literal["day", "week"], int], ...] = (("day", 1), ("week", 7))

_lock = threading.Lock()
_context: tuple[int, Settings, sessionmaker[Session], Taxonomy] | None = None


def _process_context(settings: Settings) -> tuple[sessionmaker[Session], Taxonomy]:
    """One engine per worker process (made after the fork), for these settings; the schema migrated."""
    global _context
    with _lock:
        if _context is None or _context[0] != os.getpid() or _context[1] is not settings:
            from cases.db import make_engine, migrate, session_factory

            engine = make_engine(settings)
            migrate(settings, engine)
            taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
            _context = (os.getpid(), settings, session_factory(engine), taxonomy)
        return _context[2], _context[3]


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
    settings: Settings, sessions: sessionmaker[Session], taxonomy: Taxonomy, *, promote: bool
) -> RefitReport:
    """Fit a scorer (and the forecasts) on the case store; promote the scorer when `promote`."""
    categories = tuple(taxonomy.categories)
    config = FeatureConfig(radius_m=settings.scoring.radius_m)
    fm, y = store_training_set(sessions, categories, config)
    selection = fit_scorer(fm, y, categories, SelectionConfig(min_verdicts=settings.scoring.min_verdicts))
    store = scorer_store(settings)
    card = store.save(selection, config, notes="fitted on the case store")
    if promote:
        store.promote(card.version)
    report = RefitReport(card.version, card.kind, len(y), selection.reason, promote)
    occurrences = store_occurrences(sessions)
    if occurrences:
        span = (max(o.first_seen for o in occurrences) - min(o.first_seen for o in occurrences)).days + 1
    else:
        span = 0
    if span < settings.scoring.forecast_min_days:
        report.skipped.append(
            f"{span} days of confirmed cases < scoring.forecast_min_days ({settings.scoring.forecast_min_days})"
        )
        return report
    forecasts = ForecastStore(settings.data_dir / "forecasts")
    for cell_m in settings.scoring.forecast_cell_m:
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


def rescore_open(settings: Settings, sessions: sessionmaker[Session], taxonomy: Taxonomy) -> int:
    """Score every open case with the production scorer; returns how many were scored."""
    return LiveScorer(sessions, settings, taxonomy).rescore_open()


@shared_task(name=REFIT, ignore_result=True)
def refit() -> dict[str, Any]:
    """The periodic refit; queues `rescore` when it promoted a new scorer."""
    settings = current_settings()
    sessions, taxonomy = _process_context(settings)
    report = refit_store(settings, sessions, taxonomy, promote=settings.scoring.auto_promote)
    for line in report.lines():
        log.info("%s", line)
    if report.promoted:
        submit(rescore, report.version)
    return {"version": report.version, "promoted": report.promoted, "forecasts": report.forecasts}


@shared_task(name=RESCORE, ignore_result=True)
def rescore(version: str | None = None) -> int:
    """Rescore the open cases; a run queued for `version` does nothing once another version is production."""
    settings = current_settings()
    if version is not None and scorer_store(settings).production() != version:
        log.info("rescore for %s skipped: it is no longer the production scorer", version)
        return 0
    sessions, taxonomy = _process_context(settings)
    return rescore_open(settings, sessions, taxonomy)
