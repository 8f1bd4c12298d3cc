"""The case store's reads: a filtered, sorted, paged list of cases (`CaseQuery` -> `CasePage`) and one case with
its observations, evidence and audit log (`CaseRecord`)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, sessionmaker

from cases.errors import CaseNotFound, InvalidFilter
from cases.lifecycle import Verdict
from cases.orm import AuditEntry, Case, Evidence, Observation
from cases.status import CaseStatus
from models.taxonomy import Taxonomy
from models.timestamps import checked_utc

DEFAULT_PAGE_SIZE = 50
SORTS = ("last_seen", "priority", "due")
MAX_CURSOR_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)
Sort = Literal["last_seen", "priority", "due"]
BBoxFilter = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class CaseQuery:
    """Which cases to list, in which order, which page. Every filter left at None (or empty) keeps every case.

    `since <= last_seen < until` and `created_since <= created_at < created_until`; naive datetimes are read as
    UTC. `ids` and `statuses` keep only those cases. `bbox` = (min_lon, min_lat, max_lon, max_lat).
    `min_score` <= P(confirmed) <= `max_score` (unscored cases are left out by either). `overdue`: whether the
    current step's deadline has passed. `visible_districts` (an API key's districts) restricts the result to
    those districts. Sorts:

    - `last_seen`: newest sighting first;
    - `priority`: score × urgency (2 when overdue, else 1) highest first, then the earliest deadline, where
      score = P(confirmed) × severity as the live scorer stored it (severity alone while unscored);
    - `due`: earliest deadline first (closed and dismissed cases last).

    `limit` defaults to 50, or to the store's page size maximum where that is smaller; `cursor` (sort=last_seen
    only) is the previous page's `next_cursor`. The values are checked when the query runs (`InvalidFilter`).
    """

    category: str | None = None
    status: CaseStatus | str | None = None
    since: datetime | None = None
    until: datetime | None = None
    district: str | None = None
    bbox: BBoxFilter | None = None
    overdue: bool | None = None
    verdict: Verdict | str | None = None
    min_confidence: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    visible_districts: Sequence[str] = ()
    ids: Sequence[int] | None = None
    statuses: Sequence[CaseStatus] | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    sort: Sort = "last_seen"
    limit: int | None = None
    offset: int = 0
    cursor: str | None = None


@dataclass(frozen=True)
class CasePage:
    """One page of cases; `total` counts all cases matching the filters (over all pages).

    `next_cursor` (sort=last_seen only): pass it as `cursor` for the next page; None on the last page.
    """

    items: list[Case]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None


@dataclass(frozen=True)
class CaseRecord:
    """A case with its observations (oldest first), evidence (by `n`) and audit log (oldest first)."""

    case: Case
    observations: list[Observation]
    evidence: list[Evidence]
    audit: list[AuditEntry]


class CaseQueries:
    """Reads of the case store. `page_size_max` bounds `CaseQuery.limit`; `clock` decides what is overdue."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        taxonomy: Taxonomy,
        page_size_max: int,
        clock: Callable[[], datetime],
    ):
        self._sessions = sessions
        self._taxonomy = taxonomy
        self._page_size_max = page_size_max
        self._clock = clock

    def page(self, query: CaseQuery) -> CasePage:
        """The page of cases `query` asks for. Raises `InvalidFilter` for an unknown category, status, verdict or
        sort, a bad bbox or score bounds, a limit outside 1..page_size_max, a negative offset, `since` after
        `until`, or a cursor that is not one or is given with another sort or an offset."""
        now = self._clock()
        where = self._where(query, now)
        limit, offset, sort, cursor = query.limit, query.offset, query.sort, query.cursor
        if sort not in SORTS:
            raise InvalidFilter("sort", sort, f"unknown sort {sort!r}; known: {', '.join(SORTS)}")
        page_max = self._page_size_max
        if limit is None:
            limit = min(DEFAULT_PAGE_SIZE, page_max)
        if not 1 <= limit <= page_max:
            raise InvalidFilter("limit", limit, f"limit must be between 1 and {page_max}, got {limit}")
        if offset < 0:
            raise InvalidFilter("offset", offset, f"offset must be >= 0, got {offset}")
        page_where = list(where)
        if cursor is not None:
            if sort != "last_seen":
                raise InvalidFilter("cursor", cursor, "cursor pagination needs sort=last_seen")
            if offset:
                raise InvalidFilter("offset", offset, "give either cursor or offset, not both")
            seen, after_id = _decode_cursor(cursor)
            page_where.append(or_(Case.last_seen < seen, and_(Case.last_seen == seen, Case.id < after_id)))
        no_due_last = sql_case((Case.due_at.is_(None), 1), else_=0)
        order: list[Any]
        if sort == "priority":
            urgency = sql_case((Case.due_at < now, 2), else_=1)
            score = func.coalesce(Case.score, Case.severity)
            order = [(score * urgency).desc(), no_due_last, Case.due_at.asc(), Case.id.desc()]
        elif sort == "due":
            order = [no_due_last, Case.due_at.asc(), Case.id.desc()]
        else:
            order = [Case.last_seen.desc(), Case.id.desc()]
        page = select(Case).where(*page_where)
        if sort == "priority":
            page = page.where(Case.id.in_(_priority_candidates(page_where, order, now, limit + offset)))
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
            items = session.scalars(page.order_by(*order).limit(limit).offset(offset)).all()
        next_cursor = None
        if sort == "last_seen" and len(items) == limit:
            next_cursor = _encode_cursor(items[-1].last_seen, items[-1].id)
        return CasePage(items=list(items), total=total, limit=limit, offset=offset, next_cursor=next_cursor)

    def _where(self, q: CaseQuery, now: datetime) -> list[ColumnElement[bool]]:
        """The filters of `q` as WHERE conditions (checked in the order of `CaseQuery`'s fields)."""
        where: list[ColumnElement[bool]] = []
        if q.category is not None:
            if q.category not in self._taxonomy.categories:
                known = ", ".join(sorted(self._taxonomy.categories))
                raise InvalidFilter("category", q.category, f"unknown category {q.category!r}; known: {known}")
            where.append(Case.category == q.category)
        if q.status is not None:
            try:
                status = CaseStatus(q.status)
            except ValueError:
                known = ", ".join(s.value for s in CaseStatus)
                raise InvalidFilter("status", q.status, f"unknown status {q.status!r}; known: {known}") from None
            where.append(Case.status == status.value)
        if q.verdict is not None:
            try:
                verdict = Verdict(q.verdict)
            except ValueError:
                known = ", ".join(v.value for v in Verdict)
                raise InvalidFilter("verdict", q.verdict, f"unknown verdict {q.verdict!r}; known: {known}") from None
            where.append(Case.verdict == verdict.value)
        since, until = _as_utc(q.since), _as_utc(q.until, "until")
        if since is not None and until is not None and since > until:
            raise InvalidFilter("since", since.isoformat(), f"since ({since}) is after until ({until})")
        if since is not None:
            where.append(Case.last_seen >= since)
        if until is not None:
            where.append(Case.last_seen < until)
        if q.district is not None:
            where.append(Case.district == q.district)
        if q.visible_districts:
            where.append(Case.district.in_(list(q.visible_districts)))
        if q.bbox is not None:
            min_lon, min_lat, max_lon, max_lat = q.bbox
            if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
                raise InvalidFilter(
                    "bbox", ",".join(map(str, q.bbox)), "bbox must be min_lon,min_lat,max_lon,max_lat in degrees"
                )
            where += [Case.lon.between(min_lon, max_lon), Case.lat.between(min_lat, max_lat)]
        if q.overdue is True:
            where.append(Case.due_at < now)
        elif q.overdue is False:
            where.append(or_(Case.due_at.is_(None), Case.due_at >= now))
        if q.min_confidence is not None:
            where.append(Case.max_confidence >= q.min_confidence)
        min_score, max_score = q.min_score, q.max_score
        for name, bound in (("min_score", min_score), ("max_score", max_score)):
            if bound is not None and not 0.0 <= bound <= 1.0:
                raise InvalidFilter(name, bound, f"{name} is a probability: 0 <= {name} <= 1, got {bound}")
        if min_score is not None and max_score is not None and min_score > max_score:
            raise InvalidFilter("min_score", min_score, f"min_score ({min_score}) is above max_score ({max_score})")
        if min_score is not None:
            where.append(Case.p_confirmed >= min_score)
        if max_score is not None:
            where.append(Case.p_confirmed <= max_score)
        if q.ids is not None:
            where.append(Case.id.in_(list(q.ids)))
        if q.statuses is not None:
            where.append(Case.status.in_([CaseStatus(x).value for x in q.statuses]))
        if q.created_since is not None:
            where.append(Case.created_at >= _as_utc(q.created_since, "created_since"))
        if q.created_until is not None:
            where.append(Case.created_at < _as_utc(q.created_until, "created_until"))
        return where

    def get(self, case_id: int) -> CaseRecord:
        """The case with its observations, evidence and audit log; raises `CaseNotFound`."""
        with self._sessions() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise CaseNotFound(case_id)
            observations = session.scalars(
                select(Observation).where(Observation.case_id == case_id).order_by(Observation.id)
            ).all()
            evidence = session.scalars(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.n)).all()
            audit = session.scalars(
                select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)
            ).all()
        return CaseRecord(case=case, observations=list(observations), evidence=list(evidence), audit=list(audit))


