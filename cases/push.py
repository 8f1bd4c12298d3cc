"""Outbound webhooks: signed POSTs of case events, retried with exponential back-off, dead-lettered at the end.

The case service writes one `WebhookDelivery` row per configured webhook in the same transaction as the
change it reports (a transactional outbox), so a committed change is never lost and a rolled-back one is
never sent. `WebhookDeliverer` sends due rows: in embedded mode from a background thread of the API
process (`start`/`stop`), woken by the service after each commit; any process may call `deliver_due`.

Each POST carries:

    X-Cityeye-Event: case.created | case.status_changed
    X-Cityeye-Delivery: <delivery id>          (the same on every retry: receivers de-duplicate on it)
    X-Cityeye-Timestamp: <unix seconds>
    X-Cityeye-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret>

A 2xx answer is a delivery; anything else (or no answer within `push.timeout_s`) is retried after
`backoff_s × 2^(attempt-1)` (at most `backoff_max_s`); after `max_attempts` the row is `dead`.

`wire_webhooks` makes the rows a case service queues go out: in scale-out the shell's `enqueue` (one run of the
`cityeye.webhooks.deliver` job, `cityeye/jobs/webhooks.py`) after every commit that queued some, in embedded mode
a `WebhookDeliverer` thread of the calling process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cases import metrics
from cases.db import WRITE
from cases.errors import InvalidAction
from cases.orm import WebhookDelivery
from cases.settings import PushSettings

if TYPE_CHECKING:
    from cases.service import CaseService

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Cityeye-Signature"
TIMESTAMP_HEADER = "X-Cityeye-Timestamp"
MAX_SKEW_S = 300
MAX_PASSES = 20  # one `drain` sends at most MAX_PASSES × 50 deliveries; the next run takes the rest


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is within 5 minutes of `now` (default: the
    current time), so a captured delivery cannot be replayed later."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    ts = int(timestamp)
    if abs((time.time() if now is None else now) - ts) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class WebhookDeliverer:
    """Sends due webhook deliveries. Thread-safe; `start` runs it in a daemon thread until `stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: PushSettings,
        *,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self._sessions = sessions
        self._settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self._secrets = {h.url: h.secret for h in settings.webhooks}
        self._client = httpx.Client(timeout=settings.timeout_s, transport=transport, follow_redirects=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the background loop -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cityeye-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._client.close()

    def wake(self) -> None:
        """Look for due deliveries now (the case service calls this after a commit that queued some)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._settings.poll_s)
            self._wake.clear()
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception:  # the loop must survive a database hiccup; the rows stay pending
                log.exception("webhook delivery pass failed")

    # ---- one pass --------------------------------------------------------------------------------------------
    def drain(self, max_passes: int = MAX_PASSES) -> int:
        """`deliver_due` until nothing is due (at most `max_passes` passes); returns how many POSTs were tried."""
        tried = 0
        for _ in range(max_passes):
            n = self.deliver_due()
            tried += n
            if n == 0:
                break
        return tried

    def deliver_due(self, limit: int = 50) -> int:
        """Try every pending delivery whose time has come (at most `limit`); returns how many were tried."""
        now = self._clock()
        with self._sessions() as session:
            due = session.execute(
                select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            ).all()
        tried = 0
        for delivery_id, due_at in due:
            row = self._claim(delivery_id, due_at, now)
            if row is not None:
                self._attempt(row)
                tried += 1
        return tried

    def _claim(self, delivery_id: int, due_at: datetime, now: datetime) -> WebhookDelivery | None:
        """Lease the row (push its next attempt past the POST's timeout) so other deliverers skip it."""
        lease = now + timedelta(seconds=self._settings.timeout_s + 30)
        with self._sessions() as session, session.begin():
            session.connection(execution_options=WRITE)
            claimed = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at == due_at,
                )
                .values(next_attempt_at=lease)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return session.get(WebhookDelivery, delivery_id)

    def _attempt(self, row: WebhookDelivery) -> None:
        secret = self._secrets.get(row.url)
        error = ""
        if secret is None:
            error = "no webhook with this url is configured any more"
        else:
            body = row.payload.encode()
            ts = int(self._clock().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "cityeye-webhooks",
                "X-Cityeye-Event": row.event_type,
                "X-Cityeye-Delivery": str(row.id),
                TIMESTAMP_HEADER: str(ts),
                SIGNATURE_HEADER: sign(secret, ts, body),
            }
            try:
                r = self._client.post(row.url, content=body, headers=headers)
                if not 200 <= r.status_code < 300:
                    error = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        now = self._clock()
        attempts = row.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_error": error}
        if not error:
            values.update(state="delivered", delivered_at=now)
        elif secret is None or attempts >= self._settings.max_attempts:
            values.update(state="dead")
            metrics.WEBHOOK_FAILURES.inc()
            metrics.WEBHOOK_DEAD.inc()
            log.warning("webhook delivery %s to %s is dead after %d attempts: %s", row.id, row.url, attempts, error)
        else:
            metrics.WEBHOOK_FAILURES.inc()
            delay = min(self._settings.backoff_s * 2 ** (attempts - 1), self._settings.backoff_max_s)
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        with self._sessions() as session, session.begin():
            session.connection(execution_options=WRITE)
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == row.id).values(**values))

    # ---- the dead-letter list ---------------------------------------------------------------------------------
    def deliveries(self, state: str | None = None) -> list[WebhookDelivery]:
        with self._sessions() as session:
            q = select(WebhookDelivery).order_by(WebhookDelivery.id)
            if state is not None:
                q = q.where(WebhookDelivery.state == state)
            return list(session.scalars(q))

    def dead_letters(self) -> list[WebhookDelivery]:
        return self.deliveries("dead")

    def retry(self, delivery_id: int) -> None:
        """Put a dead delivery back in the queue with a fresh set of attempts."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options=WRITE)
            row = session.get(WebhookDelivery, delivery_id)
            if row is None or row.state != "dead":
                raise InvalidAction(f"no dead webhook delivery {delivery_id}")
            row.state, row.attempts, row.next_attempt_at = "pending", 0, self._clock()
        self.wake()


def wire_webhooks(
    service: CaseService,
    push: PushSettings,
    *,
    enqueue: Callable[[], None] | None = None,
    start_thread: bool = True,
) -> WebhookDeliverer | None:
    """Make the deliveries `service` queues go out (nothing to do without `push.webhooks`).

    Scale-out (`enqueue` given: it queues one delivery run): `enqueue` is called after every commit that queued
    deliveries; returns None. Embedded: returns the started `WebhookDeliverer` thread of this process (the caller
    stops it at shutdown), or None when `start_thread` is false (a short run: `cityeye serve` sends the rest).
    """
    if not push.webhooks:
        return None
    if enqueue is not None:
        service.outbox_listeners.append(enqueue)
        return None
    if not start_thread:
        return None
    deliverer = WebhookDeliverer(service.sessions, push)
    service.outbox_listeners.append(deliverer.wake)
    deliverer.start()
    return deliverer
