"""Celery job of event ingestion (`cityeye.cases.ingest_events`): the events producers spooled
(`cases.ingest_queue.EventSpool`) stored as cases by `cases.ingest_queue.ingest_payloads`.

Acknowledged late (a worker killed mid-task has its message delivered again) and retried with exponential
back-off while the database is unreachable; ingestion is idempotent by event id, so running it again is safe.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import DBAPIError, OperationalError

from cases.ingest_queue import INGEST_JOB, TASK_NAME, ingest_payloads
from cityeye.jobs import runtime

_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,  # progress is the case store itself
    "autoretry_for": (OperationalError, DBAPIError, OSError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": False,
    "max_retries": None,  # the database coming back is what ends the retries; the spool keeps the events anyway
}


@shared_task(name=INGEST_JOB, **_OPTIONS)
def ingest_events(payloads: list[dict[str, Any]], chunk: int = 50) -> dict[str, int]:
    """Store events (JSON, `event_to_json`) as cases; idempotent by event id, so safe to run again."""
    return ingest_payloads(runtime().cases, payloads, chunk)


@shared_task(name=TASK_NAME, **_OPTIONS)
def ingest_events_old_name(payloads: list[dict[str, Any]], chunk: int = 50) -> dict[str, int]:
    """The job's old name (`cases.ingest_events`): messages sent to it before the rename still run."""
    return ingest_payloads(runtime().cases, payloads, chunk)
