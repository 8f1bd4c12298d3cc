"""The `cityeye` command: parses arguments, builds settings, and hands over to a command module.

Each module in `cityeye/commands/` owns one group of subcommands (`add_parser`) and calls into the
packages. Errors that users cause (bad paths, bad config, bad media) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cityeye.commands import cases as case_store
from cityeye.commands import (
    config,
    data,
    forecast,
    history,
    keys,
    loop,
    models,
    run,
    scoring,
    streams,
    survey,
    train,
    webhooks,
    worker,
)
from cityeye.commands.common import UserError
from cityeye.config import ConfigError, Settings, load_settings

COMMAND_MODULES = (run, config, data, train, models, worker, streams, survey, loop)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityeye", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--config", help="YAML config file (default: $CITYEYE_CONFIG)")
    p.add_argument("--data-dir", help="data directory (default ./cityeye-data)")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    keys.add_parser(sub)
    scoring.add_parser(sub)
    history.add_parser(sub)
    forecast.add_parser(sub)
    case_store.add_parser(sub)
    webhooks.add_parser(sub)
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
    except Exception as exc:
        # the case store's own errors (a full disk, a database that does not answer, an evidence file that cannot
        # be written) are the operator's to fix, not a bug: one line, exit 1. Anything else keeps its traceback.
        from sqlalchemy.exc import SQLAlchemyError

        from cases.errors import CaseError

        if not isinstance(exc, CaseError | SQLAlchemyError):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cityeye: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
