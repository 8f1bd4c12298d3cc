"""Write the generated reference pages of the docs site from the code.

    python tools/gen_reference.py            # rewrites docs/reference/configuration.md and docs/reference/cli.md
    python tools/gen_reference.py --check    # exit 1 if the checked-in pages differ from what the code gives

`docs/reference/configuration.md` comes from `cityeye.config.Settings` (every nested section, every key with
its type, default, bounds and description); `docs/reference/cli.md` from the parser of `cityeye.cli` (every
subcommand and flag with its help). `tests/cityeye/test_docs.py` fails when the checked-in pages are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the checkout's code, whatever is installed
    sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402
from pydantic_core import PydanticUndefined  # noqa: E402

REFERENCE = ROOT / "docs" / "reference"
GENERATED = "<!-- generated from the code by `python tools/gen_reference.py`; do not edit -->"


# --- configuration ------------------------------------------------------------------------------------------------


def _type_name(ann: Any) -> str:
    """A short, stable spelling of a field's type (the same on every machine)."""
    if ann is type(None):
        return "null"
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]"
    if origin is tuple:
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if isinstance(ann, type):
        if issubclass(ann, BaseModel):
            return "entry"
        if issubclass(ann, Path):
            return "path"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(ann.__name__, ann.__name__)
    return str(ann)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return "`" + json.dumps(_json_default(value), ensure_ascii=False) + "`"


def _bounds(field: FieldInfo) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}
    parts = []
    for meta in field.metadata:
        for attr, sign in signs.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    """One table cell: one line, `|` escaped, `<` and `>` escaped outside code spans (no stray HTML)."""
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _model_of(ann: Any) -> type[BaseModel] | None:
    """The section model a field holds: itself, or the item model of a list of models."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) is list:
        (item,) = typing.get_args(ann)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def _section(model: type[BaseModel], path: str, lines: list[str], nested: list[tuple[str, type[BaseModel]]]) -> None:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        sub = _model_of(field.annotation)
        if sub is not None and typing.get_origin(field.annotation) is list:
            nested.append((f"{key}[]", sub))
        elif sub is not None:
            nested.append((key, sub))
            continue  # a section of its own below
        env = "—" if "[]" in key else "`CITYEYE_" + key.replace(".", "__").upper() + "`"
        desc = field.description or ""
        if sub is not None:
            entries = f"a list of `{key}[]` entries (below); as an environment variable: JSON"
            desc = f"{desc} {entries}" if desc else entries
        rows.append(
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {_bounds(field)} | "
            f"{_cell(desc)} | {env} |"
        )
    if rows:
        lines += ["| key | type | default | bounds | description | environment |", "|---|---|---|---|---|---|", *rows]


def render_configuration() -> str:
    from cityeye.config import Settings

    lines = [
        GENERATED,
        "",
        "# Configuration reference",
        "",
        _cell(Settings.__doc__ or ""),
        "",
        "Every key of `cityeye.config.Settings`, section by section. A YAML file uses the key path as nesting",
        "(`detector: {imgsz: 416}`); an environment variable uses `CITYEYE_` and `__` between levels",
        "(`CITYEYE_DETECTOR__IMGSZ=416`). Unknown keys are errors. See [the configuration guide](../configuration.md)",
        "for precedence, validation and examples.",
        "",
    ]
    todo: list[tuple[str, type[BaseModel]]] = []
    lines += ["## Top level", ""]
    _section(Settings, "", lines, todo)
    while todo:
        path, model = todo.pop(0)
        lines += ["", f"## `{path}`", ""]
        if model.__doc__ and not model.__doc__.startswith(("A base class", "Usage docs")):
            lines += [_cell(model.__doc__), ""]
        more: list[tuple[str, type[BaseModel]]] = []
        _section(model, path, lines, more)
        todo = more + todo
    return "\n".join(lines) + "\n"


# --- command line -------------------------------------------------------------------------------------------------


def _usage(parser: argparse.ArgumentParser) -> str:
    fmt = argparse.HelpFormatter(prog=parser.prog, width=10_000)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return fmt.format_help().strip()


def _argument(action: argparse.Action) -> str:
    if not action.option_strings:
        if action.choices is not None and not action.metavar:
            return "`{" + ",".join(str(c) for c in action.choices) + "}`"
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    if action.choices is not None:
        meta = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        meta = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.nargs in ("+", "*"):
        meta += " …"
    return f"`{names} {meta}`"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help:
        return ""
    fmt = argparse.HelpFormatter(prog=parser.prog, width=10_000)
    return _cell(fmt._expand_help(action))


def _flag_default(action: argparse.Action) -> str:
    if action.option_strings and action.required:
        return "required"
    if action.nargs == 0 or action.default is None or action.default is argparse.SUPPRESS or action.default == []:
        return ""
    return f"`{action.default}`"


def _command(parser: argparse.ArgumentParser, help_line: str, depth: int, lines: list[str]) -> None:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if depth:
        lines += ([] if lines[-1] == "" else [""]) + ["#" * min(depth + 1, 4) + f" `{parser.prog}`", ""]
        if help_line:
            lines += [_cell(help_line), ""]
    if parser.description and (depth or not help_line):
        lines += [_cell(parser.description), ""]
    lines += ["```", _usage(parser), "```", ""]
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        rows.append(f"| {_argument(action)} | {_flag_default(action)} | {_help(parser, action)} |")
    if rows:
        lines += ["| argument | default | help |", "|---|---|---|", *rows, ""]
    for sub in subparsers:
        helps = {a.dest: a.help or "" for a in sub._choices_actions}
        lines += [f"- `{parser.prog} {name}`: {_cell(helps.get(name, ''))}" for name in sub.choices]
        for name, child in sub.choices.items():
            _command(child, helps.get(name, ""), depth + 1, lines)


def render_cli() -> str:
    from cityeye.cli import build_parser

    parser = build_parser()
    lines = [
        GENERATED,
        "",
        "# Command-line reference",
        "",
        "Every `cityeye` command and flag, as the parser of `cityeye.cli` defines them (`cityeye COMMAND -h` prints",
        "the same). The global options go before the command: `cityeye --config city.yaml serve`. See",
        "[the command-line guide](../cli.md) for what the commands are for.",
        "",
        "## `cityeye`",
        "",
    ]
    _command(parser, "", 0, lines)
    return "\n".join(lines) + "\n"


# --- entry point --------------------------------------------------------------------------------------------------

PAGES = {"configuration.md": render_configuration, "cli.md": render_cli}


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in PAGES.items():
        path = out_dir / name
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write the generated reference pages of the docs site")
    ap.add_argument("--out", type=Path, default=REFERENCE, help="folder to write to (default docs/reference)")
    ap.add_argument("--check", action="store_true", help="compare with the pages in --out instead of writing")
    args = ap.parse_args(argv)
    if args.check:
        stale = [n for n, render in PAGES.items() if (args.out / n).read_text(encoding="utf-8") != render()]
        for name in stale:
            print(f"{args.out / name}: stale; run `python tools/gen_reference.py`", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
