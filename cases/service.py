"""`CaseService`: events in, de-duplicated cases out; and the reads the API serves.

The one entry point other packages use, a facade over the case store's parts, each with one job:

- `cases.ingest` (+ `cases.matching`, `cases.ingest_batch`): ingestion and de-duplication;
- `cases.actions`: lifecycle actions, merges, the audit log;
- `cases.queries`: the case list (`CaseQuery` -> `CasePage`) and one case (`CaseRecord`);
- `cases.outbox`: webhook deliveries queued in the writers' transactions;
- `cases.evidence`: evidence image files.

It reads only the sections of the service's settings that those parts need (`ServiceSettings`: cases,
lifecycle, push, scoring, the API's page size, the data dir's layout) and hands each part its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cases.actions import CaseActions, HandledPhoto
from cases.districts import known as known_district
from cases.errors import CaseNotFound
from cases.evidence import JPEG_CONTENT_TYPE, JPEG_QUALITY, EvidenceFile, EvidenceStore
from cases.ingest import INGEST_ATTEMPTS, Ingester
from cases.ingest_batch import IngestResult
from cases.lifecycle import Action, Actor, Verdict
from cases.orm import AuditEntry, Case
from cases.outbox import Outbox
from cases.queries import DEFAULT_PAGE_SIZE, SORTS, BBoxFilter, CasePage, CaseQueries, CaseQuery, CaseRecord, Sort
from cases.settings import CaseSettings, LifecycleSettings, PushSettings, ScoringSettings
from inference.event import Event
from models.datadir import DataDir
from models.taxonomy import Taxonomy

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "INGEST_ATTEMPTS",
    "JPEG_CONTENT_TYPE",
    "JPEG_QUALITY",
    "SORTS",
    "BBoxFilter",
    "CasePage",
    "CaseQuery",
    "CaseRecord",
    "CaseService",
    "EvidenceFile",
    "IngestResult",
    "ServiceSettings",
    "Sort",
]


class _Paging(Protocol):
    @property
    def page_size_max(self) -> int: ...


class ServiceSettings(Protocol):
    """The sections of the service's settings the case service reads (cityeye's `Settings` has them all)."""

    @property
    def cases(self) -> CaseSettings: ...

    @property
    def lifecycle(self) -> LifecycleSettings: ...

    @property
    def push(self) -> PushSettings: ...

    @property
    def scoring(self) -> ScoringSettings: ...

    @property
    def api(self) -> _Paging: ...

    @property
    def paths(self) -> DataDir: ...


S = TypeVar("S", bound=ServiceSettings)


class CaseService(Generic[S]):
    """The case store's one entry point. Thread-safe: every call opens its own session."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: S,
        taxonomy: Taxonomy,
        clock: Callable[[], datetime] | None = None,
    ):
        self._sessions = session_factory
        self._settings = settings
        self._taxonomy = taxonomy
        paths = settings.paths
        self._evidence_dir = paths.evidence
        self._clock = clock or (lambda: datetime.now(UTC))
        # called after a commit with the ids of the cases it created or changed: the live scorer (`scoring.live`)
        self.change_listeners: list[Callable[[list[int]], None]] = []
        self._outbox = Outbox(settings.push)
        self._evidence = EvidenceStore(session_factory, self._evidence_dir)
        self._ingester = Ingester(
            session_factory,
            taxonomy,
            settings.cases,
            settings.lifecycle,
            self._evidence,
            self._outbox,
            self.now,
            self._notify_changed,
        )
        self._actions = CaseActions(
            session_factory,
            taxonomy,
            self._outbox,
            self.now,
            self._notify_changed,
            self._evidence_dir,
            paths.feedback,
        )
        self._queries = CaseQueries(session_factory, taxonomy, settings.api.page_size_max, self.now)
        if settings.scoring.live:
            from cases.scoring.live import LiveScorer
            from cases.scoring.registry import scorer_store

            scorer = LiveScorer(session_factory, settings.scoring, taxonomy, scorer_store(settings.paths), self.now)
            self.change_listeners.append(scorer)

    @property
    def evidence_dir(self) -> Path:
        return self._evidence_dir

    @property
    def settings(self) -> S:
        """The settings the service was built with."""
        return self._settings

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    @property
    def outbox_listeners(self) -> list[Callable[[], None]]:
        """Called after a commit that queued webhook deliveries (append to it)."""
        return self._outbox.listeners

    def now(self) -> datetime:
        """The service's clock (UTC): SLA deadlines and overdue flags are computed against it."""
        return self._clock()

    def _notify_changed(self, case_ids: list[int]) -> None:
        if case_ids:
            for listener in list(self.change_listeners):
                listener(case_ids)

    # ---- ingestion (cases.ingest) ----------------------------------------------------------------------------
    def ingest(self, event: Event, within: Actor | None = None) -> IngestResult:
        """Store `event` as a new case, merge it into an open one, or recognise it as a duplicate.

        Raises `InvalidEvent` (unknown category, naive datetimes, unencodable image) and
        `EvidenceWriteError` (an evidence file could not be written; nothing was kept). With `within` (a
        reporter's key), an event that would open or join a case outside the key's districts raises
        `PermissionDenied` before anything is written.
        """
        return self._ingester.ingest(event, within)

    def ingest_many(self, events: Sequence[Event]) -> list[IngestResult]:
        """Ingest a batch of events in one transaction (one lock, one commit): the same rules as `ingest`,
        much faster for workers that deliver events in batches. Results are in the order of `events`.

        Every event is validated and its images encoded before anything is written; an invalid one fails
        the whole batch (`InvalidEvent`). If the batch loses a race with another writer (unique event id,
        optimistic lock), nothing of it is kept and the events are ingested one by one.
        """
        return self._ingester.ingest_many(events)

    @property
    def _write_batch(self) -> Callable[..., bool]:
        """The batch's write step (`Ingester.write_batch`); tests replace it to lose a race on purpose."""
        return self._ingester.write_batch

    @_write_batch.setter
    def _write_batch(self, write: Callable[..., bool]) -> None:
        setattr(self._ingester, "write_batch", write)  # noqa: B010 (an instance attribute over the method)

    # ---- lifecycle actions (cases.actions) -------------------------------------------------------------------
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
        (`IllegalTransition`) and the arguments (`InvalidAction`; a `district` not on the configured list:
        `UnknownDistrict`). Each action writes one audit entry and,
        when the status changes, queues the `case.status_changed` webhooks in the same transaction.
        """
        return self._actions.act(
            case_id,
            action,
            actor,
            version=version,
            note=note,
            department=department,
            verdict=verdict,
            district=None if district is None else known_district(self._settings.lifecycle, district),
        )

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
        return self._actions.merge(
            source_id, target_id, actor, version=version, target_version=target_version, note=note
        )

    def handled_with_photo(self, case_id: int, actor: Actor, photo: HandledPhoto, *, version: int | None) -> Case:
        """处置 with a photo of the site: the case goes dispatched → handled and the photo becomes its evidence
        (kind `handled`, an observation from `handled:<actor>` at the phone's position and time), in one
        transaction with the audit entry and webhooks. The checks of `act` apply (existence, role and districts,
        version, transition). A retry with the same actor and `photo.client_ref` returns the case unchanged."""
        return self._actions.handled_with_photo(case_id, actor, photo, version=version)

    def audit_log(self, case_id: int) -> list[AuditEntry]:
        return self._actions.audit_log(case_id)

    # ---- reads (cases.queries, cases.evidence) ---------------------------------------------------------------
    def list_cases(self, query: CaseQuery | None = None, /, **filters: Any) -> CasePage:
        """The cases `query` asks for (see `CaseQuery`); keyword arguments are `CaseQuery` fields, given alone
        or over `query`'s. Raises `InvalidFilter` for an unknown category, status, verdict or sort, a bad bbox,
        a limit outside 1..`api.page_size_max`, a negative offset, or `since` after `until`.
        """
        if query is None:
            query = CaseQuery(**filters)
        elif filters:
            query = dataclasses.replace(query, **filters)
        return self._queries.page(query)

    def get_case(self, case_id: int) -> CaseRecord:
        """The case with its observations and evidence; raises `CaseNotFound`."""
        return self._queries.get(case_id)

    def first_evidence(self, case_ids: Sequence[int]) -> dict[int, int]:
        """For each case id that has evidence, the `n` of its first snapshot (else its first image)."""
        return self._evidence.first(case_ids)

    def case_district(self, case_id: int) -> str | None:
        """The district of a case (None: none); raises `CaseNotFound`."""
        with self._sessions() as session:
            row = session.execute(select(Case.district).where(Case.id == case_id)).first()
        if row is None:
            raise CaseNotFound(case_id)
        return row[0]

    def get_evidence(self, case_id: int, n: int) -> EvidenceFile:
        """Evidence image `n` (from 1) of a case; raises `CaseNotFound` or `EvidenceNotFound`."""
        return self._evidence.get(case_id, n)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._sessions() as session:
                session.execute(select(1))
        except SQLAlchemyError:
            return False
        return True
