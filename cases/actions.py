"""Lifecycle actions on stored cases: `act` (register, dispatch, handle, verify, close, dismiss, reopen, note),
`merge` (one real problem reported twice), and the audit log each of them writes to."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cases.db import write_session
from cases.errors import CaseNotFound, IllegalTransition, InvalidAction, VersionConflict, VersionRequired
from cases.evidence import EvidenceStore, encode_image
from cases.feedback import record_verdict
from cases.lifecycle import ENTERED_AT_COLUMN, Action, Actor, Verdict, check_permission, due_at, next_status
from cases.orm import AuditEntry, Case, Evidence, Observation
from cases.outbox import Outbox
from cases.status import OPEN_STATUSES, CaseStatus
from models.taxonomy import Taxonomy


@dataclass(frozen=True)
class HandledPhoto:
    """A photo of the site after handling (处置), taken at `taken_at` where the phone was (`lat`, `lon`).
    `client_ref` is the uploader's id for this upload: a retry with the same ref changes nothing."""

    image: np.ndarray
    taken_at: datetime
    lat: float | None
    lon: float | None
    client_ref: str
    note: str = ""


HANDLED_KIND = "handled"  # the evidence kind of a photo taken after handling (not a frame of the problem)


def handled_event_id(actor_name: str, client_ref: str) -> str:
    """The observation id of a handled photo: one per uploader and client reference."""
    return "handled-" + hashlib.sha1(f"{actor_name}\x00{client_ref}".encode()).hexdigest()[:24]


