"""A read-only Open311 GeoReport v2 view of the cases, in JSON and XML, so existing city tools can read them.

Spec: http://wiki.open311.org/GeoReport_v2/. A case is a service request; a taxonomy category is a
service (`service_code` = the category's case code). Status: open while the case is open, closed once it
is closed or dismissed (`status_notes` says which and why). Reads need a key like the rest of the API (a
reporting app's key reads them too); Open311 clients may pass it as the `api_key` query parameter. One request's
`media_url` is the photo of its handling (处置 evidence) once the case is verified, else its first image.
Citizens post requests through `api.routes.open311_post`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from api.deps import ServiceDep, SettingsDep
from api.schemas import MAX_DB_INT, Timestamp
from api.scope import ReadScopeDep
from cases.actions import HANDLED_KIND
from cases.errors import CaseNotFound
from cases.orm import Case
from cases.queries import CaseRecord
from cases.service import CaseService
from cases.status import OPEN_STATUSES, CaseStatus

router = APIRouter(prefix="/open311/v2", tags=["open311"])

Format = Annotated[Literal["json", "xml"], Path(description="response format")]
DEFAULT_DAYS = 90  # the spec's default window when no dates are given
MAX_REQUESTS = 1000  # the spec's default upper limit

SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)


def _render(fmt: str, root: str, item: str, rows: list[dict[str, Any]], status_code: int = 200) -> Response:
    if fmt == "json":
        return JSONResponse(rows, status_code=status_code)
    top = ET.Element(root)
    for row in rows:
        el = ET.SubElement(top, item)
        for key, value in row.items():
            child = ET.SubElement(el, key)
            if isinstance(value, bool):
                child.text = "true" if value else "false"
            elif value is not None:
                child.text = str(value)
    body = ET.tostring(top, encoding="unicode")
    return Response(f'<?xml version="1.0" encoding="utf-8"?>\n{body}', status_code=status_code, media_type="text/xml")


def _error(fmt: str, code: int, description: str) -> Response:
    return _render(fmt, "errors", "error", [{"code": code, "description": description}], status_code=code)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _status_notes(case: Case) -> str:
    status = CaseStatus(case.status)
    if status is CaseStatus.DISMISSED:
        why = {"false_positive": "false positive", "duplicate": "duplicate"}.get(case.verdict or "", "dismissed")
        dup = f" of request {case.duplicate_of}" if case.duplicate_of else ""
        return f"dismissed ({why}{dup})"
    if status is CaseStatus.DISPATCHED and case.department:
        return f"dispatched to {case.department}"
    return status.value


SHOWS_HANDLING = frozenset({CaseStatus.VERIFIED, CaseStatus.CLOSED})


def handled_photo(record: CaseRecord) -> int | None:
    """The `n` of the last handling photo of a verified or closed case (the fix the reporter may see), else None."""
    if CaseStatus(record.case.status) not in SHOWS_HANDLING:
        return None
    handled = [e.n for e in record.evidence if e.kind == HANDLED_KIND and e.pruned_at is None]
    return handled[-1] if handled else None


def _request_row(case: Case, service: CaseService, media: dict[int, int], request: Request) -> dict[str, Any]:
    category = service.taxonomy.categories.get(case.category)
    n = media.get(case.id)
    open_ = CaseStatus(case.status) in OPEN_STATUSES
    row = {
        "service_request_id": str(case.id),
        "status": "open" if open_ else "closed",
        "status_notes": _status_notes(case),
        "service_name": category.name_en if category else case.category,
        "service_code": case.code,
        "description": (
            f"{category.name_zh if category else case.category}: seen {case.observation_count} times from "
            f"{_iso(case.first_seen)} to {_iso(case.last_seen)}, last by {case.source_id}"
        ),
        "agency_responsible": case.department,
        "service_notice": None,
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.due_at) if open_ else None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": str(request.url_for("get_case_evidence", case_id=case.id, n=n)) if n else None,
    }
    assert tuple(row) == REQUEST_FIELDS
    return row


@router.get("/services.{fmt}", response_model=None)
def services(fmt: Format, service: ServiceDep, _scope: ReadScopeDep) -> Response:
    """The service list: one service per taxonomy category."""
    rows = [
        {
            "service_code": cat.code,
            "service_name": cat.name_en,
            "description": f"{cat.name_zh} / {cat.name_en} (severity {cat.severity} of 5)",
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join([key, cat.name_zh]),
            "group": key.split("_")[0],
        }
        for key, cat in service.taxonomy.categories.items()
    ]
    return _render(fmt, "services", "service", rows)


@router.get("/requests.{fmt}", response_model=None)
def requests(
    fmt: Format,
    service: ServiceDep,
    scope: ReadScopeDep,
    settings: SettingsDep,
    request: Request,
    service_request_id: Annotated[str | None, Query(description="comma-separated ids; other filters ignored")] = None,
    service_code: Annotated[str | None, Query()] = None,
    start_date: Annotated[Timestamp | None, Query(description="requested_datetime >= (ISO 8601)")] = None,
    end_date: Annotated[Timestamp | None, Query(description="requested_datetime < (ISO 8601)")] = None,
    status: Annotated[str | None, Query(description="open, closed, or open,closed")] = None,
) -> Response:
    """Service requests (cases), newest first; without dates, the last 90 days; at most 1000."""
    limit = min(MAX_REQUESTS, settings.api.page_size_max)
    visible = scope.districts
    if service_request_id is not None:
        try:
            ids = [int(x) for x in service_request_id.split(",") if x.strip()]
            if any(not 1 <= i <= MAX_DB_INT for i in ids):
                raise ValueError("out of range")
        except ValueError:
            return _error(fmt, 400, f"service_request_id must be comma-separated numbers, got {service_request_id!r}")
        page = service.list_cases(ids=ids, visible_districts=visible, limit=limit)
    else:
        category = None
        if service_code is not None:
            by_code = {c.code: k for k, c in service.taxonomy.categories.items()}
            if service_code not in by_code:
                return _error(fmt, 400, f"unknown service_code {service_code!r}; known: {', '.join(sorted(by_code))}")
            category = by_code[service_code]
        statuses: list[CaseStatus] | None = None
        if status is not None:
            wanted = {s.strip() for s in status.split(",") if s.strip()}
            if not wanted <= {"open", "closed"}:
                return _error(fmt, 400, f"status must be open, closed or both, got {status!r}")
            statuses = [s for s in CaseStatus if ("open" if s in OPEN_STATUSES else "closed") in wanted]
        if start_date is None and end_date is None:
            start_date = service.now() - timedelta(days=DEFAULT_DAYS)
        page = service.list_cases(
            category=category,
            statuses=statuses,
            created_since=start_date,
            created_until=end_date,
            visible_districts=visible,
            limit=limit,
        )
    media = service.first_evidence([c.id for c in page.items])
    return _render(fmt, "service_requests", "request", [_request_row(c, service, media, request) for c in page.items])


@router.get("/requests/{request_id}.{fmt}", response_model=None)
def one_request(
    request_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)],
    fmt: Format,
    service: ServiceDep,
    scope: ReadScopeDep,
    request: Request,
) -> Response:
    """One service request, as a list of one (the spec's shape)."""
    try:
        record = service.get_case(request_id)
    except CaseNotFound:
        return _error(fmt, 404, f"service request {request_id} not found")
    case = record.case
    if not scope.visible(case.district):
        return _error(fmt, 403, f"service request {request_id} is outside the districts of the key")
    row = _request_row(case, service, service.first_evidence([case.id]), request)
    if handled_photo(record):  # the fix, at a URL a reporting app's key may read (not the case's evidence route)
        row["media_url"] = str(request.url_for("handled_photo_file", request_id=case.id))
    return _render(fmt, "service_requests", "request", [row])


@router.get("/requests/{request_id}/handled.jpg", response_model=None, name="handled_photo_file")
def handled_photo_file(
    request_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)], service: ServiceDep, scope: ReadScopeDep
) -> Response:
    """The photo of a verified case's handling (处置), for the reporter's app; 404 before it is verified."""
    try:
        record = service.get_case(request_id)
    except CaseNotFound:
        return _error("json", 404, f"service request {request_id} not found")
    if not scope.visible(record.case.district):
        return _error("json", 403, f"service request {request_id} is outside the districts of the key")
    n = handled_photo(record)
    if n is None:
        return _error("json", 404, f"service request {request_id} has no verified handling photo")
    return photo_response(service, request_id, n)


def photo_response(service: CaseService, case_id: int, n: int) -> Response:
    """Evidence image `n` of a case as a JPEG response (private caching: it may show a street)."""
    file = service.get_evidence(case_id, n)
    return FileResponse(file.path, media_type=file.content_type, headers={"Cache-Control": "private, max-age=300"})
