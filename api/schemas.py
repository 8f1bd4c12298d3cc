"""Request and response schemas: one family per entity (`*Public` out, `*Body` in)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from cases.lifecycle import Action, Role, Verdict
from cases.status import CaseStatus
from models.timestamps import checked

BBox = tuple[float, float, float, float]


# the largest integer an INTEGER column holds on every backend (PostgreSQL's is 32-bit): ids, indexes and versions
# above it are 422, not a database error
MAX_DB_INT = 2**31 - 1
# every timestamp a request carries: 422 outside 1970..2999 UTC (or when converting it to UTC overflows), never 500
Timestamp = Annotated[datetime, AfterValidator(checked)]
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CasePublic(_FromRow):
    id: int
    category: str = Field(description="taxonomy category key, e.g. 'garbage'")
    code: str = Field(description="the city's case code for the category")
    status: CaseStatus
    source_id: str = Field(description="source of the latest sighting")
    lat: float | None = Field(description="WGS84 latitude; null when no source gave a position")
    lon: float | None
    bbox: BBox = Field(description="latest box, xyxy in pixels of `source_id`'s frames")
    first_seen: datetime
    last_seen: datetime
    max_confidence: float
    observation_count: int
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="row version; changes with every update (optimistic locking)")
    severity: int = Field(description="the category's severity, 1 minor .. 5 dangerous")
    district: str | None
    department: str | None = Field(description="department the case was dispatched to")
    verdict: Verdict | None = Field(description="the inspector's verdict (核查)")
    duplicate_of: int | None = Field(description="case this one was merged into")
    repeat_of: int | None = Field(description="closed case this one repeats")
    reopen_count: int
    status_since: datetime
    due_at: datetime | None = Field(description="deadline of the current step (taxonomy sla_hours)")
    overdue: bool = Field(description="due_at has passed")
    priority: float = Field(
        description="the sort=priority key: P(confirmed) × severity × (2 when overdue, else 1); P counts as 1 "
        "while the case is unscored"
    )
    p_confirmed: float | None = Field(
        default=None, description="P(confirmed) from the promoted scorer; null until a scorer has scored the case"
    )
    scorer_version: str | None = Field(default=None, description="the scorer version that scored the case")
    registered_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None


class CaseList(BaseModel):
    items: list[CasePublic]
    total: int = Field(description="cases matching the filters, over all pages")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="sort=last_seen: pass as `cursor` for the next page; null on the last page"
    )


class ObservationPublic(_FromRow):
    id: int
    event_id: str
    source_id: str
    class_name: str
    start: datetime
    end: datetime
    confidence: float
    mean_confidence: float
    frames_seen: int
    bbox: BBox
    lat: float | None
    lon: float | None
    model_version: str
    uri: str
    created_at: datetime
    tracker_id: int | None = Field(default=None, description="the camera track that raised the event (streams)")


class EvidencePublic(_FromRow):
    n: int = Field(description="index of the image within the case, from 1")
    observation_id: int
    kind: Literal["snapshot", "crop", "frame", "handled"] = Field(description="handled: a photo of the site after 处置")
    content_type: str
    width: int
    height: int
    created_at: datetime
    url: str | None = Field(description="where to GET the image; null once the retention policy deleted it")
    pruned_at: datetime | None = Field(default=None, description="when the retention policy deleted the image")


class AuditPublic(_FromRow):
    id: int
    at: datetime
    actor: str = Field(description="API key name, or 'system'")
    role: str
    action: str
    from_status: CaseStatus | None
    to_status: CaseStatus | None
    note: str
    detail: dict[str, Any]


class ReasonPublic(BaseModel):
    feature: str = Field(description="the case feature, e.g. source_count")
    value: float = Field(description="the case's value of it")
    contribution: float = Field(description="how much it moves P(confirmed) against a typical value")
    text: str = Field(description="in plain words, e.g. 'seen by 3 cameras (raises P by 0.12)'")


class ScorePublic(BaseModel):
    """A case's priority, part by part, and the reasons behind its P(confirmed)."""

    p_confirmed: float = Field(description="probability an inspector confirms the problem on site")
    severity: int = Field(description="the category's severity, 1 .. 5")
    sla_urgency: float = Field(
        description="1 when the step has just begun, 2 at its deadline, up to 3 one more limit later; 0 when closed"
    )
    hours_left: float | None = Field(description="hours left in the current step (negative: overdue)")
    priority: float = Field(description="p_confirmed × severity × sla_urgency")
    reasons: list[ReasonPublic] = Field(description="the features that move P(confirmed) most")
    scorer_version: str | None
    scored_at: datetime | None


class CaseDetail(CasePublic):
    score: ScorePublic | None = Field(default=None, description="null until a scorer has scored the case")
    observations: list[ObservationPublic]
    evidence: list[EvidencePublic]
    audit: list[AuditPublic]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        """No NUL or other control characters in text (PostgreSQL cannot store NUL; terminals misread the rest)."""
        if isinstance(value, str) and CONTROL_CHARS.search(value):
            raise ValueError("text must not contain control characters (U+0000-U+001F other than tab and newline)")
        return value


