"""Citizen reports (Open311 POST): which case a reporting app's report opened or joined, and the reporter's contact.

The report itself is ingested as an `Event` like any other source (the API builds it); this store keeps what a
case does not: the reporter's token (their handle on the status page), the app's client reference (retries are
idempotent per app), what the citizen wrote and linked, and, in a table of its own, the optional email / phone.
Reads of cases and Open311 never join `citizen_contacts`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases.errors import CitizenReportNotFound
from cases.orm import CitizenContact, CitizenReport

TOKEN_BYTES = 16  # 128 random bits: the token is the only key to the status page


@dataclass(frozen=True)
class CitizenReportIn:
    """One report as the app sent it (validated by the API)."""

    app: str
    client_ref: str | None
    service_code: str
    category: str
    description: str
    address_string: str | None
    lat: float | None
    lon: float | None
    media_url: str | None
    email: str | None = None
    phone: str | None = None


class CitizenReports:
    """The citizen-report store. Thread-safe: every call opens its own session."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions

    def find(self, app: str, client_ref: str) -> CitizenReport | None:
        """The report `app` sent with `client_ref` before, if any (an idempotent retry)."""
        with self._sessions() as session:
            return session.scalar(
                select(CitizenReport).where(CitizenReport.app == app, CitizenReport.client_ref == client_ref)
            )

    def add(self, report: CitizenReportIn, event_id: str, case_id: int | None) -> tuple[CitizenReport, bool]:
        """Store `report` (and its contact, apart); `(row, False)` when a retry with the same client_ref won."""
        row = CitizenReport(
            token=secrets.token_urlsafe(TOKEN_BYTES),
            app=report.app,
            client_ref=report.client_ref,
            event_id=event_id,
            case_id=case_id,
            service_code=report.service_code,
            category=report.category,
            description=report.description,
            address_string=report.address_string,
            lat=report.lat,
            lon=report.lon,
            media_url=report.media_url,
        )
        with self._sessions() as session:
            session.add(row)
            try:
                session.flush()
                if report.email or report.phone:
                    session.add(CitizenContact(report_id=row.id, email=report.email, phone=report.phone))
                session.commit()
            except IntegrityError:
                session.rollback()
                if report.client_ref is not None and (won := self.find(report.app, report.client_ref)) is not None:
                    return won, False
                raise
            session.refresh(row)
            session.expunge(row)
        return row, True

    def by_token(self, token: str) -> CitizenReport:
        """The report with `token`; raises `CitizenReportNotFound`."""
        with self._sessions() as session:
            row = session.scalar(select(CitizenReport).where(CitizenReport.token == token))
        if row is None:
            raise CitizenReportNotFound("no citizen report has that token")
        return row

    def for_case(self, case_id: int) -> list[CitizenReport]:
        """The citizen reports of one case, oldest first."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(CitizenReport).where(CitizenReport.case_id == case_id).order_by(CitizenReport.id)
                )
            )

    def contact(self, report_id: int) -> CitizenContact | None:
        """The reporter's contact (for the city's staff tools; never served by Open311)."""
        with self._sessions() as session:
            return session.scalar(select(CitizenContact).where(CitizenContact.report_id == report_id))
