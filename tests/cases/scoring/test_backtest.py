"""The forecast back-test (cases/scoring/backtest.py): PAI on hand-made cases, no look-ahead, the CLI."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cases.scoring.backtest import BASELINES, BacktestConfig, hot_hits, pai, run_backtest
from cases.scoring.errors import ScoringError

FIRST = date(2011, 1, 3)


@dataclass(frozen=True)
class Row:
    opened_at: datetime
    lat: float
    lon: float
    outcome: str | None = None


def _city(days: int = 600, seed: int = 3) -> list[Row]:
    """A 6 × 6 km town: a few persistent hot spots, a weekly and a yearly cycle, Poisson counts per ~500 m spot."""
    rng = np.random.default_rng(seed)
    spots = [(41.85 + 0.0045 * i, -87.70 + 0.006 * j) for i in range(12) for j in range(12)]
    rates = rng.lognormal(-3.5, 1.2, len(spots))
    rows = []
    for d in range(days):
        season = 1 + 0.5 * np.sin(2 * np.pi * d / 365)
        for (lat, lon), r in zip(spots, rates, strict=True):
            for _ in range(rng.poisson(r * season)):
                t = datetime.combine(FIRST + timedelta(days=d), datetime.min.time(), UTC) + timedelta(hours=6)
                rows.append(Row(t, lat + rng.normal(0, 0.0005), lon + rng.normal(0, 0.0005)))
    return rows


def test_hot_hits_counts_the_top_cells():
    mu = np.array([3.0, 2.0, 1.0, 0.0])
    y = np.array([1.0, 0.0, 5.0, 2.0])
    assert hot_hits(mu, y, 1) == 1.0
    assert hot_hits(mu, y, 2) == 1.0
    assert hot_hits(mu, y, 3) == 6.0
    assert hot_hits(mu, y, 4) == 8.0


def test_hot_hits_shares_tied_slots():
    # three cells tied for one slot: each is in the top with probability 1/3
    assert hot_hits(np.array([1.0, 1.0, 1.0, 0.0]), np.array([3.0, 0.0, 0.0, 1.0]), 1) == pytest.approx(1.0)
    # one cell above, two tied for the remaining slot
    assert hot_hits(np.array([5.0, 1.0, 1.0, 0.0]), np.array([2.0, 4.0, 0.0, 9.0]), 2) == pytest.approx(4.0)
    # an all-zero forecast catches the area share of the complaints on average
    assert hot_hits(np.zeros(10), np.arange(10.0), 2) == pytest.approx(45 * 2 / 10)


def test_pai_is_hit_rate_over_area_share():
    # 2 of 100 cells flagged catch 30 of 60 complaints: hit rate 0.5, area share 0.02, PAI 25
    mu = np.zeros(100)
    mu[[7, 42]] = 1.0
    y = np.zeros(100)
    y[7], y[42], y[3] = 10, 20, 30
    rate = hot_hits(mu, y, 2) / y.sum()
    assert rate == 0.5
    assert pai(rate, 2 / 100) == pytest.approx(25.0)
    with pytest.raises(ScoringError):
        pai(0.5, 0.0)


def _config(**kw: object) -> BacktestConfig:
    base = dict(start=FIRST + timedelta(days=420), end=FIRST + timedelta(days=420 + 8 * 7 - 1), cell_m=500.0,
                top=0.05, refit_days=28, train_days=182)  # fmt: skip
    return BacktestConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_a_row_after_an_origin_changes_nothing_at_or_before_it():
    rows = _city()
    cfg = _config()
    base = run_backtest(rows, cfg, keep_predictions=True)
    assert len(base.origins) == 8 and base.fits == 2
    cut = base.origins[4]  # the 5th origin; the models were refitted at the 5th (28 days after the 1st)
    busy = max(rows, key=lambda r: sum(abs(r.lat - q.lat) < 1e-3 and abs(r.lon - q.lon) < 1e-3 for q in rows[:500]))
    at = datetime.combine(cut, datetime.min.time(), UTC) + timedelta(hours=1)
    extra = [Row(at + timedelta(days=i % 3), busy.lat, busy.lon) for i in range(30)]  # in the 5th period
    far = [Row(at + timedelta(days=1), 41.7, -87.9)]  # outside the grid: must not move it
    moved = run_backtest(rows + extra + far, cfg, keep_predictions=True)
    assert moved.origins == base.origins and moved.grid_cells == base.grid_cells
    for origin in base.origins[:5]:
        for name, mu in base.predictions[origin].items():
            assert np.array_equal(mu, moved.predictions[origin][name]), (origin, name)
    # ... and it is seen after: the 6th origin's baselines and models move
    later = base.origins[5]
    for name in (*cfg.models, "last 28 days", "last 365 days"):
        assert not np.array_equal(base.predictions[later][name], moved.predictions[later][name]), name
    assert moved.events == base.events + 30


def test_backtest_scores_models_and_baselines():
    res = run_backtest(_city(), _config())
    assert set(res.scores) == {"hgb", "glm", *BASELINES}
    assert res.hot_cells == int(np.ceil(0.05 * res.area_cells))
    for name in res.scores:
        assert 0 <= res.hit_rate(name) <= 1
        assert res.pai(name) == pytest.approx(res.hit_rate(name) / res.hot_share)
    # persistent hot spots: the long-run count and the models find them far better than chance
    assert res.pai("last 365 days") > 3 and res.pai("hgb") > 3
    assert res.deviance("hgb") < res.deviance("same week last year")


def test_bad_config_is_a_scoring_error():
    with pytest.raises(ScoringError, match="no whole"):
        _config(end=FIRST + timedelta(days=423))
    with pytest.raises(ScoringError, match="top"):
        _config(top=1.5)
    with pytest.raises(ScoringError, match="before"):
        run_backtest(_city(days=30), _config(start=FIRST - timedelta(days=1)))


def _chicago_csv(path: Path, rows: list[Row]) -> None:
    cols = ["Creation_Date", "Status", "Completion_Date", "Service_Request_Number", "Type_of_Service_Request",
            "What_is_the_Nature_of_this_Code_Violation", "Street_Address", "ZIP_Code", "X_Coordinate",
            "Y_Coordinate", "Ward", "Police_District", "Community_Area", "Latitude", "Longitude"]  # fmt: skip
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, r in enumerate(rows):
            day = r.opened_at.date().isoformat()
            w.writerow([day, "Completed", day, f"11-{i:08d}", "Sanitation Code Violation", "Garbage in alley",
                        "1 W MADISON", "", "", "", "", "", "32.0", f"{r.lat:.6f}", f"{r.lon:.6f}"])  # fmt: skip
        w.writerow([day, "Completed - Dup", day, "dup-1", "Sanitation Code Violation", "Garbage in alley",
                    "", "", "", "", "", "", "", "41.86", "-87.69"])  # fmt: skip


def test_cli_backtest_on_a_chicago_export(tmp_path, capsys):
    from cityeye.cli import main

    f = tmp_path / "chicago.csv"
    _chicago_csv(f, _city(days=500))
    start = FIRST + timedelta(days=420)
    args = ["--data-dir", str(tmp_path / "data"), "forecast", "backtest", "--history", str(f), "--format",
            "chicago311", "--mapping", "chicago311", "--from", start.isoformat(), "--to",
            (start + timedelta(days=27)).isoformat(), "--cell-m", "500", "--horizon", "week", "--top", "0.05",
            "--train-days", "182", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "1 bad rows skipped" in cap.err
    out = cap.out
    assert "4 weekly origins" in out
    for label in ("model (hgb)", "model (glm)", *BASELINES):
        line = next(x for x in out.splitlines() if x.startswith(label))
        hit, p, dev = (float(v) for v in line[len(label) :].split())
        assert 0 <= hit <= 1 and p >= 0 and dev >= 0
    assert "PAI ÷ best baseline" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--from", "2012-13-01"], "--from: not a date"),
        (["--to", "2011-01-01"], "no whole"),
        (["--history", "missing.csv"], "not found"),
        (["--mapping", "nope"], "no such file"),
        (["--format", "xml"], "format"),
        (["--top", "0"], "top"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, flags, message):
    from cityeye.cli import main

    f = tmp_path / "chicago.csv"
    _chicago_csv(f, _city(days=40))
    base = {"--history": str(f), "--format": "chicago311", "--mapping": "chicago311", "--from": "2011-02-01",
            "--to": "2011-02-07", "--cell-m": "500"}  # fmt: skip
    opts = dict(zip(flags[::2], flags[1::2], strict=True))
    opts["--history"] = str(tmp_path / opts["--history"]) if "--history" in opts else base["--history"]
    argv = [x for k, v in {**base, **opts}.items() for x in (k, v)]
    assert main(["--data-dir", str(tmp_path / "data"), "forecast", "backtest", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
