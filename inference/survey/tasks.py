"""Celery task of survey processing (`cityeye.survey.process`): thin; the work is `SurveyProcessor.run`.

The model is loaded inside the task (in the worker process, or in the API's task thread in embedded mode),
never at import. Re-delivery after a worker died is safe: event ids are deterministic (the case service
answers duplicates) and the survey's findings are replaced, not appended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import shared_task

from cityeye.tasks import current_settings

if TYPE_CHECKING:
    from cityeye.config import Settings

log = logging.getLogger(__name__)


def run_survey(
    settings: Settings, survey_id: int, on_progress: Callable[[int, int, str | None], None] | None = None
) -> Any:
    """Build the case service, the store and the detector for `settings`, and process one survey."""
    from cases.db import make_engine, migrate, session_factory
    from cases.service import CaseService
    from cases.surveys import SurveyStore
    from cases.tasks import wire_webhooks
    from inference.detector import Detector
    from inference.survey.processor import SurveyProcessor
    from models.offline import configure_ultralytics
    from models.taxonomy import load_taxonomy

    engine = make_engine(settings)
    try:
        migrate(settings, engine)
        sessions = session_factory(engine)
        store = SurveyStore(sessions)
        taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
        service = CaseService(sessions, settings, taxonomy)
        wire_webhooks(service, settings, start_thread=False)  # new cases go out like the streams' cases
        try:
            configure_ultralytics(settings.data_dir)
            detector = Detector.load(settings.models_dir, settings.detector)
        except Exception as exc:
            store.set_status(survey_id, "failed", error=f"the detector could not be loaded: {exc}"[:2000])
            raise
        from cases.feedback import FeedbackStore
        from inference.sampling import ActiveSampler

        sampler = ActiveSampler.from_settings(settings, FeedbackStore(sessions, settings.feedback_dir))
        return SurveyProcessor(store, service.ingest, detector, taxonomy, settings, on_progress, sampler).run(survey_id)
    finally:
        engine.dispose()


@shared_task(name="cityeye.survey.process")
def process_survey(survey_id: int) -> dict[str, Any]:
    result = run_survey(current_settings(), int(survey_id))
    return {
        "survey_id": result.survey_id,
        "files": result.files,
        "file_errors": result.file_errors,
        "findings": result.findings,
        "cases_created": result.cases_created,
        "cases_merged": result.cases_merged,
    }
