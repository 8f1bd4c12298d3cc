"""`cityeye survey run PATH --area NAME`: a drone survey from local files, processed in this process with a
progress bar; `cityeye survey permits FILE --area NAME` adds permitted sites to an area's register."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cityeye.commands.common import UserError, offline
from cityeye.config import Settings


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise UserError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserError(f"{path}: the folder is empty")
        return files
    return [path]


def _store(settings: Settings) -> Any:
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime.from_settings(settings, webhooks="off").surveys


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from cases.uploads import UploadRejected, store_path
    from cityeye.jobs.surveys import run_survey
    from cityeye.runtime import Runtime

    files = _files(Path(args.path))
    flight: dict[str, Any] = {}
    if args.height is not None:
        flight["height_m"] = args.height
    if args.ground_altitude is not None:
        flight["ground_altitude_m"] = args.ground_altitude
    store = _store(settings)
    survey = store.create(args.area, args.name or "", flight, "cli")
    rejected = 0
    for f in files:
        try:
            for s in store_path(settings.data_dir, survey.id, f, settings.survey):
                store.add_file(
                    survey.id, s.name, s.sha256, s.size, s.kind, str(s.path.relative_to(settings.data_dir.resolve()))
                )
        except UploadRejected as exc:
            rejected += 1
            print(f"cityeye: error: {f}: {exc}", file=sys.stderr)
    if not store.files(survey.id):
        raise UserError(f"{args.path}: no survey media (JPEG, PNG, TIFF/GeoTIFF, MP4 or a zip of them)")
    offline(settings)
    store.claim(survey.id)
    bar = tqdm(total=100, unit="%", desc=f"survey {survey.id}", disable=args.quiet, leave=True)

    def on_progress(done: int, total: int, current: str | None) -> None:
        bar.n = round(100 * done / max(total, 1))
        bar.set_postfix_str((current or "")[:40])
        bar.refresh()

    try:
        with Runtime.from_settings(settings, webhooks="enqueue") as rt:  # new cases go out like the streams' cases
            result = run_survey(rt, survey.id, on_progress)
    finally:
        bar.close()
    for name, err in result.errors.items():
        print(f"cityeye: error: {name}: {err}", file=sys.stderr)
    print(
        f"survey {survey.id} ({args.area}): {result.files} files, {result.file_errors + rejected} with errors, "
        f"{result.findings} findings ({result.changes} new structures, {result.permitted} permitted), "
        f"{result.cases_created} new cases, {result.cases_merged} merged"
    )
    print(f"report: {result.report_dir / 'index.html' if result.report_dir else '-'}")
    return 1 if result.file_errors or rejected else 0


def cmd_permits(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: not a readable GeoJSON file ({exc})") from None
    rows = _store(settings).add_permits(args.area, data)
    print(f"{len(rows)} permitted sites added to {args.area}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("survey", help="drone surveys: process photos / video / orthomosaics of an area")
    ss = p.add_subparsers(dest="survey_command", required=True)
    r = ss.add_parser("run", help="a file, folder or zip of survey media → findings, cases and a report")
    r.add_argument("path")
    r.add_argument("--area", required=True, help="the area surveyed (change detection compares surveys of an area)")
    r.add_argument("--name", help="a name for this survey")
    r.add_argument("--height", type=float, help="flight height above ground, m (photos without XMP RelativeAltitude)")
    r.add_argument("--ground-altitude", type=float, help="ground elevation above sea level, m")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    pm = ss.add_parser("permits", help="add a GeoJSON FeatureCollection of permitted sites to an area")
    pm.add_argument("file")
    pm.add_argument("--area", required=True)
    pm.set_defaults(func=cmd_permits)
