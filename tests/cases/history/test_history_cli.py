"""`cityeye history import | list | drop` end to end on project-made fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityeye.cli import main

FIX = Path(__file__).parent / "fixtures"


def test_import_list_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    args = ["--data-dir", data, "history", "import", str(FIX / "mycity.csv"), "--format", "csv"]
    assert main([*args, "--mapping", "csv-example", "--name", "mycity"]) == 0
    out = capsys.readouterr().out
    assert "7 rows read, 3 imported, 0 already there, 4 not imported" in out
    assert "1 unknown type" in out and "1 bad date" in out and "1 duplicate id" in out
    assert main([*args, "--mapping", "csv-example", "--name", "mycity"]) == 0
    assert "0 imported, 3 already there" in capsys.readouterr().out
    assert main(["--data-dir", data, "history", "list"]) == 0
    assert "history:mycity" in capsys.readouterr().out
    assert main(["--data-dir", data, "history", "drop", "mycity"]) == 0
    assert "3 records of history:mycity deleted" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mapping", "nope"], "shipped mappings"),
        (["--mapping", "boston311"], "needs `columns`"),
        (["--mapping", "csv-example", "--name", "Not OK"], "history name"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["--data-dir", str(tmp_path / "d"), "history", "import", str(FIX / "mycity.csv"), "--format", "csv"]
    assert main([*args, *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_mapping_with_unknown_category_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("name: m\ntypes: {Graffiti Removal: graffiti}\n")
    args = ["--data-dir", str(tmp_path / "d"), "history", "import", str(FIX / "boston311.csv.gz")]
    assert main([*args, "--format", "boston311", "--mapping", str(m)]) == 1
    assert "the taxonomy does not know" in capsys.readouterr().err
