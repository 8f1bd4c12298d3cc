from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from cases.db import make_engine, migrate, session_factory
from cases.errors import CaseNotFound, EvidenceNotFound, EvidenceWriteError, InvalidEvent, InvalidFilter
from cases.orm import Base, Case, Evidence, Observation
from cases.service import CaseService
from cases.status import CaseStatus
from cityeye.config import Settings
from inference.event import EvidenceImage
from tests.cases.factories import T0, image, make_event, north_of


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# ---- schema ----------------------------------------------------------------------------------------
def test_migration_on_a_fresh_file_creates_the_schema_the_orm_expects(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh" / "data")  # folder does not exist yet
    migrate(settings)
    migrate(settings)  # idempotent
    engine = make_engine(settings)
    try:
        assert set(sa.inspect(engine).get_table_names()) == {
            "alembic_version",
            "cases",
            "observations",
            "evidence",
            "case_audit",
            "api_keys",
            "webhook_deliveries",
            "cameras",
            "camera_status",
            "surveys",
            "survey_files",
            "survey_findings",
            "permits",
            "feedback_frames",
            "history_records",
            "citizen_reports",
            "citizen_contacts",
        }
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0012"
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), session_factory(engine)() as session, session.begin():
        session.add(
            Evidence(
                case_id=999,
                observation_id=999,
                n=1,
                kind="crop",
                path="x",
                content_type="image/jpeg",
                width=1,
                height=1,
            )
        )


# ---- ingestion ----------------------------------------------------------------------------------------
def test_first_event_creates_a_case_with_observation_and_evidence(service: CaseService, engine: Engine) -> None:
    event = make_event(geo=north_of(0), confidence=0.7)
    result = service.ingest(event)
    assert (result.created, result.merged, result.duplicate) == (True, False, False)

    record = service.get_case(result.case_id)
    case = record.case
    assert (case.category, case.code, case.status) == ("garbage", "0102", CaseStatus.DETECTED)
    assert case.observation_count == 1 and case.max_confidence == pytest.approx(0.7)
    assert case.first_seen == event.start and case.last_seen == event.end
    assert case.first_seen.tzinfo is not None and case.first_seen.utcoffset() == timedelta(0)
    assert case.bbox == event.bbox and case.version == 1
    assert [o.event_id for o in record.observations] == [event.event_id]
    assert [(e.n, e.kind, e.width, e.height) for e in record.evidence] == [
        (1, "snapshot", 64, 48),
        (2, "crop", 20, 24),
    ]

    for ev in record.evidence:
        assert ev.path == f"{case.id}/{ev.n}-{ev.kind}.jpg"
        img = cv2.imread(str(service.evidence_dir / ev.path))
        assert img is not None and img.shape == (ev.height, ev.width, 3)
    assert not list(service.evidence_dir.rglob("*.tmp"))


def test_event_10m_away_merges_and_100m_away_opens_a_new_case(service: CaseService) -> None:
    first = service.ingest(make_event(geo=north_of(0), confidence=0.6))
    later = T0 + timedelta(hours=1)
    near = service.ingest(make_event(geo=north_of(10), start=later, confidence=0.9, source_id="cam-2"))
    assert (near.case_id, near.created, near.merged) == (first.case_id, False, True)

    record = service.get_case(first.case_id)
    assert record.case.observation_count == 2
    assert record.case.max_confidence == pytest.approx(0.9)
    assert record.case.last_seen == later + timedelta(seconds=30)
    assert record.case.source_id == "cam-2"
    assert record.case.version == 2
    assert [e.n for e in record.evidence] == [1, 2, 3, 4]

    far = service.ingest(make_event(geo=north_of(100), start=later))  # garbage merge_radius_m = 20
    assert far.created and far.case_id != first.case_id


def test_without_geo_boxes_overlapping_in_the_same_source_merge(service: CaseService) -> None:
    first = service.ingest(make_event(bbox=(100, 100, 200, 200)))
    later = T0 + timedelta(minutes=5)
    overlapping = service.ingest(make_event(bbox=(110, 105, 210, 205), start=later))
    assert overlapping.merged and overlapping.case_id == first.case_id
    assert service.get_case(first.case_id).case.bbox == (110, 105, 210, 205)

    apart = service.ingest(make_event(bbox=(400, 400, 450, 450), start=later + timedelta(minutes=1)))
    other_source = service.ingest(make_event(bbox=(110, 105, 210, 205), start=later, source_id="cam-9"))
    assert apart.created and other_source.created
    assert len({first.case_id, apart.case_id, other_source.case_id}) == 3


