"""Metrics of the case store: events ingested, cases by status, overdue cases, webhook deliveries.

The store's state is read when `/metrics` is scraped (`refresh_store_gauges`), so every API process reports the
same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

# ---- events and cases ----------------------------------------------------------------------------------------
EVENTS_INGESTED = Counter(
    "cityeye_events_ingested_total", "Events ingested, by result (created, merged, duplicate, ...)", ["result"]
)
CASES = Gauge("cityeye_cases", "Cases by lifecycle status (read from the store at scrape time)", ["status"])
CASES_OVERDUE = Gauge("cityeye_cases_overdue", "Open cases past their step's deadline")

# ---- webhooks ------------------------------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Gauge(
    "cityeye_webhook_deliveries", "Webhook deliveries by state (pending, delivered, dead = dead letters)", ["state"]
)
WEBHOOK_FAILURES = Counter("cityeye_webhook_failures_total", "Failed webhook POST attempts (non-2xx or no answer)")
WEBHOOK_DEAD = Counter("cityeye_webhook_dead_total", "Webhook deliveries that became dead letters")


def refresh_store_gauges(sessions: sessionmaker[Session], now: Any) -> None:
    """Cases by status, overdue cases and webhook deliveries by state, from the case store."""
    from sqlalchemy import func, select

    from cases.orm import Case, WebhookDelivery
    from cases.status import OPEN_STATUSES, CaseStatus

    with sessions() as session:
        by_status = dict(session.execute(select(Case.status, func.count()).group_by(Case.status)).tuples().all())
        overdue = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.status.in_([s.value for s in OPEN_STATUSES]), Case.due_at.is_not(None), Case.due_at < now)
        )
        deliveries = dict(
            session.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).tuples().all()
        )
    for status in CaseStatus:
        CASES.labels(status=status.value).set(by_status.get(status.value, 0))
    CASES_OVERDUE.set(overdue or 0)
    for state in ("pending", "delivered", "dead"):
        WEBHOOK_DELIVERIES.labels(state=state).set(deliveries.get(state, 0))
