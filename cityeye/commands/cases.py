"""`cityeye cases prune-evidence [--dry-run] [--days N]`: apply the evidence retention policy."""

from __future__ import annotations

import argparse
from typing import Any

from cityeye.config import Settings


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from cases.retention import prune_evidence
    from cityeye.runtime import Runtime

    days = args.days if args.days is not None else settings.cases.evidence_retention_days
    if days is None:
        raise ValueError("no retention period: set cases.evidence_retention_days in the config or pass --days")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with Runtime.from_settings(settings, webhooks="off") as rt:
        report = prune_evidence(rt.sessions, rt.paths.evidence, days, dry_run=args.dry_run)
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"{verb} {report.files} evidence files ({report.bytes / 1e6:.1f} MB) of {report.cases} cases "
        f"closed or dismissed before {report.cutoff.isoformat(timespec='seconds')}"
    )
    return 0


def add_parser(sub: Any) -> None:
    cases = sub.add_parser("cases", help="case store maintenance")
    cs = cases.add_subparsers(dest="cases_command", required=True)
    prune = cs.add_parser(
        "prune-evidence", help="delete evidence images of cases closed/dismissed longer than the retention period"
    )
    prune.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    prune.add_argument("--days", type=float, help="retention period (default: cases.evidence_retention_days)")
    prune.set_defaults(func=cmd_prune)
