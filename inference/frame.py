"""`Frame`: one decoded image and where/when it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class GeoContext:
    """Where the picture was taken: the camera (or drone) position in WGS84."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude must be in [-90, 90], got {self.lat}")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude must be in [-180, 180], got {self.lon}")


@dataclass(frozen=True, slots=True)
class Frame:
    """A BGR uint8 image (H, W, 3) plus its source id, capture time and geo context.

    `index` is the frame number within its source (0 for a still image); `uri` names the file or
    stream it was read from, for evidence and error messages.
    """

    image: np.ndarray
    source_id: str
    timestamp: datetime
    index: int = 0
    uri: str = ""
    geo: GeoContext | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", None)
            raise ValueError(f"Frame.image must be a uint8 array of shape (H, W, 3), got {shape} {dtype}")
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"Frame.image is empty: shape {img.shape}")
        if self.timestamp.tzinfo is None:
            raise ValueError("Frame.timestamp must be timezone-aware (use UTC)")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