class ActionBody(_Body):
    version: int | None = Field(
        default=None, ge=1, le=MAX_DB_INT, description="the case version you read; or send it as the If-Match header"
    )
    note: str = Field(default="", max_length=4000)


class RegisterBody(ActionBody):
    district: str | None = Field(default=None, min_length=1, max_length=64, description="set the district")


class DispatchBody(ActionBody):
    department: str = Field(min_length=1, max_length=128, description="the department the case goes to")


class VerifyBody(ActionBody):
    verdict: Verdict


class DismissBody(ActionBody):
    note: str = Field(min_length=1, max_length=4000, description="why the case is dismissed")


class NoteBody(_Body):
    note: str = Field(min_length=1, max_length=4000)


class MergeBody(_Body):
    source_id: int = Field(ge=1, le=MAX_DB_INT, description="the duplicate: dismissed, its observations move")
    target_id: int = Field(ge=1, le=MAX_DB_INT, description="the case that stays")
    version: int | None = Field(default=None, ge=1, le=MAX_DB_INT, description="source's version (or If-Match)")
    target_version: int | None = Field(default=None, ge=1, le=MAX_DB_INT)
    note: str = Field(default="", max_length=4000)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "unavailable"]


class MePublic(BaseModel):
    name: str | None = Field(description="the API key's name; null without a key (reads open)")
    role: Role | None
    districts: list[str] = Field(default_factory=list, description="districts the key is bound to; empty = all")
    actions: list[Action] = Field(default_factory=list, description="case actions the role may take")
    action_from: dict[Action, list[CaseStatus]] = Field(
        default_factory=dict,
        description="for each of those actions, the statuses a case must be in (the lifecycle's transitions)",
    )
    model_actions: list[Literal["promote", "rollback"]] = Field(
        default_factory=list, description="model registry actions the role may take"
    )
    camera_actions: list[Literal["edit"]] = Field(
        default_factory=list, description="camera actions the role may take (add, edit, zones)"
    )
    survey_actions: list[Literal["upload"]] = Field(
        default_factory=list, description="survey actions the role may take (create, upload, process)"
    )
    report_actions: list[Literal["report"]] = Field(
        default_factory=list, description="report: the role may file a problem by hand (POST /reports)"
    )


# ---- drone surveys -------------------------------------------------------------------------------------------
class FlightMeta(_Body):
    """What the survey team knows about the flight; every field optional. Heights help photos without XMP."""

    date: Timestamp | None = Field(default=None, description="when it was flown (used when photos carry no time)")
    drone: str | None = Field(default=None, max_length=200)
    pilot: str | None = Field(default=None, max_length=200)
    ground_altitude_m: float | None = Field(
        default=None, ge=-500, le=9000, description="ground elevation above sea level: height = GPS altitude − this"
    )
    height_m: float | None = Field(default=None, gt=0, le=10_000, description="flight height above ground")
    focal35_mm: float | None = Field(
        default=None, gt=0, le=2000, description="35 mm-equivalent focal length, for videos whose log lacks it"
    )
    notes: str | None = Field(default=None, max_length=2000)


class SurveyBody(_Body):
    area: str = Field(min_length=1, max_length=128, description="area name")
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the district (责任区) it belongs to; default: the key's own district when it is bound to one",
    )
    name: str = Field(default="", max_length=200)
    flight: FlightMeta = Field(default_factory=FlightMeta)


class SurveyFilePublic(_FromRow):
    id: int
    name: str
    kind: str = Field(description="jpeg | png | tiff | mp4 | srt | csv (sniffed from the content)")
    size: int
    sha256: str
    status: str = Field(description="pending | done | error")
    error: str | None
    detections: int
    findings: int


class UploadedFile(SurveyFilePublic):
    duplicate: bool = Field(description="the survey had this content already (idempotent re-upload)")


class SurveyPublic(_FromRow):
    id: int
    area: str
    district: str | None
    name: str
    flight: dict[str, Any]
    status: str = Field(description="created | queued | processing | done | failed")
    percent: float
    current_file: str | None
    files_total: int
    files_done: int
    error: str | None
    findings_count: int
    cases_created: int
    cases_merged: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SurveyDetail(SurveyPublic):
    files: list[SurveyFilePublic]
    file_errors: dict[str, str] = Field(description="file name → error, for the files that failed")


class SurveyReport(BaseModel):
    survey: SurveyPublic
    findings: dict[str, Any] = Field(description="GeoJSON FeatureCollection of the findings (WGS84 points)")
    assets: list[str] = Field(description="report files, under GET /surveys/{id}/report/{asset}")


class PermitPublic(_FromRow):
    id: int
    area: str
    name: str
    ring: list[list[float]]
    active: bool
