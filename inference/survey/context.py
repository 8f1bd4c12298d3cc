"""One survey being processed: where its files lie, how to read and place them, and how its findings are named."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference.ports import SurveyFileRecord, SurveyRecord
from inference.settings import SurveySettings
from inference.survey import media
from models.datadir import DataDir

IMAGE_KINDS = frozenset({"jpeg", "png", "tiff"})
LOG_KINDS = frozenset({"srt", "csv"})


def flight_value(flight: dict[str, Any], key: str) -> float | None:
    v = flight.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


@dataclass(frozen=True)
class SurveyContext:
    """The survey, the data dir its files are relative to, and the survey settings."""

    survey: SurveyRecord
    paths: DataDir
    cfg: SurveySettings

    @property
    def flight(self) -> dict[str, Any]:
        return self.survey.flight or {}

    @property
    def report_dir(self) -> Path:
        return self.paths.survey_report(self.survey.id)

    def path(self, f: SurveyFileRecord) -> Path:
        """The file on disk (its stored path is relative to the data dir)."""
        return self.paths.root / f.path

    def load(self, f: SurveyFileRecord) -> media.Located:
        """Decode the image `f` and place it (pose or GeoTIFF); the survey's flight fills in what EXIF lacks."""
        return media.load(
            self.path(f),
            f.kind,
            ground_alt_m=flight_value(self.flight, "ground_altitude_m"),
            height_m=flight_value(self.flight, "height_m"),
            sensor_width_mm=self.cfg.sensor_width_mm,
        )

    def placement(self, f: SurveyFileRecord) -> media.Placement | None:
        """Where the image `f` lies, from its metadata alone (no pixels decoded)."""
        return media.placement(
            self.path(f),
            f.kind,
            ground_alt_m=flight_value(self.flight, "ground_altitude_m"),
            height_m=flight_value(self.flight, "height_m"),
            sensor_width_mm=self.cfg.sensor_width_mm,
        )

    def taken_at(self, located: media.Located | None, f: SurveyFileRecord) -> datetime:
        """The capture time: the image's own, else the flight's date, else when the file was uploaded."""
        if located is not None and located.taken_at is not None:
            return located.taken_at
        raw = self.flight.get("date")
        if isinstance(raw, str):
            try:
                d = datetime.fromisoformat(raw)
                return d if d.tzinfo else d.replace(tzinfo=UTC)
            except ValueError:
                pass
        return f.created_at

    def source_id(self, f: SurveyFileRecord) -> str:
        return f"survey:{self.survey.area}:{f.sha256[:12]}"

    def uri(self, f: SurveyFileRecord) -> str:
        return f"survey:{self.survey.id}/{f.name}"
