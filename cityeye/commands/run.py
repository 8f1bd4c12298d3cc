"""`cityeye detect | demo | serve`: media → detector → rules → cases, and the API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cityeye.commands.common import UserError, offline
from cityeye.config import Settings

if TYPE_CHECKING:  # heavy imports stay inside the commands that need them
    from cases.service import CaseService
    from inference.pipeline import PipelineReport
    from models.taxonomy import Taxonomy


def _case_service(settings: Settings) -> tuple[CaseService, Taxonomy]:
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # scale-out: workers send the webhooks; embedded: `serve` does (a short CLI run starts no delivery thread)
    rt = Runtime.from_settings(settings, webhooks="enqueue")
    return rt.cases, rt.taxonomy


def _run_pipeline(path: Path, settings: Settings, quiet: bool = False) -> tuple[PipelineReport, CaseService, Taxonomy]:
    from inference.detector import Detector
    from inference.files import list_media
    from inference.pipeline import FilePipeline, FileReport

    list_media(path)  # a missing or unsupported path fails here, before any model loads
    offline(settings)
    service, taxonomy = _case_service(settings)
    detector = Detector.load(settings.models_dir, settings.detector)
    if not quiet:
        print(f"model {detector.version} ({detector.loaded.backend}), imgsz {detector.imgsz}")

    def on_file(fr: FileReport) -> None:
        if fr.error:
            print(f"cityeye: error: {fr.error}", file=sys.stderr)
        elif not quiet:
            print(
                f"  {fr.path.name}: {fr.frames} frames, {fr.detections} detections, {fr.events} events, "
                f"{fr.cases_created} new cases, {fr.cases_merged} merged, {fr.duplicates} duplicates"
            )

    pipeline = FilePipeline(detector, taxonomy, settings.persistence, service.ingest, batch=settings.detector.batch)
    return pipeline.run(path, on_file=on_file), service, taxonomy


def _print_cases(service: CaseService, taxonomy: Taxonomy, case_ids: list[int] | None = None) -> None:
    if case_ids is None:
        rows = service.list_cases().items
    else:
        rows = [service.get_case(i).case for i in case_ids]
    print(f"{'case':>5}  {'category':<22}{'类别':<8}{'status':<11}{'obs':>4}{'conf':>6}  source")
    for c in sorted(rows, key=lambda c: c.id):
        cat = taxonomy.categories.get(c.category)
        print(
            f"{c.id:>5}  {c.category:<22}{cat.name_zh if cat else '':<8}{c.status:<11}{c.observation_count:>4}"
            f"{c.max_confidence:>6.2f}  {c.source_id}"
        )
    print(f"{len(rows)} cases")


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    report, service, taxonomy = _run_pipeline(Path(args.path), settings)
    ids = sorted({i for f in report.files for i in f.case_ids})
    print(
        f"{len(report.files)} files, {report.total('frames')} frames, {report.total('events')} events, "
        f"{report.total('cases_created')} new cases, {report.total('cases_merged')} merged"
    )
    if ids:
        _print_cases(service, taxonomy, ids)
    return 1 if report.errors else 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.demo import make_demo_media

    media = make_demo_media(settings.paths.demo_media)
    print(f"sample media (synthetic, made by cityeye) in {media.folder}")
    report, service, taxonomy = _run_pipeline(media.folder, settings)
    print()
    _print_cases(service, taxonomy)
    if report.total("events") == 0:
        raise UserError("the demo found nothing: the default model did not detect any problem")
    if args.no_serve:
        return 0
    return cmd_serve(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from cityeye.app import build_app

    host = getattr(args, "host", None) or settings.api.host
    port = getattr(args, "port", None) or settings.api.port
    from cityeye.logs import configure_logging

    print(f"API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)")
    configure_logging(settings.ops.log_format, settings.ops.log_level)
    # uvicorn's own loggers propagate to that one handler; the ops middleware writes the access log
    uvicorn.run(
        build_app(settings),
        host=host,
        port=port,
        log_level=settings.ops.log_level.lower(),
        log_config=None,
        access_log=False,
        # X-Forwarded-For only from the configured proxies (uvicorn's own default trusts 127.0.0.1, so a client
        # on the host could forge its address past the limits)
        proxy_headers=bool(settings.api.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.api.forwarded_allow_ips),
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("detect", help="image, directory or video → events → cases with evidence")
    d.add_argument("path")
    d.set_defaults(func=cmd_detect)
    dm = sub.add_parser("demo", help="synthetic sample media → default model → cases → API")
    dm.add_argument("--no-serve", action="store_true", help="stop after the summary instead of serving the API")
    dm.add_argument("--host")
    dm.add_argument("--port", type=int)
    dm.set_defaults(func=cmd_demo)
    sv = sub.add_parser("serve", help="the HTTP API (FastAPI + uvicorn)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.set_defaults(func=cmd_serve)
