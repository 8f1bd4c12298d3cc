"""Findings → events: every finding of a survey becomes a row of the survey's findings; the findings that are
problems also go to the sink as events (one case per real-world problem), and the row keeps the case id."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inference.detections import Detections
from inference.event import Event
from inference.evidence import annotate
from inference.frame import GeoContext
from inference.geo import wgs84_to_enu
from inference.pipeline import IngestOutcome
from inference.ports import EventSink, FindingRow

CONSTRUCTION = "illegal_construction"
CONTEXT_PX = 1024  # evidence snapshot: this much of a large image around the finding


@dataclass
class SurveyResult:
    survey_id: int
    files: int = 0
    file_errors: int = 0
    findings: int = 0
    cases_created: int = 0
    cases_merged: int = 0
    changes: int = 0
    permitted: int = 0
    report_dir: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)


def to_geo(latlon: np.ndarray) -> GeoContext | None:
    """A (lat, lon) position as a `GeoContext`; None when it is not finite (a pixel past the horizon)."""
    lat, lon = float(latlon[0]), float(latlon[1])
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return GeoContext(lat, lon)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Ground distance in metres between two WGS84 positions (local tangent plane)."""
    e, n = wgs84_to_enu(lat1, lon1, np.array([lat2]), np.array([lon2]))
    return float(math.hypot(e[0], n[0]))


def context_snapshot(image: np.ndarray, dets: Detections, cats: list[str | None], i: int) -> np.ndarray:
    """The annotated part of a large image around detection `i` (the whole image when small)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = dets.xyxy[i]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = CONTEXT_PX // 2
    ox = int(np.clip(cx - half, 0, max(0, w - CONTEXT_PX)))
    oy = int(np.clip(cy - half, 0, max(0, h - CONTEXT_PX)))
    sub = np.ascontiguousarray(image[oy : oy + CONTEXT_PX, ox : ox + CONTEXT_PX])
    shifted = Detections(
        dets.xyxy - np.array([ox, oy, ox, oy], np.float32), dets.confidence, dets.class_id, names=dets.names
    )
    return annotate(sub, shifted, cats, highlight=i)


class Findings:
    """The findings of one survey run: `rows` to store, and the events sent to `events`, counted in `result`."""

    def __init__(self, events: EventSink, result: SurveyResult):
        self.events = events
        self.result = result
        self.rows: list[FindingRow] = []

    def note(self, row: FindingRow) -> None:
        """A finding that is no case (a structure before change detection, a permitted change)."""
        self.rows.append(row)

    def report(self, event: Event, row: FindingRow) -> None:
        """A problem: `event` goes to the sink, and `row` is kept with the case id the sink answered."""
        outcome: IngestOutcome = self.events.ingest_many([event])[0]
        self.result.cases_created += int(outcome.created)
        self.result.cases_merged += int(outcome.merged)
        self.rows.append(replace(row, case_id=outcome.case_id))
