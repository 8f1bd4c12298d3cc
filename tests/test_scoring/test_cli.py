from __future__ import annotations

import json

from cityeye.cli import main


def test_simulate_fit_list_score_forecast(tmp_path, capsys):
    hist = tmp_path / "city.jsonl"
    d = ["--data-dir", str(tmp_path / "data")]
    assert main([*d, "scoring", "simulate", "--days", "40", "--seed", "2", "--out", str(hist)]) == 0
    assert main([*d, "scoring", "fit", "--history", str(hist), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "saved to" in out
    assert main([*d, "scoring", "list"]) == 0
    assert "learned" in capsys.readouterr().out
    assert main([*d, "scoring", "score", "--history", str(hist), "--top", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "priority" in out and "    - " in out
    geo = tmp_path / "cells.geojson"
    assert main([*d, "scoring", "forecast", "--history", str(hist), "--cell-m", "500", "--out", str(geo),
                 "--threads", "1"]) == 0  # fmt: skip
    assert json.loads(geo.read_text())["type"] == "FeatureCollection"


def test_bad_scorer_is_one_line_error(tmp_path, capsys):
    hist = tmp_path / "city.jsonl"
    d = ["--data-dir", str(tmp_path / "data")]
    assert main([*d, "scoring", "simulate", "--days", "5", "--out", str(hist)]) == 0
    (tmp_path / "data" / "scorers" / "v1").mkdir(parents=True)
    (tmp_path / "data" / "scorers" / "v1" / "card.json").write_text("{}")
    assert main([*d, "scoring", "score", "--history", str(hist), "--version", "v1"]) == 1
    assert "unreadable scorer card" in capsys.readouterr().err
