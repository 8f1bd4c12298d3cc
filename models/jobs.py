"""The port for background work: lower layers enqueue jobs by name without knowing Celery or the runtime.

Job names follow `cityeye.<area>.<verb>` (`cityeye.surveys.process`, `cityeye.cases.ingest_events`, ...). The shell
implements the port (`cityeye/jobs`): Redis + Celery workers in scale-out, a thread pool of the calling process in
the embedded default. Arguments must be JSON-serialisable (ids, lists of dicts), never live objects.
"""

from __future__ import annotations

from typing import Any, Protocol


class JobQueue(Protocol):
    """Runs the job `name` in the background, at least once."""

    def submit(self, name: str, *args: Any) -> None: ...
