"""Which stored cases an event may merge into or recur at, and which of them it merges into: the rule, once.

An event's `Window` (its category, time windows, place box and source) is built by one function. The candidate
rule (`CANDIDATE`: same category; open and overlapping the merge window, or closed within the recurrence window;
at the place) is one small expression tree over a case's columns and that window. The same tree

- compiles to SQL: the candidate queries that read a batch's cases (`candidate_rows`: on PostgreSQL the windows
  as unnested arrays, one statement; on SQLite a CTE of one row per event, 100 events per statement), and
- evaluates in Python with SQL's NULL logic (`Cond.holds`): ingestion re-applies its parts to the cases that
  earlier events of the same batch changed or created in memory.

`match_key` then decides and ranks, in Python only: the nearest case within the category's merge radius where
both sides have a position (the place box holds that circle), else the best box overlap from the same source.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    column,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY

from cases.orm import Case
from cases.status import OPEN_STATUSES, CaseStatus
from inference.detections import box_iou
from inference.event import Event
from inference.geo import degrees_box, haversine_m
from models.taxonomy import Category

ANY_LON = 1000.0  # a longitude bound that excludes nothing (near the poles, across the antimeridian)
OPEN = frozenset(s.value for s in OPEN_STATUSES)
CLOSED = CaseStatus.CLOSED.value
MatchKey = tuple[int, float, float]  # (0 position | 1 box overlap, distance or -IoU, -last_seen): smaller wins


# ---- an event's window -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """What the candidate rule compares a case's columns with, for one event."""

    category: str
    since: datetime  # merge window: an open case whose sightings overlap since..until
    until: datetime
    recur_since: datetime | None  # recurrence: a case closed since then (None: recurrence off)
    lat0: float | None  # the place box, holding every point within the merge radius (None: no position)
    lat1: float | None
    lon0: float | None
    lon1: float | None
    source_id: str
    no_geo: bool  # the event has no position

    @classmethod
    def of(cls, event: Event, category: Category, merge_window: timedelta, recur_window: timedelta | None) -> Window:
        lat0, lat1, lon0, lon1 = place_box(event, category) or (None, None, None, None)
        return cls(
            category=event.category,
            since=event.start - merge_window,
            until=event.end + merge_window,
            recur_since=event.start - recur_window if recur_window is not None else None,
            lat0=lat0,
            lat1=lat1,
            lon0=lon0,
            lon1=lon1,
            source_id=event.source_id,
            no_geo=event.geo is None,
        )


def place_box(event: Event, category: Category) -> tuple[float, float, float, float] | None:
    """(lat0, lat1, lon0, lon1) around the event's position holding every point within the merge radius."""
    if event.geo is None:
        return None
    dlat, dlon = degrees_box(event.geo.lat, event.geo.lon, category.merge_radius_m)
    lon0, lon1 = (event.geo.lon - dlon, event.geo.lon + dlon) if dlon is not None else (-ANY_LON, ANY_LON)
    return event.geo.lat - dlat, event.geo.lat + dlat, lon0, lon1


# ---- the rule's expression tree: SQL (`sql`) and Python with SQL's NULL logic (`value` / `holds`) ----------------
Row = Mapping[str, Any]  # a case's columns, as read or as the batch changed them (Python)


class Columns(Protocol):
    """Columns by name (SQL): `cases.c`, or the event rows' `v.c`."""

    def __getitem__(self, name: str, /) -> Any: ...


class Term:
    def sql(self, case: Columns, win: Columns) -> Any:
        raise NotImplementedError

    def value(self, case: Row, win: Window) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Term):
    """A column of `cases`."""

    name: str

    def sql(self, case: Columns, win: Columns) -> Any:
        return case[self.name]

    def value(self, case: Row, win: Window) -> Any:
        return case.get(self.name)  # a column a new case is inserted without (closed_at) is NULL


@dataclass(frozen=True)
class Win(Term):
    """A field of the event's `Window`."""

    name: str

    def sql(self, case: Columns, win: Columns) -> Any:
        return win[self.name]

    def value(self, case: Row, win: Window) -> Any:
        return getattr(win, self.name)


class Cond(Term):
    """A condition: `value` is True, False or None (SQL's NULL: unknown), `holds` whether a WHERE keeps it."""

    def holds(self, case: Row, win: Window) -> bool:
        return self.value(case, win) is True


@dataclass(frozen=True)
class Cmp(Cond):
    op: str  # "=", ">=" or "<="
    left: Term
    right: Term

    def sql(self, case: Columns, win: Columns) -> Any:
        return _OPS[self.op](self.left.sql(case, win), self.right.sql(case, win))

    def value(self, case: Row, win: Window) -> bool | None:
        a, b = self.left.value(case, win), self.right.value(case, win)
        return None if a is None or b is None else bool(_OPS[self.op](a, b))


