"""Importing history into the case store (SQLite and PostgreSQL): counted, idempotent, whole batches, droppable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cases.db import session_factory
from cases.history.errors import HistoryError
from cases.history.formats import BadRow, HistoryRow, read_history
from cases.history.mapping import load_mapping
from cases.history.store import drop_history, import_history, list_histories, read_stored
from cases.orm import Case, HistoryRecord

FIX = Path(__file__).parent / "fixtures"


def boston_rows() -> Iterator[HistoryRow | BadRow]:
    return read_history([FIX / "boston311.csv.gz"], "boston311", load_mapping("boston311"))


def count(engine: Engine, name: str | None = None) -> int:
    with session_factory(engine)() as s:
        q = select(func.count()).select_from(HistoryRecord)
        if name:
            q = q.where(HistoryRecord.name == name)
        return int(s.scalar(q) or 0)


def test_import_counts_bad_rows_and_is_idempotent(engine: Engine) -> None:
    sessions = session_factory(engine)
    report = import_history(sessions, "boston", boston_rows(), batch_size=2)
    assert (report.imported, report.already, dict(report.bad)) == (5, 0, {"bad date": 1, "duplicate id": 1})
    assert report.without_position == 2  # City Hall placeholder + none given
    assert any("bad date" in line for line in report.lines())
    again = import_history(sessions, "boston", boston_rows(), batch_size=2)
    assert (again.imported, again.already) == (0, 5) and count(engine) == 5
    stored = {r.source_id: r for r in read_stored(sessions, ["boston"])}
    assert stored["101000000001"].opened_at == datetime(2011, 7, 1, 12, tzinfo=UTC)
    assert stored["101000000001"].outcome == "confirmed" and stored["101000000003"].lat is None
    with sessions() as s:  # nothing of it is a case: not in the queue, the case API, Open311 or the console
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    [summary] = list_histories(sessions)
    assert (summary.name, summary.rows, summary.labelled) == ("boston", 5, 3)
    assert drop_history(sessions, "boston") == 5 and count(engine) == 0
    with pytest.raises(HistoryError, match="no history named"):
        drop_history(sessions, "boston")


def test_a_failing_batch_leaves_only_whole_batches(engine: Engine) -> None:
    sessions = session_factory(engine)
    good = [r for r in boston_rows() if isinstance(r, HistoryRow)]
    naive = datetime(2011, 1, 1)  # refused by the store at flush: the batch holding it fails
    broken = HistoryRow("bad", "garbage", "t", naive, None, None, None, None, "phone", None)
    with pytest.raises(Exception, match="naive datetime"):
        import_history(sessions, "b", [*good[:3], broken, *good[3:]], batch_size=2)
    assert count(engine, "b") == 2  # the first batch; the failing one rolled back whole, nothing after it
    report = import_history(sessions, "b", good, batch_size=2)
    assert (report.imported, report.already) == (3, 2)


def test_names_checked(engine: Engine) -> None:
    with pytest.raises(HistoryError, match="history name"):
        import_history(session_factory(engine), "Bad Name!", [])
