"""`cityeye history import | list | drop`: a city's past complaint records in the case store.

Imported records are historical cases of source `history:<name>`: never in the work queue, the case API,
Open311 or the console; `scoring evaluate|fit --history` and the forecast read them (or the files directly).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cityeye.config import Settings

FORMATS = ("boston311", "chicago311", "open311", "csv")


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from cases.history.formats import read_history
    from cases.history.mapping import load_mapping
    from cases.history.store import check_categories, check_name, import_history
    from cityeye.runtime import Runtime

    mapping = load_mapping(args.mapping)
    name = check_name(args.name or mapping.name)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with Runtime.from_settings(settings, webhooks="off") as rt:
        check_categories(mapping.types, tuple(rt.taxonomy.categories))
        rows = read_history([Path(f) for f in args.files], args.format, mapping)
        with tqdm(rows, unit=" rows", desc=f"history {name}", disable=None, mininterval=1.0) as bar:
            report = import_history(rt.sessions, name, bar, batch_size=args.batch)
    print("\n".join(report.lines()))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from cases.history.store import list_histories, source_of
    from cityeye.runtime import Runtime

    with Runtime.from_settings(settings, webhooks="off") as rt:
        rows = list_histories(rt.sessions)
    if not rows:
        print("no history imported (cityeye history import FILE --format F --mapping M)")
        return 0
    print(f"{'source':<28}{'records':>9}{'labelled':>10}  first .. last opened")
    for h in rows:
        span = f"{h.first:%Y-%m-%d} .. {h.last:%Y-%m-%d}" if h.first and h.last else "-"
        print(f"{source_of(h.name):<28}{h.rows:>9}{h.labelled:>10}  {span}")
    return 0


def cmd_drop(args: argparse.Namespace, settings: Settings) -> int:
    from cases.history.store import drop_history, source_of
    from cityeye.runtime import Runtime

    with Runtime.from_settings(settings, webhooks="off") as rt:
        n = drop_history(rt.sessions, args.name)
    print(f"{n} records of {source_of(args.name)} deleted")
    return 0


def add_parser(sub: Any) -> None:
    h = sub.add_parser("history", help="a city's past complaint records (311 / 12345) for scoring and forecasting")
    hs = h.add_subparsers(dest="history_command", required=True)
    imp = hs.add_parser("import", help="import complaint records as closed historical cases (idempotent)")
    imp.add_argument("files", nargs="+", metavar="FILE", help="export files (.gz is read as gzip)")
    imp.add_argument("--format", required=True, choices=FORMATS, help="the files' format")
    imp.add_argument(
        "--mapping", required=True, help="mapping YAML, or a shipped one by name (boston311, chicago311, csv-example)"
    )
    imp.add_argument("--name", help="import name; the cases' source is history:NAME (default: the mapping's name)")
    imp.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    imp.set_defaults(func=cmd_import)
    hs.add_parser("list", help="imported histories: records, labelled, period").set_defaults(func=cmd_list)
    drop = hs.add_parser("drop", help="delete every record of an imported history")
    drop.add_argument("name")
    drop.set_defaults(func=cmd_drop)
