"""Configuration building blocks every package's settings use: strict models, one error type, readable errors.

Each package owns its settings section (`inference/settings.py`, `cases/settings.py`, ...), built from
`StrictModel` so an unknown key is an error that names it; `cityeye/config.py` assembles the sections into the
service's `Settings`.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from models.errors import ModelsError


class StrictModel(BaseModel):
    """A settings model that refuses unknown keys (a typo is an error, not a silently ignored setting)."""

    model_config = ConfigDict(extra="forbid")


class ConfigError(ModelsError, ValueError):
    """A configuration file or value is invalid; `errors` holds one line per problem (no kind: a fault of the
    server's configuration, found at start)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def check_bbox(box: tuple[float, float, float, float]) -> None:
    """A [min_lon, min_lat, max_lon, max_lat] box in WGS84 with min < max (raises ValueError)."""
    min_lon, min_lat, max_lon, max_lat = box
    if not all(math.isfinite(v) for v in box):
        raise ValueError("box values must be finite numbers")
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ValueError(f"box must be [min_lon, min_lat, max_lon, max_lat] in degrees with min < max, got {list(box)}")


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


def format_errors(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per error: `key.path: message`, with the nearest valid key for unknown ones."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1, cutoff=0.5)
            msg = "unknown key" + (f" (did you mean '{near[0]}'?)" if near else "")
        lines.append(f"{path}: {msg}")
    return lines
