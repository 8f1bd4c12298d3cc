"""A dataset recipe: which labelled sources go into a dataset version, and how their classes map."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_RECIPE = Path(__file__).with_name("sources.yaml")


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="folder with train/ and val/ (YOLO layout), relative to the data root")
    licence: str
    credit: str
    view: str = Field(default="street", pattern="^(street|aerial)$")
    names: list[str] = Field(min_length=1, description="the source's own class names, by id")
    remap: dict[str, str | None] = Field(description="source class -> model class, or null to drop")
    zoom_crops: int = Field(default=0, ge=0, le=8, description="close-up crops per train image")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classes: list[str] = Field(min_length=1)
    sources: dict[str, SourceSpec]

    def model_post_init(self, _context: object) -> None:
        for key, src in self.sources.items():
            missing = [n for n in src.names if n not in src.remap]
            if missing:
                raise ValueError(f"sources.{key}.remap: no mapping for classes {missing}")
            bad = {v for v in src.remap.values() if v is not None and v not in self.classes}
            if bad:
                raise ValueError(f"sources.{key}.remap: unknown model classes {sorted(bad)}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> Recipe:
        p = Path(path) if path else DEFAULT_RECIPE
        try:
            return cls.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"{p}: invalid dataset recipe: {exc}") from exc
