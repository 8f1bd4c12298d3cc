"""Celery job of the data team's loop (`PERIODIC["loop"]`, every `loop.every_h` hours when set).

The work is `training.loop.run_loop`; this module only hands it the process runtime's collaborators.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from cityeye.jobs import runtime

log = logging.getLogger(__name__)


@shared_task(name="cityeye.loop.run")
def run(epochs: int | None = None) -> dict[str, Any]:
    """Build a feedback dataset, fine-tune from production, compare, register a candidate (no promotion).

    Nothing new to learn from is not an error: the run says so and stops before training.
    """
    from training.loop import LoopError, run_loop

    rt = runtime()
    try:
        result = run_loop(rt.settings.loop, rt.paths, rt.feedback, rt.detectors, epochs=epochs)
    except LoopError as exc:
        log.info("loop: %s", exc)
        return {"skipped": str(exc)}
    return result.summary()


@shared_task(name="cityeye.loop_run")
def loop_run(epochs: int | None = None) -> dict[str, Any]:
    """The job's old name: runs queued (or scheduled by an older beat) before the rename still run."""
    return run(epochs)
