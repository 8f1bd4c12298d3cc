"""`cityeye models list | show | promote | package | export`: the model registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from cityeye.commands.common import UserError, offline
from cityeye.config import Settings


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
    from models.notify import publish_production
    from models.registry import Registry

    if args.force and not (args.note or "").strip():
        raise UserError("--force needs --note saying why (it is recorded in the registry)")
    reg = Registry(settings.models_dir)
    margin = settings.loop.margin if args.margin is None else args.margin
    mv = reg.promote(args.version, margin=margin, force=args.force)
    if args.note:
        reg.add_note(mv.version, f"promoted from the CLI: {args.note.strip()}")
    publish_production(settings.redis_url, mv.version)
    print(f"{mv.version} is now production")
    return 0


def cmd_models_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from models.notify import publish_production
    from models.registry import Registry

    mv = Registry(settings.models_dir).rollback(note="from the CLI" + (f": {args.note}" if args.note else ""))
    publish_production(settings.redis_url, mv.version)
    print(f"rolled back: {mv.version} is production again")
    return 0


def cmd_models_export(args: argparse.Namespace, settings: Settings) -> int:
    offline(settings)
    from inference.detector import export_onnx
    from models.registry import Registry

    reg = Registry(settings.models_dir)
    mv = reg.get(args.version)
    out = export_onnx(reg.weights(mv.version, "pt"), args.imgsz or mv.imgsz, reg.weights(mv.version, "onnx"))
    print(f"exported {mv.version} to {out}")
    return 0


def cmd_models_package(args: argparse.Namespace, settings: Settings) -> int:
    offline(settings)
    from models.registry import BUNDLED_DIR, Registry
    from training.package import package_default

    reg = Registry(settings.models_dir)
    mv = reg.get(args.version)
    out = Path(args.out) if args.out else BUNDLED_DIR / mv.version
    target = package_default(reg.weights(mv.version, "pt"), mv, out)
    print(f"packaged {mv.version} as {target} ({target.stat().st_size / 1e6:.1f} MB); add a MODEL_CARD.md beside it")
    return 0


def cmd_models_card(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import BUNDLED_DIR
    from training.model_card import write_model_card

    out = Path(args.out) if args.out else BUNDLED_DIR / args.version / "MODEL_CARD.md"
    write_model_card(args.version, Path(args.evaluation), Path(args.run), out, args.command or [])
    print(f"model card written to {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("models", help="the model registry").add_subparsers(dest="models_cmd", required=True)
    m.add_parser("list", help="versions, stages and headline metrics").set_defaults(func=cmd_models_list)
    ms = m.add_parser("show", help="one version as JSON")
    ms.add_argument("version")
    ms.set_defaults(func=cmd_models_show)
    mp = m.add_parser("promote", help="make a candidate production (gated per category)")
    mp.add_argument("version")
    mp.add_argument("--margin", type=float, help="largest allowed mAP50 drop per category (default loop.margin)")
    mp.add_argument("--force", action="store_true", help="skip the gate (needs --note; recorded in the registry)")
    mp.add_argument("--note", help="why (recorded in the version's notes)")
    mp.set_defaults(func=cmd_models_promote)
    mr = m.add_parser("rollback", help="make the previous production version production again")
    mr.add_argument("--note", help="why (recorded in both versions' notes)")
    mr.set_defaults(func=cmd_models_rollback)
    mk = m.add_parser("package", help="package a version as the bundled default (models/default/<version>)")
    mk.add_argument("version")
    mk.add_argument("--out", help="folder (default: models/default/<version> in the source tree)")
    mk.set_defaults(func=cmd_models_package)
    mc = m.add_parser("card", help="write MODEL_CARD.md from a training run and its evaluation")
    mc.add_argument("version")
    mc.add_argument("--evaluation", required=True, help="folder written by `cityeye evaluate` (metrics.json)")
    mc.add_argument("--run", required=True, help="training run folder (cityeye_run.json)")
    mc.add_argument("--command", action="append", help="a command that made the model (repeat, in order)")
    mc.add_argument("--out", help="default: models/default/<version>/MODEL_CARD.md")
    mc.set_defaults(func=cmd_models_card)
    mx = m.add_parser("export", help="export a version to ONNX (dynamic batch, simplified)")
    mx.add_argument("version")
    mx.add_argument("--imgsz", type=int)
    mx.set_defaults(func=cmd_models_export)
