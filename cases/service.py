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

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cases.db import SQLITE_BEGIN_OPTION
from cases.errors import CaseNotFound, EvidenceNotFound, EvidenceWriteError, InvalidEvent, InvalidFilter
from cases.geometry import box_iou, degrees_box, haversine_m
from cases.orm import Case, Evidence, Observation
from cases.status import OPEN_STATUSES, CaseStatus
from cityeye.config import Settings
from inference.event import Event, EvidenceImage
from models.taxonomy import Category, Taxonomy

JPEG_QUALITY = 90
JPEG_CONTENT_TYPE = "image/jpeg"
DEFAULT_PAGE_SIZE = 50
INGEST_ATTEMPTS = 3  # retries after a lost race (unique event_id, optimistic-lock conflict)


@dataclass(frozen=True)
class IngestResult:
    """What `ingest` did: opened `case_id` (created), added to it (merged), or nothing (duplicate)."""

    case_id: int
    created: bool
    merged: bool
    duplicate: bool


@dataclass(frozen=True)
class CasePage:
    """One page of cases, newest `last_seen` first; `total` counts all cases matching the filters."""

    items: list[Case]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class CaseRecord:
    """A case with its observations (oldest first) and evidence (by `n`)."""

    case: Case
    observations: list[Observation]
    evidence: list[Evidence]


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

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings, taxonomy: Taxonomy):
        self._sessions = session_factory
        self._settings = settings
        self._taxonomy = taxonomy
        self._evidence_dir = Path(settings.evidence_dir)

    @property
    def evidence_dir(self) -> Path:
        return self._evidence_dir

    # ---- ingestion -------------------------------------------------------------------------------------
    def ingest(self, event: Event) -> IngestResult:
        """Store `event` as a new case, merge it into an open one, or recognise it as a duplicate.

        Raises `InvalidEvent` (unknown category, naive datetimes, unencodable image) and
        `EvidenceWriteError` (an evidence file could not be written; nothing was kept).
        """
        category = self._taxonomy.categories.get(event.category)
        if category is None:
            known = ", ".join(sorted(self._taxonomy.categories))
            raise InvalidEvent(
                f"event {event.event_id}: unknown category {event.category!r} (known: {known})"
            )
        for name, value in (("start", event.start), ("end", event.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidEvent(f"event {event.event_id}: {name} must be timezone-aware, got {value}")
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

    def _ingest_once(self, event: Event, category: Category, images: Sequence[_Encoded]) -> IngestResult:
        written: list[Path] = []
        with self._sessions() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            try:
                existing = session.scalar(
                    select(Observation.case_id).where(Observation.event_id == event.event_id)
                )
                if existing is not None:
                    return IngestResult(case_id=existing, created=False, merged=False, duplicate=True)
                case = self._find_match(session, event, category)
                created = case is None
                if case is None:
                    case = _new_case(event, category)
                    session.add(case)
                else:
                    _merge_into(case, event)
                session.flush()
                obs = _observation(case.id, event)
                session.add(obs)
                session.flush()
                rows = self._add_evidence_rows(session, case.id, obs.id, images)
                session.flush()
                for row, img in zip(rows, images, strict=True):
                    target = self._evidence_dir / row.path
                    _write_atomic(target, img.data)
                    written.append(target)
                session.commit()
                return IngestResult(case_id=case.id, created=created, merged=not created, duplicate=False)
            except BaseException:
                for path in written:
                    path.unlink(missing_ok=True)
                session.rollback()
                raise

    def _find_match(self, session: Session, event: Event, category: Category) -> Case | None:
        window = timedelta(hours=self._settings.cases.merge_window_h)
        same_source = Case.source_id == event.source_id
        where: list[ColumnElement[bool]] = [
            Case.category == event.category,
            Case.status.in_([s.value for s in OPEN_STATUSES]),
            Case.last_seen >= event.start - window,
            Case.first_seen <= event.end + window,
        ]
        if event.geo is None:
            where.append(same_source)
        else:
            dlat, dlon = degrees_box(event.geo.lat, event.geo.lon, category.merge_radius_m)
            near = [Case.lat.between(event.geo.lat - dlat, event.geo.lat + dlat)]
            if dlon is not None:
                near.append(Case.lon.between(event.geo.lon - dlon, event.geo.lon + dlon))
            where.append(or_(and_(*near), and_(or_(Case.lat.is_(None), Case.lon.is_(None)), same_source)))
        best: tuple[tuple[int, float, float], Case] | None = None
        for case in session.scalars(select(Case).where(*where)):
            key = self._match_key(case, event, category)
            if key is not None and (best is None or key < best[0]):
                best = (key, case)
        return best[1] if best else None

    def _match_key(self, case: Case, event: Event, category: Category) -> tuple[int, float, float] | None:
        """Sort key of a matching case (smaller is better), None when it does not match."""
        recency = -case.last_seen.timestamp()
        if event.geo is not None and case.lat is not None and case.lon is not None:
            d = haversine_m(case.lat, case.lon, event.geo.lat, event.geo.lon)
            return (0, d, recency) if d <= category.merge_radius_m else None
        if case.source_id != event.source_id:
            return None
        iou = box_iou(case.bbox, event.bbox)
        return (1, -iou, recency) if iou >= self._settings.cases.overlap_iou else None

    def _add_evidence_rows(
        self, session: Session, case_id: int, observation_id: int, images: Sequence[_Encoded]
    ) -> list[Evidence]:
        last_n = session.scalar(select(func.max(Evidence.n)).where(Evidence.case_id == case_id)) or 0
        rows = [
            Evidence(
                case_id=case_id,
                observation_id=observation_id,
                n=n,
                kind=img.kind,
                path=f"{case_id}/{n}-{img.kind}.jpg",
                content_type=JPEG_CONTENT_TYPE,
                width=img.width,
                height=img.height,
            )
            for n, img in enumerate(images, start=last_n + 1)
        ]
        session.add_all(rows)
        return rows

    def _case_of_event(self, event_id: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Observation.case_id).where(Observation.event_id == event_id))

    # ---- reads -----------------------------------------------------------------------------------------
    def list_cases(
        self,
        *,
        category: str | None = None,
        status: CaseStatus | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> CasePage:
        """Cases matching every given filter, newest `last_seen` first.

        `since <= last_seen < until`; naive datetimes are read as UTC. `limit` defaults to 50, or to
        `api.page_size_max` where that is smaller. Raises `InvalidFilter` for an
        unknown category or status, a limit outside 1..`api.page_size_max`, a negative offset, or
        `since` after `until`.
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
        since, until = _as_utc(since), _as_utc(until)
        if since is not None and until is not None and since > until:
            raise InvalidFilter("since", since.isoformat(), f"since ({since}) is after until ({until})")
        if since is not None:
            where.append(Case.last_seen >= since)
        if until is not None:
            where.append(Case.last_seen < until)
        page_max = self._settings.api.page_size_max
        if limit is None:
            limit = min(DEFAULT_PAGE_SIZE, page_max)
        if not 1 <= limit <= page_max:
            raise InvalidFilter("limit", limit, f"limit must be between 1 and {page_max}, got {limit}")
        if offset < 0:
            raise InvalidFilter("offset", offset, f"offset must be >= 0, got {offset}")
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
            items = session.scalars(
                select(Case)
                .where(*where)
                .order_by(Case.last_seen.desc(), Case.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return CasePage(items=list(items), total=total, limit=limit, offset=offset)

    def get_case(self, case_id: int) -> CaseRecord:
        """The case with its observations and evidence; raises `CaseNotFound`."""
        with self._sessions() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise CaseNotFound(case_id)
            observations = session.scalars(
                select(Observation).where(Observation.case_id == case_id).order_by(Observation.id)
            ).all()
            evidence = session.scalars(
                select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.n)
            ).all()
        return CaseRecord(case=case, observations=list(observations), evidence=list(evidence))

    def get_evidence(self, case_id: int, n: int) -> EvidenceFile:
        """Evidence image `n` (from 1) of a case; raises `CaseNotFound` or `EvidenceNotFound`."""
        with self._sessions() as session:
            row = session.scalar(select(Evidence).where(Evidence.case_id == case_id, Evidence.n == n))
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
def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encode(evidence: EvidenceImage, event_id: str) -> _Encoded:
    ok, buf = cv2.imencode(".jpg", evidence.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidEvent(
            f"event {event_id}: {evidence.kind} image {evidence.image.shape} cannot be JPEG-encoded"
        )
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


def _new_case(event: Event, category: Category) -> Case:
    x1, y1, x2, y2 = (float(v) for v in event.bbox)
    return Case(
        category=event.category,
        status=CaseStatus.DETECTED.value,
        code=category.code,
        source_id=event.source_id,
        lat=event.geo.lat if event.geo else None,
        lon=event.geo.lon if event.geo else None,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        first_seen=event.start,
        last_seen=event.end,
        max_confidence=float(event.confidence),
        observation_count=1,
    )


def _merge_into(case: Case, event: Event) -> None:
    if event.end >= case.last_seen:  # the newest sighting sets where the case was last seen
        case.source_id = event.source_id
        case.x1, case.y1, case.x2, case.y2 = (float(v) for v in event.bbox)
        case.last_seen = event.end
    case.first_seen = min(case.first_seen, event.start)
    if (case.lat is None or case.lon is None) and event.geo is not None:
        case.lat, case.lon = event.geo.lat, event.geo.lon
    case.max_confidence = max(case.max_confidence, float(event.confidence))
    case.observation_count += 1


def _observation(case_id: int, event: Event) -> Observation:
    x1, y1, x2, y2 = (float(v) for v in event.bbox)
    return Observation(
        case_id=case_id,
        event_id=event.event_id,
        source_id=event.source_id,
        class_name=event.class_name,
        start=event.start,
        end=event.end,
        confidence=float(event.confidence),
        mean_confidence=float(event.mean_confidence),
        frames_seen=int(event.frames_seen),
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        lat=event.geo.lat if event.geo else None,
        lon=event.geo.lon if event.geo else None,
        model_version=event.model_version,
        uri=event.uri,
    )
