"""Handle with a photo (处置 from the field): `POST /cases/{id}/handled/photo`, multipart.

The department's crew on site takes a photo of the handled problem; the phone console uploads it with the
phone's position and time. The case goes dispatched → handled and the photo becomes its evidence (kind
`handled`) in one transaction. The photo goes through the same decoding checks as report photos (size, pixel
count, a real image). `client_ref` makes a retried upload idempotent: the same key and ref change nothing more.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile

from api.errors import InputTooLarge, InvalidInput
from api.routes.cases import CONFLICTS, CallerDep, CaseId, IfMatch, _version
from api.routes.reports import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS
from api.schemas import MAX_DB_INT, CaseDetail
from cases.actions import HandledPhoto
from inference.files import decode_image

router = APIRouter(prefix="/cases", tags=["cases"])
MAX_PHOTO_AGE = timedelta(days=7)  # an older taken_at is a wrong phone clock, not a photo of today's handling
CLOCK_SKEW = timedelta(minutes=5)  # phones' clocks run a little ahead


def read_photo(photo: UploadFile) -> np.ndarray:
    """The uploaded photo decoded to BGR; too large → 413, not an image → 422 (MediaError)."""
    if not (photo.filename or photo.size):
        raise InvalidInput("photo is empty: take or choose a photo of the handled site")
    data = photo.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise InputTooLarge(f"photo larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    photo.file.seek(0)
    return decode_image(photo.file, "photo", MAX_PHOTO_PIXELS)


@router.post("/{case_id}/handled/photo", response_model=CaseDetail, responses=CONFLICTS)
def handled_with_photo(
    case_id: CaseId,
    caller: CallerDep,
    photo: Annotated[UploadFile, File(description="JPEG/PNG/WebP photo of the handled site, ≤ 20 MB")],
    version: Annotated[int | None, Form(ge=1, le=MAX_DB_INT, description="the case version you read")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90, description="WGS84 latitude where the photo was taken")] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180, description="WGS84 longitude")] = None,
    taken_at: Annotated[datetime | None, Form(description="when it was taken, with a zone (default: now)")] = None,
    client_ref: Annotated[str, Form(max_length=128, description="the uploader's id for this upload")] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    if_match: IfMatch = None,
) -> CaseDetail:
    """处置 with a photo as evidence (department, admin): dispatched → handled. A retry with the same
    `client_ref` answers the case as it is."""
    if (lat is None) != (lon is None):
        raise InvalidInput("send both lat and lon, or neither")
    if "\x00" in note or "\x00" in client_ref:
        raise InvalidInput("text fields must not contain NUL characters")
    now = datetime.now(UTC)
    taken = taken_at or now
    if taken.tzinfo is None or taken.utcoffset() is None:
        raise InvalidInput("taken_at must carry a time zone, e.g. 2026-11-24T08:00:00+08:00")
    if taken > now + CLOCK_SKEW:
        raise InvalidInput("taken_at is in the future")
    if taken < now - MAX_PHOTO_AGE:
        raise InvalidInput(f"taken_at is more than {MAX_PHOTO_AGE.days} days ago")
    image = read_photo(photo)
    handled = HandledPhoto(
        image=image,
        taken_at=taken.astimezone(UTC),
        lat=lat,
        lon=lon,
        client_ref=client_ref or uuid.uuid4().hex,
        note=note,
    )
    caller.service.handled_with_photo(case_id, caller.actor, handled, version=_version(version, if_match))
    return caller.detail(case_id)
