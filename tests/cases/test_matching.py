"""The candidate rule of ingestion (`cases.matching`) is written once: the SQL it compiles to and its Python
evaluation (SQL's NULL logic) keep the same cases, on SQLite and on PostgreSQL, and every case `match_key`
accepts is one the rule keeps."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from cases.matching import AT_PLACE, CANDIDATE, CANDIDATE_COLUMNS, Window, candidate_rows, match_key
from cases.orm import Case
from cases.status import CaseStatus
from inference.event import Event
from inference.frame import GeoContext
from models.taxonomy import load_taxonomy
from tests.cases.factories import BASE_LAT, BASE_LON, T0, make_event

CATEGORIES = ("garbage", "street_stall")
SOURCES = ("cam-1", "cam-2", "drone")


def _position(rng: random.Random) -> tuple[float | None, float | None]:
    roll = rng.random()
    if roll < 0.2:
        return None, None
    if roll < 0.25:
        return rng.uniform(-1, 1) * 0.002 + BASE_LAT, None  # half a position: the rule's NULL branches
    if roll < 0.3:
        return 89.9995, rng.uniform(-180, 180)  # near the pole: no longitude bound
    return BASE_LAT + rng.uniform(-1, 1) * 0.002, BASE_LON + rng.uniform(-1, 1) * 0.002  # within ~200 m


def _case_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        status = rng.choice(list(CaseStatus))
        first = T0 + timedelta(hours=rng.uniform(-200, 200))
        last = first + timedelta(hours=rng.uniform(0, 50))
        closed = last + timedelta(hours=rng.uniform(0, 100)) if status is CaseStatus.CLOSED else None
        lat, lon = _position(rng)
        x1, y1 = rng.uniform(0, 50), rng.uniform(0, 50)
        rows.append(
            {
                "category": rng.choice(CATEGORIES),
                "status": status.value,
                "code": "x",
                "source_id": rng.choice(SOURCES),
                "lat": lat,
                "lon": lon,
                "x1": x1,
                "y1": y1,
                "x2": x1 + 30,
                "y2": y1 + 30,
                "first_seen": first,
                "last_seen": last,
                "closed_at": closed if rng.random() < 0.9 else None,
                "max_confidence": 0.8,
                "observation_count": 1,
                "version": 1,
                "created_at": first,
                "updated_at": last,
                "status_since": last,
            }
        )
    return rows


def _event(rng: random.Random, stored: list[dict[str, Any]]) -> Event:
    lat, lon = _position(rng)
    geo = GeoContext(lat=lat, lon=lon) if lat is not None and lon is not None else None
    if rng.random() < 0.3:  # exactly at a stored case: the rule's bounds are inclusive on both sides
        case = rng.choice(stored)
        if case["lat"] is not None and case["lon"] is not None:
            geo = GeoContext(lat=case["lat"], lon=case["lon"])
        start = case["last_seen"]
    else:
        start = T0 + timedelta(hours=rng.uniform(-200, 200))
    x1, y1 = rng.uniform(0, 50), rng.uniform(0, 50)
    return make_event(
        category=rng.choice(CATEGORIES),
        source_id=rng.choice(SOURCES),
        start=start,
        duration_s=rng.uniform(0, 3600),
        bbox=(x1, y1, x1 + 30, y1 + 30),
        geo=geo,
        evidence=(),
    )


def test_the_candidate_rule_is_the_same_in_sql_and_in_python(engine: Engine) -> None:
    rng = random.Random(14)
    taxonomy = load_taxonomy()
    with engine.begin() as conn:
        conn.execute(insert(Case.__table__), _case_rows(rng, 300))
        stored = [dict(r._mapping) for r in conn.execute(select(*CANDIDATE_COLUMNS))]
    events = [_event(rng, stored) for _ in range(130)]  # SQLite: a chunk of 100 and one of 30 padded to 50
    windows = []
    for i, event in enumerate(events):
        recur = timedelta(hours=rng.choice([24.0, 168.0])) if i % 3 else None  # recurrence off for a third
        category = taxonomy.categories[event.category]
        windows.append(Window.of(event, category, timedelta(hours=rng.choice([1.0, 72.0])), recur))
    with engine.connect() as conn:
        in_sql = sorted({(j, cols["id"]) for j, cols in candidate_rows(conn, windows)})  # padding repeats rows
    in_python = sorted((j, c["id"]) for j, w in enumerate(windows) for c in stored if CANDIDATE.holds(c, w))
    assert in_sql == in_python
    assert 50 < len(in_sql) < len(windows) * len(stored) // 4  # the data exercises both outcomes
    # every case match_key accepts is at the place the rule (and so the query) looks at
    accepted = 0
    for event, w in zip(events, windows, strict=True):
        category = taxonomy.categories[event.category]
        for case in stored:
            if match_key(case, event, category, overlap_iou=0.3) is not None:
                accepted += 1
                assert AT_PLACE.holds(case, w), (event, case)
    assert accepted > 20
