"""What one ingest transaction has seen and decided (`Batch`): the cases it may write to, in memory (`Candidate`),
what each event does (`Planned` -> `IngestResult`), and the column values of the rows it writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cases.evidence import Encoded
from cases.lifecycle import due_at
from cases.status import CaseStatus
from inference.event import Event
from models.taxonomy import Category


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


class Candidate:
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
class Stored:
    """A case known only by its id (the one an already-ingested event went to)."""

    id: int


@dataclass(frozen=True)
class Planned:
    """What one event of a batch does; its case's id is known once the batch is written."""

    case: Candidate | Stored
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


AuditPlan = tuple[str, CaseStatus | None, CaseStatus | None, str, dict[str, Any]]  # action, from, to, note, detail


@dataclass
class Batch:
    """What one ingest transaction has seen, decided and still has to write."""

    now: datetime
    known: dict[str, Stored | Candidate] = field(default_factory=dict)  # event id -> its case (stored or batch)
    candidates: dict[str, dict[int, Candidate]] = field(default_factory=dict)  # event id -> case id -> case
    touched: dict[str, dict[Candidate, None]] = field(default_factory=dict)  # category -> cases changed, in order
    new: list[Candidate] = field(default_factory=list)  # cases to insert, in event order
    observations: list[tuple[Candidate, dict[str, Any], Sequence[Encoded]]] = field(default_factory=list)
    audit: list[tuple[Candidate, AuditPlan]] = field(default_factory=list)
    created: list[tuple[Candidate, dict[str, Any]]] = field(default_factory=list)  # webhooks: values at creation
    reopened: list[Candidate] = field(default_factory=list)  # webhooks: cases a recurrence reopened


def new_case_values(
    event: Event,
    category: Category,
    now: datetime,
    repeat_of: int | None,
    district_of: Callable[[float, float], str | None],
) -> dict[str, Any]:
    """The columns of the case `event` opens."""
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
        "district": district_of(lat, lon) if lat is not None and lon is not None else None,
        "repeat_of": repeat_of,
        "reopen_count": 0,
        "status_since": now,
        "due_at": due_at(CaseStatus.DETECTED, now, category),
    }


def merged_values(case: Candidate, event: Event) -> dict[str, Any]:
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


def observation_values(case_id: int, event: Event) -> dict[str, Any]:
    """The columns of the observation that records `event` in case `case_id`."""
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
