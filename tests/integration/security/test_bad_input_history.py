"""Hostile history files: `cityeye history import` exits 1 with one line and imports nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityeye.cli import main
from tests.integration.security.corpus import HISTORY


@pytest.mark.parametrize(("name", "filename", "content", "fmt", "message"), HISTORY, ids=[h[0] for h in HISTORY])
def test_bad_history_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, filename: str, content: bytes, fmt: str, message: str
) -> None:
    f = tmp_path / filename
    f.write_bytes(content)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "history", "import", str(f), "--format", fmt, "--mapping", "boston311"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert main(["--data-dir", data, "history", "list"]) == 0
    assert "no history imported" in capsys.readouterr().out
