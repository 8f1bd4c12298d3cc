"""Citizens' reports through Open311 GeoReport v2 (掌上报): `POST /open311/v2/requests.{json,xml}` and the spec's
token lookup `GET /open311/v2/tokens/{token}.{json,xml}`.

A report is one more source of the same cases: it becomes an `Event` of source `open311:<app key name>` and goes
through the case service's ingestion and de-duplication like an inspector's `POST /reports`, so a citizen's photo
of a pile a camera already raised joins that case and the answer's `service_request_id` is that case's id.

- `api_key`: a key of role `reporter` (a reporting app; it can do nothing but this) or of a role that files
  reports; in the form body (the spec's place), the query string or the usual headers.
- `service_code`: a taxonomy category's case code (`GET /open311/v2/services.json`).
- `lat` + `long`, or `address_string` alone: without a position (there is no geocoder) the report is kept
  pending: the answer is a `token` only and no case is opened until it is placed.
- `media` (a multipart file) goes through the upload checks (size, pixel bombs, truncation) and becomes the
  observation's evidence; `media_url` is stored as a link, never fetched by the server.
- `email` / `phone`: stored apart from the case (`citizen_contacts`); no read of a case or of Open311 shows them.
- `client_ref`: the app's id for this report; a retry with the same one answers the same request (200, not 201).

Limits of their own (`open311.*`): per app key and per client IP, answered 429 with Retry-After in the spec's
error format; the staff API's limits are counted apart (api.middleware).
"""

from __future__ import annotations

import math
import re
import threading
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import Response

from api.auth import KeysDep, TooManyFailures, _token, authenticate_token
from api.deps import ServiceDep
from api.middleware import SlidingWindow
from api.routes.open311 import Format, _error, _render
from api.routes.reports import MAX_REPORT_BYTES, REPORT_ROLES, read_photo, report_event
from api.settings import Open311Settings
from cases.citizen import CitizenReportIn, CitizenReports
from cases.errors import AuthError, CitizenReportNotFound, PermissionDenied
from cases.lifecycle import Action, Role

router = APIRouter(prefix="/open311/v2", tags=["open311"])
MAX_DESCRIPTION = 4000  # the spec's limit
EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,188}\.[A-Za-z]{2,24}$")
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{3,32}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class CitizenLimits:
    """Sliding one-minute windows: reports per app key, reports per client IP, lookups per client IP."""

    def __init__(self, settings: Open311Settings):
        self.settings = settings
        self.per_app = SlidingWindow(settings.reports_per_app_per_min)
        self.per_ip = SlidingWindow(settings.reports_per_ip_per_min)
        self.lookups = SlidingWindow(settings.lookups_per_ip_per_min)
        self._lock = threading.Lock()

    def report(self, app: str, ip: str) -> str | None:
        """Count one report; the reason it is refused (None: go on)."""
        with self._lock:
            if wait := self.per_app.retry_after(app):
                return (
                    f"app key {app!r} posted {self.settings.reports_per_app_per_min} reports this minute; {_in(wait)}"
                )
            if wait := self.per_ip.retry_after(ip):
                return f"{ip} posted {self.settings.reports_per_ip_per_min} reports this minute; {_in(wait)}"
            self.per_app.hit(app)
            self.per_ip.hit(ip)
        return None

    def lookup(self, ip: str) -> str | None:
        with self._lock:
            if wait := self.lookups.retry_after(ip):
                return f"{ip} made {self.settings.lookups_per_ip_per_min} status lookups this minute; {_in(wait)}"
            self.lookups.hit(ip)
        return None


def _in(wait: float) -> str:
    return f"retry in {max(int(wait + 0.999), 1)} s"


def citizen_limits(request: Request) -> CitizenLimits:
    limits: CitizenLimits = request.app.state.citizen_limits
    return limits


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limited(fmt: str, reason: str) -> Response:
    response = _error(fmt, 429, reason)
    response.headers["Retry-After"] = reason.rsplit(" ", 2)[-2]
    return response


