"""Test-wide setup: ultralytics offline in a throw-away data dir, and shared factories/fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports ultralytics: its settings, fonts and runs go to a temporary data dir.
_SESSION_DATA = Path(tempfile.mkdtemp(prefix="cityeye-test-"))
os.environ.pop("CITYEYE_CONFIG", None)
from models.offline import configure_ultralytics  # noqa: E402

configure_ultralytics(_SESSION_DATA)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def session_data_dir() -> Path:
    return _SESSION_DATA


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d
