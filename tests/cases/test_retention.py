from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, select

from cases.db import session_factory
from cases.errors import EvidenceNotFound
from cases.orm import Case, Evidence
from cases.retention import prune_evidence
from cases.service import CaseService
from cases.status import CaseStatus
from cityeye.cli import main
from inference.event import EvidenceImage
from tests.cases.factories import T0, image, make_event, north_of

NOW = T0 + timedelta(days=60)


def case_with_image(service: CaseService, engine: Engine, metres: float, status: CaseStatus, days_ago: float) -> int:
    event = make_event(geo=north_of(metres), source_id=f"cam-{metres:g}", evidence=(EvidenceImage(image()),))
    case_id = service.ingest(event).case_id
    with engine.begin() as conn:  # put the case in `status` since `days_ago` (bypassing the lifecycle)
        conn.execute(
            sa.update(Case)
            .where(Case.id == case_id)
            .values(status=status.value, status_since=NOW - timedelta(days=days_ago))
        )
    return case_id


def files(service: CaseService, case_id: int) -> list[Path]:
    with service.sessions() as session:
        rows = session.scalars(select(Evidence.path).where(Evidence.case_id == case_id)).all()
    return [service.evidence_dir / p for p in rows]


def pruned(service: CaseService, case_id: int) -> list[bool]:
    with service.sessions() as session:
        rows = session.scalars(select(Evidence.pruned_at).where(Evidence.case_id == case_id)).all()
    return [r is not None for r in rows]


def test_prune_deletes_images_of_old_closed_and_dismissed_cases_only(service: CaseService, engine: Engine) -> None:
    closed = case_with_image(service, engine, 0, CaseStatus.CLOSED, 40)
    dismissed = case_with_image(service, engine, 5000, CaseStatus.DISMISSED, 31)
    open_old = case_with_image(service, engine, 10000, CaseStatus.DISPATCHED, 90)  # open: never touched
    closed_recently = case_with_image(service, engine, 15000, CaseStatus.CLOSED, 29)
    everything = [p for c in (closed, dismissed, open_old, closed_recently) for p in files(service, c)]
    assert len(everything) == 4 and all(p.is_file() for p in everything)
    sessions = session_factory(engine)

    dry = prune_evidence(sessions, service.evidence_dir, 30, dry_run=True, clock=lambda: NOW)
    assert (dry.cases, dry.files, dry.dry_run) == (2, 2, True) and dry.bytes > 0
    assert all(p.is_file() for p in everything) and pruned(service, closed) == [False]

    report = prune_evidence(sessions, service.evidence_dir, 30, clock=lambda: NOW)
    assert (report.cases, report.files, report.bytes) == (2, 2, dry.bytes)
    for case_id in (closed, dismissed):
        assert [p.exists() for p in files(service, case_id)] == [False]
        assert pruned(service, case_id) == [True]
        with pytest.raises(EvidenceNotFound):
            service.get_evidence(case_id, 1)
        assert service.first_evidence([case_id]) == {}
    for case_id in (open_old, closed_recently):
        assert [p.is_file() for p in files(service, case_id)] == [True]
        assert pruned(service, case_id) == [False]
        assert service.get_evidence(case_id, 1).path.is_file()

    again = prune_evidence(sessions, service.evidence_dir, 30, clock=lambda: NOW)
    assert (again.cases, again.files) == (0, 0)


def test_prune_evidence_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "cases", "prune-evidence", "--dry-run"]) == 1
    assert "cases.evidence_retention_days" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "cases", "prune-evidence", "--days", "30", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("would delete 0 evidence files (0.0 MB) of 0 cases")
    assert main(["--data-dir", str(tmp_path), "cases", "prune-evidence", "--days", "30"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 evidence files")
