"""`cityeye datasets build | stats | check | export | import | synth`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cityeye.commands.common import DEFAULT_DATA_ROOT, UserError, dataset_dir
from cityeye.config import Settings


def cmd_datasets_build(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import build_dataset
    from datasets.recipe import Recipe

    if args.from_feedback:
        from cityeye.runtime import Runtime
        from training.loop import build_feedback_dataset

        with Runtime.from_settings(settings, webhooks="off") as rt:
            out = build_feedback_dataset(settings.loop, rt.paths, rt.feedback, rt.detectors, args.name, args.base)
        print(f"dataset version {args.name} written to {out} (base + feedback; val split unchanged)")
        return cmd_datasets_stats(argparse.Namespace(dataset=str(out)), settings)
    if args.base:
        raise UserError("--base goes with --from-feedback")
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


def _classes(settings: Settings) -> list[str]:
    from models.registry import Registry

    return Registry(settings.models_dir).get("production").classes


def cmd_datasets_label_export(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.runtime import Runtime
    from datasets.labeling import export_cvat, export_label_studio

    export = export_label_studio if args.format == "label-studio" else export_cvat
    with Runtime.from_settings(settings, webhooks="off") as rt:
        frames = rt.feedback.list(origin=args.origin, labelled=None if args.all else False)
        target = export(frames, rt.paths.feedback, Path(args.out), _classes(settings))
    print(f"{len(frames)} frames -> {target} (images in {Path(args.out) / 'images'})")
    return 0


def cmd_datasets_label_import(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.runtime import Runtime
    from datasets.labeling import import_cvat, import_label_studio

    labels = (import_label_studio if args.format == "label-studio" else import_cvat)(Path(args.file))
    classes = _classes(settings)
    with Runtime.from_settings(settings, webhooks="off") as rt:
        for fid, boxes in labels.items():
            rt.feedback.set_labels(fid, boxes, f"import:{args.format}", classes)
    print(f"labels of {len(labels)} feedback frames imported ({sum(len(b) for b in labels.values())} boxes)")
    return 0


def cmd_datasets_stats(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import load_manifest

    m = load_manifest(dataset_dir(args.dataset, settings))
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

    ds = dataset_dir(args.dataset, settings)
    report = check_dataset(ds, load_manifest(ds)["classes"], near_dup_distance=args.near_dup, progress=True)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_datasets_export(args: argparse.Namespace, settings: Settings) -> int:
    from datasets.build import load_manifest
    from datasets.formats import export_coco, export_yolo, import_yolo

    ds = dataset_dir(args.dataset, settings)
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="dataset versions").add_subparsers(dest="datasets_cmd", required=True)
    b = ds.add_parser("build", help="build a dataset version from a recipe of labelled sources + synthetic")
    b.add_argument("name")
    b.add_argument("--recipe", help="recipe YAML (default: datasets/sources.yaml)")
    b.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT), help="folder holding the recipe's sources")
    b.add_argument("--synthetic-train", type=int, default=0, help="synthetic scenes added to train")
    b.add_argument("--synthetic-val", type=int, default=0, help="synthetic scenes added to val")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--limit", type=int, help="at most this many images per source split (for quick tries)")
    b.add_argument(
        "--from-feedback",
        action="store_true",
        help="the base version's train set + labelled feedback frames (false positives as negatives); val unchanged",
    )
    b.add_argument(
        "--base", help="with --from-feedback: version to extend (default: newest feedback one / production's)"
    )
    b.set_defaults(func=cmd_datasets_build)
    le = ds.add_parser("label-export", help="feedback frames → Label Studio tasks or CVAT XML (with pre-annotations)")
    le.add_argument("--format", choices=["label-studio", "cvat"], required=True)
    le.add_argument("--out", required=True)
    le.add_argument("--origin", choices=["verdict", "correction", "sample"], help="only frames of this origin")
    le.add_argument("--all", action="store_true", help="also frames that are labelled already (to review them)")
    le.set_defaults(func=cmd_datasets_label_export)
    li = ds.add_parser("label-import", help="a labelling tool's export → the feedback frames' labels")
    li.add_argument("--format", choices=["label-studio", "cvat"], required=True)
    li.add_argument("file")
    li.set_defaults(func=cmd_datasets_label_import)
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
