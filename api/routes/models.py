"""`GET /models`: the detector registry, read-only (versions, stage, per-category metrics, lineage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.auth import ReaderDep
from api.deps import SettingsDep
from cases.lifecycle import Role
from models.registry import ModelVersion, Registry, RegistryError

router = APIRouter(prefix="/models", tags=["models"])

PROMOTE_ROLES = frozenset({Role.DATA_TEAM, Role.ADMIN})  # who may promote or roll back a model version


@router.get("", response_model=list[ModelVersion])
def list_models(settings: SettingsDep, _reader: ReaderDep) -> list[ModelVersion]:
    """Every registered version, oldest first (the bundled default is registered as production on first use)."""
    return Registry(settings.models_dir).versions()


@router.get("/{version}", response_model=ModelVersion)
def get_model(
    version: Annotated[str, Path(max_length=64, description="a version, or 'production'")],
    settings: SettingsDep,
    _reader: ReaderDep,
) -> ModelVersion:
    """One version with its metrics (mAP50/<class>, …)."""
    try:
        return Registry(settings.models_dir).get(version)
    except RegistryError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
