"""The webhook outbox: one delivery row per subscribed webhook, queued in the writer's own transaction (a
transactional outbox), and listeners woken after that transaction commits (`cases.push` delivers the rows)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from cases.orm import Case, WebhookDelivery
from cases.settings import PushSettings
from cases.status import CaseStatus


def webhook_payload(event_type: str, case: Case, now: datetime, from_status: CaseStatus | None) -> str:
    """The JSON body every webhook subscribed to `event_type` receives for `case`."""
    return json.dumps(
        {
            "event": event_type,
            "at": now.isoformat(),
            "case": {
                "id": case.id,
                "category": case.category,
                "code": case.code,
                "status": case.status,
                "from_status": from_status.value if from_status else None,
                "lat": case.lat,
                "lon": case.lon,
                "district": case.district,
                "department": case.department,
                "verdict": case.verdict,
                "severity": case.severity,
                "first_seen": case.first_seen.isoformat(),
                "last_seen": case.last_seen.isoformat(),
                "due_at": case.due_at.isoformat() if case.due_at else None,
                "repeat_of": case.repeat_of,
                "duplicate_of": case.duplicate_of,
            },
        },
        ensure_ascii=False,
        sort_keys=True,
    )


class Outbox:
    """Queues webhook deliveries for `push.webhooks`; `listeners` are called after a commit that queued some."""

    def __init__(self, push: PushSettings):
        self._push = push
        self.listeners: list[Callable[[], None]] = []

    def subscribed(self, event_type: str) -> bool:
        """Whether any webhook wants `event_type`."""
        return any(event_type in h.events for h in self._push.webhooks)

    def enqueue(
        self, session: Session, event_type: str, case: Case, now: datetime, *, from_status: CaseStatus | None
    ) -> bool:
        """Queue one delivery per subscribed webhook, in the caller's transaction; whether any was queued."""
        hooks = [h for h in self._push.webhooks if event_type in h.events]
        if not hooks:
            return False
        payload = webhook_payload(event_type, case, now, from_status)
        for hook in hooks:
            session.add(
                WebhookDelivery(
                    url=hook.url,
                    event_type=event_type,
                    case_id=case.id,
                    payload=payload,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    created_at=now,
                )
            )
        return True

    def notify(self) -> None:
        """Wake the listeners (after the commit of a transaction that queued deliveries)."""
        for listener in list(self.listeners):
            listener()
