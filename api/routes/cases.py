from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse

from api.deps import ServiceDep
from api.schemas import CaseDetail, CaseList, CasePublic, EvidencePublic, ObservationPublic
from cases.status import CaseStatus

router = APIRouter(prefix="/cases", tags=["cases"])

CaseId = Annotated[int, Path(ge=1, description="case id")]


@router.get("", response_model=CaseList)
def list_cases(
    service: ServiceDep,
    category: Annotated[str | None, Query(description="taxonomy category key, e.g. 'garbage'")] = None,
    status: Annotated[CaseStatus | None, Query(description="lifecycle status")] = None,
    since: Annotated[datetime | None, Query(description="last_seen >= since (ISO 8601; naive = UTC)")] = None,
    until: Annotated[datetime | None, Query(description="last_seen < until (ISO 8601; naive = UTC)")] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="page size (default 50), at most api.page_size_max")
    ] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    """Cases, newest `last_seen` first."""
    page = service.list_cases(
        category=category, status=status, since=since, until=until, limit=limit, offset=offset
    )
    return CaseList(
        items=[CasePublic.model_validate(c) for c in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{case_id}", response_model=CaseDetail)
def get_case(case_id: CaseId, service: ServiceDep, request: Request) -> CaseDetail:
    """One case with its observations and evidence images."""
    record = service.get_case(case_id)
    base = CasePublic.model_validate(record.case)
    return CaseDetail(
        **base.model_dump(),
        observations=[ObservationPublic.model_validate(o) for o in record.observations],
        evidence=[
            EvidencePublic.model_validate(
                {
                    "n": e.n,
                    "observation_id": e.observation_id,
                    "kind": e.kind,
                    "content_type": e.content_type,
                    "width": e.width,
                    "height": e.height,
                    "created_at": e.created_at,
                    "url": str(request.url_for("get_case_evidence", case_id=case_id, n=e.n)),
                }
            )
            for e in record.evidence
        ],
    )


@router.get(
    "/{case_id}/evidence/{n}",
    response_model=None,  # a file, not JSON: documented by `responses` below
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the evidence image"}},
)
def get_case_evidence(
    case_id: CaseId, n: Annotated[int, Path(ge=1, description="image index, from 1")], service: ServiceDep
) -> FileResponse:
    """An evidence image of a case."""
    evidence = service.get_evidence(case_id, n)
    return FileResponse(
        evidence.path,
        media_type=evidence.content_type,
        filename=f"case-{case_id}-{n}-{evidence.kind}.jpg",
        content_disposition_type="inline",
    )