class CaseActions:
    """Takes lifecycle actions as an actor. Each writes one transaction: the case, its audit entries and the
    webhooks it queues (`outbox`); `on_changed` hears the ids of the cases whose status or content changed."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        taxonomy: Taxonomy,
        outbox: Outbox,
        clock: Callable[[], datetime],
        on_changed: Callable[[list[int]], None],
        evidence_dir: Path,
        feedback_dir: Path,
    ):
        self._sessions = sessions
        self._taxonomy = taxonomy
        self._outbox = outbox
        self._clock = clock
        self._on_changed = on_changed
        self._evidence_dir = evidence_dir
        self._feedback_dir = feedback_dir

    def _write(self) -> AbstractContextManager[Session]:
        """A read-then-write transaction (`cases.db.write_session`)."""
        return write_session(self._sessions)

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
        """Take a lifecycle `action` on a case as `actor` and return the updated case (see `CaseService.act`)."""
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
                check_version(case, version)
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
                    record_verdict(session, case, verdict.value, actor, self._evidence_dir, self._feedback_dir)
            elif action is Action.DISMISS:
                if not note.strip():
                    raise InvalidAction("dismiss needs a note saying why")
            if action is Action.REGISTER and district is not None:
                check_permission(actor, action, case_id, district)  # cannot move a case out of one's districts
                detail["district"] = case.district = district
            if action is not Action.NOTE:
                self._enter(case, after, now)
            session.add(audit_entry(case_id, actor, action.value, before, after, now, note=note, detail=detail))
            if after is not before:
                queued = self._outbox.enqueue(session, "case.status_changed", case, now, from_status=before)
            _commit(session, case_id, version)
        if queued:
            self._outbox.notify()
        if action is not Action.NOTE:
            self._on_changed([case_id])
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
        """Merge case `source_id` into `target_id` and return the target (see `CaseService.merge`)."""
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
            check_version(source, version)
            if target_version is not None:
                check_version(target, target_version)
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
            session.add(audit_entry(source_id, actor, "merge", before, after, now, note=note, detail=detail))
            tstatus = CaseStatus(target.status)
            session.add(
                audit_entry(target_id, actor, "merge", tstatus, tstatus, now, note=note, detail={"from": source_id})
            )
            queued = self._outbox.enqueue(session, "case.status_changed", source, now, from_status=before)
            _commit(session, source_id, version)
        if queued:
            self._outbox.notify()
        self._on_changed([target_id, source_id])
        return target

    def handled_with_photo(self, case_id: int, actor: Actor, photo: HandledPhoto, *, version: int | None) -> Case:
        """处置 with a photo of the site as evidence (see `CaseService.handled_with_photo`)."""
        event_id = handled_event_id(actor.name, photo.client_ref)
        image = encode_image(photo.image, HANDLED_KIND, f"case {case_id}: handled photo")
        written: list[Path] = []
        queued = False
        try:
            with self._write() as session:
                case = session.get(Case, case_id)
                if case is None:
                    raise CaseNotFound(case_id)
                check_permission(actor, Action.HANDLED, case_id, case.district)
                done = session.scalar(select(Observation.case_id).where(Observation.event_id == event_id))
                if done is not None:  # a retry of an upload that went through: nothing more to do
                    if done != case_id:
                        raise InvalidAction(f"client_ref {photo.client_ref!r} was already used for case {done}")
                    return case
                check_version(case, version)
                before = CaseStatus(case.status)
                after = next_status(case_id, Action.HANDLED, before)
                now = self._clock()
                obs = Observation(
                    case_id=case_id,
                    event_id=event_id,
                    source_id=f"handled:{actor.name}",
                    class_name=case.category,
                    start=photo.taken_at,
                    end=photo.taken_at,
                    confidence=0.0,
                    mean_confidence=0.0,
                    frames_seen=1,
                    x1=0.0,
                    y1=0.0,
                    x2=float(image.width),
                    y2=float(image.height),
                    lat=photo.lat,
                    lon=photo.lon,
                    model_version="handled",
                    created_at=now,
                )
                session.add(obs)
                session.flush()
                store = EvidenceStore(self._sessions, self._evidence_dir)
                last_n = store.last_numbers(session.connection(), [case_id])
                rows = store.write(case_id, obs.id, [image], last_n, now, written)
                session.add_all(Evidence(**row) for row in rows)
                self._enter(case, after, now)
                detail = {
                    "evidence": rows[0]["n"],
                    "lat": photo.lat,
                    "lon": photo.lon,
                    "taken_at": photo.taken_at.isoformat(),
                    "client_ref": photo.client_ref,
                }
                session.add(audit_entry(case_id, actor, Action.HANDLED.value, before, after, now, note=photo.note,
                                        detail=detail))  # fmt: skip
                queued = self._outbox.enqueue(session, "case.status_changed", case, now, from_status=before)
                _commit(session, case_id, version)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        if queued:
            self._outbox.notify()
        self._on_changed([case_id])
        return case

    def audit_log(self, case_id: int) -> list[AuditEntry]:
        """The case's audit entries, oldest first; raises `CaseNotFound`."""
        with self._sessions() as session:
            if session.get(Case, case_id) is None:
                raise CaseNotFound(case_id)
            return list(
                session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id))
            )

    def _enter(self, case: Case, status: CaseStatus, now: datetime) -> None:
        """Move `case` into `status` (or restart it, e.g. a re-dispatch): the clock of the next step starts."""
        case.status = status.value
        case.status_since = now
        case.due_at = due_at(status, now, self._taxonomy.categories[case.category])
        column = ENTERED_AT_COLUMN.get(status)
        if column is not None:
            setattr(case, column, now)


def check_version(case: Case, version: int | None) -> None:
    """The optimistic lock of a state-changing action: the caller must send the version it read."""
    if version is None:
        raise VersionRequired(
            f"{'case ' + str(case.id)}: send the version you read (If-Match header or `version`), "
            f"currently {case.version}"
        )
    if case.version != version:
        raise VersionConflict(case.id, version, case.version)


def _commit(session: Session, case_id: int, version: int | None) -> None:
    try:
        session.commit()
    except StaleDataError as exc:  # another writer updated the row between our read and our write
        session.rollback()
        raise VersionConflict(case_id, version, None) from exc


def audit_entry(
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
    return AuditEntry(**audit_values(case_id, actor, action, before, after, now, note=note, detail=detail))


def audit_values(
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
    """One audit row's columns: who took which action on a case, from which status to which."""
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
