"""Scores and the forecast over HTTP: GET /cases score filters and sort, GET /cases/{id} score parts, GET /forecast."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from fastapi.testclient import TestClient

from cases.lifecycle import Role
from cases.scoring.evaluate import occurrences
from cases.scoring.features import FeatureConfig
from cases.scoring.forecast import fit_forecast
from cases.scoring.registry import ForecastStore, ScorerStore
from cases.service import CaseService
from cityeye.app import build_app
from cityeye.config import Settings
from tests.cases.factories import make_event, north_of
from tests.cases.scoring.conftest import Fitted


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(settings: Settings, fitted: Fitted) -> Iterator[TestClient]:
    store = ScorerStore(settings.data_dir / "scorers")
    store.promote(store.save(fitted.selection, FeatureConfig()).version)
    with TestClient(build_app(settings)) as c:
        c.headers["X-API-Key"] = c.app.state.services.api_keys.create("reader", Role.DATA_TEAM).token  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def service(client: TestClient) -> CaseService:
    svc: CaseService = client.app.state.services.cases  # type: ignore[attr-defined]
    return svc


def test_cases_carry_their_scores_and_the_detail_shows_the_parts(client: TestClient, service: CaseService) -> None:
    ids = [
        service.ingest(
            make_event(category=c, confidence=0.2 + 0.2 * i, geo=north_of(1000 * i), source_id=f"cam-{i}")
        ).case_id
        for i, c in enumerate(["garbage", "street_stall", "billboard_hazard", "illegal_construction"])
    ]
    items = client.get("/cases", params={"sort": "priority"}).json()["items"]
    assert {c["id"] for c in items} == set(ids)
    for c in items:
        assert 0 < c["p_confirmed"] < 1 and c["scorer_version"]
        assert c["priority"] == pytest.approx(c["p_confirmed"] * c["severity"] * (2 if c["overdue"] else 1), rel=1e-5)
    assert [c["priority"] for c in items] == sorted((c["priority"] for c in items), reverse=True)

    detail = client.get(f"/cases/{ids[2]}").json()
    score = detail["score"]
    assert score["p_confirmed"] == detail["p_confirmed"] and score["severity"] == detail["severity"]
    assert score["priority"] == pytest.approx(score["p_confirmed"] * score["severity"] * score["sla_urgency"])
    assert 1.0 <= score["sla_urgency"] <= 3.0 and score["hours_left"] is not None
    assert score["reasons"] and all(r["text"] and r["feature"] for r in score["reasons"])

    lo = min(c["p_confirmed"] for c in items)
    ranged = client.get("/cases", params={"min_score": lo + 1e-9, "max_score": 1}).json()["items"]
    assert len(ranged) == len(items) - 1 and all(c["p_confirmed"] > lo for c in ranged)


@pytest.mark.parametrize(
    "params", [{"min_score": 2}, {"max_score": -1}, {"min_score": "x"}, {"min_score": 0.9, "max_score": 0.1}]
)
def test_bad_score_filters_are_422(client: TestClient, params: dict[str, object]) -> None:
    r = client.get("/cases", params=params)
    assert r.status_code == 422, r.text
    assert "score" in r.text


def test_forecast_404_until_one_is_fitted_then_geojson(client: TestClient, settings: Settings, fitted: Fitted) -> None:
    r = client.get("/forecast")
    assert r.status_code == 404 and "no day forecast fitted" in r.json()["detail"]
    fc = fit_forecast(occurrences(fitted.city.cases), fitted.city.categories, 7, 500.0)
    ForecastStore(settings.data_dir / "forecasts").save(fc.forecaster, fc.geojson, horizon="week", history_days=75)

    assert client.get("/forecast", params={"horizon": "day"}).status_code == 404
    assert client.get("/forecast", params={"horizon": "week", "cell_m": 250}).status_code == 404
    r = client.get("/forecast", params={"horizon": "week"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    geo = r.json()
    assert geo["type"] == "FeatureCollection" and geo["properties"]["cell_m"] == 500.0
    assert geo["properties"]["period_start"] < geo["properties"]["period_end"]
    assert len(geo["features"]) == len(fc.geojson["features"])
    for f in geo["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert f["geometry"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
        assert f["properties"]["total"] == pytest.approx(sum(f["properties"]["expected"].values()), abs=1e-3)
        assert all(v >= 0 for v in f["properties"]["expected"].values())

    garbage = client.get("/forecast", params={"horizon": "week", "category": "garbage", "min_total": 0.5}).json()
    assert garbage["properties"]["categories"] == ["garbage"]
    assert all(list(f["properties"]["expected"]) == ["garbage"] for f in garbage["features"])
    assert all(f["properties"]["total"] >= 0.5 for f in garbage["features"])


@pytest.mark.parametrize(
    "params", [{"horizon": "month"}, {"cell_m": 0}, {"cell_m": "big"}, {"category": "ufo"}, {"min_total": -1}]
)
def test_bad_forecast_parameters_are_422(client: TestClient, params: dict[str, object]) -> None:
    assert client.get("/forecast", params=params).status_code == 422
