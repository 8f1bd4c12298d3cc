"""Celery job of webhook delivery (`cityeye.webhooks.deliver`) and its wiring to the case service.

The job sends every due row of the webhook outbox (`cases.push.WebhookDeliverer.drain`). It is safe to run any
number of times in any number of processes at once: each row is claimed (leased) before its POST, so a row goes
out once per attempt. How it is triggered:

* **scale-out** (`redis_url` set): `wire_webhooks` makes the case service enqueue one run after every commit
  that queued deliveries (`Enqueuer`), and the beat schedule runs it every `push.poll_s` seconds
  (`PERIODIC["webhooks"]`), which is what sends the retries once their back-off has passed.
* **embedded**: `wire_webhooks` starts a `WebhookDeliverer` thread in the calling process instead (woken after
  each commit, looking every `push.poll_s` seconds); the job is not used.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from celery import Celery, shared_task

from cases import push
from cases.push import WebhookDeliverer
from cityeye.jobs import current_settings, make_celery, runtime

if TYPE_CHECKING:
    from cases.service import CaseService
    from cityeye.config import Settings

log = logging.getLogger(__name__)
DELIVER = "cityeye.webhooks.deliver"
EXPIRES_S = 300  # a queued run not started within this long is dropped (the periodic run comes anyway)


@shared_task(name=DELIVER, ignore_result=True, expires=EXPIRES_S)
def deliver() -> int:
    """Send the due webhook deliveries; returns how many POSTs were tried."""
    if not current_settings().push.webhooks:
        return 0
    rt = runtime()
    deliverer = WebhookDeliverer(rt.sessions, rt.settings.push)
    try:
        return deliverer.drain()
    finally:
        deliverer.stop()


@shared_task(name="cases.deliver_webhooks", ignore_result=True, expires=EXPIRES_S)
def deliver_webhooks() -> int:
    """The job's old name: runs queued (or scheduled by an older beat) before the rename still run."""
    return deliver()


def wire_webhooks(service: CaseService, settings: Settings, *, start_thread: bool = True) -> WebhookDeliverer | None:
    """Make the deliveries `service` queues go out: Celery in scale-out, else a thread of this process.

    Scale-out: a `deliver` run is enqueued after every commit that queued deliveries; returns None.
    Embedded: returns the started `WebhookDeliverer` (the caller stops it at shutdown), or None when
    `start_thread` is false (a short CLI run: `cityeye serve` sends what it queued later).
    """
    enqueue = Enqueuer(settings) if settings.redis_url else None
    return push.wire_webhooks(service, settings.push, enqueue=enqueue, start_thread=start_thread)


class Enqueuer:
    """Queues one `deliver` run on the Redis of `settings` (an outbox listener of the case service).

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
            self._app.send_task(DELIVER, expires=EXPIRES_S, ignore_result=True)
        except Exception:
            log.warning("could not enqueue webhook delivery; the periodic run will send it", exc_info=True)
