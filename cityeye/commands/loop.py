"""`cityeye loop run | status`: the data team's loop from the command line (cron-friendly; exit 0 = candidate left)."""

from __future__ import annotations

import argparse

from cityeye.commands.train import _ultralytics_overrides
from cityeye.config import Settings


def cmd_loop_run(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.runtime import Runtime
    from training.loop import LoopError, run_loop

    with Runtime.from_settings(settings, webhooks="off") as rt:
        try:
            r = run_loop(
                settings.loop,
                rt.paths,
                rt.feedback,
                rt.detectors,
                name=args.name,
                base=args.base,
                epochs=args.epochs,
                extra=_ultralytics_overrides(args.set),
                require_new=not args.allow_empty,
            )
        except LoopError as exc:
            if args.quiet_if_nothing and "no new labelled feedback" in str(exc):
                print(f"nothing to do: {exc}")
                return 0
            raise
    print(f"dataset {r.dataset.name}: +{r.added} feedback frames (base val split untouched)")
    print(f"candidate {r.candidate} trained from production {r.production}: run {r.run}")
    print(f"comparison: {r.report}")
    print(
        f"gate: passes; promote with `cityeye models promote {r.candidate}`"
        if r.passes
        else "gate: refused: " + "; ".join(r.drops)
    )
    return 0


def cmd_loop_status(args: argparse.Namespace, settings: Settings) -> int:
    from cityeye.runtime import Runtime

    with Runtime.from_settings(settings, webhooks="off") as rt:
        rows = rt.feedback.list()
    by: dict[tuple[str, bool], int] = {}
    for r in rows:
        by[(r.origin, r.labelled)] = by.get((r.origin, r.labelled), 0) + 1
    print(f"{'origin':<12}{'labelled':>10}{'to label':>10}")
    for origin in ("verdict", "correction", "sample"):
        print(f"{origin:<12}{by.get((origin, True), 0):>10}{by.get((origin, False), 0):>10}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    lp = sub.add_parser("loop", help="the data team's loop (feedback → dataset → retrain → compare)")
    ls = lp.add_subparsers(dest="loop_cmd", required=True)
    r = ls.add_parser("run", help="build from feedback, train from production, compare, register a candidate")
    r.add_argument("--name", help="dataset / run / candidate name (default fb-<UTC time>)")
    r.add_argument("--base", help="dataset version to extend (default: newest feedback version, or production's)")
    r.add_argument("--epochs", type=int, help="default loop.epochs")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra ultralytics argument")
    r.add_argument("--allow-empty", action="store_true", help="train even without new feedback")
    r.add_argument("--quiet-if-nothing", action="store_true", help="exit 0 when there is no new feedback (cron)")
    r.set_defaults(func=cmd_loop_run)
    s = ls.add_parser("status", help="feedback frames by origin: labelled, to label")
    s.set_defaults(func=cmd_loop_status)
