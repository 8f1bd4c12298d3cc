"""The FastAPI app: wires settings, the case service, the routers and the domain-error → HTTP mapping.

Run with `uvicorn --factory api.main:create_app`. The API never loads a model: it reads the case store.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import cityeye
from api.middleware import OpsMiddleware
from api.routes import (
    cameras,
    cases,
    console,
    feedback,
    forecast,
    health,
    me,
    models,
    open311,
    permits,
    reports,
    surveys,
    taxonomy,
)
from cases.auth import ApiKeys
from cases.db import make_engine, migrate, session_factory
from cases.errors import (
    AuthError,
    CaseNotFound,
    EvidenceNotFound,
    IllegalTransition,
    InvalidAction,
    InvalidEvent,
    InvalidFilter,
    PermissionDenied,
    VersionConflict,
    VersionRequired,
)
from cases.service import CaseService
from cases.surveys import SurveyNotFound, SurveyStore
from cases.tasks import wire_webhooks
from cases.uploads import UploadRejected
from cityeye.config import Settings, load_settings
from models.taxonomy import load_taxonomy


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app for `settings` (default: env vars / $CITYEYE_CONFIG). Migrates the database on startup."""
    settings = settings if settings is not None else load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from cityeye import tasks

        tasks.set_settings(settings)  # background tasks (surveys) of this process use the app's settings
        engine = make_engine(settings)
        try:
            migrate(settings, engine)
            taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
            sessions = session_factory(engine)
            app.state.case_service = CaseService(sessions, settings, taxonomy)
            app.state.api_keys = ApiKeys(sessions)
            app.state.survey_store = SurveyStore(sessions)
            # webhooks: a thread of this process (embedded) or Celery workers (scale-out, redis_url set)
            deliverer = wire_webhooks(app.state.case_service, settings)
            app.state.webhooks = deliverer
            try:
                yield
            finally:
                if deliverer is not None:
                    deliverer.stop()
                tasks.shutdown_embedded(wait=True)  # embedded mode: let running tasks finish with the database
        finally:
            engine.dispose()

    app = FastAPI(
        title="cityeye",
        version=cityeye.__version__,
        summary="City-management cases found by street cameras and drone surveys",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(OpsMiddleware, settings=settings.ops)
    app.include_router(health.router)
    app.include_router(cases.router)
    app.include_router(open311.router)
    app.include_router(me.router)
    app.include_router(taxonomy.router)
    app.include_router(models.router)
    app.include_router(cameras.router)
    app.include_router(surveys.router)
    app.include_router(permits.router)
    app.include_router(forecast.router)
    app.include_router(feedback.router)
    app.include_router(reports.router)
    if settings.console.enabled:
        app.state.districts = console.load_districts(settings)  # a bad districts file fails here, at start
        app.include_router(console.router)
        app.mount("/console", console.ConsoleFiles(settings), name="console")
    _add_exception_handlers(app)
    return app


def _add_exception_handlers(app: FastAPI) -> None:
    """Domain errors → HTTP errors, in this one place."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, except that a NaN or Infinity the client sent (Python's JSON reads them) is echoed
        # as text: JSON cannot hold it, and rendering it raised (a 500)
        detail = _json_safe(jsonable_encoder(exc.errors()))
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})

    @app.exception_handler(CaseNotFound)
    async def case_not_found(_request: Request, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(exc)})

    @app.exception_handler(EvidenceNotFound)
    async def evidence_not_found(_request: Request, exc: EvidenceNotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(exc)})

    @app.exception_handler(SurveyNotFound)
    async def survey_not_found(_request: Request, exc: SurveyNotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(exc)})

    @app.exception_handler(UploadRejected)
    async def upload_rejected(_request: Request, exc: UploadRejected) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": str(exc)})

    def detail(code: int, exc: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)}, headers=headers)

    @app.exception_handler(AuthError)
    async def auth_error(_request: Request, exc: AuthError) -> JSONResponse:
        return detail(status.HTTP_401_UNAUTHORIZED, exc, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PermissionDenied)
    async def permission_denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return detail(status.HTTP_403_FORBIDDEN, exc)

    @app.exception_handler(IllegalTransition)
    async def illegal_transition(_request: Request, exc: IllegalTransition) -> JSONResponse:
        return detail(status.HTTP_409_CONFLICT, exc)

    @app.exception_handler(VersionConflict)
    async def version_conflict(_request: Request, exc: VersionConflict) -> JSONResponse:
        headers = {"ETag": f'"{exc.actual}"'} if exc.actual is not None else None
        return detail(status.HTTP_409_CONFLICT, exc, headers)

    @app.exception_handler(VersionRequired)
    async def version_required(_request: Request, exc: VersionRequired) -> JSONResponse:
        return detail(status.HTTP_428_PRECONDITION_REQUIRED, exc)

    @app.exception_handler(InvalidAction)
    async def invalid_action(_request: Request, exc: InvalidAction) -> JSONResponse:
        return detail(status.HTTP_422_UNPROCESSABLE_CONTENT, exc)

    @app.exception_handler(InvalidEvent)
    async def invalid_event(_request: Request, exc: InvalidEvent) -> JSONResponse:
        return detail(status.HTTP_422_UNPROCESSABLE_CONTENT, exc)

    @app.exception_handler(InvalidFilter)
    async def invalid_filter(_request: Request, exc: InvalidFilter) -> JSONResponse:
        # Same shape as FastAPI's own validation errors, so clients handle one format.
        detail = [{"type": "value_error", "loc": ["query", exc.field], "msg": exc.message, "input": exc.value}]
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content=jsonable_encoder({"detail": detail})
        )


def _json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by its text ('nan', 'inf')."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