_OPS: dict[str, Callable[[Any, Any], Any]] = {"=": operator.eq, ">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Between(Cond):
    """x BETWEEN lo AND hi, i.e. lo <= x AND x <= hi."""

    x: Term
    lo: Term
    hi: Term

    def sql(self, case: Columns, win: Columns) -> Any:
        return self.x.sql(case, win).between(self.lo.sql(case, win), self.hi.sql(case, win))

    def value(self, case: Row, win: Window) -> bool | None:
        return All(Cmp(">=", self.x, self.lo), Cmp("<=", self.x, self.hi)).value(case, win)


@dataclass(frozen=True)
class In(Cond):
    x: Term
    values: tuple[str, ...]

    def sql(self, case: Columns, win: Columns) -> Any:
        return self.x.sql(case, win).in_(self.values)

    def value(self, case: Row, win: Window) -> bool | None:
        x = self.x.value(case, win)
        return None if x is None else x in self.values


@dataclass(frozen=True)
class Is(Cond):
    """x = the constant `equals` (a literal in SQL)."""

    x: Term
    equals: str

    def sql(self, case: Columns, win: Columns) -> Any:
        return self.x.sql(case, win) == self.equals

    def value(self, case: Row, win: Window) -> bool | None:
        x = self.x.value(case, win)
        return None if x is None else x == self.equals


@dataclass(frozen=True)
class IsNull(Cond):
    x: Term

    def sql(self, case: Columns, win: Columns) -> Any:
        return self.x.sql(case, win).is_(None)

    def value(self, case: Row, win: Window) -> bool:
        return self.x.value(case, win) is None


@dataclass(frozen=True)
class Flag(Cond):
    """A boolean term used as a condition."""

    x: Term

    def sql(self, case: Columns, win: Columns) -> Any:
        return self.x.sql(case, win)

    def value(self, case: Row, win: Window) -> bool | None:
        x = self.x.value(case, win)
        return None if x is None else bool(x)


class All(Cond):
    def __init__(self, *parts: Cond):
        self.parts = parts

    def sql(self, case: Columns, win: Columns) -> Any:
        return and_(*(p.sql(case, win) for p in self.parts))

    def value(self, case: Row, win: Window) -> bool | None:
        out: bool | None = True
        for part in self.parts:
            v = part.value(case, win)
            if v is False:
                return False
            if v is None:
                out = None
        return out


class AnyOf(Cond):
    def __init__(self, *parts: Cond):
        self.parts = parts

    def sql(self, case: Columns, win: Columns) -> Any:
        return or_(*(p.sql(case, win) for p in self.parts))

    def value(self, case: Row, win: Window) -> bool | None:
        out: bool | None = False
        for part in self.parts:
            v = part.value(case, win)
            if v is True:
                return True
            if v is None:
                out = None
        return out


# ---- the rule ------------------------------------------------------------------------------------------------------
SAME_CATEGORY = Cmp("=", Col("category"), Win("category"))
OPEN_IN_WINDOW = All(  # open, and its sightings overlap the merge window
    In(Col("status"), tuple(sorted(OPEN))),
    Cmp(">=", Col("last_seen"), Win("since")),
    Cmp("<=", Col("first_seen"), Win("until")),
)
RECURS = All(  # closed within the recurrence window
    Is(Col("status"), CLOSED), Cmp(">=", Col("closed_at"), Win("recur_since"))
)
AT_PLACE = AnyOf(  # in the event's box, or (either side without a position) from the same source
    All(Between(Col("lat"), Win("lat0"), Win("lat1")), Between(Col("lon"), Win("lon0"), Win("lon1"))),
    All(
        Cmp("=", Col("source_id"), Win("source_id")),
        AnyOf(IsNull(Col("lat")), IsNull(Col("lon")), Flag(Win("no_geo"))),
    ),
)
CANDIDATE = All(SAME_CATEGORY, AnyOf(OPEN_IN_WINDOW, RECURS), AT_PLACE)


def match_key(case: Row, event: Event, category: Category, overlap_iou: float) -> MatchKey | None:
    """Sort key of a matching case (smaller is better), None when it does not match. Every case it accepts
    is `AT_PLACE` (the place box holds the merge radius's circle)."""
    recency = -case["last_seen"].timestamp()
    lat, lon = case["lat"], case["lon"]
    if event.geo is not None and lat is not None and lon is not None:
        d = haversine_m(lat, lon, event.geo.lat, event.geo.lon)
        return (0, d, recency) if d <= category.merge_radius_m else None
    if case["source_id"] != event.source_id:
        return None
    iou = float(box_iou([(case["x1"], case["y1"], case["x2"], case["y2"])], [event.bbox])[0, 0])
    return (1, -iou, recency) if iou >= overlap_iou else None


# ---- the candidate queries ---------------------------------------------------------------------------------------
_CASES = cast(Table, Case.__table__)
_C = _CASES.c
CANDIDATE_COLUMNS = (
    _C.id, _C.version, _C.category, _C.status, _C.source_id, _C.lat, _C.lon, _C.x1, _C.y1, _C.x2, _C.y2,
    _C.first_seen, _C.last_seen, _C.closed_at, _C.max_confidence, _C.observation_count, _C.reopen_count,
)  # fmt: skip
# the bound columns of the event rows `v`: j (the event's index) and the Window's fields, in order
_WINDOW_TYPES: dict[str, Any] = {
    "category": String(),
    "since": _C.last_seen.type,
    "until": _C.first_seen.type,
    "recur_since": _C.closed_at.type,
    "lat0": Float(),
    "lat1": Float(),
    "lon0": Float(),
    "lon1": Float(),
    "source_id": String(),
    "no_geo": Boolean(),
}
_WINDOW_FIELDS = tuple(f.name for f in fields(Window))
_V_COLUMNS: tuple[tuple[str, Any], ...] = (("j", Integer()),) + tuple((n, _WINDOW_TYPES[n]) for n in _WINDOW_FIELDS)
_SIZES = (1, 2, 4, 8, 16, 25, 50, 100)  # events per SQLite candidate query (a chunk is padded up to one)
_CHUNK = _SIZES[-1]


def candidate_rows(conn: Connection, windows: Sequence[Window]) -> list[tuple[int, dict[str, Any]]]:
    """For each window (by index), the columns of every case `CANDIDATE` holds for, as the transaction sees them
    (on SQLite the rows of the last window may come more than once)."""
    if not windows:
        return []
    rows: list[Any] = []
    if conn.dialect.name == "postgresql":
        # the windows as arrays, unnested: one short statement whatever the batch size (prepared once)
        values = [_row(j, w) for j, w in enumerate(windows)]
        arrays = {name: [v[k] for v in values] for k, (name, _) in enumerate(_V_COLUMNS)}
        rows = list(conn.execute(_pg_candidates_stmt(), arrays))
    else:
        for i in range(0, len(windows), _CHUNK):
            chunk = [_row(i + j, w) for j, w in enumerate(windows[i : i + _CHUNK])]
            size = next(s for s in _SIZES if s >= len(chunk))
            params: dict[str, Any] = {}
            for j in range(size):  # padded with the last event: the same rows again
                row = chunk[min(j, len(chunk) - 1)]
                params |= {f"{name}{j}": value for (name, _), value in zip(_V_COLUMNS, row, strict=True)}
            rows += conn.execute(_sqlite_candidates_stmt(size), params).all()
    out = []
    for row in rows:
        cols = dict(row._mapping)
        out.append((cols.pop("j"), cols))
    return out


def _row(j: int, window: Window) -> tuple[Any, ...]:
    """One event row of `v`: j, then the window's fields."""
    return (j, *(getattr(window, name) for name in _WINDOW_FIELDS))


def _select_candidates(v: Any) -> Select[Any]:
    """(j, case columns) of the cases `CANDIDATE` holds for, event rows `v` joined to `cases`."""
    return select(v.c.j, *CANDIDATE_COLUMNS).join_from(v, _CASES, CANDIDATE.sql(_C, v.c))


@functools.cache
def _pg_candidates_stmt() -> Select[Any]:
    """PostgreSQL: the events as `unnest` of one array per window field, `v(j, category, since, ...)`."""
    arrays = [sql_cast(bindparam(name), ARRAY(type_)) for name, type_ in _V_COLUMNS]
    v_columns = [column(name, type_) for name, type_ in _V_COLUMNS]
    v = func.unnest(*arrays).table_valued(*v_columns).render_derived(name="v")
    return _select_candidates(v)


@functools.cache
def _sqlite_candidates_stmt(size: int) -> Select[Any]:
    """SQLite: the events as a CTE `v`, one row each (bind names suffixed with the row's number)."""

    def bound(name: str, j: int, type_: Any) -> Any:
        p = bindparam(f"{name}{j}", type_=type_)
        return sql_cast(p, Float()) if isinstance(type_, Float) else p  # typed even when every row has NULL

    rows = [select(*(bound(name, j, type_).label(name) for name, type_ in _V_COLUMNS)) for j in range(size)]
    v = (union_all(*rows) if size > 1 else rows[0]).cte("v")
    return _select_candidates(v)
