"""`GET /forecast`: the hotspot forecast (expected problems per grid cell and category), as GeoJSON for the map.

It serves the newest fitted forecast of the registry (`cases.scoring.registry.ForecastStore`, written by the
periodic refit or `cityeye scoring forecast --save`); 404 when none was fitted for the horizon / cell size.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.auth import ReaderDep
from api.deps import ForecastsDep, ServiceDep
from api.errors import InvalidInput, ResourceNotFound

router = APIRouter(tags=["forecast"])


@router.get(
    "/forecast",
    response_class=JSONResponse,
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "a GeoJSON FeatureCollection of grid cells"},
        404: {"description": "no forecast fitted for this horizon and cell size"},
        503: {"description": "the stored forecast is missing or corrupt (refit it)"},
    },
)
def get_forecast(
    store: ForecastsDep,
    service: ServiceDep,
    _reader: ReaderDep,
    horizon: Annotated[Literal["day", "week"], Query(description="the next day or the next week")] = "day",
    category: Annotated[str | None, Query(max_length=64, description="only this taxonomy category")] = None,
    cell_m: Annotated[
        float | None, Query(gt=0, le=100_000, description="grid cell size in metres (default: the newest fit's)")
    ] = None,
    min_total: Annotated[float, Query(ge=0, description="leave out cells expecting fewer problems")] = 0.0,
) -> JSONResponse:
    """Polygons of grid cells with `expected` (per category) and `total` problems expected over the period;
    `properties` of the collection give the period, cell size, categories and the forecast's version."""
    if category is not None and category not in service.taxonomy.categories:
        known = ", ".join(sorted(service.taxonomy.categories))
        raise InvalidInput(f"unknown category {category!r}; known: {known}")
    card = store.latest(horizon, cell_m)  # a missing or corrupt stored forecast: ScorerFileError, 503
    if card is None:
        fitted = sorted({f"{c.horizon}/{c.cell_m:g} m" for c in store.cards()})
        raise ResourceNotFound(
            f"no {horizon} forecast fitted"
            + (f" with cell_m={cell_m:g}" if cell_m is not None else "")
            + f"; fitted: {', '.join(fitted) or 'none'} (see `cityeye scoring forecast --save`)"
        )
    geo = store.geojson(card)
    if category is not None and category not in card.categories:
        raise ResourceNotFound(f"forecast {card.version} has no category {category!r}")
    features = []
    for feature in geo["features"]:
        props = feature["properties"]
        expected = {category: props["expected"][category]} if category is not None else props["expected"]
        total = round(sum(expected.values()), 4)
        if total < min_total:
            continue
        features.append({**feature, "properties": {**props, "expected": expected, "total": total}})
    meta = {**geo["properties"], "version": card.version, "horizon": horizon, "fitted_at": card.created_at}
    if category is not None:
        meta["categories"] = [category]
    body = {"type": "FeatureCollection", "properties": meta, "features": features}
    return JSONResponse(body, media_type="application/geo+json")
