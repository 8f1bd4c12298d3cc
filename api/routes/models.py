"""`/models`: the detector registry (versions, stage, per-category metrics, lineage); promotion and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ActorDep, ReaderDep
from api.deps import DetectorsDep, SettingsDep
from api.errors import InvalidInput
from cases.errors import PermissionDenied
from cases.lifecycle import Actor, Role
from models.notify import publish_production
from models.registry import ModelVersion

router = APIRouter(prefix="/models", tags=["models"])

PROMOTE_ROLES = frozenset({Role.DATA_TEAM, Role.ADMIN})  # who may promote or roll back a model version


@router.get("", response_model=list[ModelVersion])
def list_models(detectors: DetectorsDep, _reader: ReaderDep) -> list[ModelVersion]:
    """Every registered version, oldest first (the bundled default is registered as production on first use)."""
    return detectors.versions()


@router.get("/{version}", response_model=ModelVersion)
def get_model(
    version: Annotated[str, Path(max_length=64, description="a version, or 'production'")],
    detectors: DetectorsDep,
    _reader: ReaderDep,
) -> ModelVersion:
    """One version with its metrics (mAP50/<class>, …)."""
    return detectors.get(version)


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    margin: float | None = Field(default=None, ge=0, le=1, description="default: loop.margin")
    force: bool = Field(default=False, description="promote over the gate (needs a note; recorded)")
    note: str = Field(default="", max_length=2000)


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


def _check_role(actor: Actor, what: str) -> None:
    if actor.role not in PROMOTE_ROLES:
        needed = " or ".join(r.value for r in Role if r in PROMOTE_ROLES)
        raise PermissionDenied(f"{what} needs role {needed}; key {actor.name!r} has role {actor.role.value}")


@router.post("/{version}/promote", response_model=ModelVersion)
def promote_model(
    version: Annotated[str, Path(max_length=64)],
    body: PromoteIn,
    settings: SettingsDep,
    actor: ActorDep,
    detectors: DetectorsDep,
) -> ModelVersion:
    """Make a candidate production: refused (409, naming each drop) if a category's mAP50 on the same frozen
    val split drops more than the margin. Running workers pick the new version up between batches."""
    _check_role(actor, "promoting a model")
    if body.force and not body.note.strip():
        raise InvalidInput("a forced promotion needs a note saying why")
    margin = settings.loop.margin if body.margin is None else body.margin
    mv = detectors.promote(version, margin=margin, force=body.force)
    mv = detectors.add_note(
        mv.version, f"promoted by {actor.name}" + (f": {body.note.strip()}" if body.note.strip() else "")
    )
    publish_production(settings.redis_url, mv.version)
    return mv


@router.post("/rollback", response_model=ModelVersion)
def rollback_model(body: RollbackIn, settings: SettingsDep, actor: ActorDep, detectors: DetectorsDep) -> ModelVersion:
    """Production goes back to the version that was production before the current one."""
    _check_role(actor, "rolling back the model")
    mv = detectors.rollback(note=f"by {actor.name}" + (f": {body.note}" if body.note else ""))
    publish_production(settings.redis_url, mv.version)
    return mv
