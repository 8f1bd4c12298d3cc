"""Ports: what `inference` needs from the layers above it, as protocols over plain records.

`cases` implements them (ORM rows stay in `cases/orm.py`); the shell (`cityeye/runtime.py`, `cityeye/jobs`) wires
the implementations in. Nothing here knows SQL, Celery or HTTP.

* `EventSink`: takes the events that rules raise (the case service).
* `SurveyRepository`: what survey processing reads and writes: the survey, its files, the area's permit register,
  the survey's status and progress, and its findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inference.event import Event


class EventSink(Protocol):
    """Ingests events; one outcome per event, in order (`IngestOutcome`: case_id, created, merged, duplicate)."""

    def ingest_many(self, events: Sequence[Event]) -> list[Any]: ...


# ---- drone surveys -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurveyRecord:
    """A survey: the area it covers and its flight metadata (`height_m`, `ground_altitude_m`, `date`, ...)."""

    id: int
    area: str
    name: str = ""
    flight: dict[str, Any] = field(default_factory=dict)
    status: str = "created"


@dataclass(frozen=True)
class SurveyFileRecord:
    """An uploaded file of a survey; `path` is relative to the data dir, `kind` is jpeg|png|tiff|mp4|srt|csv."""

    id: int
    survey_id: int
    name: str
    sha256: str
    kind: str
    path: str
    created_at: datetime
    status: str = "pending"  # pending | done | error


@dataclass(frozen=True)
class PermitRecord:
    """A permitted building site of an area: one polygon ring of [lon, lat] (WGS84)."""

    name: str
    ring: list[list[float]]


@dataclass(frozen=True)
class FindingRow:
    """A finding to store (`SurveyRepository.replace_findings`)."""

    kind: str
    class_name: str
    category: str | None
    confidence: float
    lat: float | None
    lon: float | None
    bbox: tuple[float, float, float, float]
    file_id: int | None = None
    frame: int = 0
    case_id: int | None = None
    permit: str | None = None
    note: str = ""


@dataclass(frozen=True)
class FindingRecord:
    """A stored finding (`SurveyRepository.findings`): a detection or a new structure (`kind="change"`)."""

    id: int
    kind: str
    class_name: str
    category: str | None
    confidence: float
    lat: float | None
    lon: float | None
    x1: float
    y1: float
    x2: float
    y2: float
    file_id: int | None = None
    frame: int = 0
    case_id: int | None = None
    permit: str | None = None
    note: str = ""


class SurveyRepository(Protocol):
    """The rows survey processing reads and writes (thread-safe; every call stands alone)."""

    def get(self, survey_id: int) -> SurveyRecord:
        """The survey; raises a not-found error for an unknown id."""
        ...

    def previous(self, survey: SurveyRecord) -> SurveyRecord | None:
        """The latest finished survey of the same area before `survey`."""
        ...

    def files(self, survey_id: int) -> list[SurveyFileRecord]:
        """The survey's files in upload order."""
        ...

    def permits(self, area: str) -> list[PermitRecord]:
        """The active permits of `area`."""
        ...

    def set_status(self, survey_id: int, status: str, **values: Any) -> None:
        """The survey's status (created | queued | processing | done | failed) and other columns."""
        ...

    def progress(self, survey_id: int, files_done: int, files_total: int, current: str | None, percent: float) -> None:
        """Files done of the survey's files, the file (or step) being worked on, and overall percent."""
        ...

    def file_result(self, file_id: int, error: str | None, detections: int = 0, findings: int = 0) -> None:
        """The outcome of one file: done (`error` None) or error, with its counts."""
        ...

    def replace_findings(self, survey_id: int, rows: Sequence[FindingRow]) -> None:
        """The survey's findings become `rows` (re-processing replaces, never doubles them)."""
        ...

    def findings(self, survey_id: int) -> list[FindingRecord]:
        """The survey's stored findings in order."""
        ...
