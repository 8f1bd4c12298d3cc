"""The `cityeye` command. Each subcommand parses its arguments, builds settings and calls into a package.

Errors that users cause (bad paths, bad config, bad media) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cityeye.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:  # heavy imports stay inside the commands that need them
    from cases.service import CaseService
    from inference.pipeline import PipelineReport
    from models.taxonomy import Taxonomy

DEFAULT_DATA_ROOT = Path("../shared/data")
DEFAULT_LEGACY = Path("../shared/pretrained/yolov5n.pt")

Handler = Callable[[argparse.Namespace, Settings], int]


class UserError(Exception):
    """An error to show as one line (exit 1)."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


def _offline(settings: Settings) -> None:
    from models.offline import configure_ultralytics

    configure_ultralytics(settings.data_dir)


# ---- detection, demo, API ---------------------------------------------------------------------------------
def _case_service(settings: Settings) -> tuple[CaseService, Taxonomy]:
    from cases.db import make_engine, migrate, session_factory
    from cases.service import CaseService
    from models.taxonomy import load_taxonomy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    migrate(settings, engine)
    taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
    return CaseService(session_factory(engine), settings, taxonomy), taxonomy


def _run_pipeline(path: Path, settings: Settings, quiet: bool = False) -> tuple[PipelineReport, CaseService, Taxonomy]:
    from inference.detector import Detector
    from inference.pipeline import FilePipeline, FileReport
    from inference.sources import list_media

    list_media(path)  # a missing or unsupported path fails here, before any model loads
    _offline(settings)
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

    media = make_demo_media(settings.data_dir / "demo-media")
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

    from api.main import create_app

    host = getattr(args, "host", None) or settings.api.host
    port = getattr(args, "port", None) or settings.api.port
    print(f"API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0


# ---- datasets -----------------------------------------------------------------------------------------
def cmd_datasets_build(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import build_dataset
    from datasets.recipe import Recipe

    out = build_dataset(
        args.name,
        settings.datasets_dir,
        Path(args.data_root),
        Recipe.load(args.recipe),
        synthetic=(args.synthetic_train, args.synthetic_val),
        seed=args.seed,
        limit=args.limit,
    )
    print(f"dataset version {args.name} written to {out}")
    return cmd_datasets_stats(argparse.Namespace(dataset=str(out)), settings)


def _dataset_dir(name_or_path: str, settings: Settings) -> Path:
    p = Path(name_or_path)
    if (p / "manifest.json").is_file():
        return p
    q = settings.datasets_dir / name_or_path
    if (q / "manifest.json").is_file():
        return q
    raise UserError(f"dataset {name_or_path!r} not found (neither a folder with manifest.json nor in {q.parent})")


def cmd_datasets_stats(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import load_manifest

    m = load_manifest(_dataset_dir(args.dataset, settings))
    print(f"{m['name']}  hash {m['hash']}  created {m['created_at']}")
    classes = m["classes"]
    splits = list(m["images"])
    print(f"{'split':<12}{'images':>8}" + "".join(f"{c:>14}" for c in classes))
    for s in splits:
        boxes = m["boxes"].get(s, {})
        print(f"{s:<12}{m['images'][s]:>8}" + "".join(f"{boxes.get(c, 0):>14}" for c in classes))
    for src, counts in m["images_per_source"].items():
        print(f"  {src:<20} " + "  ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def cmd_datasets_check(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import load_manifest
    from datasets.checks import check_dataset

    ds = _dataset_dir(args.dataset, settings)
    report = check_dataset(ds, load_manifest(ds)["classes"], near_dup_distance=args.near_dup, progress=True)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_datasets_export(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import load_manifest
    from datasets.formats import export_coco, export_yolo, import_yolo

    ds = _dataset_dir(args.dataset, settings)
    classes = load_manifest(ds)["classes"]
    out = Path(args.out)
    for split in args.splits:
        images = import_yolo(ds / "images" / split, ds / "labels" / split, classes)
        if args.format == "coco":
            target = export_coco(images, out / f"{split}.json", classes, images_root=ds / "images" / split)
        else:
            target = export_yolo(images, out, classes, split=split, link=not args.copy)
        print(f"{split}: {len(images)} images -> {target}")
    return 0


def cmd_datasets_import(args: argparse.Namespace, settings: Settings) -> int:
    """COCO JSON, Pascal VOC or YOLO (boxes or polygons) → YOLO layout, ready to be a recipe source."""
    from datasets.formats import export_yolo, import_coco, import_voc, import_yolo

    out = Path(args.out)
    classes: list[str] = list(args.classes or [])
    for split, src in (("train", args.train), ("val", args.val)):
        if src is None:
            continue
        src_path = Path(src)
        if args.format == "coco":
            images = import_coco(src_path, Path(args.images or src_path.parent))
        elif args.format == "voc":
            images = import_voc(src_path, Path(args.images or src_path))
        else:
            if not classes:
                raise UserError("--classes is required for YOLO input (names in class-id order)")
            images = import_yolo(src_path / "images", src_path / "labels", classes)
        for name in sorted({b.class_name for im in images for b in im.boxes} - set(classes)):
            classes.append(name)
        export_yolo(images, out, classes, split=split, link=not args.copy)
        print(f"{split}: {len(images)} images, {sum(len(i.boxes) for i in images)} boxes")
    print(f"classes (by id): {classes}\nwritten to {out} (images/<split>, labels/<split>, data.yaml)")
    return 0


def cmd_datasets_synth(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.synthetic import write_yolo_dataset

    counts = write_yolo_dataset(Path(args.out), args.train, args.val, seed=args.seed, size=(args.width, args.height))
    for split, per_class in counts.items():
        print(f"{split}: " + ", ".join(f"{c} {n}" for c, n in per_class.items()))
    return 0


# ---- training -----------------------------------------------------------------------------------------
def _ultralytics_overrides(pairs: list[str]) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set {pair!r}: expected KEY=VALUE (an ultralytics training argument)")
        out[key] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    _offline(settings)
    from training.base import base_checkpoint_from_legacy
    from training.train import TrainConfig, train

    dataset = _dataset_dir(args.dataset, settings)
    runs = Path(args.runs_dir) if args.runs_dir else settings.data_dir / "runs"
    base = Path(args.base) if args.base else runs / f"{args.name}-base.pt"
    if not args.base and not args.resume:
        if not Path(args.legacy).is_file():
            raise UserError(f"{args.legacy}: legacy YOLOv5 checkpoint not found (pass --legacy or --base)")
        from datasets.build import load_manifest

        base = base_checkpoint_from_legacy(Path(args.legacy), load_manifest(dataset)["classes"], base)
    cfg = TrainConfig(
        dataset=dataset,
        base=base,
        runs_dir=runs,
        name=args.name,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        cache=not args.no_cache,
        threads=args.threads,
        extra=_ultralytics_overrides(args.set),
    )
    out = train(cfg, resume=args.resume)
    print(f"training run written to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    _offline(settings)
    from training.evaluate import evaluate, registry_metrics

    weights = _weights(args.model, settings)
    dataset = _dataset_dir(args.dataset, settings)
    out = Path(args.out) if args.out else settings.data_dir / "reports" / f"{weights.parent.name}-{dataset.name}"
    results = evaluate(weights, dataset, out, imgsz=args.imgsz, conf=args.conf, device=args.device)
    for r in results:
        o = r.overall
        print(
            f"{r.name:<24} images {r.images:>5}  P {o['P']:.3f}  R {o['R']:.3f}  "
            f"mAP50 {o['mAP50']:.3f}  mAP50-95 {o['mAP50-95']:.3f}"
        )
    print(f"report: {out / 'report.md'}")
    if args.register:
        from datasets.build import load_manifest
        from models.registry import ModelVersion, Registry

        m = load_manifest(dataset)
        mv = Registry(settings.models_dir).register(
            weights,
            ModelVersion(
                version=args.register,
                classes=m["classes"],
                imgsz=args.imgsz,
                metrics=registry_metrics(results),
                dataset=m["name"],
                dataset_hash=m["hash"],
                parent=args.parent,
            ),
        )
        print(f"registered {mv.version} as {mv.stage}")
    return 0


def _weights(spec: str, settings: Settings) -> Path:
    """A weights file: a path, or a registry version name."""
    p = Path(spec)
    if p.suffix in {".pt", ".onnx"}:
        if not p.is_file():
            raise UserError(f"{p}: model file not found")
        return p
    from models.registry import Registry

    return Registry(settings.models_dir).weights(spec, "pt")


# ---- models -------------------------------------------------------------------------------------------
def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import Registry

    print(f"{'version':<24}{'stage':<12}{'mAP50/all':>10}  {'dataset':<20}{'parent':<16}created")
    for v in Registry(settings.models_dir).versions():
        print(
            f"{v.version:<24}{v.stage:<12}{v.metrics.get('mAP50/all', float('nan')):>10.3f}  "
            f"{v.dataset:<20}{v.parent or '-':<16}{v.created_at}"
        )
    return 0


def cmd_models_show(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import Registry

    print(Registry(settings.models_dir).get(args.version).model_dump_json(indent=2))
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import Registry

    mv = Registry(settings.models_dir).promote(args.version, margin=args.margin, force=args.force)
    print(f"{mv.version} is now production")
    return 0


def cmd_models_export(args: argparse.Namespace, settings: Settings) -> int:
    _offline(settings)
    from inference.detector import export_onnx
    from models.registry import Registry

    reg = Registry(settings.models_dir)
    mv = reg.get(args.version)
    out = export_onnx(reg.weights(mv.version, "pt"), args.imgsz or mv.imgsz, reg.weights(mv.version, "onnx"))
    print(f"exported {mv.version} to {out}")
    return 0


def cmd_models_package(args: argparse.Namespace, settings: Settings) -> int:
    _offline(settings)
    from models.registry import BUNDLED_DIR, Registry
    from training.package import package_default

    reg = Registry(settings.models_dir)
    mv = reg.get(args.version)
    out = Path(args.out) if args.out else BUNDLED_DIR / mv.version
    target = package_default(reg.weights(mv.version, "pt"), mv, out)
    print(f"packaged {mv.version} as {target} ({target.stat().st_size / 1e6:.1f} MB); add a MODEL_CARD.md beside it")
    return 0


# ---- config -------------------------------------------------------------------------------------------
def cmd_validate_config(args: argparse.Namespace, settings: Settings) -> int:
    try:
        load_settings(args.file)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{args.file}: {line}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityeye", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--config", help="YAML config file (default: $CITYEYE_CONFIG)")
    p.add_argument("--data-dir", help="data directory (default ./cityeye-data)")
    sub = p.add_subparsers(dest="command", required=True)

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

    v = sub.add_parser("validate-config", help="check a config file; print each error with its key path")
    v.add_argument("file")
    v.set_defaults(func=cmd_validate_config)

    ds = sub.add_parser("datasets", help="dataset versions").add_subparsers(dest="datasets_cmd", required=True)
    b = ds.add_parser("build", help="build a dataset version from a recipe of labelled sources + synthetic")
    b.add_argument("name")
    b.add_argument("--recipe", help="recipe YAML (default: datasets/sources.yaml)")
    b.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT), help="folder holding the recipe's sources")
    b.add_argument("--synthetic-train", type=int, default=0, help="synthetic scenes added to train")
    b.add_argument("--synthetic-val", type=int, default=0, help="synthetic scenes added to val")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--limit", type=int, help="at most this many images per source split (for quick tries)")
    b.set_defaults(func=cmd_datasets_build)
    s = ds.add_parser("stats", help="images and boxes per split, class and source")
    s.add_argument("dataset", help="dataset version name or folder")
    s.set_defaults(func=cmd_datasets_stats)

    c = ds.add_parser("check", help="corrupt images, bad labels, train/val duplicates and near-duplicates")
    c.add_argument("dataset", help="dataset version name or folder")
    c.add_argument("--near-dup", type=int, default=4, help="perceptual-hash distance counted as near-duplicate")
    c.set_defaults(func=cmd_datasets_check)
    x = ds.add_parser("export", help="export a dataset version as COCO JSON or YOLO (Label Studio / CVAT)")
    x.add_argument("dataset", help="dataset version name or folder")
    x.add_argument("--format", choices=["coco", "yolo"], default="coco")
    x.add_argument("--out", required=True)
    x.add_argument("--splits", nargs="+", default=["train", "val"])
    x.add_argument("--copy", action="store_true", help="copy images instead of linking them (yolo)")
    x.set_defaults(func=cmd_datasets_export)
    im = ds.add_parser("import", help="COCO / Pascal VOC / YOLO (boxes or polygons) → YOLO layout")
    im.add_argument("--format", choices=["coco", "voc", "yolo"], required=True)
    im.add_argument("--train", help="train split: COCO json, VOC annotations folder, or YOLO folder")
    im.add_argument("--val", help="val split, same kind as --train")
    im.add_argument("--images", help="images folder (COCO: default the json's folder; VOC: the annotations folder)")
    im.add_argument("--classes", nargs="+", help="class names in id order (YOLO input; fixes ids for others)")
    im.add_argument("--out", required=True)
    im.add_argument("--copy", action="store_true", help="copy images instead of linking them")
    im.set_defaults(func=cmd_datasets_import)
    sy = ds.add_parser("synth", help="synthetic street/aerial scenes with ground truth, in YOLO layout")
    sy.add_argument("out")
    sy.add_argument("--train", type=int, default=100)
    sy.add_argument("--val", type=int, default=20)
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--width", type=int, default=640)
    sy.add_argument("--height", type=int, default=480)
    sy.set_defaults(func=cmd_datasets_synth)

    t = sub.add_parser("train", help="fine-tune a detector on a dataset version (resumable)")
    t.add_argument("dataset", help="dataset version name or folder")
    t.add_argument("--name", required=True, help="run name (folder under <data>/runs)")
    t.add_argument("--base", help="ultralytics checkpoint to start from")
    t.add_argument("--legacy", default=str(DEFAULT_LEGACY), help="YOLOv5 .pt to initialise from (no --base)")
    t.add_argument("--runs-dir", help="where runs go (default <data>/runs)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--imgsz", type=int, default=320)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--device", default="cpu")
    t.add_argument("--no-cache", action="store_true", help="decode images from disk every epoch")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (default: cores - 1)")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra ultralytics training argument, e.g. --set close_mosaic=3 (unknown keys rejected)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run's last.pt")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="per-class/per-source/per-size metrics and a report for a model")
    e.add_argument("dataset", help="dataset version name or folder")
    e.add_argument("--model", default="production", help="registry version or weights file")
    e.add_argument("--imgsz", type=int, default=320)
    e.add_argument("--conf", type=float, default=0.25, help="confidence for recall by object size")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", help="report folder (default <data>/reports/<model>-<dataset>)")
    e.add_argument("--register", metavar="VERSION", help="also register the weights as this candidate version")
    e.add_argument("--parent", help="parent version (lineage) when registering")
    e.set_defaults(func=cmd_evaluate)

    m = sub.add_parser("models", help="the model registry").add_subparsers(dest="models_cmd", required=True)
    m.add_parser("list", help="versions, stages and headline metrics").set_defaults(func=cmd_models_list)
    ms = m.add_parser("show", help="one version as JSON")
    ms.add_argument("version")
    ms.set_defaults(func=cmd_models_show)
    mp = m.add_parser("promote", help="make a candidate production (gated per category)")
    mp.add_argument("version")
    mp.add_argument("--margin", type=float, default=0.02, help="largest allowed mAP50 drop per category")
    mp.add_argument("--force", action="store_true", help="skip the gate (recorded in the registry)")
    mp.set_defaults(func=cmd_models_promote)
    mk = m.add_parser("package", help="package a version as the bundled default (models/default/<version>)")
    mk.add_argument("version")
    mk.add_argument("--out", help="folder (default: models/default/<version> in the source tree)")
    mk.set_defaults(func=cmd_models_package)
    mx = m.add_parser("export", help="export a version to ONNX (dynamic batch, simplified)")
    mx.add_argument("version")
    mx.add_argument("--imgsz", type=int)
    mx.set_defaults(func=cmd_models_export)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        return int(args.func(args, settings))
    except ConfigError as exc:
        for line in exc.errors:
            print(f"cityeye: config error: {line}", file=sys.stderr)
        return 1
    except (UserError, ValueError, OSError, RuntimeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cityeye: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
