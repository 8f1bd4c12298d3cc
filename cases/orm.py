"""The case store's tables (SQLAlchemy 2 typed declarative). The schema itself is made by the migrations.

Datetimes are timezone-aware in Python and stored as UTC (`UTCDateTime`): SQLite keeps naive UTC text,
Postgres a `timestamptz`; both read back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from cases.status import CaseStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: use timezone-aware datetimes (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _severity_default(context: Any) -> float:
    """An unscored case's `score`: its severity (P(confirmed) taken as 1 until a scorer scores it)."""
    return float(context.get_current_parameters().get("severity") or 1)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Case(Base):
    """One real-world problem, however many observations (events) of it there are."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=CaseStatus.DETECTED.value)
    code: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)
    max_confidence: Mapped[float] = mapped_column(Float)
    observation_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)
    # lifecycle (migration 0002)
    severity: Mapped[int] = mapped_column(Integer, default=1)
    district: Mapped[str | None] = mapped_column(String(64), index=True)
    department: Mapped[str | None] = mapped_column(String(128))
    verdict: Mapped[str | None] = mapped_column(String(16))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    repeat_of: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    status_since: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    registered_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # predictive scoring (migration 0007; cases.scoring.live): written after commits, never bumps `version`
    p_confirmed: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, default=_severity_default)  # P × severity (P = 1 unscored)
    score_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    scorer_version: Mapped[str | None] = mapped_column(String(64))
    scored_at: Mapped[datetime | None]

    observations: Mapped[list[Observation]] = relationship(
        back_populates="case", order_by="Observation.id", lazy="raise_on_sql"
    )
    evidence: Mapped[list[Evidence]] = relationship(back_populates="case", order_by="Evidence.n", lazy="raise_on_sql")

    __mapper_args__: dict[str, Any] = {"version_id_col": version}
    # sort=priority reads (severity, due_at) streams in index order (migration 0003)
    __table_args__ = (
        Index("ix_cases_severity_due_at_id", "severity", "due_at", "id"),
        Index("ix_cases_score_due_at_id", "score", "due_at", "id"),  # sort=priority (migration 0008)
        Index("ix_cases_p_confirmed", "p_confirmed"),
    )

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """The last box in `source_id`'s pixels, xyxy."""
        return (self.x1, self.y1, self.x2, self.y2)

    def __repr__(self) -> str:
        return f"Case(id={self.id}, category={self.category!r}, status={self.status!r})"


class Observation(Base):
    """One ingested `Event`; `event_id` is unique, which makes ingestion idempotent."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[str] = mapped_column(String(255))
    class_name: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime]
    end: Mapped[datetime]
    confidence: Mapped[float] = mapped_column(Float)
    mean_confidence: Mapped[float] = mapped_column(Float)
    frames_seen: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(128))
    uri: Mapped[str] = mapped_column(String(2048), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tracker_id: Mapped[int | None] = mapped_column(Integer)  # the camera track that raised the event

    case: Mapped[Case] = relationship(back_populates="observations", lazy="raise_on_sql")

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


class Evidence(Base):
    """An evidence image of a case: `<evidence_dir>/<path>`, `n` numbering a case's images from 1."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "n"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pruned_at: Mapped[datetime | None]  # the file was deleted by the retention policy (cases.retention)

    case: Mapped[Case] = relationship(back_populates="evidence", lazy="raise_on_sql")


class AuditEntry(Base):
    """One change of a case: who (key name + role), when, what. Append-only: rows are never updated or deleted."""

    __tablename__ = "case_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _audit_is_append_only(_mapper: Any, _connection: Any, target: AuditEntry) -> None:
    raise ValueError(f"audit entry {target.id} is append-only: it cannot be changed or deleted")


