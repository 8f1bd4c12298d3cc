"""Who is calling: the API key (header `Authorization: Bearer <key>`, `X-API-Key`, or Open311's `api_key`
query parameter) turned into an `Actor`. Mutating routes need one (`ActorDep`); read routes need one unless
`auth.open_read` says otherwise (`ReaderDep`). Role checks happen in the case service, for every caller.
A reporting app's key (role `reporter`) is refused everywhere but Open311 (and `GET /me`): it can only report.

Failed authentications go through the failure limiter (`api.limits`): counted per presented key prefix when
that prefix is a known key's, per client IP otherwise; a bucket over `ops.auth_failures_per_min` gets 429
instead of 401 for its further failures (citizen paths count per IP in buckets of their own). A valid key is
never refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api import metrics
from api.deps import ApiConfig, ServicesDep, SettingsDep
from api.limits import FailureWindow
from api.middleware import CITIZEN_PATHS
from cases.auth import ApiKeys
from cases.errors import AuthError, PermissionDenied
from cases.lifecycle import Actor, Role
from models.errors import RateLimited

REPORTER_PREFIX = "/open311/"  # all that a reporting app's key may use: Open311 ...
REPORTER_EXACT = ("/me",)  # ... and who am I (exact: "/me" as a prefix would also let it read /metrics)


class TooManyFailures(RateLimited):
    """A bucket (key prefix or client IP) failed authentication too often within a minute."""


def get_api_keys(services: ServicesDep) -> ApiKeys:
    return services.api_keys


KeysDep = Annotated[ApiKeys, Depends(get_api_keys)]


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("Authorization header must be 'Bearer <API key>'")
        return value.strip()
    return request.headers.get("x-api-key") or request.query_params.get("api_key") or None


def _only_reports(actor: Actor, request: Request) -> Actor:
    path = request.url.path
    if actor.role is Role.REPORTER and not (path.startswith(REPORTER_PREFIX) or path in REPORTER_EXACT):
        raise PermissionDenied(f"key {actor.name!r} is a reporting app's key: it may only use /open311/v2")
    return actor


def _failed(request: Request, keys: ApiKeys, token: str | None, error: AuthError) -> AuthError | TooManyFailures:
    """Count the failure against its bucket; the error to raise (429 once the bucket is over its limit)."""
    limiter: FailureWindow = request.app.state.auth_failures
    prefix = keys.known_prefix(token) if token else None
    client = request.client.host if request.client else "unknown"
    # citizen traffic (Open311, the public status pages) fails in buckets of its own, as in the middleware
    ip_bucket = f"citizen:{client}" if request.url.path.startswith(CITIZEN_PATHS) else f"ip:{client}"
    bucket, who = (f"key:{prefix}", f"key {prefix}") if prefix else (ip_bucket, client)
    wait = limiter.retry_after(bucket)
    if wait:
        metrics.HTTP_REJECTED.labels(reason="auth_rate").inc()
        return TooManyFailures(
            f"too many failed authentications from {who}: {limiter.limit} per minute; retry in {wait:.0f} s ({error})",
            retry_after=wait,
        )
    limiter.hit(bucket)
    return error


def authenticate_token(request: Request, keys: ApiKeys, token: str | None, required: str) -> Actor:
    """The actor of `token` (a route that reads the key from elsewhere, e.g. Open311's form field), through the
    failure limiter: raises `AuthError` (401) or `TooManyFailures` (429)."""
    try:
        if not token:
            raise AuthError(required)
        return _only_reports(keys.authenticate(token), request)
    except AuthError as exc:
        raise _failed(request, keys, token, exc) from None


def _authenticate(request: Request, keys: ApiKeys, required: str | None) -> Actor | None:
    """The actor of the request's key; None when it has none and `required` is None (else `required` is the 401)."""
    token: str | None = None
    try:
        token = _token(request)
        if token is None:
            if required is None:
                return None
            raise AuthError(required)
        return _only_reports(keys.authenticate(token), request)
    except AuthError as exc:
        raise _failed(request, keys, token, exc) from None


def get_actor(request: Request, keys: KeysDep) -> Actor:
    """The caller's actor; 401 without a valid key."""
    actor = _authenticate(request, keys, "this route needs an API key (Authorization: Bearer <key> or X-API-Key)")
    assert actor is not None
    return actor


def get_reader(request: Request, keys: KeysDep, settings: SettingsDep) -> Actor | None:
    """The caller's actor, or None where reads are open (`auth.open_read: true`, or null and no key was ever
    created: revoking or expiring every key does not open them again)."""
    open_read = settings.auth.open_read
    if open_read or (open_read is None and not keys.any_ever()):
        return _authenticate(request, keys, None)  # a key that is given must be valid, open or not
    return _authenticate(request, keys, "reading cases needs an API key (Authorization: Bearer <key> or X-API-Key)")


PUBLIC_WHAT = {"metrics": "GET /metrics", "ready": "GET /ready", "docs": "the OpenAPI document"}


def unless_public(name: str, request: Request, keys: ApiKeys, settings: ApiConfig) -> None:
    """The operations routes (`metrics`, `ready`, `docs`): open until the first key is created or when
    `ops.public` lists them; from then on any valid key (of any role) may read them."""
    if name in settings.ops.public or not keys.any_ever():
        return
    _authenticate(
        request,
        keys,
        f"{PUBLIC_WHAT[name]} needs an API key once keys exist (Authorization: Bearer <key> or X-API-Key; "
        f"or list {name!r} in ops.public)",
    )


def public_or_key(name: str) -> Any:
    """A route dependency: `unless_public(name, ...)`."""

    def check(request: Request, keys: KeysDep, settings: SettingsDep) -> None:
        unless_public(name, request, keys, settings)

    return Depends(check)


ActorDep = Annotated[Actor, Depends(get_actor)]
ReaderDep = Annotated[Actor | None, Depends(get_reader)]
