"""`/cameras`: the street cameras `cityeye streams` watches — CRUD (admin), status and latest snapshot.

A camera body is `inference.streams.config.CameraConfig`: unknown keys, a URL scheme other than rtsp(s),
http(s), file or device, polygons with fewer than 3 points and degenerate homographies are 422 with the
field named, and so is a URL the outbound policy refuses (`security.allow_hosts`, models/urls.py). Reads show the
URL's userinfo and secret-looking query values as `***`; a PUT that sends such a URL back keeps the stored ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.deps import PathsDep, ServicesDep, SettingsDep
from api.errors import ResourceNotFound
from api.scope import ReadScopeDep, Scope, WriteScopeDep
from cases.cameras import SqlCameraStore
from cases.errors import PermissionDenied
from cases.lifecycle import Actor, Role
from inference.errors import CameraConfigError
from inference.ports import StoredCamera
from inference.streams.config import CameraConfig
from inference.streams.runner import snapshot_path
from models.urls import REDACTED

router = APIRouter(prefix="/cameras", tags=["cameras"])

WRITE_ROLES = frozenset({Role.ADMIN})
CameraId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class CameraOut(BaseModel):
    config: CameraConfig
    version: int
    created_at: datetime
    updated_at: datetime
    status: dict[str, Any] | None = None


def get_camera_store(services: ServicesDep) -> SqlCameraStore:
    return SqlCameraStore(services.sessions)


CameraStoreDep = Annotated[SqlCameraStore, Depends(get_camera_store)]


def _out(cam: StoredCamera, st: dict[str, Any] | None) -> CameraOut:
    cfg = cam.config.model_copy(update={"url": cam.config.safe_url})
    return CameraOut(config=cfg, version=cam.version, created_at=cam.created_at, updated_at=cam.updated_at, status=st)


def _may_write(actor: Actor | None) -> None:
    if actor is None or actor.role not in WRITE_ROLES:
        role = actor.role.value if actor else "(none)"
        raise PermissionDenied(f"changing cameras needs role admin; key {getattr(actor, 'name', '')!r} has role {role}")


def _camera(store: SqlCameraStore, scope: Scope, camera_id: str) -> StoredCamera:
    """The camera, checked against the caller's districts (404 / 403)."""
    cam = store.get(camera_id)
    scope.check(cam.config.district, f"camera {camera_id!r}")
    return cam


def _in_scope(body: CameraConfig, scope: Scope) -> CameraConfig:
    """The body with its district canonical, on the configured list and one of the caller's."""
    return body.model_copy(update={"district": scope.assign(body.district)})


@router.get("", response_model=list[CameraOut])
def list_cameras(store: CameraStoreDep, scope: ReadScopeDep) -> list[CameraOut]:
    """Every camera (of the key's districts) with the status its worker last reported (null: no worker has run
    it yet)."""
    statuses = store.statuses()
    return [_out(c, statuses.get(c.config.id)) for c in store.list(visible_districts=scope.districts)]


@router.post("", response_model=CameraOut, status_code=status.HTTP_201_CREATED)
def create_camera(body: CameraConfig, store: CameraStoreDep, scope: WriteScopeDep, settings: SettingsDep) -> CameraOut:
    """Add a camera (admin, in its districts). 409 if the id exists. Workers pick it up within
    `streams.cameras_refresh_s`."""
    _may_write(scope.actor)
    body.check_outbound(settings.security.allow_hosts)
    if REDACTED in body.url:
        raise CameraConfigError(["url: holds '***' (a redacted URL); send the real credentials"])
    return _out(store.create(_in_scope(body, scope)), None)


@router.get("/{camera_id}", response_model=CameraOut)
def get_camera(camera_id: CameraId, store: CameraStoreDep, scope: ReadScopeDep) -> CameraOut:
    return _out(_camera(store, scope, camera_id), store.status(camera_id))


@router.put("/{camera_id}", response_model=CameraOut)
def replace_camera(
    camera_id: CameraId, body: CameraConfig, store: CameraStoreDep, scope: WriteScopeDep, settings: SettingsDep
) -> CameraOut:
    """Replace a camera's configuration (admin, of its districts); its worker restarts it with the new one. A URL
    as reads show it (`***` for secrets) keeps the stored secrets, if it names the same scheme, host and port."""
    _may_write(scope.actor)
    if body.id != camera_id:
        raise CameraConfigError([f"body id {body.id!r} differs from the path's {camera_id!r}"])
    stored = _camera(store, scope, camera_id)
    body.check_outbound(settings.security.allow_hosts)
    if REDACTED in body.url:
        body = body.with_secrets_of(stored.config)
    return _out(store.replace(_in_scope(body, scope)), store.status(camera_id))


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_camera(camera_id: CameraId, store: CameraStoreDep, scope: WriteScopeDep) -> Response:
    """Remove a camera (admin, of its districts); its worker stops it. Its cases stay."""
    _may_write(scope.actor)
    _camera(store, scope, camera_id)
    store.delete(camera_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{camera_id}/status")
def camera_status(camera_id: CameraId, store: CameraStoreDep, scope: ReadScopeDep) -> dict[str, Any]:
    """state (connecting | streaming | reconnecting | stopped | ended), fps, frames, last_frame_at,
    reconnects, watchdog_restarts, last_error, events, worker, reported_at."""
    _camera(store, scope, camera_id)  # 404 for an unknown camera, 403 for another district's
    return store.status(camera_id) or {"state": "never reported"}


@router.get("/{camera_id}/snapshot", response_class=FileResponse)
def camera_snapshot(camera_id: CameraId, store: CameraStoreDep, paths: PathsDep, scope: ReadScopeDep) -> Any:
    """The camera's latest analysed frame with its tracked detections drawn (JPEG)."""
    _camera(store, scope, camera_id)  # 404 for an unknown camera, 403 for another district's
    path = snapshot_path(paths.root, camera_id)
    if not path.is_file():
        raise ResourceNotFound(f"camera {camera_id!r} has no snapshot yet")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