class ApiKey(Base):
    """An API key: only `salt` and `key_hash` (sha256) are kept; the key itself is shown once at creation.

    A key reads `ce_<prefix>_<secret>`; `prefix` finds the row, the hash proves the secret.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # null: valid until revoked


class WebhookDelivery(Base):
    """One webhook POST to make (a transactional outbox row, written with the case change it reports).

    `state`: pending → delivered, or → dead after the last attempt failed (the dead-letter list).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class CameraRow(Base):
    """A street camera `cityeye streams` watches: its validated `inference.streams.config.CameraConfig` as JSON."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    district: Mapped[str | None] = mapped_column(String(64), index=True)  # migration 0012; = config.district
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraStatusRow(Base):
    """The last status a stream worker reported for a camera (state, fps, reconnects, last error, ...)."""

    __tablename__ = "camera_status"

    camera_id: Mapped[str] = mapped_column(String(64), ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    worker: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    status: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- drone surveys (migration 0006; the store is cases/surveys.py) -------------------------------------------
class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[str] = mapped_column(String(128), index=True)
    district: Mapped[str | None] = mapped_column(String(64), index=True)  # migration 0012
    name: Mapped[str] = mapped_column(String(200), default="")
    flight: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="created")
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    current_file: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    findings_count: Mapped[int] = mapped_column(Integer, default=0)
    cases_created: Mapped[int] = mapped_column(Integer, default=0)
    cases_merged: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class SurveyFile(Base):
    """One uploaded media file; `sha256` is unique within a survey, which makes re-uploads idempotent."""

    __tablename__ = "survey_files"
    __table_args__ = (UniqueConstraint("survey_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # jpeg | png | tiff | mp4 | srt | csv
    path: Mapped[str] = mapped_column(String(1024))  # relative to the data dir
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | error
    error: Mapped[str | None] = mapped_column(Text)
    detections: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyFinding(Base):
    """Something a survey found: a detection (`kind="detection"`) or a new structure (`kind="change"`)."""

    __tablename__ = "survey_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("survey_files.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    class_name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    frame: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    permit: Mapped[str | None] = mapped_column(String(200))  # the permit that covers it (change findings)
    note: Mapped[str] = mapped_column(String(500), default="")


class Permit(Base):
    """A permitted building site of an area: one polygon ring of [lon, lat] (WGS84)."""

    __tablename__ = "permits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(200))
    ring: Mapped[list[list[float]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedbackFrame(Base):
    """A full (un-annotated) frame the data team can train on, with what we know about its labels (migration 0008).

    `origin`: `verdict` (an inspector's verdict on a case), `correction` (boxes corrected through the API or a
    labelling tool) or `sample` (kept by the active-learning sampler). `boxes` is the frame's label set
    `[{"class_name", "xyxy": [x1, y1, x2, y2]}]` in pixels once `labelled`; an empty labelled set is a negative
    (a false positive's frame). `predictions` are what model `model_version` found on it (pre-annotations).
    `image` is relative to `<data_dir>/feedback/`, named by the image's SHA-256.
    """

    __tablename__ = "feedback_frames"
    __table_args__ = (UniqueConstraint("origin", "observation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id", ondelete="SET NULL"))
    source_id: Mapped[str] = mapped_column(String(255), default="")
    image: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str] = mapped_column(String(128), default="")
    verdict: Mapped[str | None] = mapped_column(String(16))
    labelled: Mapped[bool] = mapped_column(Boolean, default=False)
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    predictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HistoryRecord(Base):
    """A past complaint imported from a city's records (`cityeye history import`, migration 0012): a closed (or
    still open at export) historical case of source `history:<name>`. Kept apart from `cases`, so it is never in
    the work queue, the case API, Open311 or the console; scoring and forecasting read it."""

    __tablename__ = "history_records"
    __table_args__ = (
        UniqueConstraint("name", "source_id"),
        Index("ix_history_records_name_opened_at", "name", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))  # the record's id in the city's system
    category: Mapped[str] = mapped_column(String(64))  # a cityeye category key or "other"
    raw_type: Mapped[str] = mapped_column(String(255))
    opened_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(16))  # confirmed / dismissed / excluded / None
    source_type: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class CitizenReport(Base):
    """A report from a citizens' reporting app (Open311 POST): the case it opened or joined, or none yet (pending).

    `token` is the reporter's secret handle (the status page); `(app, client_ref)` makes retries idempotent.
    The reporter's contact is not here but in `citizen_contacts`, which no read of the case touches.
    """

    __tablename__ = "citizen_reports"
    __table_args__ = (UniqueConstraint("app", "client_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    app: Mapped[str] = mapped_column(String(128))
    client_ref: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    service_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    address_string: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    media_url: Mapped[str | None] = mapped_column(String(2048))  # the reporter's link, kept as text, never fetched
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CitizenContact(Base):
    """How to reach the reporter of one citizen report (optional; personal data, kept apart from the case)."""

    __tablename__ = "citizen_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("citizen_reports.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
