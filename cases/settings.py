"""Settings of the case store: merging, the lifecycle and districts, API keys, webhooks, predictive scoring.
Assembled into the service's settings by `cityeye/config.py`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from cases.districts import district_id
from models.config import StrictModel, check_bbox

Box = tuple[float, float, float, float]


class CaseSettings(StrictModel):
    merge_window_h: float = Field(
        default=72.0, gt=0, le=24 * 365, description="an event merges into an open case seen within this time"
    )
    overlap_iou: float = Field(
        default=0.2, gt=0, lt=1, description="without geo: boxes overlapping this much in one source merge"
    )
    evidence_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="`cityeye cases prune-evidence` deletes the evidence images of cases closed or dismissed "
        "longer ago than this; null keeps them forever. Open cases are never pruned",
    )


class DistrictSettings(StrictModel):
    """One district: its display name and (optionally) the box new cases are placed in by position."""

    name: str = Field(default="", max_length=128, description="display name (default: the id as configured)")
    bbox: Box | None = Field(default=None, description="[min_lon, min_lat, max_lon, max_lat]; null: no box")

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
            raise ValueError("district name must not contain control characters")
        return value

    @field_validator("bbox")
    @classmethod
    def _box_is_real(cls, value: Box | None) -> Box | None:
        if value is not None:
            check_bbox(value)
        return value


class LifecycleSettings(StrictModel):
    recurrence: Literal["reopen", "link", "off"] = Field(
        default="link",
        description="an event matching a case closed within recurrence_window_h: reopen it, open a new case "
        "linked to it as a repeat (repeat_of), or ignore the closed case",
    )
    recurrence_window_h: float = Field(default=168.0, gt=0, le=24 * 365, description="see recurrence")
    districts: dict[str, DistrictSettings] = Field(
        default_factory=dict,
        description="the districts (责任区): id -> [min_lon, min_lat, max_lon, max_lat] or {name, bbox}. Ids are "
        "case-insensitive (`Huangpu` and `huangpu` are one district; stored in lower case); once a list is "
        "configured, any other district in keys, filters and bodies is refused (422). A new case takes the "
        "first district whose box holds its position",
    )

    @field_validator("districts", mode="before")
    @classmethod
    def _ids_and_boxes(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, entry in value.items():
            try:
                canonical = district_id(key)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            if canonical in out:
                raise ValueError(f"district {key!r} is listed twice (ids are case-insensitive)")
            if isinstance(entry, list | tuple):
                entry = {"bbox": entry}
            if isinstance(entry, dict):
                entry = {"name": key, **entry}
            out[canonical] = entry
        return out

    def box_of(self, lat: float, lon: float) -> str | None:
        """The id of the first district whose box holds (lat, lon), or None."""
        for key, district in self.districts.items():
            if district.bbox is not None:
                min_lon, min_lat, max_lon, max_lat = district.bbox
                if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
                    return key
        return None


class AuthSettings(StrictModel):
    open_read: bool | None = Field(
        default=None,
        description="true: reads need no API key; false: they do; null (default): they do once the first key "
        "has been created (a fresh install can be browsed, `cityeye keys create` closes it; revoking or expiring "
        "every key does not open it again)",
    )


class WebhookSettings(StrictModel):
    url: str = Field(description="where to POST (http or https)")
    secret: str = Field(min_length=16, description="HMAC-SHA256 key of the X-Cityeye-Signature header")
    events: list[Literal["case.created", "case.status_changed"]] = Field(
        default=["case.created", "case.status_changed"], description="which events to send"
    )

    def model_post_init(self, _context: object) -> None:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http:// or https://, got {self.url[:80]!r}")
        low = self.secret.lower()
        if len(set(self.secret)) < 6 or any(w in low for w in ("changeme", "change-me", "placeholder", "example")):
            raise ValueError(
                "webhook secret looks like a placeholder: use a random string (e.g. `openssl rand -hex 32`)"
            )


class PushSettings(StrictModel):
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=50, description="after this many failures a delivery is dead")
    backoff_s: float = Field(default=2.0, gt=0, le=3600, description="first retry delay; doubles each time")
    backoff_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="per POST")
    poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how often due deliveries (retries) are looked for: the in-process thread, or the beat "
        "schedule of `cityeye worker --beat` in scale-out",
    )


class ScoringSettings(StrictModel):
    """Predictive scoring on live cases (cases/scoring): P(confirmed), priority and reasons, and the forecast."""

    live: bool = Field(
        default=True,
        description="score new and changed cases after each commit with the promoted scorer (none promoted: "
        "cases stay unscored and sort=priority uses severity alone)",
    )
    top_reasons: int = Field(default=3, ge=0, le=15, description="reasons kept per case")
    refit_every_s: float | None = Field(
        default=None,
        ge=60,
        description="scale-out: refit the scorer (and the forecasts) from the case store's verdicts this often "
        "(Celery beat, `cityeye.scoring.refit`); null: only by `cityeye scoring fit --db`",
    )
    min_verdicts: int = Field(
        default=300, ge=1, description="verdicts needed before the learned model is tried against the prior"
    )
    radius_m: float = Field(default=50.0, gt=0, le=5000, description="radius of the location-history features")
    auto_promote: bool = Field(
        default=True,
        description="a refit promotes the scorer it fitted (its fit already chose prior or learned on held-out "
        "verdicts) and queues the rescoring of the open cases; false: it stays a candidate",
    )
    forecast_cell_m: list[float] = Field(
        default_factory=lambda: [250.0],
        description="grid cell sizes (metres) the periodic refit fits forecasts for (day and week each)",
    )
    forecast_min_days: int = Field(
        default=28, ge=21, description="days of confirmed-case history needed before a forecast is fitted"
    )
