from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from api.auth import ActorDep
from api.deps import ServiceDep
from api.schemas import (
    MAX_DB_INT,
    ActionBody,
    AuditPublic,
    CaseDetail,
    CaseList,
    CasePublic,
    DismissBody,
    DispatchBody,
    EvidencePublic,
    MergeBody,
    NoteBody,
    ObservationPublic,
    ReasonPublic,
    RegisterBody,
    ScorePublic,
    Timestamp,
    VerifyBody,
)
from api.scope import ReadScopeDep, Scope
from cases.errors import InvalidAction, InvalidFilter
from cases.lifecycle import Action, Actor, Verdict, is_overdue, urgency
from cases.orm import Case
from cases.scoring.live import score_parts
from cases.service import BBoxFilter, CaseService, Sort
from cases.status import CaseStatus

router = APIRouter(prefix="/cases", tags=["cases"])

MAX_OFFSET = 1_000_000_000
CaseId = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="case id")]
IfMatch = Annotated[str | None, Header(description='the case version you read, e.g. "3" (the ETag of GET /cases/{id})')]
CONFLICTS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the key's role or districts do not allow the action"},
    409: {"description": "illegal transition, or the case changed since you read it (stale version)"},
    428: {"description": "no version given (If-Match or `version`)"},
}


# ---- list and filters --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseFilters:
    category: str | None
    status: CaseStatus | None
    since: datetime | None
    until: datetime | None
    district: str | None
    bbox: BBoxFilter | None
    overdue: bool | None
    verdict: Verdict | None
    min_confidence: float | None
    min_score: float | None
    max_score: float | None
    sort: Sort


def _parse_bbox(bbox: str | None) -> BBoxFilter | None:
    if bbox is None:
        return None
    parts = bbox.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InvalidFilter("bbox", bbox, "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat")
    return (values[0], values[1], values[2], values[3])


def case_filters(
    category: Annotated[str | None, Query(description="taxonomy category key, e.g. 'garbage'")] = None,
    status: Annotated[CaseStatus | None, Query(description="lifecycle status")] = None,
    since: Annotated[Timestamp | None, Query(description="last_seen >= since (ISO 8601; naive = UTC)")] = None,
    until: Annotated[Timestamp | None, Query(description="last_seen < until (ISO 8601; naive = UTC)")] = None,
    district: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84)")] = None,
    overdue: Annotated[bool | None, Query(description="only cases past (true) or within (false) deadline")] = None,
    verdict: Annotated[Verdict | None, Query(description="inspector verdict")] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1, description="max_confidence >= this")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1, description="P(confirmed) >= this (scored cases)")] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1, description="P(confirmed) <= this (scored cases)")] = None,
    sort: Annotated[
        Sort, Query(description="last_seen (newest first), priority (P(confirmed) × severity × overdue), due")
    ] = "last_seen",
) -> CaseFilters:
    return CaseFilters(
        category,
        status,
        since,
        until,
        district,
        _parse_bbox(bbox),
        overdue,
        verdict,
        min_confidence,
        min_score,
        max_score,
        sort,
    )


FiltersDep = Annotated[CaseFilters, Depends(case_filters)]
Limit = Annotated[
    int | None, Query(ge=1, le=MAX_DB_INT, description="page size (default 50), at most api.page_size_max")
]


def to_public(case: Case, now: datetime) -> CasePublic:
    data = {name: getattr(case, name) for name in CasePublic.model_fields if hasattr(case, name)}
    data["overdue"] = is_overdue(case.due_at, now)
    score = case.score if case.score is not None else case.severity
    data["priority"] = round(score * urgency(case.due_at, now), 6)
    return CasePublic.model_validate(data)


Cursor = Annotated[str | None, Query(description="next_cursor of the previous page (sort=last_seen)")]


def _list(
    service: CaseService,
    scope: Scope,
    filters: CaseFilters,
    limit: int | None,
    offset: int,
    cursor: str | None = None,
) -> Any:
    return service.list_cases(
        **(asdict(filters) | {"district": scope.filter(filters.district)}),
        visible_districts=scope.districts,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )


