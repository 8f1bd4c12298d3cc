"""The web console: static files (HTML, ES modules, CSS, vendored Leaflet) at /console, and `GET /console/config`,
the map settings and the list of optional APIs the page may use (forecast, surveys, cameras, models).

Everything the page loads comes from this server: no CDN, nothing fetched at run time, no build step for users
(the vendored libraries are committed; `api/console/vendor.sh` refreshes them from npm).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Scope

from api.auth import KeysDep
from api.deps import ApiConfig, SettingsDep
from models.config import ConfigError

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

router = APIRouter(tags=["console"])

# optional APIs other parts of cityeye add; the console shows their pages and layers only when they exist
OPTIONAL_APIS: dict[str, str] = {
    "forecast": "/forecast",
    "surveys": "/surveys",
    "cameras": "/cameras",
    "models": "/models",
}


def content_security_policy(settings: ApiConfig) -> str:
    """The browser itself refuses anything but this server (and the configured tile server, for images): scripts,
    styles, fetches and images from anywhere else are blocked, so a CDN reference could not slip in unnoticed."""
    img = ["'self'", "blob:", "data:"]
    parts = urlsplit(settings.console.tile_url or "")
    if parts.scheme and parts.netloc:  # a tile server elsewhere; `{s}` subdomains become a wildcard
        img.append(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}")
    return (
        "default-src 'self'; script-src 'self'; connect-src 'self'; "
        f"img-src {' '.join(img)}; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'"
    )


class ConsoleFiles(StaticFiles):
    """The console's static files, each sent with the console's Content-Security-Policy."""

    def __init__(self, settings: ApiConfig):
        super().__init__(directory=CONSOLE_DIR, html=True)
        self.csp = content_security_policy(settings)

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class ConsoleConfig(BaseModel):
    tile_url: str | None = Field(description="base-map tile URL template; null: coordinate grid + districts")
    tile_attribution: str
    tile_max_zoom: int
    center: tuple[float, float] | None = Field(description="[lat, lon] to open on when there are no cases")
    districts: dict[str, Any] = Field(description="district outlines, a GeoJSON FeatureCollection")
    page_size_max: int = Field(description="largest page GET /cases returns")
    reads_need_key: bool = Field(description="reading cases needs an API key (auth.open_read and the keys)")
    features: dict[str, bool] = Field(description="which optional APIs this server has")
    model_promotion: bool = Field(description="the server has a model promotion route")


def load_districts(settings: ApiConfig) -> dict[str, Any]:
    """District outlines as a FeatureCollection: `console.districts_geojson`, else the rectangles of
    `lifecycle.districts`. Raises `ConfigError` naming the file for anything that is not usable GeoJSON."""
    path = settings.console.districts_geojson
    if path is None:
        features = [
            {
                "type": "Feature",
                "properties": {"name": key, "title": district.name or key},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                },
            }
            for key, district in settings.lifecycle.districts.items()
            if district.bbox is not None
            for x0, y0, x1, y1 in [district.bbox]
        ]
        return {"type": "FeatureCollection", "features": features}
    where = f"console.districts_geojson: {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read ({exc.strerror or exc})"]) from exc
    except ValueError as exc:
        raise ConfigError([f"{where}: not valid JSON ({exc})"]) from exc
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ConfigError([f"{where}: must be a GeoJSON FeatureCollection"])
    for i, feature in enumerate(data["features"]):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict):
            raise ConfigError([f"{where}: feature {i} has no geometry"])
        kind = geometry.get("type")
        if kind not in ("Polygon", "MultiPolygon") or not isinstance(geometry.get("coordinates"), list):
            raise ConfigError([f"{where}: feature {i} must have a Polygon or MultiPolygon geometry, got {kind}"])
    return data


def _paths(request: Request) -> set[str]:
    """The API's documented paths (FastAPI builds the OpenAPI document once and caches it)."""
    return set(request.app.openapi().get("paths", {}))


@router.get("/console/config", response_model=ConsoleConfig)
def console_config(request: Request, settings: SettingsDep, keys: KeysDep) -> ConsoleConfig:
    """What the console's map needs, and which optional APIs exist. Open: it holds no case data."""
    paths = _paths(request)
    return ConsoleConfig(
        tile_url=settings.console.tile_url,
        tile_attribution=settings.console.tile_attribution,
        tile_max_zoom=settings.console.tile_max_zoom,
        center=settings.console.center,
        districts=request.app.state.districts,
        page_size_max=settings.api.page_size_max,
        reads_need_key=not open_read if (open_read := settings.auth.open_read) is not None else keys.any_ever(),
        features={name: path in paths for name, path in OPTIONAL_APIS.items()},
        model_promotion=any(p.startswith("/models/") and p.endswith("/promote") for p in paths),
    )


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console", include_in_schema=False)
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/")
