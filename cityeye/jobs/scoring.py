"""Scoring jobs: the periodic refit of the scorer and forecasts, and the rescoring of the open cases.

Thin: each task takes the process's `Runtime` and calls `cases.scoring.lifecycle`, where the logic lives.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from cases.scoring.lifecycle import refit_store, rescore_version
from cityeye.jobs import runtime

log = logging.getLogger(__name__)
REFIT = "cityeye.scoring.refit"
RESCORE = "cityeye.scoring.rescore"


@shared_task(name=REFIT, ignore_result=True)
def refit() -> dict[str, Any]:
    """The periodic refit; queues `rescore` when it promoted a new scorer."""
    rt = runtime()
    scoring = rt.settings.scoring
    report = refit_store(rt.sessions, rt.taxonomy, scoring, rt.scorers, rt.forecasts, promote=scoring.auto_promote)
    for line in report.lines():
        log.info("%s", line)
    if report.promoted:
        rt.jobs.submit(RESCORE, report.version)
    return {"version": report.version, "promoted": report.promoted, "forecasts": report.forecasts}


@shared_task(name=RESCORE, ignore_result=True)
def rescore(version: str | None = None) -> int:
    """Rescore the open cases; a run queued for `version` does nothing once another version is production."""
    return rescore_version(runtime().live_scorer, version)


# The jobs' old names: runs queued (or scheduled by an older beat) before the rename still run.
@shared_task(name="cases.scoring.refit", ignore_result=True)
def refit_old_name() -> dict[str, Any]:
    return refit()


@shared_task(name="cases.scoring.rescore", ignore_result=True)
def rescore_old_name(version: str | None = None) -> int:
    return rescore(version)
