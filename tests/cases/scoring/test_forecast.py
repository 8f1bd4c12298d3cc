from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from cases.scoring.evaluate import evaluate_forecast, occurrences
from cases.scoring.forecast import CountHistory, Grid, to_geojson


def _history(cases, categories, cell_m=500.0):
    snaps = [c.snapshot for c in cases]
    grid = Grid.covering([s.lat for s in snaps], [s.lon for s in snaps], cell_m)
    first = (min(s.first_seen for s in snaps) + timedelta(hours=8)).date()
    return CountHistory(occurrences(cases), grid, categories, first, 75)


def test_forecast_beats_the_naive_baseline(city):
    ev = evaluate_forecast(city.cases, city.categories, split_day=50, horizon=1, cell_m=500.0)
    assert ev.periods == 25
    assert ev.model.poisson_deviance < ev.naive.poisson_deviance
    assert ev.model.rmse < ev.naive.rmse


def test_forecast_features_do_not_see_the_future(city):
    full = _history(city.cases, city.categories)
    d = 40
    cut = full.midnight(d)
    # what was known at midnight of day d: cases first seen before it, and verdicts given before it
    past = [c for c in city.cases if c.snapshot.first_seen < cut and c.verdict_at < cut]
    # plus cases seen earlier whose verdict was still pending, with their verdict moved to "much later"
    pending = [replace(c, verdict_at=cut + timedelta(days=60)) for c in city.cases
               if c.snapshot.first_seen < cut <= c.verdict_at]  # fmt: skip
    known = _history(past + pending, city.categories)
    np.testing.assert_array_equal(full.features(d, 1), known.features(d, 1))
    np.testing.assert_array_equal(full.features(d, 7), known.features(d, 7))
    assert not np.array_equal(full.target(d, 1), known.target(d, 1))  # the future itself differs


def test_geojson_cells(city):
    hist = _history(city.cases, city.categories)
    expected = np.zeros((hist.grid.cells, len(city.categories)))
    expected[3, 1] = 2.5
    geo = to_geojson(hist, expected, 74, 1, min_total=0.1)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 1
    f = geo["features"][0]
    assert f["properties"]["cell"] == 3 and f["properties"]["expected"]["garbage"] == 2.5
    ring = f["geometry"]["coordinates"][0]
    assert f["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5
    # the cell's centre maps back to the cell
    lon = (ring[0][0] + ring[2][0]) / 2
    lat = (ring[0][1] + ring[2][1]) / 2
    assert hist.grid.cell_of(np.array([lat]), np.array([lon]))[0] == 3
