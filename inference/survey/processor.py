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

from inference.detector import DetectorLike
from inference.errors import GeoError
from inference.files import MediaError
from inference.pipeline import FrameSampler
from inference.ports import EventSink, SurveyFileRecord, SurveyRepository
from inference.settings import PersistenceSettings, SurveySettings
from inference.survey.compare import MAX_PAIR_DISTANCE, find_changes
from inference.survey.context import IMAGE_KINDS, LOG_KINDS, SurveyContext, flight_value
from inference.survey.findings import CONSTRUCTION, CONTEXT_PX, Findings, SurveyResult
from inference.survey.images import ImageAnalyser
from inference.survey.report import FileSummary, write_report
from inference.survey.videos import VideoAnalyser
from inference.tiling import TiledDetector, TileSpec
from models.datadir import DataDir
from models.taxonomy import Taxonomy

__all__ = [
    "CONSTRUCTION",
    "CONTEXT_PX",
    "IMAGE_KINDS",
    "LOG_KINDS",
    "MAX_PAIR_DISTANCE",
    "SurveyProcessor",
    "SurveyResult",
    "flight_value",
    "process_survey",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str | None], None]  # (step, steps, current file or step name)


def process_survey(
    survey_id: int,
    *,
    repository: SurveyRepository,
    events: EventSink,
    load_detector: Callable[[], DetectorLike],
    taxonomy: Taxonomy,
    survey: SurveySettings,
    persistence: PersistenceSettings,
    batch: int,
    paths: DataDir,
    sampler: FrameSampler | None = None,
    on_progress: Progress | None = None,
) -> SurveyResult:
    """Load the detector (here, in the worker process: never at import) and process survey `survey_id`.

    A detector that cannot be loaded fails the survey (its error is kept on it) and raises. Re-running is safe:
    event ids are deterministic (the sink answers duplicates) and the survey's findings are replaced.
    """
    try:
        detector = load_detector()
    except Exception as exc:
        repository.set_status(survey_id, "failed", error=f"the detector could not be loaded: {exc}"[:2000])
        raise
    processor = SurveyProcessor(
        repository,
        events,
        detector,
        taxonomy,
        survey=survey,
        persistence=persistence,
        batch=batch,
        paths=paths,
        on_progress=on_progress,
        sampler=sampler,
    )
    return processor.run(survey_id)


class SurveyProcessor:
    """Processes one survey at a time. `events` takes the events (the case service); `detector` None: change
    detection only."""

    def __init__(
        self,
        repository: SurveyRepository,
        events: EventSink,
        detector: DetectorLike | None,
        taxonomy: Taxonomy,
        *,
        survey: SurveySettings,
        persistence: PersistenceSettings,
        batch: int,
        paths: DataDir,
        on_progress: Progress | None = None,
        sampler: FrameSampler | None = None,
    ):
        self.repository = repository
        self.sampler = sampler  # active learning: offered every analysed image / video frame
        self.events = events
        self.taxonomy = taxonomy
        self.paths = paths
        self.cfg = survey
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
        self.videos = VideoAnalyser(self.detector, self.model_version, taxonomy, persistence, batch, sampler)

    # ---- the run -----------------------------------------------------------------------------------------
    def run(self, survey_id: int) -> SurveyResult:
        survey = self.repository.get(survey_id)
        files = self.repository.files(survey_id)
        result = SurveyResult(survey_id, files=len(files))
        ctx = SurveyContext(survey, self.paths, self.cfg)
        logs = [f for f in files if f.kind in LOG_KINDS]  # the flight logs of the survey
        self.repository.set_status(survey_id, "processing", started_at=datetime.now(UTC), finished_at=None, error=None)
        steps = len(files) + 2  # + change detection + report
        findings = Findings(self.events, result)
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
            self.repository.replace_findings(survey_id, findings.rows)
            result.findings = len(findings.rows)
            result.report_dir = write_report(
                self.report_dir(survey_id), survey, self.repository.findings(survey_id), summaries, self.taxonomy
            )
        except Exception as exc:
            log.exception("survey %s failed", survey_id)
            self.repository.set_status(
                survey_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=datetime.now(UTC)
            )
            raise
        self._progress(survey_id, steps, steps, None, len(files))
        self.repository.set_status(
            survey_id,
            "done",
            finished_at=datetime.now(UTC),
            findings_count=result.findings,
            cases_created=result.cases_created,
            cases_merged=result.cases_merged,
        )
        return result

    def report_dir(self, survey_id: int) -> Path:
        return self.paths.survey_report(survey_id)

    def _progress(self, survey_id: int, step: int, steps: int, current: str | None, files: int) -> None:
        """Step `step` of `steps` (each file, then change detection, then the report) is starting."""
        self.repository.progress(survey_id, min(step, files), files, current, 100.0 * step / max(steps, 1))
        if self.on_progress:
            self.on_progress(step, steps, current)

    # ---- one file ----------------------------------------------------------------------------------------
    def _process_file(
        self,
        ctx: SurveyContext,
        f: SurveyFileRecord,
        logs: list[SurveyFileRecord],
        findings: Findings,
        placed: set[int],
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
            summary.error = str(exc).replace(str(self.paths.root), "<data>")[:1000]
        except MemoryError:
            summary.error = f"{f.name}: out of memory while processing"
        except Exception as exc:  # a bad file fails alone, whatever broke
            log.exception("survey %s file %s", ctx.survey.id, f.name)
            summary.error = f"{f.name}: {type(exc).__name__}: {exc}"[:1000]
        self.repository.file_result(f.id, summary.error, summary.detections, summary.findings)
        return summary

    # ---- change detection --------------------------------------------------------------------------------
    def _changes(self, ctx: SurveyContext, files: list[SurveyFileRecord], placed: set[int], findings: Findings) -> None:
        """The survey's placed images against the area's previous survey (`compare.find_changes`)."""
        previous = self.repository.previous(ctx.survey)
        if previous is None:
            return
        permits = self.repository.permits(ctx.survey.area)
        find_changes(ctx, files, placed, self.repository.files(previous.id), permits, findings)
