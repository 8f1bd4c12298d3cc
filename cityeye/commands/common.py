"""What the command modules share: the one-line user error, settings helpers, name → path lookups."""

from __future__ import annotations

from pathlib import Path

from cityeye.config import Settings

DEFAULT_DATA_ROOT = Path("../shared/data")
DEFAULT_LEGACY = Path("../shared/pretrained/yolov5n.pt")


class UserError(Exception):
    """An error to show as one line (exit 1)."""


def offline(settings: Settings) -> None:
    from models.offline import configure_ultralytics

    configure_ultralytics(settings.data_dir)


def dataset_dir(name_or_path: str, settings: Settings) -> Path:
    p = Path(name_or_path)
    if (p / "manifest.json").is_file():
        return p
    q = settings.datasets_dir / name_or_path
    if (q / "manifest.json").is_file():
        return q
    raise UserError(f"dataset {name_or_path!r} not found (neither a folder with manifest.json nor in {q.parent})")


def weights_path(spec: str, settings: Settings) -> Path:
    """A weights file: a path, or a registry version name."""
    p = Path(spec)
    if p.suffix in {".pt", ".onnx"}:
        if not p.is_file():
            raise UserError(f"{p}: model file not found")
        return p
    from models.registry import Registry

    return Registry(settings.models_dir).weights(spec, "pt")
