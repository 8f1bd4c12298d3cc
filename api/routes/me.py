"""`GET /me`: who the API key is and what it may do, so a client (the console) shows only what the role allows.

The permissions come from the same tables the server enforces (`cases.lifecycle.PERMISSIONS`,
`api.routes.models.PROMOTE_ROLES`, `api.routes.cameras.WRITE_ROLES`, `cases.surveys.SURVEY_ROLES`,
`api.routes.reports.REPORT_ROLES`); the server still checks every action.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import ReaderDep
from api.routes.cameras import WRITE_ROLES as CAMERA_ROLES
from api.routes.models import PROMOTE_ROLES
from api.routes.reports import REPORT_ROLES
from api.schemas import MePublic
from cases.lifecycle import PERMISSIONS, TRANSITIONS, Action
from cases.status import CaseStatus
from cases.surveys import SURVEY_ROLES

router = APIRouter(tags=["auth"])


@router.get("/me", response_model=MePublic)
def me(reader: ReaderDep) -> MePublic:
    """The caller's key name, role, districts and allowed actions; without a key (where reads are open) no role
    and no actions. 401 for a wrong key, or no key where reads need one."""
    if reader is None:
        return MePublic(name=None, role=None)
    actions = [a for a in Action if reader.role in PERMISSIONS[a]]
    return MePublic(
        name=reader.name,
        role=reader.role,
        districts=list(reader.districts),
        actions=actions,
        action_from={a: [s for s in CaseStatus if s in TRANSITIONS[a][0]] for a in actions},
        model_actions=["promote", "rollback"] if reader.role in PROMOTE_ROLES else [],
        camera_actions=["edit"] if reader.role in CAMERA_ROLES else [],
        survey_actions=["upload"] if reader.role in SURVEY_ROLES else [],
        report_actions=["report"] if reader.role in REPORT_ROLES else [],
    )
