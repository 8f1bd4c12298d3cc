from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cases.db import make_engine, migrate, session_factory
from cases.service import CaseService
from cityeye.config import Settings
from models.taxonomy import load_taxonomy

from .factories import Clock


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
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
