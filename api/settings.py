"""Settings of the API process: bind address and paging, operations (logs, metrics, limits), the web console.
Assembled into the service's settings by `cityeye/config.py`."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from models.config import StrictModel


class ApiSettings(StrictModel):
    host: str = Field(default="127.0.0.1", description="bind address of `cityeye serve`")
    port: int = Field(default=8000, ge=1, le=65535)
    page_size_max: int = Field(default=500, ge=1, le=10_000, description="largest page GET /cases returns")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="reverse proxies (IP addresses or CIDR networks, e.g. 10.0.0.5) whose X-Forwarded-For and "
        "X-Forwarded-Proto `cityeye serve` trusts for the client address; empty (default): none is trusted and "
        "the client is the TCP peer (set it to the proxy's address when one sits in front, see docs/operations.md)",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"forwarded_allow_ips: {item[:80]!r} is not an IP address or network") from None
        return [item.strip() for item in value]


class OpsSettings(StrictModel):
    """Operations: logs, metrics, readiness, request limits (see docs/operations.md)."""

    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line with request_id / camera_id / case_id fields"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    metrics: bool = Field(default=True, description="serve Prometheus metrics at GET /metrics")
    public: list[Literal["metrics", "ready", "docs"]] = Field(
        default_factory=list,
        description="operations routes open without a key once keys exist: metrics (GET /metrics), ready "
        "(GET /ready), docs (GET /openapi.json, which /docs and /redoc show); default: none (any valid key reads "
        "them; /health is always open)",
    )
    ready_model: bool = Field(
        default=True, description="GET /ready also checks that detector.model resolves to a weights file"
    )
    max_body_kb: int = Field(
        default=1024, ge=1, le=1_048_576, description="largest request body in KiB (JSON and forms); larger → 413"
    )
    max_upload_mb: int = Field(
        default=4096,
        ge=1,
        le=1_048_576,
        description="largest upload body in MiB (multipart, octet-stream, zip, image, video); larger → 413",
    )
    auth_failures_per_min: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="failed authentications per minute, counted per presented key prefix (a known key's) or else "
        "per client IP; further failures get 429, a valid key always passes (shared through Redis when redis_url "
        "is set)",
    )
    uploads_per_min: int = Field(default=60, ge=1, le=100_000, description="uploads per client IP per minute")
    outbound_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="connect/read timeout of outbound calls (Redis, Postgres connect)"
    )
    task_visibility_timeout_s: float = Field(
        default=3600.0,
        ge=1,
        le=7 * 86_400,
        description="a task not acknowledged this long after delivery (its worker died) is delivered again; "
        "longer than the longest task",
    )


class ConsoleSettings(StrictModel):
    enabled: bool = Field(default=True, description="serve the web console at /console")
    tile_url: str | None = Field(
        default=None,
        description="base-map tile URL template with {z}/{x}/{y} (e.g. a city's own tile server); null: the map "
        "draws a plain coordinate grid with the district outlines, which works offline",
    )
    tile_attribution: str = Field(default="", max_length=500, description="credit line shown with the tiles")
    tile_max_zoom: int = Field(default=19, ge=1, le=24, description="highest zoom level the tile server has")
    districts_geojson: Path | None = Field(
        default=None,
        description="GeoJSON FeatureCollection of district outlines (Polygon/MultiPolygon; `properties.name`); "
        "null: the rectangles of lifecycle.districts",
    )
    center: tuple[float, float] | None = Field(
        default=None, description="[lat, lon] the map opens on when there are no cases to fit"
    )


class Open311Settings(StrictModel):
    """Citizens' reports through Open311 (POST /open311/v2/requests) and their status lookups: limits of their own,
    apart from the inspectors' and operators' API, so a flood of citizen traffic never slows the staff down."""

    reports_per_app_per_min: int = Field(
        default=600, ge=1, le=1_000_000, description="reports one reporting app's key may post per minute"
    )
    reports_per_ip_per_min: int = Field(
        default=10, ge=1, le=1_000_000, description="reports one client IP may post per minute (any app key)"
    )
    lookups_per_ip_per_min: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="status lookups (Open311 reads by token, the public status page) per client IP per minute",
    )
