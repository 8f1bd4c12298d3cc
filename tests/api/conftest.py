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

from cases.auth import ApiKeys
from cases.lifecycle import Role
from cases.service import CaseService
from cityeye.app import build_app
from cityeye.config import ApiSettings, AuthSettings, Settings
from tests.cases.pg import postgres  # noqa: F401 (the session fixture: a throw-away PostgreSQL cluster)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api=ApiSettings(page_size_max=20), auth=AuthSettings(open_read=False))


def on_both_backends(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """`settings` on a fresh SQLite file and on a fresh database of a real PostgreSQL (the case API's modules
    use it as their `settings` fixture: `settings = pytest.fixture(params=BACKENDS, name="settings")(...)`)."""
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgres" else None
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        api=ApiSettings(page_size_max=20),
        auth=AuthSettings(open_read=False),
    )


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app on a fresh SQLite file; entering the client runs the lifespan (migrations).

    It sends a read-only (data_team) key by default; `keys` makes keys of other roles.
    """
    with TestClient(build_app(settings)) as c:
        api_keys: ApiKeys = c.app.state.services.api_keys  # type: ignore[attr-defined]
        c.headers["X-API-Key"] = api_keys.create("reader", Role.DATA_TEAM).token
        yield c


class Keys:
    """API keys by role, made on first use: `keys[Role.DISPATCHER]` is a header dict for that role."""

    def __init__(self, store: ApiKeys):
        self.store = store
        self._made: dict[str, dict[str, str]] = {}

    def __getitem__(self, role: Role | str) -> dict[str, str]:
        role = Role(role)
        if role.value not in self._made:
            token = self.store.create(f"{role.value}-1", role).token
            self._made[role.value] = {"Authorization": f"Bearer {token}"}
        return self._made[role.value]


@pytest.fixture
def keys(client: TestClient) -> Keys:
    return Keys(client.app.state.services.api_keys)  # type: ignore[attr-defined]


@pytest.fixture
def service(client: TestClient) -> CaseService:
    """The app's own case service, to ingest events the way the workers do."""
    svc: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
    return svc