def test_a_different_category_at_the_same_place_is_a_new_case(service: CaseService) -> None:
    garbage = service.ingest(make_event(geo=north_of(0)))
    stall = service.ingest(make_event(category="street_stall", geo=north_of(0), start=T0 + timedelta(minutes=1)))
    assert stall.created and stall.case_id != garbage.case_id
    assert service.get_case(stall.case_id).case.code == "0101"


def test_events_outside_the_merge_window_or_after_closing_open_new_cases(
    service: CaseService, engine: Engine, settings: Settings
) -> None:
    first = service.ingest(make_event(geo=north_of(0)))
    too_late = T0 + timedelta(hours=settings.cases.merge_window_h + 1)
    assert service.ingest(make_event(geo=north_of(0), start=too_late)).created

    with session_factory(engine)() as session, session.begin():
        session.get_one(Case, first.case_id).status = CaseStatus.CLOSED.value
    assert service.ingest(make_event(geo=north_of(0), start=T0 + timedelta(minutes=1))).case_id != first.case_id


def test_a_repeated_event_id_is_a_duplicate_and_writes_nothing(service: CaseService, engine: Engine) -> None:
    event = make_event(geo=north_of(0))
    first = service.ingest(event)
    files = sorted(service.evidence_dir.rglob("*"))
    again = service.ingest(event)
    assert (again.case_id, again.created, again.merged, again.duplicate) == (
        first.case_id,
        False,
        False,
        True,
    )
    assert (count(engine, "cases"), count(engine, "observations"), count(engine, "evidence")) == (1, 1, 2)
    assert service.get_case(first.case_id).case.observation_count == 1
    assert sorted(service.evidence_dir.rglob("*")) == files


def test_a_failed_evidence_write_rolls_everything_back(service: CaseService, engine: Engine) -> None:
    blocker = service.evidence_dir / "1" / "2-crop.jpg"
    blocker.mkdir(parents=True)  # the second image cannot replace a directory
    with pytest.raises(EvidenceWriteError, match="2-crop.jpg"):
        service.ingest(make_event())
    assert (count(engine, "cases"), count(engine, "observations"), count(engine, "evidence")) == (0, 0, 0)
    assert not (service.evidence_dir / "1" / "1-snapshot.jpg").exists()
    assert [p.name for p in (service.evidence_dir / "1").iterdir()] == ["2-crop.jpg"]


def test_events_without_evidence_are_stored(service: CaseService, engine: Engine) -> None:
    result = service.ingest(make_event(evidence=()))
    assert result.created and service.get_case(result.case_id).evidence == []
    assert count(engine, "evidence") == 0


def test_invalid_events_are_refused(service: CaseService, engine: Engine) -> None:
    with pytest.raises(InvalidEvent, match="unknown category 'potholes'"):
        service.ingest(make_event(category="potholes", class_name="pothole"))
    with pytest.raises(InvalidEvent, match="timezone-aware"):
        service.ingest(make_event(start=datetime(2025, 6, 1, 8, 0)))
    assert count(engine, "cases") == 0


def test_times_are_stored_as_utc(service: CaseService) -> None:
    beijing = timezone(timedelta(hours=8))
    result = service.ingest(make_event(start=datetime(2025, 6, 1, 16, 0, tzinfo=beijing)))
    case = service.get_case(result.case_id).case
    assert case.first_seen == datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    assert case.first_seen.tzinfo == UTC


# ---- reads ----------------------------------------------------------------------------------------
def _seed(service: CaseService) -> list[int]:
    """Five cases, one hour apart (ids ascending = last_seen ascending), alternating categories."""
    ids = []
    for i in range(5):
        event = make_event(
            category="garbage" if i % 2 == 0 else "street_stall",
            geo=north_of(1000 * i),
            start=T0 + timedelta(hours=i),
            evidence=(EvidenceImage(image(seed=i)),),
        )
        ids.append(service.ingest(event).case_id)
    return ids


