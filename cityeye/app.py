"""The API app of the service: `api.main.create_app` over this process's `Runtime`.

`build_app(settings)` is what `cityeye serve`, `uvicorn --factory cityeye.app:build_app` and the tests use. The
runtime is built when the app starts (database migrations, the webhook thread) and closed when it stops, so
building the app alone (e.g. for its OpenAPI document) touches no database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

import cityeye
from api.main import create_app
from cityeye import jobs
from cityeye.config import Settings, load_settings
from cityeye.runtime import Runtime


@contextmanager
def serving(settings: Settings) -> Iterator[Runtime]:
    """The runtime of an API process for `settings`, while the app runs; background jobs of this process (embedded
    mode) use the same settings and runtime, and the running ones finish before the database is let go."""
    jobs.set_settings(settings)
    with Runtime.from_settings(settings) as runtime:
        jobs.use_runtime(runtime)
        try:
            yield runtime
        finally:
            jobs.shutdown_embedded(wait=True)
            jobs.use_runtime(None)


def build_app(settings: Settings | None = None) -> FastAPI:
    """The API app for `settings` (default: env vars / $CITYEYE_CONFIG)."""
    settings = settings if settings is not None else load_settings()
    return create_app(lambda: serving(settings), config=settings, version=cityeye.__version__)
