"""Feedback for the data team's loop: correct a detection on an evidence frame; list feedback frames.

`POST /feedback/corrections` (inspector, data_team, shift_lead, admin) sets the label set of an observation's
full frame (relabel a class, move a box, add a box, delete a box: send the whole corrected set).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ActorDep
from api.deps import DetectorsDep, FeedbackStoreDep, PathsDep
from api.schemas import MAX_DB_INT
from api.scope import ReadScopeDep, Scope
from cases.errors import FeedbackNotFound, PermissionDenied
from cases.feedback import Box
from cases.lifecycle import Role
from models.registry import Registry, RegistryError

router = APIRouter(prefix="/feedback", tags=["feedback"])
READ_ROLES = frozenset({Role.DATA_TEAM, Role.INSPECTOR, Role.SHIFT_LEAD, Role.ADMIN})


class BoxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_name: str = Field(min_length=1, max_length=64, description="one of the production model's classes")
    xyxy: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in the frame's pixels")


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: int = Field(ge=1, le=MAX_DB_INT)
    observation_id: int | None = Field(
        default=None, ge=1, le=MAX_DB_INT, description="default: the case's latest observation"
    )
    boxes: list[BoxIn] = Field(max_length=500, description="the frame's whole corrected label set; [] = nothing")


class FeedbackOut(BaseModel):
    id: int
    origin: str
    case_id: int | None
    observation_id: int | None
    source_id: str
    width: int
    height: int
    model_version: str
    verdict: str | None
    labelled: bool
    boxes: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    reason: str
    actor: str
    created_at: datetime
    image_url: str


def _out(row: Any) -> FeedbackOut:
    data = {k: getattr(row, k) for k in FeedbackOut.model_fields if k != "image_url"}
    return FeedbackOut(**data, image_url=f"/feedback/{row.id}/image")


def _model_classes(detectors: Registry) -> list[str] | None:
    try:
        return detectors.get("production").classes
    except RegistryError:
        return None


@router.post("/corrections", response_model=FeedbackOut, status_code=status.HTTP_201_CREATED)
def correct(
    body: CorrectionIn, actor: ActorDep, paths: PathsDep, detectors: DetectorsDep, store: FeedbackStoreDep
) -> FeedbackOut:
    """Correct what the model found on an evidence frame; the full frame and model version are kept."""
    row = store.correct(
        body.case_id,
        [Box(b.class_name, b.xyxy) for b in body.boxes],
        actor,
        paths.evidence,
        _model_classes(detectors),
        observation_id=body.observation_id,
    )
    return _out(row)


def _check_reader(scope: Scope) -> None:
    if scope.actor is not None and scope.actor.role not in READ_ROLES:
        raise PermissionDenied(f"feedback is read by roles {sorted(r.value for r in READ_ROLES)}")


@router.get("", response_model=list[FeedbackOut])
def list_feedback(
    store: FeedbackStoreDep,
    scope: ReadScopeDep,
    origin: Annotated[str | None, Query(pattern="^(verdict|correction|sample)$")] = None,
    labelled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FeedbackOut]:
    """Feedback frames, oldest first; a key bound to districts sees those of its districts' cases only."""
    _check_reader(scope)
    rows = store.list(origin=origin, labelled=labelled, limit=limit, visible_districts=scope.districts)
    return [_out(r) for r in rows]


@router.get("/{feedback_id}/image", response_class=FileResponse)
def feedback_image(
    feedback_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)], store: FeedbackStoreDep, scope: ReadScopeDep
) -> FileResponse:
    """The full frame (JPEG) as stored for training (403 outside the key's districts)."""
    _check_reader(scope)
    row = store.get(feedback_id)
    if scope.districts:
        if row.case_id is None:
            scope.check(None, f"feedback frame {feedback_id}")
        else:
            scope.case(row.case_id)
    path = store.image_path(row)
    if not path.is_file():
        raise FeedbackNotFound(f"feedback frame {feedback_id}: image file gone")
    return FileResponse(path, media_type="image/jpeg")
