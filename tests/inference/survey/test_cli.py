"""`cityeye survey run PATH --area NAME`: local files → survey → findings, cases, report; bad files fail alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityeye.cli import main
from datasets.synthetic import generate_scene
from tests.inference.survey.factories import blue_roof, noisy, utm_origin, write_drone_photo, write_geotiff


def test_survey_run_processes_a_folder_with_a_progress_bar(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "flight"
    folder.mkdir()
    write_drone_photo(folder / "DJI_0001.JPG", generate_scene("aerial", seed=2, size=(800, 600)).image)
    (folder / "DJI_0002.JPG").write_bytes((folder / "DJI_0001.JPG").read_bytes()[:5000])  # truncated
    (folder / "notes.txt").write_text("not media")
    data = str(tmp_path / "data")
    env = {"CITYEYE_DETECTOR__MODEL": str(tiny_model)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        rc = main(["--data-dir", data, "survey", "run", str(folder), "--area", "jingan-2"])
    out, err = capsys.readouterr()
    assert rc == 1  # two files were bad
    assert "cityeye: error: DJI_0002.JPG:" in err and "truncated" in err
    assert "notes.txt: unsupported content" in err
    assert "survey 1 (jingan-2): 2 files, 2 with errors" in out
    assert "100%" in err  # the progress bar (tqdm writes to stderr)
    assert (tmp_path / "data" / "surveys" / "1" / "report" / "index.html").is_file()


def test_survey_run_finds_a_new_structure_between_two_orthos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = generate_scene("aerial", seed=4, size=(800, 600)).image
    x0, y0 = utm_origin()
    may = write_geotiff(tmp_path / "may.tif", noisy(scene, 1), x0, y0, 0.1)
    june = write_geotiff(tmp_path / "june.tif", noisy(blue_roof(scene, 300, 250, 80, 60), 2), x0, y0, 0.1)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "survey", "run", str(may), "--area", "a", "--quiet"]) == 0
    assert main(["--data-dir", data, "survey", "run", str(june), "--area", "a", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 new structures, 0 permitted), 1 new cases" in out


def test_survey_run_on_a_missing_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path / "d"), "survey", "run", str(tmp_path / "nope"), "--area", "a"]) == 1
    assert capsys.readouterr().err.strip() == f"cityeye: error: {tmp_path / 'nope'}: no such file or directory"
