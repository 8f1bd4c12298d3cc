"""Who is calling: the API key (header `Authorization: Bearer <key>`, `X-API-Key`, or Open311's `api_key`
query parameter) turned into an `Actor`. Mutating routes need one (`ActorDep`); read routes need one unless
`auth.open_read` says otherwise (`ReaderDep`). Role checks happen in the case service, for every caller.
A reporting app's key (role `reporter`) is refused everywhere but Open311 (and `GET /me`): it can only report.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import ServicesDep, SettingsDep
from cases.auth import ApiKeys
from cases.errors import AuthError, PermissionDenied
from cases.lifecycle import Actor, Role

REPORTER_PATHS = ("/open311/", "/me")  # all that a reporting app's key may use


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
    if actor.role is Role.REPORTER and not request.url.path.startswith(REPORTER_PATHS):
        raise PermissionDenied(f"key {actor.name!r} is a reporting app's key: it may only use /open311/v2")
    return actor


def get_actor(request: Request, keys: KeysDep) -> Actor:
    """The caller's actor; 401 without a valid key."""
    token = _token(request)
    if token is None:
        raise AuthError("this route needs an API key (Authorization: Bearer <key> or X-API-Key)")
    return _only_reports(keys.authenticate(token), request)


def get_reader(request: Request, keys: KeysDep, settings: SettingsDep) -> Actor | None:
    """The caller's actor, or None where reads are open (`auth.open_read`, or null and no key exists yet)."""
    token = _token(request)
    if token is not None:
        return _only_reports(keys.authenticate(token), request)  # a key that is given must be valid, open or not
    open_read = settings.auth.open_read
    if open_read or (open_read is None and not keys.any_active()):
        return None
    raise AuthError("reading cases needs an API key (Authorization: Bearer <key> or X-API-Key)")


ActorDep = Annotated[Actor, Depends(get_actor)]
ReaderDep = Annotated[Actor | None, Depends(get_reader)]
