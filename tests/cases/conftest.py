from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cases.db import make_engine, migrate, session_factory
from cases.service import CaseService
from cityeye.config import Settings
from models.taxonomy import load_taxonomy
from tests.cases.factories import Clock
from tests.cases.pg import PostgresCluster, postgres  # noqa: F401 (the session fixture)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The store on a fresh SQLite file, and on a fresh database of a real PostgreSQL cluster."""
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        return Settings(data_dir=tmp_path / "data", database_url=cluster.new_database())
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    migrate(settings)
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, settings: Settings, clock: Clock) -> CaseService:
    return CaseService(session_factory(engine), settings, load_taxonomy(), clock=clock)
