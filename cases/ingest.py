"""Ingestion: events in, de-duplicated cases out (one real-world problem = one case).

1. An event whose `event_id` was ingested before is a duplicate: nothing is written.
2. Otherwise it merges into the best-matching OPEN case of its category whose time span is within the merge
   window (`cases.merge_window_h` hours, or the category's own) of the event's: where both have a position, the
   nearest case within the category's `merge_radius_m`; where either has none, a case from the same source whose
   box overlaps the event's by IoU >= `cases.overlap_iou`. Position matches win over box matches
   (`cases.matching`: the rule, written once).
3. Otherwise, if a case closed within `lifecycle.recurrence_window_h` matches, the problem recurred: that case
   is reopened (recurrence "reopen") or the new case links to it (recurrence "link").
4. Otherwise it opens a new case, coded from the taxonomy.

Each ingestion is one transaction (on SQLite it takes the write lock at BEGIN, on PostgreSQL advisory locks per
category, so concurrent ingesters cannot both open a case for the same problem). Evidence images are
JPEG-encoded before the transaction, written once their rows have ids, and removed again if anything fails
before the commit.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, TextClause, Update, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cases.actions import audit_values
from cases.db import WRITE
from cases.errors import InvalidEvent, PermissionDenied
from cases.evidence import Encoded, EvidenceStore, encode
from cases.ingest_batch import (
    Batch,
    Candidate,
    IngestResult,
    Planned,
    Stored,
    merged_values,
    new_case_values,
    observation_values,
)
from cases.lifecycle import SYSTEM, Actor, due_at
from cases.matching import AT_PLACE, OPEN_IN_WINDOW, RECURS, Window, candidate_rows, match_key
from cases.orm import AuditEntry, Case, Evidence, Observation
from cases.outbox import Outbox
from cases.settings import CaseSettings, LifecycleSettings
from cases.status import CaseStatus
from inference.event import Event
from models.taxonomy import Category, Taxonomy

INGEST_ATTEMPTS = 3  # retries after a lost race (unique event_id, optimistic-lock conflict)


Prepared = tuple[Event, Category, Sequence[Encoded]]  # an event validated, its category, its images encoded


class Ingester:
    """Ingests events into the case store, one or a batch per transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        taxonomy: Taxonomy,
        cases: CaseSettings,
        lifecycle: LifecycleSettings,
        evidence: EvidenceStore,
        outbox: Outbox,
        clock: Callable[[], datetime],
        on_changed: Callable[[list[int]], None],
    ):
        self._sessions = sessions
        self._taxonomy = taxonomy
        self._cases = cases
        self._lifecycle = lifecycle
        self._evidence = evidence
        self._outbox = outbox
        self._clock = clock
        self._on_changed = on_changed

    def ingest(self, event: Event, within: Actor | None = None) -> IngestResult:
        """Store `event` as a new case, merge it into an open one, or recognise it as a duplicate (see
        `CaseService.ingest`)."""
        category = self.category_of(event)
        images = [encode(img, event.event_id) for img in event.evidence]
        for attempt in range(1, INGEST_ATTEMPTS + 1):
            try:
                return self.ingest_batch([(event, category, images)], within)[0]
            except (IntegrityError, StaleDataError):
                # Lost a race: another ingester stored this event_id or updated the case we merged into.
                case_id = self._case_of_event(event.event_id)
                if case_id is not None:
                    return IngestResult(case_id=case_id, created=False, merged=False, duplicate=True)
                if attempt == INGEST_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def ingest_many(self, events: Sequence[Event]) -> list[IngestResult]:
        """Ingest a batch of events in one transaction (see `CaseService.ingest_many`)."""
        prepared = [(e, self.category_of(e), [encode(img, e.event_id) for img in e.evidence]) for e in events]
        if not prepared:
            return []
        try:
            return self.ingest_batch(prepared)
        except (IntegrityError, StaleDataError):
            return [self.ingest(e) for e in events]

    def category_of(self, event: Event) -> Category:
        """The event's category; raises `InvalidEvent` for an unknown one or naive datetimes."""
        category = self._taxonomy.categories.get(event.category)
        if category is None:
            known = ", ".join(sorted(self._taxonomy.categories))
            raise InvalidEvent(f"event {event.event_id}: unknown category {event.category!r} (known: {known})")
        for name, value in (("start", event.start), ("end", event.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidEvent(f"event {event.event_id}: {name} must be timezone-aware, got {value}")
        return category

    def ingest_batch(self, items: Sequence[Prepared], within: Actor | None = None) -> list[IngestResult]:
        """Ingest `items` in one transaction with a fixed number of statements, whatever the batch size.

        1. the event ids already stored (one query); 2. every case any event of the batch may merge into or
        recur at (one query: `candidate_rows`); 3. the matching, event by event in the batch's order, in memory
        with the same rule as that query, on the cases as the earlier events of the batch left them (new cases
        included); 4. the writes in bulk (`write_batch`): new cases, updated cases (optimistic lock on the
        version read), observations, evidence rows, audit rows, webhook outbox rows.
        """
        written: list[Path] = []
        with self._sessions() as session:
            conn = session.connection(execution_options=WRITE)
            try:
                if conn.dialect.name == "postgresql":
                    # SQLite's write lock serialises the match-or-create check; on Postgres transaction-scoped
                    # advisory locks per category do (taken in one order: no deadlocks between batches).
                    keys = sorted({_lock_key(event.category) for event, _, _ in items})
                    conn.execute(_advisory_lock_stmt(len(keys)), {f"k{i}": k for i, k in enumerate(keys)})
                batch = Batch(now=self._clock())
                ids = list({event.event_id for event, _, _ in items})
                for i in range(0, len(ids), 500):
                    rows = conn.execute(_KNOWN_EVENTS, {"ids": ids[i : i + 500]})
                    batch.known.update({event_id: Stored(case_id) for event_id, case_id in rows})
                pending = [(e, self._window(e, c)) for e, c, _ in items if e.event_id not in batch.known]
                self._candidates(conn, pending, batch)
                plans = [self._plan(event, category, images, batch) for event, category, images in items]
                if within is not None:  # a reporter may open or join cases of its own districts only
                    for plan in plans:
                        if isinstance(plan.case, Candidate):
                            district = plan.case.cols.get("district")
                            if not within.may_see(district):
                                what = "a new case" if plan.created else f"case {plan.case.cols.get('id')}"
                                raise PermissionDenied(
                                    f"the report would open or join {what} in district {district or '(none)'}; "
                                    f"key {within.name!r} is bound to {', '.join(within.districts)}"
                                )
                queued = self.write_batch(session, conn, batch, written)
                results = [plan.result() for plan in plans]
                session.commit()
            except BaseException:
                for path in written:
                    path.unlink(missing_ok=True)
                session.rollback()
                raise
        if queued:
            self._outbox.notify()
        self._on_changed([r.case_id for r in results if not r.duplicate])
        return results

    def _window(self, event: Event, category: Category) -> Window:
        """The event's window: its merge window (per category, else `cases.merge_window_h`), its recurrence
        window (None when recurrence is off) and its place."""
        hours = category.merge_window_h if category.merge_window_h is not None else self._cases.merge_window_h
        recurrence = self._lifecycle.recurrence != "off"
        recur = timedelta(hours=self._lifecycle.recurrence_window_h) if recurrence else None
        return Window.of(event, category, timedelta(hours=hours), recur)

    def _candidates(self, conn: Connection, events: Sequence[tuple[Event, Window]], batch: Batch) -> None:
        """Fill `batch.candidates`: for each of `events` (by event id), the cases `CANDIDATE` holds for its window
        as the batch starts (one query on PostgreSQL, one per 100 events on SQLite)."""
        found: dict[int, Candidate] = {}
        for j, cols in candidate_rows(conn, [window for _, window in events]):
            case = found.get(cols["id"])
            if case is None:
                case = found[cols["id"]] = Candidate(cols, new=False)
            batch.candidates.setdefault(events[j][0].event_id, {})[case.id] = case

    def _plan(self, event: Event, category: Category, images: Sequence[Encoded], batch: Batch) -> Planned:
        """Decide what `event` does, on the batch's in-memory cases; the writes are collected in `batch`."""
        known = batch.known.get(event.event_id)
        if known is not None:
            return Planned(known, duplicate=True)
        now = batch.now
        window = self._window(event, category)
        # the cases the query found for this event, and those earlier events of the batch changed or created:
        # the query's rule again, on their columns as the batch left them
        touched = batch.touched.setdefault(event.category, {})
        found = batch.candidates.get(event.event_id, {})
        cases = [c for _, c in sorted(found.items()) if c not in touched] + list(touched)
        cases = [c for c in cases if AT_PLACE.holds(c.cols, window)]
        target = self._best([c for c in cases if OPEN_IN_WINDOW.holds(c.cols, window)], event, category)
        plan: Planned
        if target is not None:
            target.apply(merged_values(target, event))
            touched[target] = None
            plan = Planned(target, merged=True)
        else:
            closed = self._best([c for c in cases if RECURS.holds(c.cols, window)], event, category)
            if closed is not None and self._lifecycle.recurrence == "reopen":
                closed.apply(merged_values(closed, event) | _reopen_values(closed, category, now))
                touched[closed] = None
                note = f"recurred: event {event.event_id} from {event.source_id}"
                batch.audit.append((closed, ("reopen", CaseStatus.CLOSED, CaseStatus.REGISTERED, note,
                                             {"event_id": event.event_id})))  # fmt: skip
                if self._outbox.subscribed("case.status_changed"):
                    batch.reopened.append(closed)
                target = closed
                plan = Planned(target, merged=True, reopened=True)
            else:
                repeat_of = closed.id if closed is not None else None
                values = new_case_values(event, category, now, repeat_of, self._district_of)
                target = Candidate(values, new=True)
                touched[target] = None
                batch.new.append(target)
                batch.audit.append((target, ("create", None, CaseStatus.DETECTED, "", {"repeat_of": repeat_of})))
                if self._outbox.subscribed("case.created"):
                    batch.created.append((target, dict(values)))
                plan = Planned(target, created=True, repeat_of=repeat_of)
        batch.observations.append((target, observation_values(0, event), images))
        batch.known[event.event_id] = target
        return plan

    def _best(self, cases: Sequence[Candidate], event: Event, category: Category) -> Candidate | None:
        """The best-matching case among `cases` (already in the time window, at the place), or None."""
        best: tuple[tuple[int, float, float], Candidate] | None = None
        for case in cases:
            key = match_key(case.cols, event, category, self._cases.overlap_iou)
            if key is not None and (best is None or key < best[0]):
                best = (key, case)
        return best[1] if best else None

    def _district_of(self, lat: float, lon: float) -> str | None:
        return self._lifecycle.box_of(lat, lon)

    def write_batch(self, session: Session, conn: Connection, batch: Batch, written: list[Path]) -> bool:
        """The batch's writes, a few bulk statements; returns whether webhook deliveries were queued."""
        now = batch.now
        if batch.new:  # new cases, in event order; their ids come back in the same order
            stmt = insert(_CASES).returning(_CASES.c.id, sort_by_parameter_order=True)
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
            last_n = self._evidence.last_numbers(conn, list({case.id for case, _, _ in with_images if not case.new}))
            evidence = []
            for (case, _obs, images), obs_id in zip(with_images, obs_ids, strict=True):
                evidence += self._evidence.write(case.id, obs_id, images, last_n, now, written)
            conn.execute(insert(_EVIDENCE), evidence)
        if batch.audit:
            audit = [
                audit_values(case.id, SYSTEM, action, before, after, now, note=note, detail=detail)
                for case, (action, before, after, note, detail) in batch.audit
            ]
            conn.execute(insert(_AUDIT), audit)
        queued = False
        for case, values in batch.created:
            queued |= self._outbox.enqueue(session, "case.created", Case(**values, id=case.id), now, from_status=None)
        for case in dict.fromkeys(batch.reopened):  # the row as the batch left it
            snapshot = _case_snapshot(conn, case.id)
            queued |= self._outbox.enqueue(session, "case.status_changed", snapshot, now, from_status=CaseStatus.CLOSED)
        return queued

    def _case_of_event(self, event_id: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Observation.case_id).where(Observation.event_id == event_id))


def _reopen_values(row: Candidate, category: Category, now: datetime) -> dict[str, Any]:
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


def _case_snapshot(conn: Connection, case_id: int) -> Case:
    """A detached `Case` with the row's current values (for webhook payloads)."""
    row = conn.execute(select(_CASES).where(_CASES.c.id == case_id)).one()
    return Case(**row._mapping)


def _lock_key(category: str) -> int:
    """A stable 63-bit advisory-lock key for ingestion into `category`."""
    return int.from_bytes(hashlib.sha1(f"cityeye-ingest:{category}".encode()).digest()[:8], "big") >> 1


# ---- the ingest path's Core statements (built once; SQLAlchemy caches their compiled form) -------------------
_CASES = cast(Table, Case.__table__)
_OBSERVATIONS = cast(Table, Observation.__table__)
_EVIDENCE = cast(Table, Evidence.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
_KNOWN_EVENTS = select(_OBSERVATIONS.c.event_id, _OBSERVATIONS.c.case_id).where(
    _OBSERVATIONS.c.event_id.in_(bindparam("ids", expanding=True))
)


@functools.cache
def _advisory_lock_stmt(n: int) -> TextClause:
    """One round trip for the batch's category locks, taken left to right (in key order)."""
    return text("SELECT " + ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(n)))


@functools.cache
def _update_case_stmt(columns: tuple[str, ...]) -> Update:
    """UPDATE cases SET <columns>, version + 1 WHERE id and version are still the ones read."""
    c = _CASES.c
    values: dict[str, Any] = {name: bindparam(name, type_=c[name].type) for name in columns}
    values |= {"version": c.version + 1, "updated_at": bindparam("updated_at", type_=c.updated_at.type)}
    return update(_CASES).where(c.id == bindparam("case_id"), c.version == bindparam("old_version")).values(values)
