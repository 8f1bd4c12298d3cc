"""Response schemas: one family per entity. Read-only for now, so only the `*Public` members exist."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cases.status import CaseStatus

BBox = tuple[float, float, float, float]


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CasePublic(_FromRow):
    id: int
    category: str = Field(description="taxonomy category key, e.g. 'garbage'")
    code: str = Field(description="the city's case code for the category")
    status: CaseStatus
    source_id: str = Field(description="source of the latest sighting")
    lat: float | None = Field(description="WGS84 latitude; null when no source gave a position")
    lon: float | None
    bbox: BBox = Field(description="latest box, xyxy in pixels of `source_id`'s frames")
    first_seen: datetime
    last_seen: datetime
    max_confidence: float
    observation_count: int
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="row version; changes with every update (optimistic locking)")


class CaseList(BaseModel):
    items: list[CasePublic]
    total: int = Field(description="cases matching the filters, over all pages")
    limit: int
    offset: int


class ObservationPublic(_FromRow):
    id: int
    event_id: str
    source_id: str
    class_name: str
    start: datetime
    end: datetime
    confidence: float
    mean_confidence: float
    frames_seen: int
    bbox: BBox
    lat: float | None
    lon: float | None
    model_version: str
    uri: str
    created_at: datetime


class EvidencePublic(_FromRow):
    n: int = Field(description="index of the image within the case, from 1")
    observation_id: int
    kind: Literal["snapshot", "crop"]
    content_type: str
    width: int
    height: int
    created_at: datetime
    url: str = Field(description="where to GET the image")


class CaseDetail(CasePublic):
    observations: list[ObservationPublic]
    evidence: list[EvidencePublic]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "unavailable"]
