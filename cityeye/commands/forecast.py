"""`cityeye forecast backtest`: the hotspot forecast's rolling-origin back-test on a city's complaint history.

The history files are read by `cases.history.formats.read_history` (the same formats and mapping files as
`cityeye history import`); the engine is `cases.scoring.backtest`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING

from cityeye.commands.common import UserError

if TYPE_CHECKING:
    from cityeye.config import Settings


def _date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag}: not a date (YYYY-MM-DD): {text!r}") from None


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from cases.history.formats import BadRow, read_history
    from cases.history.mapping import load_mapping
    from cases.scoring.backtest import BacktestConfig, format_result, run_backtest
    from cityeye.commands.scoring import _threads
    from models.errors import Invalid

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    try:
        mapping = load_mapping(args.mapping)
    except Invalid as exc:
        raise UserError(str(exc)) from None
    config = BacktestConfig(
        start=_date(args.date_from, "--from"),
        end=_date(args.date_to, "--to"),
        cell_m=args.cell_m,
        horizon_days=1 if args.horizon == "day" else 7,
        top=args.top,
        refit_days=args.refit_days,
        train_days=args.train_days,
        models=models,
        timezone=mapping.timezone,
    )
    paths = [Path(p) for p in args.history]
    for p in paths:
        if not p.is_file():
            raise UserError(f"{p}: history file not found")
    bad = 0
    rows = []
    try:
        for row in read_history(paths, args.format, mapping):
            if isinstance(row, BadRow):
                bad += 1
            else:
                rows.append(row)
    except Invalid as exc:
        raise UserError(str(exc)) from None
    print(f"{len(rows)} history rows read ({bad} bad rows skipped)", file=sys.stderr)

    def progress(origin: date, n: int) -> None:
        if args.verbose:
            print(f"  origin {origin} ({n})", file=sys.stderr, flush=True)

    with _threads(args.threads):
        result = run_backtest(rows, config, progress=progress)
    print(format_result(result))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("forecast", help="hotspot forecast on a city's history").add_subparsers(
        dest="forecast_cmd", required=True
    )
    bt = s.add_parser(
        "backtest",
        help="roll the forecast origin through a period; hit rate, PAI and deviance of the models and baselines",
    )
    bt.add_argument("--history", nargs="+", required=True, metavar="FILE", help="complaint history files")
    bt.add_argument("--format", required=True, help="history format (as for `cityeye history import`)")
    bt.add_argument("--mapping", required=True, help="mapping YAML (types, closure reasons or CSV columns)")
    bt.add_argument("--from", dest="date_from", required=True, help="first forecast origin (YYYY-MM-DD)")
    bt.add_argument("--to", dest="date_to", required=True, help="last day a forecast period may cover (YYYY-MM-DD)")
    bt.add_argument("--cell-m", type=float, default=250.0, help="grid cell size in metres (default 250)")
    bt.add_argument("--horizon", choices=("day", "week"), default="week", help="forecast period (default week)")
    bt.add_argument("--top", type=float, default=0.01, help="share of the study-area cells flagged hot (default 0.01)")
    bt.add_argument("--models", default="hgb,glm", help="comma-separated models to score: hgb, glm (default both)")
    bt.add_argument("--refit-days", type=int, default=28, help="refit the models every this many days (default 28)")
    bt.add_argument("--train-days", type=int, default=365, help="days of origins each fit learns from (default 365)")
    bt.add_argument("--threads", type=int, default=0, help="CPU threads for model fitting (0 = all cores)")
    bt.add_argument("-v", "--verbose", action="store_true", help="print each origin as it is scored")
    bt.set_defaults(func=cmd_backtest)
