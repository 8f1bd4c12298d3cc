from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

# Starlette 1.x wants `httpx2` for its TestClient and warns (as UserWarning) when it finds only httpx;
# the project pins httpx. Silence exactly that warning, only for this import (the module is then cached).
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

from api.main import create_app
from cases.service import CaseService
from cityeye.config import ApiSettings, Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api=ApiSettings(page_size_max=20))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app on a fresh SQLite file; entering the client runs the lifespan (migrations)."""
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def service(client: TestClient) -> CaseService:
    """The app's own case service, to ingest events the way the workers do."""
    svc: CaseService = client.app.state.case_service  # type: ignore[attr-defined]
    return svc
