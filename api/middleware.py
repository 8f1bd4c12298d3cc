"""The operations middleware (pure ASGI, outermost app code): request ids, limits, metrics and the access log.

For every HTTP request, in this order:

1. **request id**: the client's `X-Request-ID` (if it is a short token) or a new one; in every log line written
   while the request runs (`models.logs`) and in the response's `X-Request-ID` header.
2. (the auth-failure limit is not here: it needs to know whether the key is valid, so `api.auth` applies it,
   see `api.limits`; a valid key is never refused)
3. **upload rate limit**: at most `ops.uploads_per_min` uploads (POST/PUT/PATCH with a multipart, octet-stream,
   zip, image or video body) per client IP and minute; 429 above.
4. **body size limit**: `Content-Length` above the limit is answered 413 before the body is read; a body sent
   without a length (chunked) is counted while it is read and refused with 413 once it passes the limit.
   The limit is `ops.max_upload_mb` for uploads and `ops.max_body_kb` for everything else.
5. **metrics and access log**: `cityeye_http_requests_total{method,route,status}` and the latency histogram by
   route template (`/cases/{case_id}`, not the raw path, so ids do not explode the label set).

Citizen traffic (`/open311/`, the public status pages under `/console/report/`) is counted in windows of its own
(keys `citizen:<ip>`), so a flood of citizen reports or bad app keys from an address never limits the inspectors'
and operators' API from that address; the Open311 routes add their per-app and per-IP limits (`open311.*`).

The upload counters are per API process (in memory); several processes behind a balancer each apply them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from api import metrics
from api.settings import OpsSettings
from models.logs import log_context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("cityeye.access")
PROBES = frozenset({"/health", "/ready", "/metrics"})
CITIZEN_PATHS = ("/open311/", "/console/report/")
UPLOAD_TYPES = ("multipart/", "application/octet-stream", "application/zip", "image/", "video/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class SlidingWindow:
    """Per-key event times within the last `window_s` seconds; holds at most `max_keys` keys (oldest dropped)."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000):
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _fresh(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is not None:
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
        return hits

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may go on; 0 when it is under the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._fresh(key, now)
            if hits is None or len(hits) < self.limit:
                return 0.0
            return max(hits[0] + self.window_s - now, 0.001)

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._fresh(key, now)
            if hits is None:
                hits = self._hits[key] = deque()
                while len(self._hits) > self.max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            hits.append(now)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def is_upload(scope: Scope) -> bool:
    if scope.get("method") not in {"POST", "PUT", "PATCH"}:
        return False
    content_type = (_header(scope, b"content-type") or "").lower()
    return content_type.startswith(UPLOAD_TYPES)


class OpsMiddleware:
    def __init__(self, app: ASGIApp, settings: OpsSettings):
        self.app = app
        self.settings = settings
        self.uploads = SlidingWindow(settings.uploads_per_min)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        with log_context(request_id=request_id):
            await self._handle(scope, receive, send, request_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        start = time.perf_counter()
        method = scope.get("method", "")
        path = scope.get("path", "")
        client = (scope.get("client") or ("unknown", 0))[0]
        bucket = f"citizen:{client}" if path.startswith(CITIZEN_PATHS) else client  # the limiters' key
        status_code = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code, started
            if message["type"] == "http.response.start":
                started = True
                status_code = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))  # JSON is never sniffed as HTML
                message["headers"] = headers
            await send(message)

        async def refuse(code: int, detail: str, reason: str, headers: dict[str, str] | None = None) -> None:
            metrics.HTTP_REJECTED.labels(reason=reason).inc()
            body = json.dumps({"detail": detail}).encode()
            extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})

        try:
            upload = is_upload(scope)
            limit = self.settings.max_upload_mb * 1024 * 1024 if upload else self.settings.max_body_kb * 1024
            declared = _header(scope, b"content-length")
            if upload and (wait := self.uploads.retry_after(bucket)):
                await refuse(
                    429,
                    f"too many uploads from {client}: {self.settings.uploads_per_min} per minute; "
                    f"retry in {wait:.0f} s",
                    "upload_rate",
                    {"Retry-After": str(max(int(wait + 0.999), 1))},
                )
            elif declared is not None and (not declared.isdigit() or int(declared) > limit):
                await refuse(
                    413 if declared.isdigit() else 400,
                    _too_large(limit, upload) if declared.isdigit() else "Content-Length must be a number",
                    "body_too_large" if declared.isdigit() else "bad_length",
                )
            else:
                if upload:
                    self.uploads.hit(bucket)
                try:
                    await self.app(scope, _limited(receive, limit, upload), send_wrapper)
                except _BodyTooLarge:
                    if started:
                        raise
                    await refuse(413, _too_large(limit, upload), "body_too_large")
                except (OperationalError, InterfaceError) as exc:
                    # the database is down or unreachable: a fault to wait out, not a bug (503, not 500)
                    if started:
                        raise
                    log.warning("database unavailable: %s", str(exc).splitlines()[0])
                    await refuse(503, "database unavailable; retry later", "database_unavailable", {"Retry-After": "5"})
        finally:
            if status_code == 401:
                metrics.AUTH_FAILURES.inc()
            route = scope.get("route")
            template = getattr(route, "path", None) or ("(probe)" if path in PROBES else "(unmatched)")
            elapsed = time.perf_counter() - start
            metrics.HTTP_REQUESTS.labels(method=method, route=template, status=str(status_code)).inc()
            metrics.HTTP_LATENCY.labels(method=method, route=template).observe(elapsed)
            fields: dict[str, Any] = {
                "method": method,
                "path": path,
                "route": template,
                "status": status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "client": client,
            }
            params = scope.get("path_params") or {}
            for key in ("case_id", "camera_id", "survey_id"):
                if key in params:
                    value = str(params[key])
                    fields[key] = int(value) if value.isdigit() else value
            if path not in PROBES or status_code >= 400:
                log.info("%s %s %d", method, path, status_code, extra=fields)


class _BodyTooLarge(HTTPException):
    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)


def _too_large(limit: int, upload: bool) -> str:
    what, setting = ("upload", "ops.max_upload_mb") if upload else ("request body", "ops.max_body_kb")
    return f"{what} too large: the limit is {limit} bytes ({setting})"


def _limited(receive: Receive, limit: int, upload: bool) -> Receive:
    """`receive` that counts body bytes and raises 413 (an HTTPException FastAPI passes through) past `limit`."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge(_too_large(limit, upload))
        return message

    return wrapped
