"""`Runtime`: the one place that builds cityeye's services from settings, once per process.

Frigate's `FrigateApp` and the FastAPI template's `deps.py` are the models: the shell builds every collaborator
from the validated settings and hands each part what it needs; below the shell, packages receive collaborators
and never fetch globals or build services themselves. Who builds one:

* `cityeye serve` / `cityeye.app.build_app`: in the API lifespan (`api.main.create_app` hands it to the routes);
* each CLI command that touches the case store (`with Runtime.from_settings(settings) as rt: ...`);
* each Celery worker process (`cityeye.jobs.runtime()`, after the fork) and the embedded task pool;
* `cityeye streams` (the stream worker receives the case service / event sink from it).

Building one: the engine for `database_url` (default: SQLite in the data dir), migrations to head, the taxonomy,
the case service with its webhook delivery wired (a thread of this process in the embedded default, Celery runs
in scale-out), the API-key, survey and feedback stores, the registries (detectors, scorers, forecasts), the live
scorer, and the job queue. `close()` stops what it started and disposes of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from cases.auth import ApiKeys
from cases.cameras import SqlCameraStore
from cases.db import make_engine, migrate, session_factory
from cases.feedback import FeedbackStore
from cases.scoring.live import LiveScorer
from cases.scoring.registry import ForecastStore, ScorerStore, forecast_store, scorer_store
from cases.service import CaseService
from cases.surveys import SurveyStore
from models.datadir import DataDir
from models.registry import Registry
from models.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from cases.ingest_queue import EventSpool
    from cases.push import WebhookDeliverer
    from cityeye.config import Settings
    from models.jobs import JobQueue

Webhooks = Literal["thread", "enqueue", "off"]


@dataclass
class Runtime:
    """The services of one process, built from `settings` by `from_settings` (fields are ready to use)."""

    settings: Settings
    paths: DataDir
    engine: Engine
    sessions: sessionmaker[Session]
    taxonomy: Taxonomy
    cases: CaseService
    api_keys: ApiKeys
    surveys: SurveyStore
    cameras: SqlCameraStore
    feedback: FeedbackStore
    detectors: Registry
    scorers: ScorerStore
    forecasts: ForecastStore
    live_scorer: LiveScorer
    jobs: JobQueue
    webhooks: WebhookDeliverer | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, webhooks: Webhooks = "thread", run_migrations: bool = True
    ) -> Runtime:
        """Build every service for `settings`.

        `webhooks`: "thread" starts a delivery thread in this process when webhooks are configured and there is
        no Redis (the API); "enqueue" only queues Celery runs in scale-out (workers, short CLI runs); "off" wires
        nothing. `run_migrations`: bring the database schema to head first (idempotent).
        """
        from cityeye.jobs import jobs
        from cityeye.jobs.webhooks import wire_webhooks

        paths = settings.paths
        engine = make_engine(settings)
        try:
            if run_migrations:
                migrate(settings, engine)
            taxonomy = load_taxonomy(str(settings.taxonomy) if settings.taxonomy else None)
            sessions = session_factory(engine)
            scorers = scorer_store(paths)
            service = CaseService(sessions, settings, taxonomy)
            deliverer = None
            if webhooks != "off":
                deliverer = wire_webhooks(service, settings, start_thread=webhooks == "thread")
        except BaseException:
            engine.dispose()
            raise
        return cls(
            settings=settings,
            paths=paths,
            engine=engine,
            sessions=sessions,
            taxonomy=taxonomy,
            cases=service,
            api_keys=ApiKeys(sessions, settings.lifecycle),
            surveys=SurveyStore(sessions),
            cameras=SqlCameraStore(sessions),
            feedback=FeedbackStore(sessions, paths.feedback),
            detectors=Registry(paths.models),
            scorers=scorers,
            forecasts=forecast_store(paths),
            live_scorer=LiveScorer(sessions, settings.scoring, taxonomy, scorers, service.now),
            jobs=jobs(),
            webhooks=deliverer,
        )

    def event_spool(self, name: str = "events", resend_s: float = 30.0) -> EventSpool:
        """A producer's durable event spool in `<data_dir>/spool/<name>.db`: confirmed against this case store,
        sent to the `cityeye.cases.ingest_events` job (`cases.ingest_queue`)."""
        from cases.ingest_queue import EventSpool

        return EventSpool.for_store(self.paths.spool / f"{name}.db", self.sessions, self.jobs, resend_s)

    def close(self) -> None:
        """Stop the webhook thread (if this runtime started one) and dispose of the engine; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.webhooks is not None:
            self.webhooks.stop()
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
