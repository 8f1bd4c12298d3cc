"""The problem categories and the class → category mapping, loaded from YAML configuration."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")
LIFECYCLE_STEPS = ("register", "dispatch", "handle", "verify", "close")


class SlaHours(BaseModel):
    """Time limit of each lifecycle step, in hours."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # `register` would shadow a pydantic BaseModel attribute, hence the alias
    register_: float = Field(gt=0, alias="register", description="发现 → 立案")
    dispatch: float = Field(gt=0, description="立案 → 派遣")
    handle: float = Field(gt=0, description="派遣 → 处置")
    verify: float = Field(gt=0, description="处置 → 核查")
    close: float = Field(gt=0, description="核查 → 结案")

    def hours(self, step: str) -> float:
        """Time limit of a lifecycle step by its name (one of LIFECYCLE_STEPS)."""
        if step not in LIFECYCLE_STEPS:
            raise KeyError(f"unknown lifecycle step {step!r}; steps: {', '.join(LIFECYCLE_STEPS)}")
        return float(getattr(self, "register_" if step == "register" else step))


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, description="case code used by the city's system")
    name_zh: str
    name_en: str
    severity: int = Field(ge=1, le=5, description="1 minor .. 5 dangerous")
    merge_radius_m: float = Field(gt=0, le=5000, description="events closer than this merge into one case")
    merge_window_h: float | None = Field(
        default=None,
        gt=0,
        le=24 * 365,
        description="an event merges into an open case seen within this many hours; null: cases.merge_window_h",
    )
    sla_hours: SlaHours


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: dict[str, Category]
    classes: dict[str, str | None] = Field(description="detector class name -> category key or null")

    def model_post_init(self, _context: object) -> None:
        unknown = {c for c in self.classes.values() if c is not None and c not in self.categories}
        if unknown:
            raise ValueError(f"classes map to unknown categories: {sorted(unknown)}")

    def category_of(self, class_name: str) -> str | None:
        """Category key for a detector class name; None for context-only or unknown classes."""
        return self.classes.get(class_name)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        p = Path(path) if path else DEFAULT_TAXONOMY
        with p.open(encoding="utf-8") as fh:
            return cls.model_validate(yaml.safe_load(fh))


@lru_cache(maxsize=8)
def load_taxonomy(path: str | None = None) -> Taxonomy:
    return Taxonomy.load(path)
