"""P(confirmed) on history: ECE on hand-made cases, no look-ahead in the features, the evaluation end to end."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cases.history.evaluate import evaluate_history, format_history_report, reliability_plot
from cases.history.features import HISTORY_FEATURE_NAMES, HistoryFeatures
from cases.history.formats import HistoryRow
from cases.scoring.metrics import expected_calibration_error
from cityeye.cli import main

T0 = datetime(2011, 7, 1, 12, tzinfo=UTC)
CATS = ("street_stall", "garbage", "illegal_construction", "billboard_hazard")


def test_ece_on_hand_made_cases() -> None:
    # bin [0.2, 0.3): scores 0.2, 0.2 and outcomes 1, 0 -> |0.5 - 0.2| = 0.3, weight 2/5
    # bin [0.9, 1.0]: scores 0.9, 0.9, 1.0 and outcomes 1, 1, 1 -> |1 - 0.9333| = 0.0667, weight 3/5
    y = np.array([1, 0, 1, 1, 1])
    p = np.array([0.2, 0.2, 0.9, 0.9, 1.0])
    assert expected_calibration_error(y, p) == pytest.approx(0.4 * 0.3 + 0.6 * (1 - 2.8 / 3))
    assert expected_calibration_error(np.array([0, 1]), np.array([0.05, 0.95])) == pytest.approx(0.05)


def row(i: int, t: datetime, *, outcome: str | None = "confirmed", closed_h: float = 2.0, lat: float | None = 42.3,
        raw_type: str = "Trash", category: str = "garbage", source: str = "phone") -> HistoryRow:  # fmt: skip
    closed = t + timedelta(hours=closed_h) if outcome else None
    lon = -71.06 if lat is not None else None
    return HistoryRow(str(i), category, raw_type, t, closed, lat, lon, outcome, source, None)  # type: ignore[arg-type]


def test_features_use_only_what_was_known_at_opening() -> None:
    a = row(1, T0, outcome="dismissed", closed_h=1)
    b = row(2, T0 + timedelta(hours=3))  # a's verdict known; a was opened before
    c = row(3, T0 + timedelta(minutes=30))  # a is open, its verdict not known yet
    late = row(4, T0 + timedelta(days=1), outcome="confirmed")  # after everything: must change nothing before
    feats = HistoryFeatures(CATS, ("Trash",))
    col = {n: j for j, n in enumerate(HISTORY_FEATURE_NAMES)}
    X = feats.transform([a, b, c])
    X2 = feats.transform([a, b, c, late])[:3]
    np.testing.assert_array_equal(X, X2)
    assert X[1, col["dismissed_nearby"]] == 1 and X[1, col["type_open_nearby"]] == 0
    assert X[2, col["dismissed_nearby"]] == 0 and X[2, col["type_open_nearby"]] == 1
    assert X[0, col["type_reports_nearby"]] == 0 and X[1, col["type_reports_nearby"]] == 2
    assert X[1, col["confirmed_nearby"]] == 1  # c (opened after a, closed at 2.5 h) is known to b, not to a
    assert X[0, col["confirmed_nearby"]] == 0 and X[0, col["type_rate"]] == 0.5  # nothing known: the smoothed 0.5
    assert X[1, col["type_rate"]] == pytest.approx((1 + 5) / (2 + 10))
    nowhere = feats.transform([row(5, T0, lat=None)])
    assert np.isnan(nowhere[0, col["confirmed_nearby"]]) and nowhere[0, col["has_position"]] == 0


def synthetic(n: int = 900, seed: int = 3) -> list[HistoryRow]:
    """Employee reports are founded, phone reports of a type already open nearby are duplicates (dismissed)."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        t = T0 + timedelta(hours=2 * i + rnd.random())
        source = rnd.choice(("phone", "employee", "app"))
        lat = 42.3 + rnd.choice((0.0, 0.01, 0.02, 0.03))
        dup = source != "employee" and rnd.random() < 0.35
        ok = rnd.random() < (0.95 if source == "employee" else 0.2 if dup else 0.8)
        cat = rnd.choice(("garbage", "billboard_hazard", "other"))
        rows.append(row(i, t, outcome="confirmed" if ok else "dismissed", closed_h=30, lat=lat, source=source,
                        category=cat, raw_type=f"type-{cat}"))  # fmt: skip
    return rows