def test_list_cases_filters_orders_and_pages(service: CaseService, engine: Engine) -> None:
    ids = _seed(service)
    page = service.list_cases()
    assert [c.id for c in page.items] == ids[::-1] and page.total == 5 and page.limit == 50

    assert [c.id for c in service.list_cases(category="garbage").items] == [ids[4], ids[2], ids[0]]
    page = service.list_cases(limit=2, offset=2)
    assert ([c.id for c in page.items], page.total, page.limit, page.offset) == ([ids[2], ids[1]], 5, 2, 2)

    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=3)  # last_seen = start + 30 s
    assert [c.id for c in service.list_cases(since=since, until=until).items] == [ids[2], ids[1]]
    naive = service.list_cases(since=since.replace(tzinfo=None), until=until.replace(tzinfo=None))
    assert [c.id for c in naive.items] == [ids[2], ids[1]]

    with session_factory(engine)() as session, session.begin():
        session.get_one(Case, ids[1]).status = CaseStatus.DISPATCHED.value
    assert [c.id for c in service.list_cases(status=CaseStatus.DISPATCHED).items] == [ids[1]]
    assert service.list_cases(status="closed").total == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"category": "potholes"}, "category"),
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"since": T0 + timedelta(days=1), "until": T0}, "since"),
    ],
)
def test_bad_list_filters_are_refused(service: CaseService, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        service.list_cases(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_unknown_cases_and_evidence_raise(service: CaseService) -> None:
    with pytest.raises(CaseNotFound, match="case 7 not found"):
        service.get_case(7)
    with pytest.raises(CaseNotFound):
        service.get_evidence(7, 1)
    case_id = service.ingest(make_event()).case_id
    assert service.get_evidence(case_id, 2).kind == "crop"
    with pytest.raises(EvidenceNotFound, match=f"evidence 3 of case {case_id} not found"):
        service.get_evidence(case_id, 3)
    (service.evidence_dir / str(case_id) / "1-snapshot.jpg").unlink()
    with pytest.raises(EvidenceNotFound):
        service.get_evidence(case_id, 1)


def test_observations_keep_the_event(service: CaseService) -> None:
    event = make_event(geo=north_of(0), uri="rtsp://cam-1/stream", tracker_id=4)
    record = service.get_case(service.ingest(event).case_id)
    (obs,) = record.observations
    assert isinstance(obs, Observation)
    assert (obs.event_id, obs.source_id, obs.class_name, obs.uri) == (
        event.event_id,
        "cam-1",
        "garbage",
        event.uri,
    )
    assert (obs.start, obs.end, obs.frames_seen, obs.model_version) == (event.start, event.end, 5, "test-v1")
    assert event.geo is not None and obs.lat == pytest.approx(event.geo.lat)
    assert np.allclose(obs.bbox, event.bbox)


def test_evidence_rows_point_at_their_observation(service: CaseService, engine: Engine) -> None:
    a = service.ingest(make_event(geo=north_of(0)))
    b = service.ingest(make_event(geo=north_of(5), start=T0 + timedelta(minutes=2)))
    assert a.case_id == b.case_id
    with session_factory(engine)() as session:
        rows = session.execute(select(Evidence.n, Observation.event_id).join(Observation)).all()
    assert [n for n, _ in rows] == [1, 2, 3, 4]
    assert len({eid for _, eid in rows}) == 2


def test_concurrent_ingesters_make_one_case_per_problem(service: CaseService, engine: Engine) -> None:
    """Threads race to ingest sightings of one problem (and one event twice): one case, no lost updates."""
    events = [make_event(geo=north_of(i), start=T0 + timedelta(seconds=i), evidence=()) for i in range(6)]
    events.append(events[0])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(service.ingest, events))
    assert len({r.case_id for r in results}) == 1
    assert sum(r.created for r in results) == 1 and sum(r.duplicate for r in results) == 1
    case = service.get_case(results[0].case_id).case
    assert case.observation_count == 6 == count(engine, "observations")


def test_the_migrated_schema_matches_the_orm_on_every_backend(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0012"


def test_a_batch_groups_events_exactly_as_one_by_one(service: CaseService, engine: Engine) -> None:
    events = [
        make_event(geo=north_of(i % 3 * 500 + i), start=T0 + timedelta(minutes=i), source_id=f"cam-{i}", evidence=())
        for i in range(9)
    ]
    events.append(events[4])  # a duplicate inside the batch
    results = service.ingest_many(events)
    assert [r.duplicate for r in results] == [False] * 9 + [True]
    assert results[9].case_id == results[4].case_id
    assert sum(r.created for r in results) == 3 and len({r.case_id for r in results}) == 3
    for i, r in enumerate(results[:9]):  # the positions 0, 500, 1000 m apart: three problems
        assert r.case_id == results[i % 3].case_id
    assert service.ingest_many(events[:3]) == [
        type(r)(case_id=r.case_id, created=False, merged=False, duplicate=True) for r in results[:3]
    ]
    assert count(engine, "observations") == 9 and service.ingest_many([]) == []


def test_an_invalid_event_fails_the_whole_batch_before_anything_is_written(
    service: CaseService, engine: Engine
) -> None:
    good = make_event(geo=north_of(0))
    with pytest.raises(InvalidEvent, match="unknown category"):
        service.ingest_many([good, make_event(category="potholes", class_name="pothole")])
    assert (count(engine, "cases"), count(engine, "observations"), count(engine, "evidence")) == (0, 0, 0)
    (result,) = service.ingest_many([good])
    assert result.created and [e.n for e in service.get_case(result.case_id).evidence] == [1, 2]


def test_cursor_pages_are_stable_while_new_cases_arrive(service: CaseService) -> None:
    ids = _seed(service)  # five cases, newest last
    first = service.list_cases(limit=2)
    assert [c.id for c in first.items] == [ids[4], ids[3]] and first.next_cursor
    newer = make_event(geo=north_of(9000), start=T0 + timedelta(days=1), evidence=())
    service.ingest(newer)  # would shift an offset page by one
    second = service.list_cases(limit=2, cursor=first.next_cursor)
    assert [c.id for c in second.items] == [ids[2], ids[1]]
    third = service.list_cases(limit=2, cursor=second.next_cursor)
    assert [c.id for c in third.items] == [ids[0]] and third.next_cursor is None
    for kwargs, field in (
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": first.next_cursor, "sort": "priority"}, "cursor"),
        ({"cursor": first.next_cursor, "offset": 2}, "offset"),
    ):
        with pytest.raises(InvalidFilter) as err:
            service.list_cases(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field


def _store_snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Everything ingestion writes, in id order; the case version and update time left out (a batch bumps a
    case's version once, event by event bumps it per sighting)."""
    skip = {"version", "updated_at"}
    queries = {
        "cases": "SELECT * FROM cases ORDER BY id",
        "observations": "SELECT case_id, event_id, source_id, lat, lon, x1, y1, x2, y2, confidence FROM observations"
        " ORDER BY event_id",
        "evidence": "SELECT e.case_id, e.n, e.kind, e.path, o.event_id FROM evidence e"
        " JOIN observations o ON o.id = e.observation_id ORDER BY e.case_id, e.n",
        "audit": "SELECT case_id, action, from_status, to_status, note FROM case_audit ORDER BY id",
    }
    with engine.connect() as conn:
        out = {}
        for name, q in queries.items():
            result = conn.execute(sa.text(q))
            keep = [i for i, k in enumerate(result.keys()) if k not in skip]
            out[name] = [tuple(row[i] for i in keep) for row in result]
        return out


@pytest.mark.parametrize("recurrence", ["link", "reopen"])
def test_a_mixed_batch_ends_exactly_as_the_same_events_one_by_one(
    recurrence: str, settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Positions and none, two sources and overlapping boxes, two categories, sightings inside and outside the
    merge window, a closed case that recurs, a case with evidence already, duplicates inside the batch and of
    an earlier event: `ingest_many` and `ingest` one by one leave the same cases, observations and evidence."""
    from cases.lifecycle import Action, Actor, Role, Verdict
    from cityeye.config import LifecycleSettings
    from models.taxonomy import load_taxonomy
    from tests.cases.factories import Clock

    rng = random.Random(7)
    events = []
    for i in range(80):
        metres = rng.choice([0, 8, 15, 40, 300, 310, 2000]) + rng.uniform(-3, 3)
        events.append(
            make_event(
                category=rng.choice(["garbage", "street_stall"]),
                geo=None if rng.random() < 0.3 else north_of(metres),
                start=T0 + timedelta(hours=rng.choice([1, 2, 3, 80, 200]), minutes=i),
                source_id=rng.choice(["cam-1", "cam-2"]),
                bbox=rng.choice([(10.0, 10.0, 40.0, 40.0), (14.0, 12.0, 44.0, 42.0), (200.0, 200.0, 260.0, 260.0)]),
                confidence=round(rng.uniform(0.3, 0.99), 3),
                evidence=None if rng.random() < 0.2 else (),
            )
        )
    early = make_event(geo=north_of(0), source_id="cam-9")
    events += [events[3], events[10], events[3], early]
    other = Settings(data_dir=tmp_path / "other")
    if settings.database_url is not None:
        other = Settings(data_dir=tmp_path / "other", database_url=request.getfixturevalue("postgres").new_database())
    lifecycle = LifecycleSettings(recurrence=recurrence, recurrence_window_h=400)  # type: ignore[arg-type]
    outcomes = []
    for base, one_by_one in ((settings, False), (other, True)):
        s = base.model_copy(update={"lifecycle": lifecycle})
        migrate(s)
        eng = make_engine(s)
        try:
            service = CaseService(session_factory(eng), s, load_taxonomy(), clock=Clock())
            service.ingest(early)  # a case with two evidence images: the batch's numbering continues after them
            service.ingest(make_event(category="street_stall", source_id="cam-2", evidence=()))  # no position
            case = service.get_case(service.ingest(make_event(geo=north_of(300), evidence=())).case_id).case
            for action, role, kwargs in (
                (Action.REGISTER, Role.OPERATOR, {}),
                (Action.DISPATCH, Role.DISPATCHER, {"department": "sanitation"}),
                (Action.HANDLED, Role.DEPARTMENT, {}),
                (Action.VERIFY, Role.INSPECTOR, {"verdict": Verdict.CONFIRMED}),
                (Action.CLOSE, Role.OPERATOR, {}),
            ):
                case = service.act(case.id, action, Actor("x", role), version=case.version, **kwargs)  # type: ignore[arg-type]
            results = [service.ingest(e) for e in events] if one_by_one else service.ingest_many(events)
            outcomes.append((results, _store_snapshot(eng)))
        finally:
            eng.dispose()
    (batch, batch_store), (single, single_store) = outcomes
    assert batch == single
    for table in ("cases", "observations", "evidence", "audit"):
        assert batch_store[table] == single_store[table], table
    assert sum(r.created for r in batch) >= 5 and sum(r.merged for r in batch) >= 30
    assert sum(r.duplicate for r in batch) == 4 and len(batch_store["evidence"]) > 2
    if recurrence == "reopen":
        assert any(r.reopened for r in batch)
    else:
        assert any(r.repeat_of is not None for r in batch)


def test_a_batch_that_loses_a_version_race_is_redone_event_by_event(
    service: CaseService, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dispatcher changes a case between the batch's read and its write: the batch's optimistic-lock update
    misses, nothing of the batch is kept, and its events are ingested again one by one; nothing is lost."""
    from cases.lifecycle import Actor, Role

    if settings.database_url is None:
        pytest.skip("SQLite: a batch holds the write lock from its first read, no other writer gets in")
    case = service.get_case(service.ingest(make_event(geo=north_of(0), evidence=())).case_id).case
    write_batch = service._write_batch
    raced: list[int] = []

    def racing(*args: object) -> bool:
        if not raced:  # the first batch: someone else commits a change to the case it is about to update
            raced.append(service.act(case.id, "register", Actor("olga", Role.OPERATOR), version=case.version).version)
        return write_batch(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_write_batch", racing)
    events = [make_event(geo=north_of(i), start=T0 + timedelta(minutes=i + 1), source_id=f"cam-{i}") for i in range(3)]
    results = service.ingest_many(events)
    assert [(r.case_id, r.merged) for r in results] == [(case.id, True)] * 3 and raced == [case.version + 1]
    after = service.get_case(case.id)
    assert after.case.status == CaseStatus.REGISTERED and after.case.observation_count == 4
    assert count(engine, "observations") == 4 and [e.n for e in after.evidence] == [1, 2, 3, 4, 5, 6]


def test_a_category_may_have_its_own_merge_window(engine: Engine, settings: Settings) -> None:
    """taxonomy `merge_window_h` per category; categories without one use `cases.merge_window_h` (72 h)."""
    from models.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    short = taxonomy.categories["street_stall"].model_copy(update={"merge_window_h": 1.0})
    taxonomy = taxonomy.model_copy(update={"categories": {**taxonomy.categories, "street_stall": short}})
    service = CaseService(session_factory(engine), settings, taxonomy)
    for category in ("street_stall", "garbage"):
        first, later = (
            make_event(category=category, geo=north_of(0), start=T0 + timedelta(hours=h), evidence=()) for h in (0, 3)
        )
        a = service.ingest(first)
        (b,) = service.ingest_many([later])
        assert (b.case_id == a.case_id) is (category == "garbage"), category  # 3 h apart: stalls 1 h, garbage 72 h