@router.get("", response_model=CaseList)
def list_cases(
    service: ServiceDep,
    scope: ReadScopeDep,
    filters: FiltersDep,
    limit: Limit = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (deeper: use cursor)")] = 0,
    cursor: Cursor = None,
) -> CaseList:
    """Cases matching every filter; a key bound to districts sees only those. Page with `limit` and either
    `offset` or (sort=last_seen) `cursor` = the previous page's `next_cursor`, which stays stable while new
    cases arrive."""
    page = _list(service, scope, filters, limit, offset, cursor)
    now = service.now()
    return CaseList(
        items=[to_public(c, now) for c in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )


@router.get(
    ".geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}, "description": "a GeoJSON FeatureCollection"}},
)
def list_cases_geojson(
    service: ServiceDep,
    scope: ReadScopeDep,
    filters: FiltersDep,
    limit: Limit = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (deeper: use cursor)")] = 0,
    cursor: Cursor = None,
) -> JSONResponse:
    """The same list as GET /cases, as GeoJSON: one Point feature per case (geometry null without a position)."""
    page = _list(service, scope, filters, limit, offset, cursor)
    now = service.now()
    features = []
    for case in page.items:
        props = to_public(case, now).model_dump(mode="json")
        geometry = (
            {"type": "Point", "coordinates": [case.lon, case.lat]}
            if case.lat is not None and case.lon is not None
            else None
        )
        features.append({"type": "Feature", "id": case.id, "geometry": geometry, "properties": props})
    body = {
        "type": "FeatureCollection",
        "features": features,
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "next_cursor": page.next_cursor,
    }
    return JSONResponse(body, media_type="application/geo+json")


# ---- one case --------------------------------------------------------------------------------------------------
def _detail(
    service: CaseService, case_id: int, request: Request, response: Response, scope: Scope | None
) -> CaseDetail:
    """The case as GET /cases/{id} shows it; `scope` None: the caller's action was checked already."""
    record = service.get_case(case_id)
    if scope is not None:
        scope.check(record.case.district, f"case {case_id}")
    response.headers["ETag"] = f'"{record.case.version}"'
    now = service.now()
    base = to_public(record.case, now)
    return CaseDetail(
        **base.model_dump(),
        score=_score(record.case, service, now),
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
                    "url": None if e.pruned_at else str(request.url_for("get_case_evidence", case_id=case_id, n=e.n)),
                    "pruned_at": e.pruned_at,
                }
            )
            for e in record.evidence
        ],
        audit=[AuditPublic.model_validate(a) for a in record.audit],
    )


def _score(case: Case, service: CaseService, now: datetime) -> ScorePublic | None:
    parts = score_parts(case, service.taxonomy, now)
    if parts is None:
        return None
    return ScorePublic(
        **asdict(parts),
        reasons=[ReasonPublic.model_validate(r) for r in case.score_reasons or []],
        scorer_version=case.scorer_version,
        scored_at=case.scored_at,
    )


@router.get("/{case_id}", response_model=CaseDetail)
def get_case(
    case_id: CaseId, service: ServiceDep, request: Request, response: Response, scope: ReadScopeDep
) -> CaseDetail:
    """One case with its observations, evidence images and audit log. The ETag header is its version."""
    return _detail(service, case_id, request, response, scope)


@router.get(
    "/{case_id}/evidence/{n}",
    response_model=None,  # a file, not JSON: documented by `responses` below
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the evidence image"}},
)
def get_case_evidence(
    case_id: CaseId,
    n: Annotated[int, Path(ge=1, le=MAX_DB_INT, description="image index, from 1")],
    service: ServiceDep,
    scope: ReadScopeDep,
) -> FileResponse:
    """An evidence image of a case (403 outside the key's districts)."""
    scope.case(case_id)
    evidence = service.get_evidence(case_id, n)
    return FileResponse(
        evidence.path,
        media_type=evidence.content_type,
        filename=f"case-{case_id}-{n}-{evidence.kind}.jpg",
        content_disposition_type="inline",
    )


# ---- actions ---------------------------------------------------------------------------------------------------
def _version(body_version: int | None, if_match: str | None) -> int | None:
    """The expected version: the body's `version`, else the If-Match header (`"3"`, `W/"3"` or `3`)."""
    if body_version is not None or if_match is None:
        return body_version
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or int(value) > MAX_DB_INT:
        raise InvalidAction(f'If-Match must be a case version such as "3", got {if_match!r}')
    return int(value)


