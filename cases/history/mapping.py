"""The mapping file of a history source: how its columns, types, closure reasons and sources become cityeye's.

A mapping is YAML, validated strictly (unknown keys are refused). Shipped ones live in `cases/history/mappings/`
and can be named without a path (`boston311`, `chicago311`, `csv-example`).
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cases.history.errors import HistoryError

MAPPINGS_DIR = Path(__file__).parent / "mappings"
ClosureOutcome = Literal["confirmed", "dismissed", "excluded", "duplicate", "unknown"]


class Closure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: str = Field(description="regular expression matched at the start of the closure text (case-insensitive)")
    outcome: ClosureOutcome = Field(
        description="confirmed / dismissed / excluded (closed, verdict unusable) / duplicate (row skipped) / "
        "unknown (closed, no verdict recorded)"
    )


class Columns(BaseModel):
    """Column names of a CSV export (the generic `csv` format needs them; the city formats have defaults)."""

    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(description="column holding the record's id in the source")
    type: str = Field(description="column holding the complaint type")
    opened_at: str = Field(description="column holding when the complaint was opened")
    closed_at: str | None = Field(default=None, description="column holding when it was closed")
    closure: str | None = Field(default=None, description="column holding the closure reason or status")
    lat: str | None = Field(default=None, description="latitude column (WGS84 degrees)")
    lon: str | None = Field(default=None, description="longitude column (WGS84 degrees)")
    source: str | None = Field(default=None, description="column holding how the complaint came in")
    district: str | None = Field(default=None, description="column holding the district / neighbourhood")


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="short name of the source (the default import name)")
    timezone: str = Field(default="UTC", description="IANA zone of naive timestamps in the source")
    datetime_format: str | None = Field(
        default=None, description="strptime format of the timestamps; ISO 8601 when not set"
    )
    columns: Columns | None = Field(default=None, description="column names (generic csv; overrides for others)")
    types: dict[str, str] = Field(description="source type -> cityeye category key or 'other'")
    unknown_types: Literal["other", "bad"] = Field(
        default="other", description="a type not listed: imported as 'other', or counted as a bad row"
    )
    closures: list[Closure] = Field(default_factory=list, description="closure reasons, first match wins")
    unmatched_closure: ClosureOutcome = Field(
        default="excluded", description="outcome of a closed record whose closure text matches no rule"
    )
    sources: dict[str, str] = Field(default_factory=dict, description="source value -> source type")
    default_source: str = Field(default="citizen", description="source type when the source is not given/listed")
    default_points: list[tuple[float, float]] = Field(
        default_factory=list, description="placeholder positions (lat, lon) meaning 'unknown': position dropped"
    )
    bounds: tuple[float, float, float, float] | None = Field(
        default=None, description="lat_min, lon_min, lat_max, lon_max: positions outside are dropped"
    )

    @cached_property
    def closure_patterns(self) -> list[tuple[re.Pattern[str], ClosureOutcome]]:
        return [(re.compile(c.match, re.IGNORECASE), c.outcome) for c in self.closures]

    def outcome_of(self, closure: str) -> ClosureOutcome:
        text = closure.strip()
        for pattern, outcome in self.closure_patterns:
            if pattern.match(text):
                return outcome
        return self.unmatched_closure


def load_mapping(spec: str | Path) -> Mapping:
    """A mapping from a YAML path, or a shipped mapping by name."""
    path = Path(spec)
    if not path.exists() and (MAPPINGS_DIR / f"{spec}.yaml").exists():
        path = MAPPINGS_DIR / f"{spec}.yaml"
    if not path.exists():
        shipped = sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
        raise HistoryError(f"mapping {spec}: no such file (shipped mappings: {', '.join(shipped)})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Mapping.model_validate(raw)
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()
        raise HistoryError(f"mapping {path}: {' '.join(first[:3])}") from exc
