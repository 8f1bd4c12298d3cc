"""`cityeye scoring ...` (cityeye/commands/scoring.py) and the scoring jobs (cityeye/jobs/scoring.py)."""

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


def _case_store(data_dir, n=3):  # type: ignore[no-untyped-def]
    from cases.db import make_engine, migrate, session_factory
    from cases.service import CaseService
    from cityeye.config import Settings
    from models.taxonomy import load_taxonomy
    from tests.cases.factories import make_event, north_of

    settings = Settings(data_dir=data_dir)
    migrate(settings)
    engine = make_engine(settings)
    service = CaseService(session_factory(engine), settings, load_taxonomy())
    for i in range(n):
        service.ingest(make_event(geo=north_of(500 * i), source_id=f"cam-{i}"))
    return settings, engine


def test_fit_db_promote_rescore_and_forecast_save(tmp_path, capsys):
    import sqlalchemy as sa

    from cases.scoring.registry import ForecastStore, ScorerStore

    data = tmp_path / "data"
    d = ["--data-dir", str(data)]
    settings, engine = _case_store(data)
    assert main([*d, "scoring", "rescore"]) == 1
    assert "no production scorer" in capsys.readouterr().err
    assert main([*d, "scoring", "fit", "--db", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "fitted on 0 verdicts" in out and "promoted to production" in out and "3 open cases rescored" in out
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases WHERE p_confirmed IS NOT NULL")).scalar() == 3
    first = ScorerStore(data / "scorers").production()
    assert main([*d, "scoring", "fit", "--db", "--no-promote", "--threads", "1"]) == 0
    assert "saved as a candidate" in capsys.readouterr().out
    assert ScorerStore(data / "scorers").production() == first
    second = ScorerStore(data / "scorers").latest()
    assert main([*d, "scoring", "promote", str(second)]) == 0
    assert "3 open cases rescored" in capsys.readouterr().out
    assert main([*d, "scoring", "list"]) == 0
    listing = capsys.readouterr().out
    assert "production" in listing and "archived" in listing
    assert main([*d, "scoring", "promote", "no-such-version"]) == 1
    assert capsys.readouterr().err.startswith("cityeye: error:")

    hist = tmp_path / "city.jsonl"
    assert main([*d, "scoring", "simulate", "--days", "40", "--seed", "2", "--out", str(hist)]) == 0
    assert (
        main([*d, "scoring", "forecast", "--history", str(hist), "--horizon", "week", "--save", "--threads", "1"]) == 0
    )
    assert "GET /forecast serves it" in capsys.readouterr().out
    card = ForecastStore(data / "forecasts").latest("week")
    assert card is not None and card.cell_m == 250.0 and card.source == "history"
    engine.dispose()


def test_refit_is_a_periodic_task_and_rescore_skips_stale_versions(tmp_path):
    from cases.scoring.registry import ScorerStore
    from cityeye.config import ScoringSettings, Settings
    from cityeye.jobs import TASK_MODULES, make_celery, set_settings, shutdown_embedded
    from cityeye.jobs import scoring as tasks

    assert "scoring_refit" not in make_celery(Settings(data_dir=tmp_path)).conf.beat_schedule
    beat = make_celery(Settings(data_dir=tmp_path, scoring=ScoringSettings(refit_every_s=3600))).conf.beat_schedule
    assert beat["scoring_refit"] == {"task": "cityeye.scoring.refit", "schedule": 3600.0}
    assert "cityeye.jobs.scoring" in TASK_MODULES and (tasks.refit.name, tasks.rescore.name) == (
        "cityeye.scoring.refit",
        "cityeye.scoring.rescore",
    )

    settings, engine = _case_store(tmp_path / "data", n=2)
    set_settings(settings)
    try:
        result = tasks.refit()
        assert result["promoted"] and ScorerStore(settings.data_dir / "scorers").production() == result["version"]
        assert tasks.rescore(result["version"]) == 2
        assert tasks.rescore("an-older-version") == 0
    finally:
        shutdown_embedded()
        set_settings(None)
        engine.dispose()
