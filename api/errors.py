"""Errors → HTTP errors, in this one place: each error kind of `models.errors` has one status.

Every package raises its own errors (`cases.errors`, `inference.errors`, `models.errors`, ...), each of one kind;
`add_error_handlers` registers one handler per kind, and the handler answers `{"detail": "<the message>"}` with the
kind's status. An error of no kind is a fault of the server: it is not handled here (HTTP 500). The few checks only
the routes make raise the `ApiError`s below.

Special bodies and headers: `InvalidParameter` (e.g. `cases.errors.InvalidFilter`) is shaped like FastAPI's own
validation errors, so clients handle one format; `Unauthenticated` carries `WWW-Authenticate: Bearer`;
`RateLimited` a `Retry-After`; a `VersionConflict` carries the case's current version as its `ETag`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cases.errors import VersionConflict
from models.errors import (
    KINDS,
    CityeyeError,
    Conflict,
    Forbidden,
    Invalid,
    InvalidParameter,
    Malformed,
    NotFound,
    PreconditionRequired,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMedia,
    kind_of,
)

# a 422 lists at most this many validation errors, each echoed input cut to this many characters
MAX_ERRORS = 20
MAX_INPUT_CHARS = 200

STATUS: dict[type[CityeyeError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    Malformed: status.HTTP_400_BAD_REQUEST,
    TooLarge: status.HTTP_413_CONTENT_TOO_LARGE,
    UnsupportedMedia: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    PreconditionRequired: status.HTTP_428_PRECONDITION_REQUIRED,
    Unauthenticated: status.HTTP_401_UNAUTHORIZED,
    Forbidden: status.HTTP_403_FORBIDDEN,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}
assert set(STATUS) == set(KINDS), "every error kind has its HTTP status"


# ---- the errors the routes themselves find ----------------------------------------------------------------------
class ApiError(CityeyeError):
    """Base class of the errors of checks that only the API makes (form fields, files on disk, route arguments)."""


class InvalidInput(ApiError, Invalid):
    """A request argument the route refuses."""


class InputTooLarge(ApiError, TooLarge):
    """A request part over the route's own size limit."""


class ResourceNotFound(ApiError, NotFound):
    """What the route serves does not exist (yet): a snapshot, a fitted forecast, a file."""


# ---- the mapping --------------------------------------------------------------------------------------------------
def status_of(exc: CityeyeError) -> int | None:
    """The HTTP status of `exc` by its kind; None for an error of no kind."""
    kind = kind_of(exc)
    return STATUS[kind] if kind is not None else None


def error_response(exc: CityeyeError) -> JSONResponse:
    code = status_of(exc)
    assert code is not None, f"{type(exc).__name__} has no error kind"  # handlers are registered per kind only
    headers: dict[str, str] | None = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(math.ceil(exc.retry_after), 1))}
    elif isinstance(exc, VersionConflict) and exc.actual is not None:
        headers = {"ETag": f'"{exc.actual}"'}
    if isinstance(exc, InvalidParameter):
        # same shape as FastAPI's own validation errors, so clients handle one format
        detail = [{"type": "value_error", "loc": [exc.location, exc.field], "msg": exc.message, "input": exc.value}]
        return JSONResponse(status_code=code, content=jsonable_encoder({"detail": detail}), headers=headers)
    return JSONResponse(status_code=code, content={"detail": str(exc)}, headers=headers)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CityeyeError)
    return error_response(exc)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own 422, except that a NaN or Infinity the client sent (Python's JSON reads them) is echoed as text:
    # JSON cannot hold it, and rendering it raised (a 500); and only the first MAX_ERRORS errors, each input cut to
    # MAX_INPUT_CHARS, then one `too_many_errors` entry with the count: a body of 60,000 unknown keys is a short 422
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = [_short_input(_json_safe(jsonable_encoder(e))) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        detail.append({"type": "too_many_errors", "loc": [], "msg": f"{more} more errors not shown"})
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})


def _short_input(error: dict[str, Any]) -> dict[str, Any]:
    """`error` with its echoed `input` replaced by the start of its JSON text when that is longer than
    MAX_INPUT_CHARS (a missing field echoes the whole body)."""
    if "input" in error:
        text = json.dumps(error["input"], ensure_ascii=False)
        if len(text) > MAX_INPUT_CHARS:
            error["input"] = text[:MAX_INPUT_CHARS] + "…"
    return error


def add_error_handlers(app: FastAPI) -> None:
    """Register the mapping on `app`: one handler per error kind (Starlette picks it by the error's MRO, as
    `kind_of` does), and the request-validation handler."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for kind in KINDS:
        app.add_exception_handler(kind, _domain_error)


def _json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by its text ('nan', 'inf')."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
