"""Imported city history in the case store (`history_records`): import in batches, list, drop, read back.

Each batch of rows is one transaction; a record already stored under the same import name and source id is
left as it is, so importing a file again changes nothing. Bad rows (`BadRow`) are counted, never written.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases.history.errors import HistoryError
from cases.history.formats import OTHER, BadRow, HistoryRow, Outcome
from cases.orm import HistoryRecord

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
BATCH = 1000
Sessions = Callable[[], Session]


def source_of(name: str) -> str:
    """The case source of an import: `history:<name>`."""
    return f"history:{name}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise HistoryError(f"history name {name!r}: use 1-64 of a-z 0-9 _ . - (starting with a letter or digit)")
    return name


def check_categories(types: dict[str, str], categories: Sequence[str]) -> None:
    """Every category a mapping names must be the taxonomy's (or "other")."""
    unknown = sorted({c for c in types.values() if c != OTHER and c not in categories})
    if unknown:
        raise HistoryError(f"mapping names categories {unknown} the taxonomy does not know ({', '.join(categories)})")


@dataclass
class ImportReport:
    name: str
    imported: int = 0
    already: int = 0  # same name and source id stored before: left unchanged
    without_position: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    examples: list[BadRow] = field(default_factory=list)  # the first few bad rows, to show

    @property
    def read(self) -> int:
        return self.imported + self.already + sum(self.bad.values())

    def lines(self) -> list[str]:
        out = [
            f"history {self.name} ({source_of(self.name)}): {self.read} rows read, {self.imported} imported, "
            f"{self.already} already there, {sum(self.bad.values())} not imported"
        ]
        if self.without_position:
            out.append(f"  {self.without_position} imported without a position (none given, or a placeholder)")
        out += [f"  {n} {reason}" for reason, n in sorted(self.bad.items(), key=lambda kv: -kv[1])]
        out += [f"  e.g. {b.file}:{b.line}: {b.reason} {b.detail}".rstrip() for b in self.examples]
        return out


def _record(name: str, r: HistoryRow) -> HistoryRecord:
    return HistoryRecord(
        name=name,
        source_id=r.source_id,
        category=r.category or OTHER,
        raw_type=r.raw_type[:255],
        opened_at=r.opened_at,
        closed_at=r.closed_at,
        lat=r.lat,
        lon=r.lon,
        outcome=r.outcome,
        source_type=r.source_type[:32],
        district=r.district[:128] if r.district else None,
    )


def _write(sessions: Sessions, name: str, batch: list[HistoryRow], report: ImportReport) -> None:
    with sessions() as session, session.begin():
        ids = [r.source_id for r in batch]
        stored = set(
            session.scalars(
                select(HistoryRecord.source_id).where(HistoryRecord.name == name, HistoryRecord.source_id.in_(ids))
            )
        )
        new = [r for r in batch if r.source_id not in stored]
        session.add_all([_record(name, r) for r in new])
    report.imported += len(new)
    report.already += len(batch) - len(new)
    report.without_position += sum(not r.has_position for r in new)


def import_history(
    sessions: Sessions, name: str, rows: Iterable[HistoryRow | BadRow], batch_size: int = BATCH, examples: int = 3
) -> ImportReport:
    """Store the rows under `name`, `batch_size` per transaction. A failing batch rolls back alone and raises:
    the batches before it stay (each is whole), none after it is written; importing again completes it."""
    check_name(name)
    report = ImportReport(name)
    batch: list[HistoryRow] = []
    for row in rows:
        if isinstance(row, BadRow):
            report.bad[row.reason] += 1
            if len(report.examples) < examples:
                report.examples.append(row)
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            _write(sessions, name, batch, report)
            batch = []
    if batch:
        _write(sessions, name, batch, report)
    return report


@dataclass(frozen=True, slots=True)
class HistorySummary:
    name: str
    rows: int
    labelled: int  # confirmed or dismissed
    first: datetime | None
    last: datetime | None


def list_histories(sessions: Sessions) -> list[HistorySummary]:
    with sessions() as session:
        q = (
            select(
                HistoryRecord.name,
                func.count(),
                func.count(HistoryRecord.outcome).filter(HistoryRecord.outcome.in_(("confirmed", "dismissed"))),
                func.min(HistoryRecord.opened_at),
                func.max(HistoryRecord.opened_at),
            )
            .group_by(HistoryRecord.name)
            .order_by(HistoryRecord.name)
        )
        out = []
        for name, n, lab, first, last in session.execute(q):
            out.append(HistorySummary(name, int(n), int(lab or 0), _utc(first), _utc(last)))
        return out


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def drop_history(sessions: Sessions, name: str) -> int:
    """Delete every record of the import `name`; how many there were (0 raises: nothing of that name)."""
    check_name(name)
    with sessions() as session, session.begin():
        n = session.scalar(select(func.count()).select_from(HistoryRecord).where(HistoryRecord.name == name))
        session.execute(delete(HistoryRecord).where(HistoryRecord.name == name))
    if not n:
        raise HistoryError(f"no history named {name!r} (see `cityeye history list`)")
    return int(n)


def read_stored(sessions: Sessions, names: Sequence[str], chunk: int = 5000) -> Iterator[HistoryRow]:
    """The stored rows of the imports `names`, oldest first, as `HistoryRow`."""
    with sessions() as session:
        q = (
            select(HistoryRecord)
            .where(HistoryRecord.name.in_(list(names)))
            .order_by(HistoryRecord.opened_at, HistoryRecord.id)
            .execution_options(yield_per=chunk)
        )
        for rec in session.scalars(q):
            outcome: Outcome | None = rec.outcome if rec.outcome in ("confirmed", "dismissed", "excluded") else None  # type: ignore[assignment]
            yield HistoryRow(
                source_id=rec.source_id,
                category=rec.category,
                raw_type=rec.raw_type,
                opened_at=rec.opened_at,
                closed_at=rec.closed_at,
                lat=rec.lat,
                lon=rec.lon,
                outcome=outcome,
                source_type=rec.source_type,
                district=rec.district,
            )