@dataclass(frozen=True)
class Caller:
    """Who acts, through which service, for which request: what every action route needs."""

    actor: Actor
    service: CaseService
    request: Request
    response: Response

    def detail(self, case_id: int) -> CaseDetail:
        """The case as GET /cases/{id} shows it (its version in the ETag header)."""
        return _detail(self.service, case_id, self.request, self.response, None)


def get_caller(actor: ActorDep, service: ServiceDep, request: Request, response: Response) -> Caller:
    return Caller(actor, service, request, response)


CallerDep = Annotated[Caller, Depends(get_caller)]


@dataclass(frozen=True)
class CaseAction:
    """An action on the case of the path; `if_match` is the version the caller read (None for notes)."""

    case_id: int
    caller: Caller
    if_match: str | None = None

    def __call__(self, action: Action, body: ActionBody | NoteBody, **kwargs: Any) -> CaseDetail:
        version = None if isinstance(body, NoteBody) else _version(body.version, self.if_match)
        self.caller.service.act(self.case_id, action, self.caller.actor, version=version, note=body.note, **kwargs)
        return self.caller.detail(self.case_id)


def case_note(case_id: CaseId, caller: CallerDep) -> CaseAction:
    """A note on the case of the path: no version needed."""
    return CaseAction(case_id, caller)


NoteDep = Annotated[CaseAction, Depends(case_note)]


def case_action(note: NoteDep, if_match: IfMatch = None) -> CaseAction:
    """A state-changing action on the case of the path, with the version from If-Match (or the body)."""
    return CaseAction(note.case_id, note.caller, if_match)


ActionDep = Annotated[CaseAction, Depends(case_action)]


@router.post("/{case_id}/register", response_model=CaseDetail, responses=CONFLICTS)
def register(body: RegisterBody, act: ActionDep) -> CaseDetail:
    """立案: accept a detected case (operator, shift_lead, admin); optionally set its district."""
    return act(Action.REGISTER, body, district=body.district)


@router.post("/{case_id}/dispatch", response_model=CaseDetail, responses=CONFLICTS)
def dispatch(body: DispatchBody, act: ActionDep) -> CaseDetail:
    """派遣: send a registered case to a department, or hand a dispatched one to another department
    (dispatcher, shift_lead, admin)."""
    return act(Action.DISPATCH, body, department=body.department)


@router.post("/{case_id}/handled", response_model=CaseDetail, responses=CONFLICTS)
def handled(body: ActionBody, act: ActionDep) -> CaseDetail:
    """处置: the department reports the problem handled (department, admin)."""
    return act(Action.HANDLED, body)


@router.post("/{case_id}/verify", response_model=CaseDetail, responses=CONFLICTS)
def verify(body: VerifyBody, act: ActionDep) -> CaseDetail:
    """核查: the inspector's verdict (inspector, shift_lead, admin). confirmed (on a handled case) → verified;
    false_positive or duplicate (on any open case before verified) → dismissed."""
    return act(Action.VERIFY, body, verdict=body.verdict)


@router.post("/{case_id}/close", response_model=CaseDetail, responses=CONFLICTS)
def close(body: ActionBody, act: ActionDep) -> CaseDetail:
    """结案: close a verified case (operator, shift_lead, admin)."""
    return act(Action.CLOSE, body)


@router.post("/{case_id}/dismiss", response_model=CaseDetail, responses=CONFLICTS)
def dismiss(body: DismissBody, act: ActionDep) -> CaseDetail:
    """作废: dismiss an open case, saying why (operator, shift_lead, admin)."""
    return act(Action.DISMISS, body)


@router.post("/{case_id}/notes", response_model=CaseDetail, responses=CONFLICTS)
def add_note(body: NoteBody, act: NoteDep) -> CaseDetail:
    """Add a note to the audit log (any role, any status); the case itself does not change."""
    return act(Action.NOTE, body)


@router.post("/merge", response_model=CaseDetail, responses=CONFLICTS)
def merge(body: MergeBody, caller: CallerDep, if_match: IfMatch = None) -> CaseDetail:
    """Merge `source_id` into `target_id` (one problem reported twice): the source's observations and evidence
    move to the target, the source is dismissed as a duplicate. Returns the target (operator, shift_lead, admin)."""
    caller.service.merge(
        body.source_id,
        body.target_id,
        caller.actor,
        version=_version(body.version, if_match),
        target_version=body.target_version,
        note=body.note,
    )
    return caller.detail(body.target_id)
