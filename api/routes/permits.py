"""The permit register: permitted building sites per area (GeoJSON polygons). A construction candidate of a
survey inside a permitted site raises no case."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from api.auth import ActorDep, ReaderDep
from api.deps import SurveyStoreDep
from api.schemas import PermitPublic
from cases.surveys import PERMIT_ROLES, check_role

router = APIRouter(prefix="/permits", tags=["surveys"])
Area = Annotated[str, Query(min_length=1, max_length=128, description="the area the permits belong to")]


@router.post("", response_model=list[PermitPublic], status_code=status.HTTP_201_CREATED)
def add_permits(
    area: Area,
    geojson: Annotated[dict[str, Any], Body(description="GeoJSON FeatureCollection of Polygons")],
    store: SurveyStoreDep,
    actor: ActorDep,
) -> list[PermitPublic]:
    """Add permitted sites (Polygon / MultiPolygon features; `properties.name` names each) to an area's register."""
    check_role(actor, PERMIT_ROLES, "editing the permit register")
    return [PermitPublic.model_validate(p) for p in store.add_permits(area, geojson)]


@router.get("", response_model=list[PermitPublic])
def list_permits(area: Area, store: SurveyStoreDep, reader: ReaderDep) -> list[PermitPublic]:
    return [PermitPublic.model_validate(p) for p in store.permits(area)]
