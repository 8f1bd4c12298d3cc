"""Celery job of survey processing (`cityeye.surveys.process`, queued by `POST /surveys/{id}/process`).

The work is `inference.survey.processor.process_survey`; this module only hands it the process runtime's
collaborators. The model is loaded inside the job (in the worker process, or in the API's task thread in embedded
mode), never at import. Re-delivery after a worker died is safe: event ids are deterministic (the case service
answers duplicates) and the survey's findings are replaced, not appended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import shared_task

from cityeye.jobs import runtime

if TYPE_CHECKING:
    from cityeye.runtime import Runtime
    from inference.detector import DetectorLike
    from inference.survey.processor import Progress, SurveyResult


def run_survey(rt: Runtime, survey_id: int, on_progress: Progress | None = None) -> SurveyResult:
    """Process one survey with `rt`'s services (the job, and `cityeye survey run` in its own process)."""
    from cases.surveys import SqlSurveyRepository
    from inference.sampling import ActiveSampler
    from inference.survey.processor import process_survey

    def load_detector() -> DetectorLike:
        from inference.detector import Detector
        from models.offline import configure_ultralytics

        configure_ultralytics(rt.paths.root)
        return Detector.load(rt.paths.models, rt.settings.detector)

    return process_survey(
        survey_id,
        repository=SqlSurveyRepository(rt.sessions),
        events=rt.cases,
        load_detector=load_detector,
        taxonomy=rt.taxonomy,
        survey=rt.settings.survey,
        persistence=rt.settings.persistence,
        batch=rt.settings.detector.batch,
        paths=rt.paths,
        sampler=ActiveSampler(rt.settings.loop.sampling, rt.feedback),
        on_progress=on_progress,
    )


@shared_task(name="cityeye.surveys.process")
def process(survey_id: int) -> dict[str, Any]:
    result = run_survey(runtime(), int(survey_id))
    return {
        "survey_id": result.survey_id,
        "files": result.files,
        "file_errors": result.file_errors,
        "findings": result.findings,
        "cases_created": result.cases_created,
        "cases_merged": result.cases_merged,
    }


@shared_task(name="cityeye.survey.process")
def process_old_name(survey_id: int) -> dict[str, Any]:
    """The job's old name: surveys queued before the rename still run."""
    return process(survey_id)
