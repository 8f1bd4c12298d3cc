"""The FastAPI app: wires settings, the case service, the routers and the error mapping (`api.errors`).

Run with `uvicorn --factory api.main:create_app`. The API never loads a model: it reads the case store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import cityeye
from api.errors import add_error_handlers
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
from cases.service import CaseService
from cases.surveys import SurveyStore
from cases.tasks import wire_webhooks
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
    add_error_handlers(app)
    return app
