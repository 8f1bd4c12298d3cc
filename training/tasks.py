"""Celery task of the data team's loop (`PERIODIC["loop"]`, every `loop.every_h` hours when set)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from cityeye.tasks import current_settings

log = logging.getLogger(__name__)


@shared_task(name="cityeye.loop_run")
def loop_run(epochs: int | None = None) -> dict[str, Any]:
    """Build a feedback dataset, fine-tune from production, compare, register a candidate (no promotion).

    Nothing new to learn from is not an error: the run says so and stops before training.
    """
    from training.loop import LoopError, run_loop

    try:
        r = run_loop(current_settings(), epochs=epochs)
    except LoopError as exc:
        log.info("loop: %s", exc)
        return {"skipped": str(exc)}
    return {
        "candidate": r.candidate,
        "production": r.production,
        "dataset": str(r.dataset),
        "report": str(r.report),
        "gate_passes": r.passes,
        "drops": r.drops,
        "feedback_frames_added": r.added,
    }
