"""`CaseService`: events in, de-duplicated cases out; and the reads the API serves.

Ingestion rules (one real-world problem = one case):

1. An event whose `event_id` was ingested before is a duplicate: nothing is written.
2. Otherwise it merges into the best-matching OPEN case of its category whose time span is within
   `settings.cases.merge_window_h` hours of the event's: where both have a position, the nearest case
   within the category's `merge_radius_m`; where either has none, a case from the same source whose box
   overlaps the event's by IoU >= `settings.cases.overlap_iou`. Position matches win over box matches.
3. Otherwise it opens a new case, coded from the taxonomy.

Each ingestion is one transaction (on SQLite it takes the write lock at BEGIN, so concurrent ingesters
cannot both open a case for the same problem). Evidence images are JPEG-encoded before the transaction,
written once their rows have ids, and removed again if anything fails before the commit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import cv2
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    Table,
    TextClause,
    Update,
    and_,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cases.db import SQLITE_BEGIN_OPTION
from cases.errors import (
    CaseNotFound,
    EvidenceNotFound,
    EvidenceWriteError,
    IllegalTransition,
    InvalidAction,
    InvalidEvent,
    InvalidFilter,
    VersionConflict,
    VersionRequired,
)
from cases.feedback import record_verdict
from cases.geometry import box_iou, degrees_box, haversine_m
from cases.lifecycle import (
    ENTERED_AT_COLUMN,
    SYSTEM,
    Action,
    Actor,
    Verdict,
    check_permission,
    due_at,
    next_status,
)
from cases.orm import AuditEntry, Case, Evidence, Observation, WebhookDelivery
from cases.status import OPEN_STATUSES, CaseStatus
from inference.event import Event, EvidenceImage
from models.taxonomy import Category, Taxonomy

if TYPE_CHECKING:
    from cityeye.config import Settings

JPEG_QUALITY = 90
JPEG_CONTENT_TYPE = "image/jpeg"
DEFAULT_PAGE_SIZE = 50
INGEST_ATTEMPTS = 3  # retries after a lost race (unique event_id, optimistic-lock conflict)
SORTS = ("last_seen", "priority", "due")
Sort = Literal["last_seen", "priority", "due"]
BBoxFilter = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class IngestResult:
    """What `ingest` did: opened `case_id` (created), added to it (merged), or nothing (duplicate).

    `reopened`: the event merged into a closed case that it brought back (recurrence: reopen);
    `repeat_of`: the new case is a repeat of this closed one (recurrence: link).
    """

    case_id: int
    created: bool
    merged: bool
    duplicate: bool
    reopened: bool = False
    repeat_of: int | None = None


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


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence image on disk, ready to be served."""

    case_id: int
    n: int
    kind: str
    path: Path
    content_type: str


@dataclass(frozen=True)
class _Encoded:
    kind: str
    data: bytes
    width: int
    height: int