def test_evaluate_history_fits_before_and_measures_after(tmp_path: Path) -> None:
    rows = synthetic()
    split = rows[600].opened_at
    ev = evaluate_history(rows, CATS, split)
    assert ev.n_test == 300 and ev.n_train < 600  # verdicts of the last 30 h before the split not yet known
    assert set(ev.metrics) == {"all", "mapped", "garbage", "billboard_hazard", "other"}
    s, prior = ev.metrics["all"]["scorer"], ev.metrics["all"]["category prior"]
    assert s.auc > prior.auc + 0.05  # the source type carries what the category does not
    text = format_history_report(ev)
    assert "logistic category+hour" in text and "goal on mapped categories" in text
    png = reliability_plot(ev, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def city_csv(f: Path) -> Path:
    lines = ["工单编号,问题类型,受理时间,结案时间,处理结果,纬度,经度,来源,街道"]
    names = {"garbage": "暴露垃圾", "billboard_hazard": "广告牌匾", "other": "噪音扰民"}
    for r in synthetic():
        src = {"phone": "12345热线", "employee": "网格员", "app": "市民APP"}[r.source_type]
        verdict = "属实" if r.outcome == "confirmed" else "不属实"
        closed = r.closed_at.strftime("%Y-%m-%d %H:%M") if r.closed_at else ""
        lines.append(f"{r.source_id},{names[r.category or 'other']},{r.opened_at:%Y-%m-%d %H:%M},{closed},{verdict},"
                     f"{r.lat},{r.lon},{src},x")  # fmt: skip
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def test_scoring_evaluate_on_city_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = city_csv(tmp_path / "city.csv")
    png = tmp_path / "rel.png"
    args = ["--data-dir", str(tmp_path / "d"), "scoring", "evaluate", "--history", str(f), "--format", "csv"]
    assert main([*args, "--mapping", "csv-example", "--split-at", "2011-09-10", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "measured on" in out and f"reliability plot: {png}" in out and png.is_file()
    assert main([*args, "--mapping", "csv-example"]) == 1
    assert "--split-at" in capsys.readouterr().err


def test_scoring_fit_on_city_records_makes_a_candidate_that_passes_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = city_csv(tmp_path / "city.csv")
    data = ["--data-dir", str(tmp_path / "d")]
    fit = [
        *data,
        "scoring",
        "fit",
        "--history",
        str(f),
        "--format",
        "csv",
        "--mapping",
        "csv-example",
        "--threads",
        "1",
    ]
    assert main(fit) == 0
    out = capsys.readouterr().out
    assert "saved as a candidate" in out and "learned on city history" in out
    version = out.split("scoring promote ")[1].split()[0]
    assert main([*data, "scoring", "list"]) == 0
    assert "candidate" in capsys.readouterr().out
    assert main([*data, "scoring", "promote", version]) == 0  # the registry's gate: it loads with the code's features
    assert "promoted to production" in capsys.readouterr().out


def test_scoring_fit_refuses_a_history_it_cannot_learn_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "few.csv"
    head = "工单编号,问题类型,受理时间,结案时间,处理结果,纬度,经度,来源,街道\n"
    f.write_text(head + "A1,暴露垃圾,2024-05-01 08:30,2024-05-01 12:00,属实,31.2,121.4,网格员,x\n", encoding="utf-8")
    args = ["--data-dir", str(tmp_path / "d"), "scoring", "fit", "--history", str(f), "--format", "csv"]
    assert main([*args, "--mapping", "csv-example"]) == 1
    assert "need 300" in capsys.readouterr().err
