"""The generated reference pages of the docs site match the code (settings descriptions, CLI flags)."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "tools" / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_reference_pages_are_what_the_code_generates(tmp_path: Path) -> None:
    written = _generator().write(tmp_path)
    assert sorted(p.name for p in written) == ["cli.md", "configuration.md"]
    for page in written:
        checked_in = REFERENCE / page.name
        assert checked_in.read_text(encoding="utf-8") == page.read_text(encoding="utf-8"), (
            f"{checked_in.relative_to(ROOT)} is stale: run `python tools/gen_reference.py` and commit the result"
        )


def _keys(model: type, path: str = "") -> list[tuple[str, str]]:
    """(section path, key) of every leaf setting, sections included recursively."""
    out = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        ann = field.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            out += _keys(ann, f"{path}.{name}" if path else name)
        else:
            out.append((path, name))
    return out


def test_every_setting_and_every_command_is_in_the_reference() -> None:
    from cityeye.cli import build_parser
    from cityeye.config import Settings

    config = (REFERENCE / "configuration.md").read_text(encoding="utf-8")
    keys = _keys(Settings)
    assert len(keys) > 100
    for section, key in keys:
        heading = f"## `{section}`" if section else "## Top level"
        body = config.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        assert f"| `{key}` |" in body, f"{section}.{key} missing"
    cli = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in sub.choices:
        assert f"## `cityeye {name}`" in cli


def test_the_generator_runs_as_a_script_and_its_check_passes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
