"""`cityeye validate-config FILE`."""

from __future__ import annotations

import argparse
import sys

from cityeye.config import ConfigError, Settings, load_settings


def cmd_validate_config(args: argparse.Namespace, settings: Settings) -> int:
    try:
        load_settings(args.file)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{args.file}: {line}", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate-config", help="check a config file; print each error with its key path")
    v.add_argument("file")
    v.set_defaults(func=cmd_validate_config)
