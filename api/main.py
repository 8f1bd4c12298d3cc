"""The FastAPI app: wires the routers, the operations middleware and the error mapping (`api.errors`).

It builds no service: `create_app` receives the process's services (`api.deps.Services`, the shell's
`cityeye.runtime.Runtime`), or a function that opens them for the app's lifetime. `cityeye.app.build_app(settings)`
does the latter (`uvicorn --factory cityeye.app:build_app`). The API never loads a model: it reads the case store.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from typing import cast

from fastapi import FastAPI

from api.deps import ApiConfig, Services
from api.errors import add_error_handlers
from api.limits import failure_window
from api.middleware import OpsMiddleware
from api.routes import (
    cameras,
    cases,
    console,
    docs,
    feedback,
    forecast,
    handled,
    health,
    me,
    models,
    open311,
    open311_post,
    permits,
    report_status,
    reports,
    surveys,
    taxonomy,
)

ServicesFactory = Callable[[], AbstractContextManager[Services]]
ROUTERS = (
    health,
    cases,
    handled,
    open311,
    open311_post,
    me,
    taxonomy,
    models,
    cameras,
    surveys,
    permits,
    forecast,
    feedback,
    reports,
)


def create_app(
    services: Services | ServicesFactory, *, config: ApiConfig | None = None, version: str | None = None
) -> FastAPI:
    """The API over `services`.

    `services`: the process's services (their owner closes them), or a function that opens them for the app's
    lifetime (entered at startup, exited at shutdown; building the app then touches no database).
    `config`: the settings the app is wired from before it starts (limits, the console); default
    `services.settings`, and needed when `services` is a function. `version`: the service's version in the
    OpenAPI document and the probes (default: the installed cityeye distribution's).
    """
    if config is None:
        if callable(services):
            raise TypeError("create_app: pass config= when services is a function that opens them")
        config = services.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            opened = stack.enter_context(services()) if callable(services) else cast(Services, services)
            app.state.services = opened
            yield

    app = FastAPI(
        title="cityeye",
        version=version or _distribution_version(),
        summary="City-management cases found by street cameras and drone surveys",
        lifespan=lifespan,
        openapi_url=None,  # served by api.routes.docs: behind a key once keys exist, pages from vendored files
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = config
    app.state.citizen_limits = open311_post.CitizenLimits(config.open311)
    app.state.auth_failures = failure_window(
        config.ops.auth_failures_per_min, config.redis_url, config.ops.outbound_timeout_s
    )
    app.add_middleware(OpsMiddleware, settings=config.ops)
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(docs.router)
    app.mount("/docs/assets", docs.DocsFiles(config), name="docs-assets")
    if config.console.enabled:
        app.state.districts = console.load_districts(config)  # a bad districts file fails here, at start
        app.include_router(console.router)
        app.include_router(report_status.router)  # before the static mount, which would take /console/report/
        app.mount("/console", console.ConsoleFiles(config), name="console")
    add_error_handlers(app)
    return app


def _distribution_version() -> str:
    try:
        return importlib.metadata.version("cityeye")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
