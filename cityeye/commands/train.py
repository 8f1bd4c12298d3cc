"""`cityeye train | evaluate`: fine-tune on a dataset version, measure, register."""

from __future__ import annotations

import argparse
from pathlib import Path

from cityeye.commands.common import DEFAULT_LEGACY, UserError, dataset_dir, offline, weights_path
from cityeye.config import Settings


def _ultralytics_overrides(pairs: list[str]) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set {pair!r}: expected KEY=VALUE (an ultralytics training argument)")
        out[key] = yaml.safe_load(value)
    return out


def _base_weights(spec: str, settings: Settings) -> Path:
    """`--base`: a checkpoint file, or a registry version (`production` = fine-tune the model in service)."""
    if Path(spec).suffix == ".pt":
        return Path(spec)
    from models.registry import Registry

    return Registry(settings.models_dir).weights(spec, "pt")


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    offline(settings)
    from training.base import base_checkpoint_from_legacy
    from training.train import TrainConfig, train

    dataset = dataset_dir(args.dataset, settings)
    runs = Path(args.runs_dir) if args.runs_dir else settings.paths.runs
    base = _base_weights(args.base, settings) if args.base else runs / f"{args.name}-base.pt"
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
        epochs=args.epochs or 10,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        cache=not args.no_cache,
        threads=args.threads,
        extra=_ultralytics_overrides(args.set),
    )
    out = train(cfg, resume=args.resume, resume_epochs=args.epochs if args.resume else None)
    print(f"training run written to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    offline(settings)
    from training.evaluate import evaluate, registry_metrics

    weights = weights_path(args.model, settings)
    dataset = dataset_dir(args.dataset, settings)
    out = Path(args.out) if args.out else settings.paths.reports / f"{weights.parent.name}-{dataset.name}"
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
                val_hash=m.get("val_hash", ""),
                parent=args.parent,
            ),
        )
        print(f"registered {mv.version} as {mv.stage}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="fine-tune a detector on a dataset version (resumable)")
    t.add_argument("dataset", help="dataset version name or folder")
    t.add_argument("--name", required=True, help="run name (folder under <data>/runs)")
    t.add_argument("--base", help="ultralytics checkpoint, or registry version ('production') to start from")
    t.add_argument("--legacy", default=str(DEFAULT_LEGACY), help="YOLOv5 .pt to initialise from (no --base)")
    t.add_argument("--runs-dir", help="where runs go (default <data>/runs)")
    t.add_argument("--epochs", type=int, help="planned epochs (default 10); with --resume: a new total for the run")
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
