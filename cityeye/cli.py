"""The `cityeye` command. Each subcommand parses its arguments, builds settings and calls into a package.

Errors that users cause (bad paths, bad config, bad media) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cityeye.config import ConfigError, Settings, load_settings

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


# ---- datasets -----------------------------------------------------------------------------------------
def cmd_datasets_build(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import build_dataset
    from datasets.recipe import Recipe

    out = build_dataset(
        args.name, settings.datasets_dir, Path(args.data_root), Recipe.load(args.recipe),
        synthetic=(args.synthetic_train, args.synthetic_val), seed=args.seed, limit=args.limit,
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


# ---- training -----------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    _offline(settings)
    from training.base import base_checkpoint_from_legacy
    from training.train import TrainConfig, train

    dataset = _dataset_dir(args.dataset, settings)
    runs = Path(args.runs_dir) if args.runs_dir else settings.data_dir / "runs"
    base = Path(args.base) if args.base else None
    if base is None:
        if not Path(args.legacy).is_file():
            raise UserError(f"{args.legacy}: legacy YOLOv5 checkpoint not found (pass --legacy or --base)")
        from datasets.build import load_manifest

        base = base_checkpoint_from_legacy(Path(args.legacy), load_manifest(dataset)["classes"],
                                           runs / f"{args.name}-base.pt")
    cfg = TrainConfig(dataset=dataset, base=base, runs_dir=runs, name=args.name, epochs=args.epochs,
                      imgsz=args.imgsz, batch=args.batch, device=args.device, cache=not args.no_cache)
    out = train(cfg, resume=args.resume)
    print(f"training run written to {out}")
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
    t.add_argument("--resume", action="store_true", help="continue the run's last.pt")
    t.set_defaults(func=cmd_train)
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
