"""Fixtures of the operations tests: the real app with `ops` settings of the test's choosing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from cityeye.config import AuthSettings, OpsSettings, Settings
from tests.api.conftest import TestClient, build_app
from tests.cases.pg import postgres  # noqa: F401 (the session fixture: a throw-away PostgreSQL cluster)

AppFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(tmp_path: Path) -> AppFactory:
    """`with make_client(max_body_kb=1) as client:` — the real app on a fresh SQLite file with those ops settings."""

    @contextmanager
    def factory(settings: Settings | None = None, **ops: Any) -> Iterator[TestClient]:
        s = settings or Settings(data_dir=tmp_path / "data", auth=AuthSettings(open_read=False), ops=OpsSettings(**ops))
        with TestClient(build_app(s)) as client:
            yield client

    return factory
