"""Ports: what `inference` needs from the layers above it, as protocols over plain records.

`cases` implements them (ORM rows stay in `cases/orm.py`); the shell (`cityeye/runtime.py`, `cityeye/jobs`) wires
the implementations in. Nothing here knows SQL, Celery or HTTP.

* `EventSink`: takes the events that rules raise (the case service), one outcome per event;
  `EventOutbox`: an event sink that only queues them durably (the event spool; a background job stores them);
* `SurveyRepository`: what survey processing reads and writes: the survey, its files, the area's permit register,
  the survey's status and progress, and its findings;
* `SampleSink`: keeps the frames the active-learning sampler picks (the feedback store), with `Box`es;
* `CameraStore`: the camera configurations a stream worker runs (`StoredCamera`) and the status rows it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from inference.event import Event

if TYPE_CHECKING:
    from inference.streams.config import CameraConfig


class IngestOutcome(Protocol):
    """What became of one event: the case it went to, and whether it opened it, merged into it or was seen before."""

    @property
    def case_id(self) -> int: ...
    @property
    def created(self) -> bool: ...
    @property
    def merged(self) -> bool: ...
    @property
    def duplicate(self) -> bool: ...


class EventSink(Protocol):
    """Ingests events; one outcome per event, in order (`cases.service.CaseService`)."""

    def ingest_many(self, events: Sequence[Event]) -> Sequence[IngestOutcome]: ...


@runtime_checkable
class EventOutbox(Protocol):
    """An event sink that queues durably and stores later (`cases.ingest_queue.EventSpool`): `ingest_many` returns
    no outcomes; `flush()` forgets what the store has, sends the rest again and returns how many are pending."""

    def ingest_many(self, events: Sequence[Event]) -> Sequence[IngestOutcome]: ...

    def flush(self) -> int: ...


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


# ---- active-learning samples -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """A labelled (or predicted) box on a frame: class name and xyxy pixels."""

    class_name: str
    xyxy: tuple[float, float, float, float]

    def as_json(self) -> dict[str, Any]:
        return {"class_name": self.class_name, "xyxy": [round(float(v), 2) for v in self.xyxy]}


class SampleSink(Protocol):
    """Keeps sampled frames for labelling (`cases.feedback.FeedbackStore`)."""

    def add_sample(
        self, image: np.ndarray, source_id: str, model_version: str, predictions: Sequence[Box], reason: str
    ) -> Any: ...

    def sample_bytes(self) -> int: ...


# ---- cameras ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredCamera:
    """A camera's configuration as stored, with its version (bumped on every change)."""

    config: CameraConfig
    version: int
    created_at: datetime
    updated_at: datetime


class CameraStore(Protocol):
    """The cameras a stream worker runs and the status it reports (`cases.cameras.SqlCameraStore`)."""

    def list(self, enabled_only: bool = False) -> list[StoredCamera]:
        """Every camera (or the enabled ones), by id."""
        ...

    def write_status(self, worker: str, statuses: dict[str, dict[str, Any]]) -> None:
        """Store the status of the cameras `worker` runs (cameras deleted meanwhile are skipped)."""
        ...
