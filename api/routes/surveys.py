"""Drone surveys: create one, upload its files (streamed), start processing, poll progress, read the report.

    POST /surveys                      {area, name, flight}            → 201 survey
    POST /surveys/{id}/files           multipart/form-data, files      → 201 stored files (duplicate: re-upload)
    POST /surveys/{id}/process                                         → 202 survey (queued; a Celery task)
    GET  /surveys/{id}                                                 → progress, per-file status and errors
    GET  /surveys/{id}/report                                          → findings GeoJSON + report assets
    GET  /surveys/{id}/report/{asset}                                  → index.html, overview.jpg, annotated/N.jpg …

Writing needs a key of an inspector, operator, shift lead or admin; reading follows `auth.open_read`.
"""

from __future__ import annotations

import json
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.deps import JobsDep, PathsDep, SettingsDep, SurveyStoreDep
from api.schemas import (
    MAX_DB_INT,
    SurveyBody,
    SurveyDetail,
    SurveyFilePublic,
    SurveyPublic,
    SurveyReport,
    UploadedFile,
)
from api.scope import ReadScopeDep, Scope, WriteScopeDep
from api.uploads import receive_files
from cases.errors import SurveyNotFound, SurveyNotReady
from cases.orm import Survey
from cases.surveys import SURVEY_ROLES, SurveyStore, check_role
from cases.uploads import UploadWriter
from inference.survey.report import geojson
from models.datadir import DataDir

router = APIRouter(prefix="/surveys", tags=["surveys"])
SurveyId = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="survey id")]
PROCESS_JOB = "cityeye.surveys.process"  # the background job that processes a survey (by id)
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".jpg": "image/jpeg", ".geojson": "application/geo+json"}


@router.post("", response_model=SurveyPublic, status_code=status.HTTP_201_CREATED)
def create_survey(body: SurveyBody, store: SurveyStoreDep, scope: WriteScopeDep) -> SurveyPublic:
    """A new survey of an area (in the key's district); upload its files next."""
    actor = scope.actor
    check_role(actor, SURVEY_ROLES, "creating a survey")
    district = scope.assign(body.district)
    flight = body.flight.model_dump(mode="json", exclude_none=True)
    row = store.create(body.area, body.name, flight, actor.name if actor else "", district=district)
    return SurveyPublic.model_validate(row)


def _survey(store: SurveyStore, scope: Scope, survey_id: int) -> Survey:
    """The survey, checked against the caller's districts (404 / 403)."""
    survey = store.get(survey_id)
    scope.check(survey.district, f"survey {survey_id}")
    return survey


@router.get("", response_model=list[SurveyPublic])
def list_surveys(
    store: SurveyStoreDep, scope: ReadScopeDep, area: Annotated[str | None, Query(max_length=128)] = None
) -> list[SurveyPublic]:
    """The latest 100 surveys (of one area) of the key's districts."""
    return [SurveyPublic.model_validate(s) for s in store.recent(area, visible_districts=scope.districts)]


@router.post("/{survey_id}/files", response_model=list[UploadedFile], status_code=status.HTTP_201_CREATED)
async def upload_files(
    survey_id: SurveyId,
    request: Request,
    store: SurveyStoreDep,
    settings: SettingsDep,
    paths: PathsDep,
    scope: WriteScopeDep,
) -> list[UploadedFile]:
    """Streamed multipart upload of JPEG / PNG / TIFF / GeoTIFF / MP4 files, flight logs (.srt/.csv) or zips of
    them. The type is sniffed from the content; re-uploading the same content is a no-op (`duplicate: true`)."""
    check_role(scope.actor, SURVEY_ROLES, "uploading survey files")
    survey = await run_in_threadpool(_survey, store, scope, survey_id)
    if survey.status in {"queued", "processing"}:
        raise SurveyNotReady(f"survey {survey_id} is {survey.status}; upload when it has finished")
    stored = await receive_files(request, lambda name: UploadWriter(paths.root, survey_id, name, settings.survey))
    out: list[UploadedFile] = []
    for f in stored:
        rel = str(f.path.relative_to(paths.root.resolve()))
        row, created = await run_in_threadpool(store.add_file, survey_id, f.name, f.sha256, f.size, f.kind, rel)
        out.append(
            UploadedFile.model_validate({**SurveyFilePublic.model_validate(row).model_dump(), "duplicate": not created})
        )
    return out


@router.post("/{survey_id}/process", response_model=SurveyPublic, status_code=status.HTTP_202_ACCEPTED)
def process(
    survey_id: SurveyId,
    store: SurveyStoreDep,
    jobs: JobsDep,
    scope: WriteScopeDep,
    force: Annotated[bool, Query(description="re-queue even if it looks queued/processing (its process died)")] = False,
) -> SurveyPublic:
    """Queue the survey for processing (a Celery task; in embedded mode a thread of this process). Poll
    `GET /surveys/{id}` for progress. A survey that is queued or processing already is left as it is, unless
    `force`: processing is idempotent (same event ids, findings replaced), so a second run only repeats work."""
    check_role(scope.actor, SURVEY_ROLES, "processing a survey")
    _survey(store, scope, survey_id)
    if store.claim(survey_id, force=force):
        jobs.submit(PROCESS_JOB, survey_id)
    return SurveyPublic.model_validate(store.get(survey_id))


@router.get("/{survey_id}", response_model=SurveyDetail)
def get_survey(survey_id: SurveyId, store: SurveyStoreDep, scope: ReadScopeDep) -> SurveyDetail:
    """The survey with its progress (percent, current file) and each file's status and error."""
    survey = _survey(store, scope, survey_id)
    files = store.files(survey_id)
    return SurveyDetail.model_validate(
        {
            **SurveyPublic.model_validate(survey).model_dump(),
            "files": [SurveyFilePublic.model_validate(f) for f in files],
            "file_errors": {f.name: f.error for f in files if f.error},
        }
    )


def _report_dir(paths: DataDir, survey_id: int) -> FsPath:
    return paths.survey_report(survey_id).resolve()


@router.get("/{survey_id}/report", response_model=SurveyReport)
def report(survey_id: SurveyId, store: SurveyStoreDep, paths: PathsDep, scope: ReadScopeDep) -> SurveyReport:
    """The findings as GeoJSON and the list of report files (HTML summary, overview, annotated images)."""
    survey = _survey(store, scope, survey_id)
    if survey.status != "done":
        raise SurveyNotReady(f"survey {survey_id} has no report yet (status {survey.status})")
    names = {f.id: f.name for f in store.files(survey_id)}
    root = _report_dir(paths, survey_id)
    assets = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    return SurveyReport(
        survey=SurveyPublic.model_validate(survey),
        findings=json.loads(json.dumps(geojson(survey, store.findings(survey_id), names))),
        assets=assets,
    )


@router.get("/{survey_id}/report/{asset:path}", response_class=FileResponse)
def report_asset(
    survey_id: SurveyId, asset: str, store: SurveyStoreDep, paths: PathsDep, scope: ReadScopeDep
) -> FileResponse:
    """One report file: `index.html`, `overview.jpg`, `findings.geojson`, `annotated/<file id>.jpg`."""
    _survey(store, scope, survey_id)
    root = _report_dir(paths, survey_id)
    target = (root / asset).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix not in REPORT_TYPES:
        raise SurveyNotFound(survey_id) from None
    return FileResponse(target, media_type=REPORT_TYPES[target.suffix])
