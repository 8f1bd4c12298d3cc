"""Settings of the data team's loop (verdicts -> dataset -> retrain -> compare -> candidate).
Assembled into the service's settings by `cityeye/config.py`."""

from __future__ import annotations

from pydantic import Field

from inference.settings import SamplingSettings
from models.config import StrictModel


class LoopSettings(StrictModel):
    """The data team's loop (verdicts → dataset → retrain → compare → candidate); see docs/data-loop.md."""

    margin: float = Field(default=0.02, ge=0, le=1, description="largest allowed per-category mAP50 drop to promote")
    every_h: float | None = Field(
        default=None, gt=0, le=24 * 366, description="run `cityeye loop run` on Celery beat every N hours (null: off)"
    )
    base_dataset: str | None = Field(
        default=None, description="dataset version the first feedback dataset extends (default: production's)"
    )
    include_confirmed: bool = Field(
        default=False, description="also train on confirmed detections' boxes (frames may hold unlabelled objects)"
    )
    epochs: int = Field(default=10, ge=1, le=1000, description="fine-tuning epochs from the production weights")
    imgsz: int = Field(default=320, ge=32, le=4096)
    batch: int = Field(default=16, ge=1, le=1024)
    reload_poll_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often workers re-read the production pointer (embedded mode)"
    )
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
