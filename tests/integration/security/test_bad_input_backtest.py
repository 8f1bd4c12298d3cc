"""Hostile history files through `cityeye forecast backtest`: exit 1 with one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityeye.cli import main
from tests.integration.security.corpus import HISTORY


@pytest.mark.parametrize(("name", "filename", "content", "fmt", "message"), HISTORY, ids=[h[0] for h in HISTORY])
def test_bad_history_file_in_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, filename: str, content: bytes, fmt: str, message: str
) -> None:
    f = tmp_path / filename
    f.write_bytes(content)
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "forecast", "backtest", "--history", str(f), "--format", fmt, "--mapping",
            "boston311", "--from", "2011-09-01", "--to", "2011-09-30"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not data.exists() or not any(data.rglob("*.*"))
