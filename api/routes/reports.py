"""Manual reports: an inspector (监督员) or operator reports a problem found on patrol or by a citizen's call.

`POST /reports` (multipart form: category, lat, lon, optional photo, description, observed_at, client_ref)
turns the report into an `Event` from source `manual:<key name>` and ingests it through the same case
service as cameras and surveys, so a problem already known from a camera or a drone becomes one more
observation of its case (same category within the merge radius and window), not a second case.
`client_ref` makes a retried submission idempotent (same reporter + same ref = the same event).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from pydantic import BaseModel

from api.auth import ActorDep
from api.deps import ServiceDep
from api.errors import InputTooLarge, InvalidInput
from api.schemas import Timestamp
from cases.errors import PermissionDenied
from cases.lifecycle import Action, Role
from inference.event import Event, EvidenceImage
from inference.files import decode_image
from inference.frame import GeoContext

REPORT_ROLES = frozenset({Role.INSPECTOR, Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN})
MAX_PHOTO_BYTES = 20 * 1024 * 1024
# the whole form: the photo, the text fields and the multipart framing; checked while the body arrives
MAX_REPORT_BYTES = MAX_PHOTO_BYTES + 64 * 1024
router = APIRouter(prefix="/reports", tags=["reports"])
MAX_PHOTO_PIXELS = 40_000_000


def read_photo(photo: UploadFile | None, what: str = "photo") -> EvidenceImage | None:
    """The uploaded photo decoded under the upload checks (size, pixel count, truncation), or None when none came."""
    if photo is None or not (photo.filename or photo.size):
        return None
    data = photo.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise InputTooLarge(f"{what} larger than 20 MB")
    photo.file.seek(0)
    image = decode_image(photo.file, what, MAX_PHOTO_PIXELS)  # unreadable: MediaError, 422
    return EvidenceImage(image, kind="frame")


def report_event(
    category: str,
    lat: float,
    lon: float,
    seen: datetime,
    source: str,
    client_ref: str,
    photo: EvidenceImage | None,
) -> Event:
    """A report as an `Event` of `source` (one real problem seen once, at a place): what the case service ingests.
    A `client_ref` makes the event id stable, so a retried report is the same event (a duplicate)."""
    bbox = (0.0, 0.0, 0.0, 0.0)
    if photo is not None:
        h, w = photo.image.shape[:2]
        bbox = (0.0, 0.0, float(w), float(h))
    event_id = hashlib.sha1(f"{source}\x00{client_ref}".encode()).hexdigest()[:20] if client_ref else ""
    return Event(
        category=category,
        class_name=category,
        source_id=source,
        start=seen.astimezone(UTC),
        end=seen.astimezone(UTC),
        bbox=bbox,
        confidence=1.0,
        mean_confidence=1.0,
        frames_seen=1,
        model_version="manual",
        evidence=(photo,) if photo is not None else (),
        geo=GeoContext(lat, lon),
        event_id=event_id,
    )


class ReportResult(BaseModel):
    case_id: int
    created: bool
    merged: bool
    duplicate: bool
    event_id: str
    url: str


@router.post("", response_model=ReportResult, status_code=status.HTTP_201_CREATED, max_body_size=MAX_REPORT_BYTES)
def create_report(
    actor: ActorDep,
    service: ServiceDep,
    request: Request,
    response: Response,
    category: Annotated[str, Form(min_length=1, max_length=64, description="a taxonomy category name")],
    lat: Annotated[float, Form(ge=-90, le=90, description="WGS84 latitude of the problem")],
    lon: Annotated[float, Form(ge=-180, le=180, description="WGS84 longitude of the problem")],
    description: Annotated[str, Form(max_length=2000)] = "",
    observed_at: Annotated[Timestamp | None, Form(description="when it was seen (default: now); with a zone")] = None,
    client_ref: Annotated[str, Form(max_length=128, description="the reporter's id for this report")] = "",
    photo: Annotated[UploadFile | None, File(description="JPEG/PNG/WebP photo, ≤ 20 MB")] = None,
) -> ReportResult:
    """Report a problem by hand (inspector, operator, shift_lead, admin): 201 with the case it opened or joined."""
    if actor.role not in REPORT_ROLES:
        raise PermissionDenied(f"role {actor.role} may not file reports")
    if "\x00" in description or "\x00" in client_ref:
        raise InvalidInput("text fields must not contain NUL characters")
    now = datetime.now(UTC)
    seen = observed_at or now
    if seen.tzinfo is None or seen.utcoffset() is None:
        raise InvalidInput("observed_at must carry a time zone, e.g. 2026-11-24T08:00:00+08:00")
    if seen > now:
        raise InvalidInput("observed_at is in the future")
    event = report_event(category, lat, lon, seen, f"manual:{actor.name}", client_ref, read_photo(photo))
    result = service.ingest(event, within=actor)  # unknown category: 422; another district's case: 403
    if description and not result.duplicate:
        service.act(result.case_id, Action.NOTE, actor, note=f"report: {description}")
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return ReportResult(
        case_id=result.case_id,
        created=result.created,
        merged=result.merged,
        duplicate=result.duplicate,
        event_id=event.event_id,
        url=str(request.url_for("get_case", case_id=result.case_id)),
    )
