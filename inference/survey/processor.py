"""The survey processor: every file of a survey → sliced detection → positions → findings → events → cases;
then change detection against the area's previous survey (construction candidates, permit register), and the
report. A file that cannot be read fails alone (its error is kept on the file); the rest of the survey goes on.

    files ─ load (pose | GeoTIFF) ─> TiledDetector ─ Detections ─> positions (WGS84) ─> findings ─┬─> Event ─> sink
    previous survey ─ register ─> difference + morphology + structure test ─> candidates ─ permits ┘
                                                                                  └─> report (GeoJSON, images, HTML)

One job per module: `images` and `videos` analyse one file, `compare` is the change-detection step, `findings`
turns findings into rows and events, `context` reads the files of the survey being processed; this module runs
the steps in order and keeps the survey's status and progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cases.orm import SurveyFile
from cases.surveys import SurveyStore
from inference.detector import DetectorLike
from inference.errors import GeoError
from inference.event import Event
from inference.files import MediaError
from inference.pipeline import FrameSampler, IngestOutcome
from inference.survey.compare import MAX_PAIR_DISTANCE, find_changes
from inference.survey.context import IMAGE_KINDS, LOG_KINDS, SurveyContext, flight_value, report_dir
from inference.survey.findings import CONSTRUCTION, CONTEXT_PX, Findings, SurveyResult
from inference.survey.images import ImageAnalyser
from inference.survey.report import FileSummary, write_report
from inference.survey.videos import VideoAnalyser
from inference.tiling import TiledDetector, TileSpec
from models.taxonomy import Taxonomy

if TYPE_CHECKING:
    from cityeye.config import Settings

__all__ = [
    "CONSTRUCTION",
    "CONTEXT_PX",
    "IMAGE_KINDS",
    "LOG_KINDS",
    "MAX_PAIR_DISTANCE",
    "SurveyProcessor",
    "SurveyResult",
    "flight_value",
]

log = logging.getLogger(__name__)


class SurveyProcessor:
    """Processes one survey at a time. `sink` takes events (the case service's `ingest`)."""

    def __init__(
        self,
        store: SurveyStore,
        sink: Callable[[Event], IngestOutcome],
        detector: DetectorLike | None,
        taxonomy: Taxonomy,
        settings: Settings,
        on_progress: Callable[[int, int, str | None], None] | None = None,
        sampler: FrameSampler | None = None,
    ):
        self.store = store
        self.sampler = sampler  # active learning: offered every analysed image / video frame
        self.sink = sink
        self.taxonomy = taxonomy
        self.settings = settings
        self.cfg = settings.survey
        self.detector = (
            TiledDetector(
                detector,
                TileSpec(
                    size=self.cfg.tile_size or int(getattr(detector, "imgsz", 640)),
                    overlap=self.cfg.tile_overlap,
                    full_image=self.cfg.full_image,
                ),
            )
            if detector is not None
            else None
        )
        self.model_version = detector.version if detector is not None else "change-detection"
        self.on_progress = on_progress
        self.images = ImageAnalyser(self.detector, self.model_version, taxonomy, sampler)
        self.videos = VideoAnalyser(
            self.detector, self.model_version, taxonomy, settings.persistence, settings.detector.batch, sampler
        )

    # ---- the run -----------------------------------------------------------------------------------------
    def run(self, survey_id: int) -> SurveyResult:
        survey = self.store.get(survey_id)
        files = self.store.files(survey_id)
        result = SurveyResult(survey_id, files=len(files))
        ctx = SurveyContext(survey, self.settings.data_dir, self.cfg)
        logs = [f for f in files if f.kind in LOG_KINDS]  # the flight logs of the survey
        self.store.set_status(survey_id, "processing", started_at=datetime.now(UTC), finished_at=None, error=None)
        steps = len(files) + 2  # + change detection + report
        findings = Findings(self.sink, result)
        summaries: list[FileSummary] = []
        placed: set[int] = set()
        try:
            for n, f in enumerate(files):
                self._progress(survey_id, n, steps, f.name, len(files))
                summary = self._process_file(ctx, f, logs, findings, placed)
                summaries.append(summary)
                if summary.error:
                    result.file_errors += 1
                    result.errors[f.name] = summary.error
            self._progress(survey_id, len(files), steps, "change detection", len(files))
            self._changes(ctx, files, placed, findings)
            self._progress(survey_id, len(files) + 1, steps, "report", len(files))
            self.store.replace_findings(survey_id, findings.rows)
            result.findings = len(findings.rows)
            result.report_dir = write_report(
                self.report_dir(survey_id), survey, self.store.findings(survey_id), summaries, self.taxonomy
            )
        except Exception as exc:
            log.exception("survey %s failed", survey_id)
            self.store.set_status(
                survey_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=datetime.now(UTC)
            )
            raise
        self._progress(survey_id, steps, steps, None, len(files))
        self.store.set_status(
            survey_id,
            "done",
            finished_at=datetime.now(UTC),
            findings_count=result.findings,
            cases_created=result.cases_created,
            cases_merged=result.cases_merged,
        )
        return result

    def report_dir(self, survey_id: int) -> Path:
        return report_dir(self.settings.data_dir, survey_id)

    def _progress(self, survey_id: int, step: int, steps: int, current: str | None, files: int) -> None:
        """Step `step` of `steps` (each file, then change detection, then the report) is starting."""
        self.store.progress(survey_id, min(step, files), files, current, 100.0 * step / max(steps, 1))
        if self.on_progress:
            self.on_progress(step, steps, current)

    # ---- one file ----------------------------------------------------------------------------------------
    def _process_file(
        self, ctx: SurveyContext, f: SurveyFile, logs: list[SurveyFile], findings: Findings, placed: set[int]
    ) -> FileSummary:
        summary = FileSummary(file_id=f.id, name=f.name, kind=f.kind)
        try:
            if f.kind in IMAGE_KINDS:
                self.images.analyse(ctx, f, findings, summary, placed)
            elif f.kind == "mp4":
                self.videos.analyse(ctx, f, logs, findings, summary)
            else:
                summary.note = "flight log (kept with the survey)"
        except (MediaError, GeoError) as exc:
            summary.error = str(exc).replace(str(self.settings.data_dir), "<data>")[:1000]
        except MemoryError:
            summary.error = f"{f.name}: out of memory while processing"
        except Exception as exc:  # a bad file fails alone, whatever broke
            log.exception("survey %s file %s", ctx.survey.id, f.name)
            summary.error = f"{f.name}: {type(exc).__name__}: {exc}"[:1000]
        self.store.file_result(f.id, summary.error, summary.detections, summary.findings)
        return summary

    # ---- change detection --------------------------------------------------------------------------------
    def _changes(self, ctx: SurveyContext, files: list[SurveyFile], placed: set[int], findings: Findings) -> None:
        """The survey's placed images against the area's previous survey (`compare.find_changes`)."""
        previous = self.store.previous(ctx.survey)
        if previous is None:
            return
        permits = self.store.permits(ctx.survey.area)
        find_changes(ctx, files, placed, self.store.files(previous.id), permits, findings)
