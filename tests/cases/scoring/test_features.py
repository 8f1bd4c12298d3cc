from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from cases.scoring.errors import LeakageError, ScoringError
from cases.scoring.features import FEATURE_NAMES, FeatureBuilder, Verdict, VerdictHistory, VerdictRecord
from cases.scoring.simulate import CityConfig, read_cases, simulate_city, write_cases


def test_simulation_is_deterministic_and_round_trips(tmp_path, city):
    again = simulate_city(CityConfig(seed=5, days=75))
    assert again.cases == city.cases
    other = simulate_city(CityConfig(seed=6, days=75))
    assert other.cases[:20] != city.cases[:20]
    path = tmp_path / "city.jsonl"
    assert write_cases(path, city.cases[:200]) == 200
    assert tuple(read_cases(path)) == city.cases[:200]
    path.write_text('{"case_id": 1}\n')
    with pytest.raises(ScoringError, match=r"city.jsonl:1"):
        read_cases(path)


def test_simulation_has_the_known_structure(city):
    cases = city.cases
    true = np.array([c.is_true for c in cases])
    conf = np.array([c.snapshot.max_confidence for c in cases])
    hours = np.array([c.snapshot.persistence_h for c in cases])
    assert 0.3 < true.mean() < 0.7
    assert conf[true].mean() > conf[~true].mean() and conf[~true].max() > np.median(conf[true])  # overlap
    assert np.median(hours[true]) > np.median(hours[~true])
    agree = np.mean([(c.verdict == Verdict.CONFIRMED) == c.is_true for c in cases])
    assert 0.95 < agree < 1.0  # inspectors are wrong ~3 % of the time
    assert all(c.verdict_at > c.snapshot.last_seen for c in cases)


def test_features_use_only_verdicts_known_at_scoring_time(fitted):
    cases = fitted.city.cases
    builder = FeatureBuilder(fitted.city.categories)
    sample = [cases[i] for i in range(100, len(cases), len(cases) // 40)]
    for case in sample:
        at = case.snapshot.last_seen
        past = VerdictHistory([c.record for c in cases if c.verdict_at < at], ref_lat=fitted.history.ref_lat)
        # the future, rewritten: every later verdict flipped and moved onto this very spot
        flipped = [
            c.record
            if c.verdict_at < at
            else VerdictRecord(
                c.snapshot.case_id,
                case.snapshot.category,
                case.snapshot.lat,
                case.snapshot.lon,
                Verdict.CONFIRMED,
                c.verdict_at,
            )  # fmt: skip
            for c in cases
        ]
        future = VerdictHistory(flipped, ref_lat=fitted.history.ref_lat)
        row = builder.row(case.snapshot, fitted.history, at)
        np.testing.assert_array_equal(row, builder.row(case.snapshot, past, at))
        np.testing.assert_array_equal(row, builder.row(case.snapshot, future, at))


def test_own_and_later_verdicts_do_not_count(fitted):
    case = fitted.city.cases[500]
    s = case.snapshot
    builder = FeatureBuilder(fitted.city.categories)
    own = VerdictRecord(s.case_id, s.category, s.lat, s.lon, Verdict.CONFIRMED, s.last_seen - timedelta(minutes=1))
    same_time = VerdictRecord(-1, s.category, s.lat, s.lon, Verdict.CONFIRMED, s.last_seen)
    before = VerdictRecord(-2, s.category, s.lat, s.lon, Verdict.CONFIRMED, s.last_seen - timedelta(hours=1))
    row = builder.row(s, VerdictHistory([own, same_time, before]), s.last_seen)
    assert row[FEATURE_NAMES.index("confirmed_nearby")] == 1
    assert row[FEATURE_NAMES.index("recurrence")] == 1


def test_a_snapshot_newer_than_the_scoring_time_is_refused(fitted):
    s = fitted.city.cases[10].snapshot
    builder = FeatureBuilder(fitted.city.categories)
    with pytest.raises(LeakageError, match="after the scoring time"):
        builder.row(s, fitted.history, s.last_seen - timedelta(seconds=1))
    with pytest.raises(ScoringError, match="unknown category"):
        builder.row(replace(s, category="graffiti"), fitted.history, s.last_seen)
