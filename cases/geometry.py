"""Distances used to decide whether two sightings are one problem."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degrees_box(lat: float, lon: float, radius_m: float) -> tuple[float, float | None]:
    """Half-sizes (dlat, dlon) in degrees of a box that holds every point within `radius_m`.

    `dlon` is None where a longitude bound would not help (near the poles or across the antimeridian).
    """
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    cos_lat = math.cos(math.radians(lat))
    if abs(lat) + dlat >= 89.0 or cos_lat <= 1e-6:
        return dlat, None
    dlon = dlat / cos_lat
    if lon - dlon < -180.0 or lon + dlon > 180.0:
        return dlat, None
    return dlat, dlon
