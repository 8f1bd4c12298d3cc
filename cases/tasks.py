"""Background jobs of the case store: webhook delivery.

`deliver_webhooks` sends every due row of the webhook outbox (`cases.push`). It is safe to run any number of
times in any number of processes at once: each row is claimed (leased) before its POST, so a row goes out
once per attempt. How it is triggered:

* **scale-out** (`redis_url` set): the case service enqueues it after every commit that queued deliveries
  (`wire_webhooks`), and the beat schedule runs it every `push.poll_s` seconds (`PERIODIC` in
  `cityeye.tasks`), which is what sends the retries once their back-off has passed.
* **embedded**: `wire_webhooks` starts a `WebhookDeliverer` thread in the calling process instead (woken after
  each commit, looking every `push.poll_s` seconds); the task is not used.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from celery import Celery, shared_task

from cases.db import make_engine, session_factory
from cases.push import WebhookDeliverer
from cityeye.tasks import current_settings, make_celery

if TYPE_CHECKING:
    from cases.service import CaseService
    from cityeye.config import Settings

log = logging.getLogger(__name__)
EXPIRES_S = 300  # a queued run not started within this long is dropped (the periodic run comes anyway)
TASK_NAME = "cases.deliver_webhooks"
MAX_PASSES = 20  # one task run sends at most MAX_PASSES × 50 deliveries; the next run takes the rest

_lock = threading.Lock()
_deliverer: tuple[int, Settings, WebhookDeliverer] | None = None  # (pid, settings it was made for, deliverer)


def _process_deliverer(settings: Settings) -> WebhookDeliverer:
    """One deliverer (engine + HTTP client) per worker process, made after the fork, for these settings."""
    global _deliverer
    with _lock:
        if _deliverer is None or _deliverer[0] != os.getpid() or _deliverer[1] is not settings:
            engine = make_engine(settings)
            _deliverer = (os.getpid(), settings, WebhookDeliverer(session_factory(engine), settings.push))
        return _deliverer[2]


@shared_task(name=TASK_NAME, ignore_result=True, expires=EXPIRES_S)
def deliver_webhooks() -> int:
    """Send the due webhook deliveries; returns how many POSTs were tried."""
    settings = current_settings()
    if not settings.push.webhooks:
        return 0
    deliverer = _process_deliverer(settings)
    tried = 0
    for _ in range(MAX_PASSES):
        n = deliverer.deliver_due()
        tried += n
        if n == 0:
            break
    return tried


def wire_webhooks(service: CaseService, settings: Settings, *, start_thread: bool = True) -> WebhookDeliverer | None:
    """Make the deliveries `service` queues go out: Celery in scale-out, else a thread of this process.

    Scale-out: `deliver_webhooks` is enqueued after every commit that queued deliveries; returns None.
    Embedded: returns the started `WebhookDeliverer` (the caller stops it at shutdown), or None when
    `start_thread` is false (a short CLI run: `cityeye serve` sends what it queued later).
    """
    if not settings.push.webhooks:
        return None
    if settings.redis_url:
        service.outbox_listeners.append(Enqueuer(settings))
        return None
    if not start_thread:
        return None
    deliverer = WebhookDeliverer(service.sessions, settings.push)
    service.outbox_listeners.append(deliverer.wake)
    deliverer.start()
    return deliverer


class Enqueuer:
    """Queues one `deliver_webhooks` run on the Redis of `settings` (an outbox listener of the case service).

    A failure to reach Redis is logged, not raised: the change is committed and its delivery row pending, so
    the periodic run sends it.
    """

    def __init__(self, settings: Settings):
        self._settings = settings
        self._app: Celery | None = None

    def __call__(self) -> None:
        try:
            if self._app is None:
                self._app = make_celery(self._settings)
            self._app.send_task(TASK_NAME, expires=EXPIRES_S, ignore_result=True)
        except Exception:
            log.warning("could not enqueue webhook delivery; the periodic run will send it", exc_info=True)
