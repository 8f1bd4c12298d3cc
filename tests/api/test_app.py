"""`api.main.create_app` over services it is given: the caller's runtime (kept open), or a factory (opened at
startup, closed at shutdown); building the app touches no database."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest

from api.main import create_app
from cityeye.app import build_app
from cityeye.config import Settings
from cityeye.runtime import Runtime
from tests.api.conftest import TestClient


def test_an_app_over_the_callers_runtime_leaves_it_open(tmp_path: Path) -> None:
    with Runtime.from_settings(Settings(data_dir=tmp_path / "data"), webhooks="off") as runtime:
        with TestClient(create_app(runtime, version="9.9")) as client:
            assert client.app.state.services is runtime  # type: ignore[attr-defined]
            assert client.get("/health").json() == {"status": "ok", "version": "9.9", "database": "ok"}
        assert runtime.cases.ping()  # the app's shutdown did not close what it was given


def test_a_factory_is_opened_at_startup_and_closed_at_shutdown(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    app = build_app(settings)
    assert not (tmp_path / "data").exists()  # building the app (and its OpenAPI document) touches nothing
    assert "/cases" in app.openapi()["paths"]
    with TestClient(app) as client:
        runtime = client.app.state.services  # type: ignore[attr-defined]
        assert client.get("/cases").status_code in (200, 401)
    assert runtime._closed


def test_a_factory_needs_the_config_the_app_is_wired_from(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="config="):
        create_app(lambda: nullcontext(Runtime.from_settings(Settings(data_dir=tmp_path))))
