"""Scores on live cases: stored on ingest, on lifecycle actions and verdicts, rescored on promotion; the refit."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cases.db import make_engine, migrate, session_factory
from cases.errors import InvalidFilter
from cases.lifecycle import Actor, Role
from cases.orm import Case
from cases.scoring.errors import ScorerFileError
from cases.scoring.features import FeatureConfig
from cases.scoring.lifecycle import refit_store, rescore_open
from cases.scoring.live import LiveScorer, score_parts
from cases.scoring.model import Selection, fit_prior
from cases.scoring.prior import DEFAULT_A, DEFAULT_C
from cases.scoring.registry import ForecastStore, ScorerStore
from cases.service import CaseService
from cityeye.config import ScoringSettings, Settings
from models.taxonomy import load_taxonomy
from tests.cases.factories import T0, Clock, make_event, north_of
from tests.cases.scoring.conftest import Fitted

ADMIN = Actor("admin", Role.ADMIN)


def prior_selection(fitted: Fitted) -> Selection:
    """The cold-start prior with its default coefficients (fitted on no verdicts): a known formula."""
    none = np.zeros(0, dtype=int)
    return Selection(fit_prior(fitted.fm[none], fitted.y[none], fitted.city.categories), 0, None, None, "prior")


def default_prior(max_confidence: float, persistence_h: float) -> float:
    z = DEFAULT_A + math.log(max_confidence / (1 - max_confidence)) + DEFAULT_C * math.log1p(persistence_h)
    return 1 / (1 + math.exp(-z))


def live_scorer(service: CaseService, store: ScorerStore) -> LiveScorer:
    return LiveScorer(service.sessions, service.settings.scoring, service.taxonomy, store, service.now)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    migrate(settings)
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture
def service(engine: Engine, settings: Settings, clock: Clock) -> CaseService:
    return CaseService(session_factory(engine), settings, load_taxonomy(), clock=clock)


@pytest.fixture
def store(settings: Settings) -> ScorerStore:
    return ScorerStore(settings.paths.scorers)


def stored(engine: Engine, case_id: int) -> Case:
    return session_factory(engine)().get_one(Case, case_id)


def test_the_categories_of_the_simulated_city_are_the_taxonomys(fitted: Fitted) -> None:
    assert fitted.city.categories == tuple(load_taxonomy().categories)


def test_unscored_without_a_promoted_scorer(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore
) -> None:
    store.save(prior_selection(fitted), FeatureConfig())  # a candidate only: nothing scores with it
    case = stored(engine, service.ingest(make_event(category="billboard_hazard", geo=north_of(0))).case_id)
    assert (case.p_confirmed, case.score_reasons, case.scorer_version) == (None, None, None)
    assert case.score == case.severity == 4  # sort=priority treats it as P = 1


def test_new_cases_get_deterministic_scores(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore
) -> None:
    card = store.save(prior_selection(fitted), FeatureConfig())
    store.promote(card.version)
    ev = make_event(category="garbage", confidence=0.7, duration_s=1800, geo=north_of(0))
    r = service.ingest(ev)
    case = stored(engine, r.case_id)
    expected = default_prior(0.7, 0.5)
    assert case.p_confirmed == pytest.approx(expected, abs=1e-12)
    assert case.score == pytest.approx(expected * case.severity, abs=1e-12)
    assert case.scorer_version == card.version and case.scored_at is not None
    # the prior only looks at confidence and persistence: those are its reasons, in plain words
    texts = [r["text"] for r in case.score_reasons or []]
    assert texts and all(("confidence" in t or "present over" in t) for t in texts), texts
    # a merge of a second sighting 2 h later changes the persistence and so the score, after the commit
    service.ingest(make_event(category="garbage", confidence=0.7, start=T0 + timedelta(hours=2), geo=north_of(1)))
    again = stored(engine, r.case_id)
    persistence = (again.last_seen - again.first_seen).total_seconds() / 3600
    assert again.p_confirmed == pytest.approx(default_prior(0.7, persistence), abs=1e-12)
    assert again.version == case.version + 1  # the merge bumped it; writing the score did not


def test_a_batch_is_scored_once_and_equals_scoring_one_by_one(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore, settings: Settings, clock: Clock
) -> None:
    store.promote(store.save(fitted.selection, FeatureConfig()).version)
    events = [
        make_event(category=c, confidence=0.3 + 0.1 * i, geo=north_of(500 * i), source_id=f"cam-{i}")
        for i, c in enumerate(["garbage", "street_stall", "billboard_hazard", "illegal_construction"])
    ]
    calls: list[list[int]] = []
    service.change_listeners.append(calls.append)
    results = service.ingest_many(events)
    assert calls == [[r.case_id for r in results]]  # one notification for the whole batch
    batch = {r.case_id: stored(engine, r.case_id).p_confirmed for r in results}
    scorer = LiveScorer(service.sessions, settings.scoring, service.taxonomy, store, clock)
    for case_id in batch:
        scorer.score_cases([case_id])
        assert stored(engine, case_id).p_confirmed == batch[case_id]
    assert all(p is not None and 0 < p < 1 for p in batch.values())
    # the reasons name features of this case with their values
    case = stored(engine, results[0].case_id)
    for reason in case.score_reasons or []:
        assert reason["feature"] and reason["text"]
        if reason["feature"] == "max_confidence":
            assert f"{case.max_confidence:.2f}" in reason["text"]


def test_a_verdict_rescores_the_open_cases_near_it(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore, clock: Clock
) -> None:
    store.promote(store.save(fitted.selection, FeatureConfig()).version)
    near = service.ingest(make_event(category="garbage", geo=north_of(0), source_id="cam-1")).case_id
    other = service.ingest(make_event(category="street_stall", geo=north_of(30), source_id="cam-2")).case_id
    far = service.ingest(make_event(category="street_stall", geo=north_of(5000), source_id="cam-3")).case_id
    before = {i: stored(engine, i).scored_at for i in (near, other, far)}
    clock.advance(hours=1)
    case = stored(engine, other)
    service.act(other, "verify", ADMIN, version=case.version, verdict="false_positive")
    after = {i: stored(engine, i).scored_at for i in (near, other, far)}
    assert after[near] == clock.now and before[near] != clock.now  # within 50 m of the verdict: rescored
    assert after[far] == before[far]  # 5 km away: untouched


def test_promotion_rescores_the_open_cases(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore, settings: Settings
) -> None:
    prior = store.save(prior_selection(fitted), FeatureConfig())
    store.promote(prior.version)
    ids = [
        service.ingest(
            make_event(category="garbage", confidence=0.5 + 0.1 * i, geo=north_of(3000 * i), source_id=f"c{i}")
        ).case_id
        for i in range(3)
    ]
    old = [stored(engine, i).p_confirmed for i in ids]
    updated = [stored(engine, i).updated_at for i in ids]
    learned = store.save(fitted.selection, FeatureConfig())
    store.promote(learned.version)
    assert store.stage(prior.version) == "archived" and store.stage(learned.version) == "production"
    assert rescore_open(live_scorer(service, store)) == 3
    new = [stored(engine, i) for i in ids]
    assert [c.scorer_version for c in new] == [learned.version] * 3
    assert [c.p_confirmed for c in new] != old
    assert [c.updated_at for c in new] == updated  # a new score is not a change of the case


def test_a_broken_scorer_cannot_be_promoted(fitted: Fitted, store: ScorerStore) -> None:
    card = store.save(fitted.selection, FeatureConfig())
    (store.root / card.version / "scorer.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ScorerFileError, match="corrupt"):
        store.promote(card.version)
    assert store.production() is None


def test_sort_by_priority_uses_the_stored_score(engine: Engine, service: CaseService, clock: Clock) -> None:
    """The index-backed streams give the same pages as sorting everything by score × overdue."""
    rng = random.Random(7)
    now = clock()
    rows = []
    for _ in range(300):
        due = rng.choice([None, now - timedelta(hours=rng.randrange(1, 5)), now + timedelta(hours=rng.randrange(5))])
        severity = rng.choice([1, 2, 3, 4, 5])
        p = rng.choice([None, round(rng.random(), 2)])
        rows.append(
            {
                "category": "garbage", "status": "detected", "code": "g", "source_id": "cam", "lat": 31.0,
                "lon": 121.0, "x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0, "first_seen": now, "last_seen": now,
                "max_confidence": 0.5, "observation_count": 1, "version": 1, "reopen_count": 0,
                "severity": severity, "due_at": due, "district": rng.choice(["a", "b"]), "p_confirmed": p,
                "score": severity if p is None else p * severity,
            }
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Case), rows)
    every = service.list_cases(limit=500).items

    def key(c: Case) -> tuple[float, bool, object, int]:
        overdue = c.due_at is not None and c.due_at < now
        return (-(c.score or 0) * (2 if overdue else 1), c.due_at is None, c.due_at or now, -c.id)

    for district in (None, "a"):
        expected = [c.id for c in sorted(every, key=key) if district is None or c.district == district]
        for offset, limit in ((0, 50), (40, 7), (280, 50)):
            page = service.list_cases(sort="priority", district=district, limit=limit, offset=offset)
            assert [c.id for c in page.items] == expected[offset : offset + limit]
    scored = service.list_cases(min_score=0.5, max_score=0.8, limit=500).items
    assert scored and all(0.5 <= (c.p_confirmed or -1) <= 0.8 for c in scored)
    assert len(scored) == sum(1 for r in rows if r["p_confirmed"] is not None and 0.5 <= r["p_confirmed"] <= 0.8)
    for bad in ({"min_score": 1.5}, {"max_score": -0.1}, {"min_score": 0.9, "max_score": 0.1}):
        with pytest.raises(InvalidFilter):
            service.list_cases(**bad)  # type: ignore[arg-type]


def test_score_parts_follow_the_sla_clock(
    fitted: Fitted, service: CaseService, engine: Engine, store: ScorerStore
) -> None:
    store.promote(store.save(prior_selection(fitted), FeatureConfig()).version)
    case = stored(engine, service.ingest(make_event(category="billboard_hazard", geo=north_of(0))).case_id)
    assert score_parts(case, service.taxonomy, case.status_since) is not None
    limit = service.taxonomy.categories["billboard_hazard"].sla_hours.hours("register")
    at_deadline = score_parts(case, service.taxonomy, case.status_since + timedelta(hours=limit))
    assert at_deadline is not None
    assert at_deadline.sla_urgency == pytest.approx(2.0) and at_deadline.hours_left == pytest.approx(0.0)
    assert at_deadline.priority == pytest.approx(case.p_confirmed * case.severity * 2.0)


def test_refit_from_the_case_store_starts_with_the_prior_and_promotes_it(
    service: CaseService, engine: Engine, settings: Settings, clock: Clock
) -> None:
    ids = [service.ingest(make_event(geo=north_of(200 * i), source_id=f"cam-{i}")).case_id for i in range(4)]
    case = stored(engine, ids[0])
    service.act(ids[0], "verify", ADMIN, version=case.version, verdict="false_positive")
    store = ScorerStore(settings.paths.scorers)
    forecasts = ForecastStore(settings.paths.forecasts)
    report = refit_store(service.sessions, service.taxonomy, settings.scoring, store, forecasts, promote=True)
    assert (report.kind, report.verdicts, report.promoted) == ("prior", 1, True)
    assert report.skipped and "forecast_min_days" in report.skipped[0]  # one day of history: no forecast yet
    assert store.production() == report.version
    assert rescore_open(live_scorer(service, store)) == 3  # the dismissed one is not open
    assert {stored(engine, i).scorer_version for i in ids[1:]} == {report.version}


def test_live_scoring_can_be_turned_off(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", scoring=ScoringSettings(live=False))
    svc = CaseService(session_factory(engine), settings, load_taxonomy())
    assert svc.change_listeners == []
    on = CaseService(session_factory(engine), Settings(data_dir=tmp_path / "data"), load_taxonomy())
    assert [type(listener) for listener in on.change_listeners] == [LiveScorer]