class CaseService:
    """The case store's one entry point. Thread-safe: every call opens its own session."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        taxonomy: Taxonomy,
        clock: Callable[[], datetime] | None = None,
    ):
        self._sessions = session_factory
        self._settings = settings
        self._taxonomy = taxonomy
        self._evidence_dir = Path(settings.evidence_dir)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.outbox_listeners: list[Callable[[], None]] = []  # called after a commit that queued webhooks
        # called after a commit with the ids of the cases it created or changed: the live scorer (`scoring.live`)
        self.change_listeners: list[Callable[[list[int]], None]] = []
        if settings.scoring.live:
            from cases.scoring.live import LiveScorer

            self.change_listeners.append(LiveScorer(session_factory, settings, taxonomy, self.now))

    @property
    def evidence_dir(self) -> Path:
        return self._evidence_dir

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    def now(self) -> datetime:
        """The service's clock (UTC): SLA deadlines and overdue flags are computed against it."""
        return self._clock()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A read-then-write transaction: on SQLite it takes the write lock at BEGIN."""
        with self._sessions() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    # ---- ingestion -------------------------------------------------------------------------------------
    def ingest(self, event: Event) -> IngestResult:
        """Store `event` as a new case, merge it into an open one, or recognise it as a duplicate.

        Raises `InvalidEvent` (unknown category, naive datetimes, unencodable image) and
        `EvidenceWriteError` (an evidence file could not be written; nothing was kept).
        """
        category = self._category_of(event)
        images = [_encode(img, event.event_id) for img in event.evidence]
        for attempt in range(1, INGEST_ATTEMPTS + 1):
            try:
                return self._ingest_once(event, category, images)
            except (IntegrityError, StaleDataError):
                # Lost a race: another ingester stored this event_id or updated the case we merged into.
                case_id = self._case_of_event(event.event_id)
                if case_id is not None:
                    return IngestResult(case_id=case_id, created=False, merged=False, duplicate=True)
                if attempt == INGEST_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def ingest_many(self, events: Sequence[Event]) -> list[IngestResult]:
        """Ingest a batch of events in one transaction (one lock, one commit): the same rules as `ingest`,
        much faster for workers that deliver events in batches. Results are in the order of `events`.

        Every event is validated and its images encoded before anything is written; an invalid one fails
        the whole batch (`InvalidEvent`). If the batch loses a race with another writer (unique event id,
        optimistic lock), nothing of it is kept and the events are ingested one by one.
        """
        prepared = [(e, self._category_of(e), [_encode(img, e.event_id) for img in e.evidence]) for e in events]
        if not prepared:
            return []
        try:
            return self._ingest_batch(prepared)
        except (IntegrityError, StaleDataError):
            return [self.ingest(e) for e in events]

    def _category_of(self, event: Event) -> Category:
        category = self._taxonomy.categories.get(event.category)
        if category is None:
            known = ", ".join(sorted(self._taxonomy.categories))
            raise InvalidEvent(f"event {event.event_id}: unknown category {event.category!r} (known: {known})")
        for name, value in (("start", event.start), ("end", event.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidEvent(f"event {event.event_id}: {name} must be timezone-aware, got {value}")
        return category

    def _ingest_once(self, event: Event, category: Category, images: Sequence[_Encoded]) -> IngestResult:
        return self._ingest_batch([(event, category, images)])[0]

    def _ingest_batch(self, items: Sequence[tuple[Event, Category, Sequence[_Encoded]]]) -> list[IngestResult]:
        """Ingest `items` in one transaction with a fixed number of statements, whatever the batch size.

        1. the event ids already stored (one query); 2. every case any event of the batch may merge into or
        recur at (one query: `_candidates`); 3. the matching, event by event in the batch's order, in memory
        with the same rules and the same SQL windows as a single event, on the cases as the earlier events of
        the batch left them (new cases included); 4. the writes in bulk: new cases, updated cases (optimistic
        lock on the version read), observations, evidence rows, audit rows, webhook outbox rows.
        """
        written: list[Path] = []
        with self._sessions() as session:
            conn = session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            try:
                if conn.dialect.name == "postgresql":
                    # SQLite's write lock serialises the match-or-create check; on Postgres transaction-scoped
                    # advisory locks per category do (taken in one order: no deadlocks between batches).
                    keys = sorted({_lock_key(event.category) for event, _, _ in items})
                    conn.execute(_advisory_lock_stmt(len(keys)), {f"k{i}": k for i, k in enumerate(keys)})
                batch = _Batch(now=self._clock())
                ids = list({event.event_id for event, _, _ in items})
                for i in range(0, len(ids), 500):
                    rows = conn.execute(_KNOWN_EVENTS, {"ids": ids[i : i + 500]})
                    batch.known.update({event_id: _Stored(case_id) for event_id, case_id in rows})
                self._candidates(conn, [(e, c) for e, c, _ in items if e.event_id not in batch.known], batch)
                plans = [self._plan(event, category, images, batch) for event, category, images in items]
                queued = self._write_batch(session, conn, batch, written)
                results = [plan.result() for plan in plans]
                session.commit()
            except BaseException:
                for path in written:
                    path.unlink(missing_ok=True)
                session.rollback()
                raise
        if queued:
            self._notify_outbox()
        self._notify_changed([r.case_id for r in results if not r.duplicate])
        return results

    def _plan(self, event: Event, category: Category, images: Sequence[_Encoded], batch: _Batch) -> _Planned:
        """Decide what `event` does, on the batch's in-memory cases; the writes are collected in `batch`."""
        known = batch.known.get(event.event_id)
        if known is not None:
            return _Planned(known, duplicate=True)
        now = batch.now
        # the cases the query found for this event, and those earlier events of the batch changed or created
        touched = batch.touched.setdefault(event.category, {})
        found = batch.candidates.get(event.event_id, {})
        box = _place_box(event, category)
        cases = [c for _, c in sorted(found.items()) if c not in touched] + list(touched)
        cases = [c for c in cases if _at_place(c.cols, event, box)]
        window = self._merge_window(category)
        since, until = event.start - window, event.end + window
        open_cases = [c for c in cases if _is_open_in(c.cols, since, until)]
        target = self._best(open_cases, event, category)
        plan: _Planned
        if target is not None:
            target.apply(_merged_values(target, event))
            touched[target] = None
            plan = _Planned(target, merged=True)
        else:
            closed = None
            if self._settings.lifecycle.recurrence != "off":
                r_since = event.start - timedelta(hours=self._settings.lifecycle.recurrence_window_h)
                closed = self._best(
                    [c for c in cases if c.status == _CLOSED and c.closed_at is not None and c.closed_at >= r_since],
                    event,
                    category,
                )
            if closed is not None and self._settings.lifecycle.recurrence == "reopen":
                closed.apply(_merged_values(closed, event) | self._reopen_values(closed, category, now))
                touched[closed] = None
                note = f"recurred: event {event.event_id} from {event.source_id}"
                batch.audit.append((closed, ("reopen", CaseStatus.CLOSED, CaseStatus.REGISTERED, note,
                                             {"event_id": event.event_id})))  # fmt: skip
                if self._has_hooks("case.status_changed"):
                    batch.reopened.append(closed)
                target = closed
                plan = _Planned(target, merged=True, reopened=True)
            else:
                repeat_of = closed.id if closed is not None else None
                values = self._new_case_values(event, category, now, repeat_of)
                target = _Candidate(values, new=True)
                touched[target] = None
                batch.new.append(target)
                batch.audit.append((target, ("create", None, CaseStatus.DETECTED, "", {"repeat_of": repeat_of})))
                if self._has_hooks("case.created"):
                    batch.created.append((target, dict(values)))
                plan = _Planned(target, created=True, repeat_of=repeat_of)
        batch.observations.append((target, _observation_values(0, event), images))
        batch.known[event.event_id] = target
        return plan

    def _merge_window(self, category: Category) -> timedelta:
        """How far apart in time an event and an open case may be and still merge: per category, else global."""
        hours = category.merge_window_h if category.merge_window_h is not None else self._settings.cases.merge_window_h
        return timedelta(hours=hours)

    def _best(self, cases: Sequence[_Candidate], event: Event, category: Category) -> _Candidate | None:
        """The best-matching case among `cases` (already in the time window, at the place), or None."""
        best: tuple[tuple[int, float, float], _Candidate] | None = None
        for case in cases:
            key = self._match_key(case, event, category)
            if key is not None and (best is None or key < best[0]):
                best = (key, case)
        return best[1] if best else None

    def _candidates(self, conn: Connection, events: Sequence[tuple[Event, Category]], batch: _Batch) -> None:
        """Fill `batch.candidates`: for each of `events` (by event id), the cases it may merge into (open, in
        its merge window, at its place) or recur at (closed within the recurrence window, at its place), as the
        batch starts. One query: the events' windows (`_WINDOW`) joined to `cases` (on Postgres unnested arrays; on
        SQLite a CTE of one row per event, 100 events per query)."""
        recurrence = self._settings.lifecycle.recurrence != "off"
        recur_window = timedelta(hours=self._settings.lifecycle.recurrence_window_h)
        windows = []
        for j, (event, category) in enumerate(events):
            lat0, lat1, lon0, lon1 = _place_box(event, category) or (None, None, None, None)
            merge_window = self._merge_window(category)
            since, until = event.start - merge_window, event.end + merge_window
            r_since = event.start - recur_window if recurrence else None
            windows.append((j, event.category, since, until, r_since, lat0, lat1, lon0, lon1, event.source_id,
                            event.geo is None))  # fmt: skip
        if conn.dialect.name == "postgresql":
            # the windows as arrays, unnested: one short statement whatever the batch size (prepared once)
            arrays = {name: [w[k] for w in windows] for k, name in enumerate(_WINDOW)}
            rows = conn.execute(_PG_CANDIDATES, arrays).all()
        else:
            rows = []
            for i in range(0, len(windows), _CANDIDATE_CHUNK):
                chunk = windows[i : i + _CANDIDATE_CHUNK]
                size = next(s for s in _CANDIDATE_SIZES if s >= len(chunk))
                params: dict[str, Any] = {}
                for j in range(size):  # padded with the last event: the same rows again
                    params |= {
                        f"{name}{j}": value for name, value in zip(_WINDOW, chunk[min(j, len(chunk) - 1)], strict=True)
                    }
                rows += conn.execute(_candidates_stmt(size), params).all()
        found: dict[int, _Candidate] = {}
        for row in rows:
            cols = dict(row._mapping)
            event_id = events[cols.pop("j")][0].event_id
            case = found.get(cols["id"])
            if case is None:
                case = found[cols["id"]] = _Candidate(cols, new=False)
            batch.candidates.setdefault(event_id, {})[case.id] = case

    def _write_batch(self, session: Session, conn: Connection, batch: _Batch, written: list[Path]) -> bool:
        """The batch's writes, a few bulk statements; returns whether webhook deliveries were queued."""
        now = batch.now
        if batch.new:  # new cases, in event order; their ids come back in the same order
            stmt = insert(_CASES).returning(_C.id, sort_by_parameter_order=True)
            rows = [dict(c.cols, version=1) for c in batch.new]
            for case, case_id in zip(batch.new, conn.execute(stmt, rows).scalars().all(), strict=True):
                case.cols["id"] = case_id
        changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for touched in batch.touched.values():
            for case in touched:
                if not case.new and case.changed:
                    columns = tuple(sorted(case.changed))
                    params = {k: case.cols[k] for k in columns}
                    params |= {"case_id": case.id, "old_version": case.read_version, "updated_at": now}
                    changed.setdefault(columns, []).append(params)
        for columns, params_list in changed.items():
            # optimistic lock: every row must still be at the version read, else nothing of the batch is kept
            if conn.execute(_update_case_stmt(columns), params_list).rowcount != len(params_list):
                raise StaleDataError("a case changed since the batch read it")
        with_images = [(case, obs, images) for case, obs, images in batch.observations if images]
        plain = [obs | {"case_id": case.id} for case, obs, images in batch.observations if not images]
        if plain:
            conn.execute(insert(_OBSERVATIONS), plain)
        if with_images:
            stmt = insert(_OBSERVATIONS).returning(_OBSERVATIONS.c.id, sort_by_parameter_order=True)
            obs_ids = conn.execute(stmt, [obs | {"case_id": case.id} for case, obs, _ in with_images]).scalars().all()
            existing = list({case.id for case, _, _ in with_images if not case.new})
            last_n: dict[int, int] = {}
            if existing:
                last_n.update(conn.execute(_LAST_EVIDENCE_N, {"ids": existing}).tuples().all())
            evidence = []
            for (case, _obs, images), obs_id in zip(with_images, obs_ids, strict=True):
                for img in images:
                    n = last_n[case.id] = last_n.get(case.id, 0) + 1
                    path = f"{case.id}/{n}-{img.kind}.jpg"
                    target = self._evidence_dir / path
                    _write_atomic(target, img.data)
                    written.append(target)
                    evidence.append(
                        {
                            "case_id": case.id,
                            "observation_id": obs_id,
                            "n": n,
                            "kind": img.kind,
                            "path": path,
                            "content_type": JPEG_CONTENT_TYPE,
                            "width": img.width,
                            "height": img.height,
                            "created_at": now,
                        }
                    )
            conn.execute(insert(_EVIDENCE), evidence)
        if batch.audit:
            audit = [
                _audit_values(case.id, SYSTEM, action, before, after, now, note=note, detail=detail)
                for case, (action, before, after, note, detail) in batch.audit
            ]
            conn.execute(insert(_AUDIT), audit)
        queued = False
        for case, values in batch.created:
            queued |= self._enqueue(session, "case.created", Case(**values, id=case.id), now, from_status=None)
        for case in dict.fromkeys(batch.reopened):  # the row as the batch left it
            snapshot = self._case_snapshot(conn, case.id)
            queued |= self._enqueue(session, "case.status_changed", snapshot, now, from_status=CaseStatus.CLOSED)
        return queued

    def _has_hooks(self, event_type: str) -> bool:
        return any(event_type in h.events for h in self._settings.push.webhooks)

    @staticmethod
    def _case_snapshot(conn: Connection, case_id: int) -> Case:
        """A detached `Case` with the row's current values (for webhook payloads)."""
        row = conn.execute(select(Case.__table__).where(Case.__table__.c.id == case_id)).one()
        return Case(**row._mapping)

    def _new_case_values(
        self, event: Event, category: Category, now: datetime, repeat_of: int | None
    ) -> dict[str, Any]:
        x1, y1, x2, y2 = (float(v) for v in event.bbox)
        lat = event.geo.lat if event.geo else None
        lon = event.geo.lon if event.geo else None
        return {
            "category": event.category,
            "status": CaseStatus.DETECTED.value,
            "code": category.code,
            "source_id": event.source_id,
            "lat": lat,
            "lon": lon,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "first_seen": event.start,
            "last_seen": event.end,
            "max_confidence": float(event.confidence),
            "observation_count": 1,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "severity": category.severity,
            "district": self._district_of(lat, lon) if lat is not None and lon is not None else None,
            "repeat_of": repeat_of,
            "reopen_count": 0,
            "status_since": now,
            "due_at": due_at(CaseStatus.DETECTED, now, category),
        }

    def _district_of(self, lat: float, lon: float) -> str | None:
        for name, (min_lon, min_lat, max_lon, max_lat) in self._settings.lifecycle.districts.items():
            if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
                return name
        return None

    @staticmethod
    def _reopen_values(row: _Candidate, category: Category, now: datetime) -> dict[str, Any]:
        """A closed case whose problem came back: registered again (its department kept), due for dispatch."""
        return {
            "status": CaseStatus.REGISTERED.value,
            "status_since": now,
            "due_at": due_at(CaseStatus.REGISTERED, now, category),
            "registered_at": now,
            "dispatched_at": None,
            "handled_at": None,
            "verified_at": None,
            "closed_at": None,
            "verdict": None,
            "reopen_count": row.reopen_count + 1,
        }

    def _match_key(self, case: _Candidate, event: Event, category: Category) -> tuple[int, float, float] | None:
        """Sort key of a matching case (smaller is better), None when it does not match."""
        recency = -case.last_seen.timestamp()
        if event.geo is not None and case.lat is not None and case.lon is not None:
            d = haversine_m(case.lat, case.lon, event.geo.lat, event.geo.lon)
            return (0, d, recency) if d <= category.merge_radius_m else None
        if case.source_id != event.source_id:
            return None
        iou = box_iou((case.x1, case.y1, case.x2, case.y2), event.bbox)
        return (1, -iou, recency) if iou >= self._settings.cases.overlap_iou else None

    def _case_of_event(self, event_id: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Observation.case_id).where(Observation.event_id == event_id))

    # ---- lifecycle actions ---------------------------------------------------------------------------------
    def act(
        self,
        case_id: int,
        action: Action | str,
        actor: Actor,
        *,
        version: int | None = None,
        note: str = "",
        department: str | None = None,
        verdict: Verdict | str | None = None,
        district: str | None = None,
    ) -> Case:
        """Take a lifecycle `action` on a case as `actor` and return the updated case.

        Every state-changing action needs `version`, the case version the caller read (optimistic
        locking); notes do not. Checks, in order: the case exists (`CaseNotFound`), the actor's role and
        districts (`PermissionDenied`), the version (`VersionRequired`, `VersionConflict`), the transition
        (`IllegalTransition`) and the arguments (`InvalidAction`). Each action writes one audit entry and,
        when the status changes, queues the `case.status_changed` webhooks in the same transaction.
        """
        action = Action(action)
        if action is Action.MERGE:
            raise InvalidAction("merge takes two cases: use CaseService.merge")
        verdict = Verdict(verdict) if verdict is not None else None
        queued = False
        with self._write() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise CaseNotFound(case_id)
            check_permission(actor, action, case_id, case.district)
            if action is not Action.NOTE:
                _check_version(case, version)
            before = CaseStatus(case.status)
            after = next_status(case_id, action, before, verdict)
            now = self._clock()
            detail: dict[str, Any] = {}
            if action is Action.NOTE:
                if not note.strip():
                    raise InvalidAction("a note needs text")
            elif action is Action.DISPATCH:
                if not department or not department.strip():
                    raise InvalidAction("dispatch needs the department the case is sent to")
                detail["department"] = case.department = department.strip()
            elif action is Action.VERIFY:
                detail["verdict"] = case.verdict = verdict.value if verdict else None
                if verdict is not None:  # the frames and the verdict go to the data team's loop (cases/feedback.py)
                    record_verdict(session, case, verdict.value, actor, self._evidence_dir, self._settings.feedback_dir)
            elif action is Action.DISMISS:
                if not note.strip():
                    raise InvalidAction("dismiss needs a note saying why")
            if action is Action.REGISTER and district is not None:
                check_permission(actor, action, case_id, district)  # cannot move a case out of one's districts
                detail["district"] = case.district = district
            if action is not Action.NOTE:
                self._enter(case, after, now)
            session.add(_audit(case_id, actor, action.value, before, after, now, note=note, detail=detail))
            if after is not before:
                queued = self._enqueue(session, "case.status_changed", case, now, from_status=before)
            self._commit(session, case_id, version)
        if queued:
            self._notify_outbox()
        if action is not Action.NOTE:
            self._notify_changed([case_id])
        return case

    def merge(
        self,
        source_id: int,
        target_id: int,
        actor: Actor,
        *,
        version: int | None,
        target_version: int | None = None,
        note: str = "",
    ) -> Case:
        """Merge case `source_id` into `target_id` (one real problem reported twice) and return the target.

        The source's observations and evidence move to the target (evidence renumbered after the
        target's); the source is dismissed with verdict duplicate and `duplicate_of` = target. Both must be
        open and of one category. `version` is the source's expected version, `target_version` optionally
        the target's.
        """
        if source_id == target_id:
            raise InvalidAction(f"cannot merge case {source_id} into itself")
        queued = False
        with self._write() as session:
            source, target = session.get(Case, source_id), session.get(Case, target_id)
            if source is None:
                raise CaseNotFound(source_id)
            if target is None:
                raise CaseNotFound(target_id)
            check_permission(actor, Action.MERGE, source_id, source.district)
            check_permission(actor, Action.MERGE, target_id, target.district)
            _check_version(source, version)
            if target_version is not None:
                _check_version(target, target_version)
            before = CaseStatus(source.status)
            after = next_status(source_id, Action.MERGE, before)
            if CaseStatus(target.status) not in OPEN_STATUSES:
                raise IllegalTransition(
                    target_id,
                    Action.MERGE.value,
                    target.status,
                    f"cannot merge into case {target_id}: it is {target.status}; merge into an open case",
                )
            if source.category != target.category:
                raise InvalidAction(
                    f"cannot merge case {source_id} ({source.category}) into case {target_id} "
                    f"({target.category}): categories differ"
                )
            now = self._clock()
            last_n = session.scalar(select(func.max(Evidence.n)).where(Evidence.case_id == target_id)) or 0
            moved_ev = session.scalars(select(Evidence).where(Evidence.case_id == source_id).order_by(Evidence.n)).all()
            for i, ev in enumerate(moved_ev, start=1):
                ev.case_id, ev.n = target_id, last_n + i
            moved_obs = (
                session.scalar(select(func.count()).select_from(Observation).where(Observation.case_id == source_id))
                or 0
            )
            session.execute(update(Observation).where(Observation.case_id == source_id).values(case_id=target_id))
            _absorb(target, source)
            source.observation_count = 0
            source.verdict = Verdict.DUPLICATE.value
            source.duplicate_of = target_id
            self._enter(source, after, now)
            detail = {"into": target_id, "observations": moved_obs, "evidence": len(moved_ev)}
            session.add(_audit(source_id, actor, "merge", before, after, now, note=note, detail=detail))
            tstatus = CaseStatus(target.status)
            session.add(_audit(target_id, actor, "merge", tstatus, tstatus, now, note=note, detail={"from": source_id}))
            queued = self._enqueue(session, "case.status_changed", source, now, from_status=before)
            self._commit(session, source_id, version)
        if queued:
            self._notify_outbox()
        self._notify_changed([target_id, source_id])
        return target

    def _enter(self, case: Case, status: CaseStatus, now: datetime) -> None:
        """Move `case` into `status` (or restart it, e.g. a re-dispatch): the clock of the next step starts."""
        case.status = status.value
        case.status_since = now
        case.due_at = due_at(status, now, self._taxonomy.categories[case.category])
        column = ENTERED_AT_COLUMN.get(status)
        if column is not None:
            setattr(case, column, now)

    def _commit(self, session: Session, case_id: int, version: int | None) -> None:
        try:
            session.commit()
        except StaleDataError as exc:  # another writer updated the row between our read and our write
            session.rollback()
            raise VersionConflict(case_id, version, None) from exc

    def audit_log(self, case_id: int) -> list[AuditEntry]:
        with self._sessions() as session:
            if session.get(Case, case_id) is None:
                raise CaseNotFound(case_id)
            return list(
                session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id))
            )

    # ---- webhook outbox ------------------------------------------------------------------------------------
    def _enqueue(
        self, session: Session, event_type: str, case: Case, now: datetime, *, from_status: CaseStatus | None
    ) -> bool:
        """Queue one delivery per subscribed webhook, in the caller's transaction (a transactional outbox)."""
        hooks = [h for h in self._settings.push.webhooks if event_type in h.events]
        if not hooks:
            return False
        payload = json.dumps(
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

    def _notify_outbox(self) -> None:
        for listener in list(self.outbox_listeners):
            listener()

    def _notify_changed(self, case_ids: list[int]) -> None:
        if case_ids:
            for listener in list(self.change_listeners):
                listener(case_ids)

    # ---- reads -----------------------------------------------------------------------------------------
    def list_cases(
        self,
        *,
        category: str | None = None,
        status: CaseStatus | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        district: str | None = None,
        bbox: BBoxFilter | None = None,
        overdue: bool | None = None,
        verdict: Verdict | str | None = None,
        min_confidence: float | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        visible_districts: Sequence[str] = (),
        ids: Sequence[int] | None = None,
        statuses: Sequence[CaseStatus] | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        sort: Sort = "last_seen",
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> CasePage:
        """Cases matching every given filter; sorted by `sort`:

        - `last_seen`: newest sighting first;
        - `priority`: score × urgency (2 when overdue, else 1) highest first, then the earliest deadline, where
          score = P(confirmed) × severity as the live scorer stored it (severity alone while unscored);
        - `due`: earliest deadline first (closed and dismissed cases last).

        `since <= last_seen < until` and `created_since <= created_at < created_until`; naive datetimes are
        read as UTC. `ids` and `statuses` keep only those cases. `bbox` = (min_lon, min_lat, max_lon,
        max_lat). `min_score` <= P(confirmed) <= `max_score` (unscored cases are left out by either).
        `overdue`: whether the current step's deadline has passed. `visible_districts` (an API
        key's districts) restricts the result to those districts. `limit` defaults to 50, or to
        `api.page_size_max` where that is smaller. Raises `InvalidFilter` for an unknown category, status,
        verdict or sort, a bad bbox, a limit outside 1..`api.page_size_max`, a negative offset, or `since`
        after `until`.
        """
        where: list[ColumnElement[bool]] = []
        if category is not None:
            if category not in self._taxonomy.categories:
                known = ", ".join(sorted(self._taxonomy.categories))
                raise InvalidFilter("category", category, f"unknown category {category!r}; known: {known}")
            where.append(Case.category == category)
        if status is not None:
            try:
                status = CaseStatus(status)
            except ValueError:
                known = ", ".join(s.value for s in CaseStatus)
                raise InvalidFilter("status", status, f"unknown status {status!r}; known: {known}") from None
            where.append(Case.status == status.value)
        if verdict is not None:
            try:
                verdict = Verdict(verdict)
            except ValueError:
                known = ", ".join(v.value for v in Verdict)
                raise InvalidFilter("verdict", verdict, f"unknown verdict {verdict!r}; known: {known}") from None
            where.append(Case.verdict == verdict.value)
        since, until = _as_utc(since), _as_utc(until)
        if since is not None and until is not None and since > until:
            raise InvalidFilter("since", since.isoformat(), f"since ({since}) is after until ({until})")
        if since is not None:
            where.append(Case.last_seen >= since)
        if until is not None:
            where.append(Case.last_seen < until)
        if district is not None:
            where.append(Case.district == district)
        if visible_districts:
            where.append(Case.district.in_(list(visible_districts)))
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = bbox
            if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
                raise InvalidFilter(
                    "bbox", ",".join(map(str, bbox)), "bbox must be min_lon,min_lat,max_lon,max_lat in degrees"
                )
            where += [Case.lon.between(min_lon, max_lon), Case.lat.between(min_lat, max_lat)]
        now = self._clock()
        if overdue is True:
            where.append(Case.due_at < now)
        elif overdue is False:
            where.append(or_(Case.due_at.is_(None), Case.due_at >= now))
        if min_confidence is not None:
            where.append(Case.max_confidence >= min_confidence)
        for name, bound in (("min_score", min_score), ("max_score", max_score)):
            if bound is not None and not 0.0 <= bound <= 1.0:
                raise InvalidFilter(name, bound, f"{name} is a probability: 0 <= {name} <= 1, got {bound}")
        if min_score is not None and max_score is not None and min_score > max_score:
            raise InvalidFilter("min_score", min_score, f"min_score ({min_score}) is above max_score ({max_score})")
        if min_score is not None:
            where.append(Case.p_confirmed >= min_score)
        if max_score is not None:
            where.append(Case.p_confirmed <= max_score)
        if ids is not None:
            where.append(Case.id.in_(list(ids)))
        if statuses is not None:
            where.append(Case.status.in_([CaseStatus(x).value for x in statuses]))
        if created_since is not None:
            where.append(Case.created_at >= _as_utc(created_since))
        if created_until is not None:
            where.append(Case.created_at < _as_utc(created_until))
        if sort not in SORTS:
            raise InvalidFilter("sort", sort, f"unknown sort {sort!r}; known: {', '.join(SORTS)}")
        page_max = self._settings.api.page_size_max
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

    def first_evidence(self, case_ids: Sequence[int]) -> dict[int, int]:
        """For each case id that has evidence, the `n` of its first snapshot (else its first image)."""
        if not case_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(Evidence.case_id, Evidence.n, Evidence.kind)
                .where(Evidence.case_id.in_(list(case_ids)), Evidence.pruned_at.is_(None))
                .order_by(Evidence.case_id, Evidence.n)
            ).all()
        out: dict[int, int] = {}
        for case_id, n, kind in rows:
            if case_id not in out or (kind == "snapshot" and out[case_id] < 0):
                out[case_id] = n if kind == "snapshot" else -n
        return {k: abs(v) for k, v in out.items()}

    def get_case(self, case_id: int) -> CaseRecord:
        """The case with its observations and evidence; raises `CaseNotFound`."""
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

    def get_evidence(self, case_id: int, n: int) -> EvidenceFile:
        """Evidence image `n` (from 1) of a case; raises `CaseNotFound` or `EvidenceNotFound`."""
        with self._sessions() as session:
            row = session.scalar(
                select(Evidence).where(Evidence.case_id == case_id, Evidence.n == n, Evidence.pruned_at.is_(None))
            )
            if row is None:
                if session.get(Case, case_id) is None:
                    raise CaseNotFound(case_id)
                raise EvidenceNotFound(case_id, n)
        root = self._evidence_dir.resolve()
        path = (root / row.path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise EvidenceNotFound(case_id, n)
        return EvidenceFile(case_id=case_id, n=n, kind=row.kind, path=path, content_type=row.content_type)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._sessions() as session:
                session.execute(select(1))
        except SQLAlchemyError:
            return False
        return True


# ---- helpers ----------------------------------------------------------------------------------------
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
        return value, int(case_id)
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


def _lock_key(category: str) -> int:
    """A stable 63-bit advisory-lock key for ingestion into `category`."""
    return int.from_bytes(hashlib.sha1(f"cityeye-ingest:{category}".encode()).digest()[:8], "big") >> 1


def _check_version(case: Case, version: int | None) -> None:
    if version is None:
        raise VersionRequired(
            f"{'case ' + str(case.id)}: send the version you read (If-Match header or `version`), "
            f"currently {case.version}"
        )
    if case.version != version:
        raise VersionConflict(case.id, version, case.version)


def _audit(
    case_id: int,
    actor: Actor,
    action: str,
    before: CaseStatus | None,
    after: CaseStatus | None,
    now: datetime,
    *,
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(**_audit_values(case_id, actor, action, before, after, now, note=note, detail=detail))


def _audit_values(
    case_id: int,
    actor: Actor,
    action: str,
    before: CaseStatus | None,
    after: CaseStatus | None,
    now: datetime,
    *,
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "at": now,
        "actor": actor.name,
        "role": actor.role.value,
        "action": action,
        "from_status": before.value if before else None,
        "to_status": after.value if after else None,
        "note": note,
        "detail": {k: v for k, v in (detail or {}).items() if v is not None},
    }


def _absorb(target: Case, source: Case) -> None:
    """Fold a merged-away case's sightings into the case it merges into."""
    if source.last_seen > target.last_seen:
        target.source_id = source.source_id
        target.x1, target.y1, target.x2, target.y2 = source.x1, source.y1, source.x2, source.y2
        target.last_seen = source.last_seen
    target.first_seen = min(target.first_seen, source.first_seen)
    if (target.lat is None or target.lon is None) and source.lat is not None and source.lon is not None:
        target.lat, target.lon = source.lat, source.lon
    target.max_confidence = max(target.max_confidence, source.max_confidence)
    target.observation_count += source.observation_count


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encode(evidence: EvidenceImage, event_id: str) -> _Encoded:
    ok, buf = cv2.imencode(".jpg", evidence.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidEvent(f"event {event_id}: {evidence.kind} image {evidence.image.shape} cannot be JPEG-encoded")
    h, w = evidence.image.shape[:2]
    return _Encoded(kind=evidence.kind, data=buf.tobytes(), width=int(w), height=int(h))


def _write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` via a temporary file and `os.replace`: readers never see half a file."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvidenceWriteError(f"cannot write evidence file {target}: {exc.strerror or exc}") from exc


def _merged_values(case: _Candidate, event: Event) -> dict[str, Any]:
    """The case columns after merging `event` into the case `case` was read from."""
    values: dict[str, Any] = {
        "source_id": case.source_id,
        "x1": case.x1,
        "y1": case.y1,
        "x2": case.x2,
        "y2": case.y2,
        "last_seen": case.last_seen,
        "lat": case.lat,
        "lon": case.lon,
    }
    if event.end >= case.last_seen:  # the newest sighting sets where the case was last seen
        x1, y1, x2, y2 = (float(v) for v in event.bbox)
        values |= {"source_id": event.source_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "last_seen": event.end}
    if (case.lat is None or case.lon is None) and event.geo is not None:
        values |= {"lat": event.geo.lat, "lon": event.geo.lon}
    values["first_seen"] = min(case.first_seen, event.start)
    values["max_confidence"] = max(case.max_confidence, float(event.confidence))
    values["observation_count"] = case.observation_count + 1
    return values


def _observation_values(case_id: int, event: Event) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in event.bbox)
    return {
        "case_id": case_id,
        "event_id": event.event_id,
        "source_id": event.source_id,
        "class_name": event.class_name,
        "start": event.start,
        "end": event.end,
        "confidence": float(event.confidence),
        "mean_confidence": float(event.mean_confidence),
        "frames_seen": int(event.frames_seen),
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "lat": event.geo.lat if event.geo else None,
        "lon": event.geo.lon if event.geo else None,
        "model_version": event.model_version,
        "uri": event.uri,
        "created_at": datetime.now(UTC),
        "tracker_id": event.tracker_id,
    }


class _Candidate:
    """A case an ingest batch may write to: its columns as read (or, when `new`, as they will be inserted),
    changed in memory by the batch's events; `changed` names the columns to write back."""

    def __init__(self, cols: dict[str, Any], *, new: bool):
        self.cols = cols
        self.new = new
        self.read_version: int | None = cols.get("version")
        self.changed: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        cols = self.__dict__.get("cols")
        if cols is None or name not in cols:
            raise AttributeError(name)
        return cols[name]

    def apply(self, values: dict[str, Any]) -> None:
        self.cols.update(values)
        self.changed.update(values)


@dataclass(frozen=True)
class _Stored:
    """A case known only by its id (the one an already-ingested event went to)."""

    id: int


@dataclass(frozen=True)
class _Planned:
    """What one event of a batch does; its case's id is known once the batch is written."""

    case: _Candidate | _Stored
    created: bool = False
    merged: bool = False
    duplicate: bool = False
    reopened: bool = False
    repeat_of: int | None = None

    def result(self) -> IngestResult:
        return IngestResult(
            case_id=int(self.case.id),
            created=self.created,
            merged=self.merged,
            duplicate=self.duplicate,
            reopened=self.reopened,
            repeat_of=self.repeat_of,
        )


_AuditPlan = tuple[str, CaseStatus | None, CaseStatus | None, str, dict[str, Any]]  # action, from, to, note, detail


@dataclass
class _Batch:
    """What one ingest transaction has seen, decided and still has to write."""

    now: datetime
    known: dict[str, _Stored | _Candidate] = field(default_factory=dict)  # event id -> its case (stored or batch)
    candidates: dict[str, dict[int, _Candidate]] = field(default_factory=dict)  # event id -> case id -> case
    touched: dict[str, dict[_Candidate, None]] = field(default_factory=dict)  # category -> cases changed, in order
    new: list[_Candidate] = field(default_factory=list)  # cases to insert, in event order
    observations: list[tuple[_Candidate, dict[str, Any], Sequence[_Encoded]]] = field(default_factory=list)
    audit: list[tuple[_Candidate, _AuditPlan]] = field(default_factory=list)
    created: list[tuple[_Candidate, dict[str, Any]]] = field(default_factory=list)  # webhooks: values at creation
    reopened: list[_Candidate] = field(default_factory=list)  # webhooks: cases a recurrence reopened


def _place_box(event: Event, category: Category) -> tuple[float, float, float, float] | None:
    """(lat0, lat1, lon0, lon1) around the event's position holding every point within the merge radius."""
    if event.geo is None:
        return None
    dlat, dlon = degrees_box(event.geo.lat, event.geo.lon, category.merge_radius_m)
    lon0, lon1 = (event.geo.lon - dlon, event.geo.lon + dlon) if dlon is not None else (-_ANY_LON, _ANY_LON)
    return event.geo.lat - dlat, event.geo.lat + dlat, lon0, lon1


def _at_place(case: dict[str, Any], event: Event, box: tuple[float, float, float, float] | None) -> bool:
    """The place condition of `_candidates_stmt` for a case's columns: in the event's box, or (either side
    without a position) from the same source. `_match_key` then decides (distance, or box overlap)."""
    lat, lon = case["lat"], case["lon"]
    if box is not None and lat is not None and lon is not None:
        if box[0] <= lat <= box[1] and box[2] <= lon <= box[3]:
            return True
    return bool(case["source_id"] == event.source_id and (box is None or lat is None or lon is None))


def _is_open_in(case: dict[str, Any], since: datetime, until: datetime) -> bool:
    """The merge-window condition of `_candidates_stmt`: open, and its sightings overlap since..until."""
    return bool(case["status"] in _OPEN and case["last_seen"] >= since and case["first_seen"] <= until)


# ---- the ingest path's Core statements (built once; SQLAlchemy caches their compiled form) -------------------
_CASES = cast(Table, Case.__table__)
_OBSERVATIONS = cast(Table, Observation.__table__)
_EVIDENCE = cast(Table, Evidence.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
_C = _CASES.c
_KNOWN_EVENTS = select(_OBSERVATIONS.c.event_id, _OBSERVATIONS.c.case_id).where(
    _OBSERVATIONS.c.event_id.in_(bindparam("ids", expanding=True))
)
_LAST_EVIDENCE_N = (
    select(_EVIDENCE.c.case_id, func.max(_EVIDENCE.c.n))
    .where(_EVIDENCE.c.case_id.in_(bindparam("ids", expanding=True)))
    .group_by(_EVIDENCE.c.case_id)
)
_CANDIDATE_COLUMNS = (
    _C.id, _C.version, _C.category, _C.status, _C.source_id, _C.lat, _C.lon, _C.x1, _C.y1, _C.x2, _C.y2,
    _C.first_seen, _C.last_seen, _C.closed_at, _C.max_confidence, _C.observation_count, _C.reopen_count,
)  # fmt: skip
_CANDIDATE_SIZES = (1, 2, 4, 8, 16, 25, 50, 100)  # events per candidate query (a chunk is padded up to one)
_CANDIDATE_CHUNK = _CANDIDATE_SIZES[-1]
_ANY_LON = 1000.0  # a longitude bound that excludes nothing (near the poles, across the antimeridian)
_OPEN = frozenset(s.value for s in OPEN_STATUSES)
_CLOSED = CaseStatus.CLOSED.value


@functools.cache
def _advisory_lock_stmt(n: int) -> TextClause:
    """One round trip for the batch's category locks, taken left to right (in key order)."""
    return text("SELECT " + ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(n)))


_WINDOW = ("j", "c", "s", "u", "r", "a", "b", "o", "p", "src", "g")  # one event's window (see _candidates_stmt)
_PG_CANDIDATES = text(
    "SELECT v.j, "
    + ", ".join(f"cases.{c.name}" for c in _CANDIDATE_COLUMNS)
    + " FROM unnest(CAST(:j AS integer[]), CAST(:c AS varchar[]), CAST(:s AS timestamptz[]),"
    " CAST(:u AS timestamptz[]), CAST(:r AS timestamptz[]), CAST(:a AS float8[]), CAST(:b AS float8[]),"
    " CAST(:o AS float8[]), CAST(:p AS float8[]), CAST(:src AS varchar[]), CAST(:g AS boolean[]))"
    " AS v(j, c, s, u, r, a, b, o, p, src, g)"
    " JOIN cases ON cases.category = v.c"
    " AND ((cases.status IN (" + ", ".join(f"'{s}'" for s in sorted(_OPEN)) + ")"
    " AND cases.last_seen >= v.s AND cases.first_seen <= v.u)"
    f" OR (cases.status = '{_CLOSED}' AND cases.closed_at >= v.r))"
    " AND ((cases.lat BETWEEN v.a AND v.b AND cases.lon BETWEEN v.o AND v.p)"
    " OR (cases.source_id = v.src AND (cases.lat IS NULL OR cases.lon IS NULL OR v.g)))"
).columns(column("j", Integer()), *_CANDIDATE_COLUMNS)  # the same conditions as _candidates_stmt, which SQLite runs


@functools.cache
def _candidates_stmt(size: int) -> Select[Any]:
    """(j, case columns) of the cases event j of `size` may merge into or recur at. The events are a CTE `v`,
    one row each (bind names suffixed j): a case of its category (c) that is open and overlaps its merge window
    (s..u) or was closed since r (NULL: recurrence off), and lies in its box (a..b, o..p; NULL without a
    position) or, either side without a position, comes from its source (src; g: the event has no position)."""

    def p(name: str, j: int, type_: Any) -> Any:
        return bindparam(f"{name}{j}", type_=type_)

    def f(name: str, j: int) -> Any:
        return sql_cast(p(name, j, Float()), Float())  # typed even when every row has NULL (Postgres)

    rows = [
        select(
            p("j", j, Integer()).label("j"),
            p("c", j, _C.category.type).label("c"),
            p("s", j, _C.last_seen.type).label("s"),
            p("u", j, _C.first_seen.type).label("u"),
            p("r", j, _C.closed_at.type).label("r"),
            f("a", j).label("a"),
            f("b", j).label("b"),
            f("o", j).label("o"),
            f("p", j).label("p"),
            p("src", j, _C.source_id.type).label("src"),
            p("g", j, Boolean()).label("g"),
        )  # fmt: skip
        for j in range(size)
    ]
    v = (union_all(*rows) if size > 1 else rows[0]).cte("v")
    when = or_(
        and_(_C.status.in_(sorted(_OPEN)), _C.last_seen >= v.c.s, _C.first_seen <= v.c.u),
        and_(_C.status == _CLOSED, _C.closed_at >= v.c.r),
    )
    place = or_(
        and_(_C.lat.between(v.c.a, v.c.b), _C.lon.between(v.c.o, v.c.p)),
        and_(_C.source_id == v.c.src, or_(_C.lat.is_(None), _C.lon.is_(None), v.c.g)),
    )
    return select(v.c.j, *_CANDIDATE_COLUMNS).join_from(v, _CASES, and_(_C.category == v.c.c, when, place))


@functools.cache
def _update_case_stmt(columns: tuple[str, ...]) -> Update:
    """UPDATE cases SET <columns>, version + 1 WHERE id and version are still the ones read."""
    values: dict[str, Any] = {name: bindparam(name, type_=_C[name].type) for name in columns}
    values |= {"version": _C.version + 1, "updated_at": bindparam("updated_at", type_=_C.updated_at.type)}
    return update(_CASES).where(_C.id == bindparam("case_id"), _C.version == bindparam("old_version")).values(values)
