"""Factories that build real domain objects for the case-store and API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from inference.event import Event, EvidenceImage
from inference.frame import GeoContext

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
BASE_LAT, BASE_LON = 31.2304, 121.4737  # Shanghai, People's Square


def image(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A real BGR uint8 picture: a gradient with a filled box, so JPEG has something to encode."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[h // 4 : h // 2, w // 4 : w // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    return img


def north_of(metres: float, lat: float = BASE_LAT, lon: float = BASE_LON) -> GeoContext:
    """A position `metres` north of (lat, lon)."""
    return GeoContext(lat=lat + metres / 111_195.0, lon=lon)


def make_event(
    *,
    category: str = "garbage",
    class_name: str | None = None,
    source_id: str = "cam-1",
    start: datetime = T0,
    duration_s: float = 30.0,
    bbox: tuple[float, float, float, float] = (10.0, 10.0, 40.0, 40.0),
    confidence: float = 0.8,
    geo: GeoContext | None = None,
    evidence: tuple[EvidenceImage, ...] | None = None,
    **kwargs: Any,
) -> Event:
    """An Event with sensible defaults and one snapshot + one crop, unless `evidence` says otherwise."""
    if evidence is None:
        evidence = (EvidenceImage(image(), "snapshot"), EvidenceImage(image(24, 20, seed=1), "crop"))
    names = {"garbage": "garbage", "street_stall": "stall", "billboard_hazard": "signboard"}
    return Event(
        category=category,
        class_name=class_name or names.get(category, category),
        source_id=source_id,
        start=start,
        end=start + timedelta(seconds=duration_s),
        bbox=bbox,
        confidence=confidence,
        mean_confidence=confidence * 0.9,
        frames_seen=kwargs.pop("frames_seen", 5),
        model_version=kwargs.pop("model_version", "test-v1"),
        evidence=evidence,
        geo=geo,
        **kwargs,
    )


class Clock:
    """A settable clock for `CaseService(clock=...)`: SLA deadlines and overdue flags without sleeping."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now
