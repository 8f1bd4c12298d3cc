"""Evidence retention: the images of cases closed or dismissed longer ago than `cases.evidence_retention_days`
are deleted; their evidence rows stay (what was seen, when, by which camera) and are marked `pruned_at`.

Open cases are never touched: the status is checked inside the write transaction that marks the rows, so a
case reopened meanwhile keeps its images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cases.db import WRITE
from cases.orm import Case, Evidence
from cases.status import CaseStatus

PRUNABLE = (CaseStatus.CLOSED.value, CaseStatus.DISMISSED.value)


@dataclass(frozen=True)
class PruneReport:
    """What a prune run removed (or, with `dry_run`, would remove)."""

    cutoff: datetime  # cases closed or dismissed before this lose their images
    cases: int
    files: int
    bytes: int
    dry_run: bool


def prune_evidence(
    sessions: sessionmaker[Session],
    evidence_dir: Path,
    retention_days: float,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PruneReport:
    """Delete the evidence files of cases closed or dismissed more than `retention_days` ago; mark the rows."""
    if retention_days <= 0:
        raise ValueError(f"retention_days must be > 0, got {retention_days}")
    now = clock()
    cutoff = now - timedelta(days=retention_days)
    root = evidence_dir.resolve()
    with sessions() as session:
        # SQLite: the write lock from BEGIN; Postgres: the cases rows locked, so no action reopens them meanwhile.
        session.connection(execution_options=WRITE)
        query = (
            select(Evidence.id, Evidence.case_id, Evidence.path)
            .join(Case, Case.id == Evidence.case_id)
            .where(Case.status.in_(PRUNABLE), Case.status_since < cutoff, Evidence.pruned_at.is_(None))
            .order_by(Evidence.case_id, Evidence.n)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Case)
        rows = session.execute(query).all()
        files = size = 0
        for _id, _case_id, rel in rows:
            path = (root / rel).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                continue
            files += 1
            size += path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
        if not dry_run and rows:
            ids = [r[0] for r in rows]
            for i in range(0, len(ids), 500):
                session.execute(update(Evidence).where(Evidence.id.in_(ids[i : i + 500])).values(pruned_at=now))
            session.commit()
    return PruneReport(cutoff=cutoff, cases=len({r[1] for r in rows}), files=files, bytes=size, dry_run=dry_run)