def _encode_cursor(last_seen: datetime, case_id: int) -> str:
    """An opaque keyset cursor: the (last_seen, id) of the last case of a page."""
    raw = f"{last_seen.astimezone(UTC).isoformat()}|{case_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seen, case_id = raw.split("|")
        value = datetime.fromisoformat(seen)
        if value.tzinfo is None:
            raise ValueError("naive")
        after_id = int(case_id)
        if not 0 <= after_id <= MAX_CURSOR_ID:
            raise ValueError("id out of range")
        return checked_utc(value), after_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidFilter("cursor", cursor, "not a cursor returned by this API") from None


def _priority_candidates(
    where: Sequence[ColumnElement[bool]], order: Sequence[Any], now: datetime, k: int
) -> Select[Any]:
    """The ids of the first `k` cases by priority, and perhaps a few more: a superset of the page.

    priority = score × (2 if overdue else 1) changes with `now`, so no index holds it. But the cases split into
    three streams inside which the order is (score desc, due_at, id desc), which an index on (score, due_at,
    id) gives (migration 0007): overdue (due_at < now), not yet due, no deadline; the first `k` of each
    stream hold the first `k` of the whole order. Cases without a stored score (none after migration 0007)
    are sorted by `order`.
    """
    # "no deadline" as an expression no index matches: SQLite would otherwise read every closed case through
    # the due_at index and sort them, rather than walk the score index
    no_deadline = sql_case((Case.due_at.is_(None), 1), else_=0) == 1
    streams = [
        select(Case.id)
        .where(*where, Case.score.is_not(None), due)
        .order_by(Case.score.desc(), Case.due_at, Case.id.desc())
        .limit(k)
        for due in (Case.due_at < now, Case.due_at >= now, no_deadline)
    ]
    streams.append(select(Case.id).where(*where, Case.score.is_(None)).order_by(*order).limit(k))
    subqueries = [stream.subquery() for stream in streams]
    return union_all(*(select(sq.c.id) for sq in subqueries)).subquery().select()


def _as_utc(value: datetime | None, name: str = "since") -> datetime | None:
    if value is None:
        return None
    try:
        return checked_utc(value)
    except ValueError as exc:
        raise InvalidFilter(name, value.isoformat(), str(exc)) from None