def _clean(value: str | None, name: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value.strip()


def _media_url(value: str | None) -> str | None:
    url = _clean(value, "media_url", 2048)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError("media_url must be an http(s) URL without credentials")
    return url


@router.post("/requests.{fmt}", response_model=None, status_code=201, max_body_size=MAX_REPORT_BYTES)
def post_request(
    fmt: Format,
    request: Request,
    service: ServiceDep,
    keys: KeysDep,
    service_code: Annotated[str, Form(max_length=64, description="a service's code (GET services.json)")],
    api_key: Annotated[str | None, Form(max_length=200, description="the reporting app's key")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90, description="WGS84 latitude")] = None,
    long: Annotated[float | None, Form(ge=-180, le=180, description="WGS84 longitude")] = None,
    address_string: Annotated[str | None, Form(max_length=500)] = None,
    description: Annotated[str | None, Form(max_length=MAX_DESCRIPTION)] = None,
    media_url: Annotated[str | None, Form(max_length=2048, description="a link to a photo (kept, not fetched)")] = None,
    email: Annotated[str | None, Form(max_length=254, description="the reporter's (kept apart from the case)")] = None,
    phone: Annotated[str | None, Form(max_length=32, description="the reporter's (kept apart from the case)")] = None,
    client_ref: Annotated[str | None, Form(max_length=128, description="the app's id for this report")] = None,
    media: Annotated[UploadFile | None, File(description="a JPEG/PNG/WebP photo, ≤ 20 MB")] = None,
) -> Response:
    """Create a service request: 201 with `service_request_id` (the case it opened or joined) and `token`."""
    try:  # the body's api_key (the spec's place) first, then the headers or the query string
        token = (api_key.strip() if api_key else None) or _token(request)
        need = "posting a service request needs an api_key (a reporting app's key)"
        actor = authenticate_token(request, keys, token, need)  # failures count in the citizen auth window
    except TooManyFailures as exc:
        response = _error(fmt, 429, str(exc))
        response.headers["Retry-After"] = str(max(math.ceil(exc.retry_after), 1))
        return response
    except AuthError as exc:
        return _error(fmt, 401, str(exc))
    if actor.role is not Role.REPORTER and actor.role not in REPORT_ROLES:
        return _error(fmt, 403, f"key {actor.name!r} (role {actor.role.value}) may not file reports")
    limits = citizen_limits(request)
    if refused := limits.report(actor.name, client_ip(request)):
        return _limited(fmt, refused)
    by_code = {c.code: k for k, c in service.taxonomy.categories.items()}
    if service_code not in by_code:
        return _error(fmt, 400, f"unknown service_code {service_code!r}; known: {', '.join(sorted(by_code))}")
    try:
        text = _clean(description, "description", MAX_DESCRIPTION) or ""
        address = _clean(address_string, "address_string", 500)
        ref = _clean(client_ref, "client_ref", 128)
        link = _media_url(media_url)
        mail = _clean(email, "email", 254)
        if mail is not None and not EMAIL_RE.match(mail):
            raise ValueError("email is not an email address")
        tel = _clean(phone, "phone", 32)
        if tel is not None and not PHONE_RE.match(tel):
            raise ValueError("phone may hold only digits, spaces, + ( ) and -")
    except ValueError as exc:
        return _error(fmt, 400, str(exc))
    if (lat is None) != (long is None):
        return _error(fmt, 400, "give both lat and long, or neither (with address_string)")
    if lat is None and address is None:
        return _error(fmt, 400, "a service request needs a location: lat and long, or address_string")
    store = CitizenReports(service.sessions)
    if ref is not None and (earlier := store.find(actor.name, ref)) is not None:
        return _answer(fmt, earlier.case_id, earlier.token, 200)
    photo = read_photo(media, "media")  # the upload checks: too large 413, unreadable or a pixel bomb 422
    report = CitizenReportIn(
        app=actor.name,
        client_ref=ref,
        service_code=service_code,
        category=by_code[service_code],
        description=text,
        address_string=address,
        lat=lat,
        lon=long,
        media_url=link,
        email=mail,
        phone=tel,
    )
    case_id: int | None = None
    event_id = ""
    if lat is not None and long is not None:
        source = f"open311:{actor.name}"
        event = report_event(by_code[service_code], lat, long, datetime.now(UTC), source, ref or "", photo)
        try:  # an app key bound to districts opens or joins cases of those districts only, before any write
            result = service.ingest(event, within=actor)
        except PermissionDenied as exc:
            return _error(fmt, 403, str(exc))
        case_id, event_id = result.case_id, event.event_id
        if not result.duplicate:
            note = f"citizen report: {text}" if text else "citizen report"
            if link:
                note += f" (photo link, not fetched: {link})"
            service.act(case_id, Action.NOTE, actor, note=note)
    row, new = store.add(report, event_id, case_id)
    return _answer(fmt, row.case_id, row.token, 201 if new else 200)


def _answer(fmt: str, case_id: int | None, token: str, status_code: int) -> Response:
    row: dict[str, Any]
    if case_id is None:  # pending: not placed yet, no case
        row = {"token": token, "service_notice": "received; it is placed on the map by the city before it is a case"}
    else:
        row = {"service_request_id": str(case_id), "token": token, "service_notice": None, "account_id": None}
    return _render(fmt, "service_requests", "request", [row], status_code=status_code)


@router.get("/tokens/{token}.{fmt}", response_model=None)
def token_lookup(
    token: Annotated[str, Path(max_length=64)], fmt: Format, service: ServiceDep, request: Request
) -> Response:
    """The spec's token lookup: the service request a token became (none yet while pending). The token is the
    reporter's secret, so no key is needed; lookups are limited per client IP."""
    if refused := citizen_limits(request).lookup(client_ip(request)):
        return _limited(fmt, refused)
    if not TOKEN_RE.match(token):
        return _error(fmt, 404, "no service request has that token")
    try:
        row = CitizenReports(service.sessions).by_token(token)
    except CitizenReportNotFound:
        return _error(fmt, 404, "no service request has that token")
    request_id = str(row.case_id) if row.case_id is not None else None
    return _render(fmt, "service_requests", "request", [{"service_request_id": request_id, "token": row.token}])
