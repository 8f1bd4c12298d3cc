"""Fuzzing: schemathesis generates requests for every operation of the app's OpenAPI spec; none may be a 5xx.

Bounded: `MAX_EXAMPLES` per operation, without a key (SQLite) and with an admin key (so the mutating routes get
past authentication; SQLite and PostgreSQL), against the real app seeded with cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cases.lifecycle import Role
from cityeye.app import build_app
from cityeye.config import AuthSettings, OpsSettings, Settings
from tests.api.conftest import TestClient
from tests.cases.factories import T0, make_event, north_of

MAX_EXAMPLES = 20
Fuzzed = tuple[TestClient, dict[str, str]]
schema = schemathesis.openapi.from_dict(build_app(Settings(data_dir=Path("unused"))).openapi())


def _app(backend: str, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    url = request.getfixturevalue("postgres").new_database() if backend == "postgres" else None
    settings = Settings(
        data_dir=tmp.mktemp(f"fuzz-{backend}"),
        database_url=url,
        auth=AuthSettings(open_read=False),
        ops=OpsSettings(auth_failures_per_min=100_000, uploads_per_min=100_000),
        lifecycle={"districts": {"center": (121.0, 31.0, 122.0, 32.0)}},
    )
    with TestClient(build_app(settings), raise_server_exceptions=False) as client:
        service = client.app.state.services.cases  # type: ignore[attr-defined]
        for i in range(6):
            service.ingest(make_event(geo=north_of(500 * i), start=T0 + timedelta(minutes=i)))
        token = client.app.state.services.api_keys.create("fuzz-admin", Role.ADMIN).token  # type: ignore[attr-defined]
        yield client, {"X-API-Key": token}


@pytest.fixture(scope="module")
def sqlite_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    yield from _app("sqlite", request, tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def any_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """SQLite, and PostgreSQL (which refuses what SQLite takes: NUL in text, integers above 2^31-1)."""
    yield from _app(request.param, request, tmp_path_factory)


def _call(client: TestClient, case: schemathesis.Case, headers: dict[str, str] | None) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    kwargs.pop("timeout", None)
    r = client.request(**kwargs)
    assert r.status_code < 500, f"{case.method} {case.formatted_path} -> {r.status_code}: {r.text[:500]}\n{kwargs}"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_without_a_key(case: schemathesis.Case, sqlite_app: Fuzzed) -> None:
    _call(sqlite_app[0], case, None)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_with_an_admin_key(case: schemathesis.Case, any_app: Fuzzed) -> None:
    _call(any_app[0], case, any_app[1])
