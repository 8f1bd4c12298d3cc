"""Background jobs: one Celery app for every task (webhooks, surveys, ingestion, scoring refit, retraining).

Task modules are thin (`cityeye/jobs/<area>.py`: deserialise the arguments, take the process's `Runtime`, call
the package function that does the work) and are listed in `TASK_MODULES`, so the worker imports them. Task names
follow `cityeye.<area>.<verb>`. Lower layers enqueue through the `models.jobs.JobQueue` port (`jobs()` here
implements it). Two modes, the same task code:

* **scale-out** (`redis_url` set): `submit()` sends the task to Redis; `cityeye worker` processes run it, with
  `acks_late` (a task whose worker dies mid-run is delivered again) and `beat_schedule` for periodic jobs
  (`cityeye worker --beat` runs the scheduler in one of the workers).
* **embedded** (no `redis_url`): `submit()` runs the task in a small thread pool of the calling process, so an
  upload request returns at once and the job's progress can be polled, exactly as with a worker.

Tasks read their settings from `current_settings()`: the ones `cityeye worker` / the API was started with, and
their services from `runtime()`: the process's `Runtime`, built once per process (after the fork in a worker).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from celery import Celery

from cityeye.config import Settings, load_settings

if TYPE_CHECKING:
    from cityeye.runtime import Runtime

log = logging.getLogger(__name__)

# Modules whose @shared_task functions the worker registers. Add yours here.
TASK_MODULES: list[str] = [
    "cityeye.jobs",
    "cityeye.jobs.webhooks",
    "cityeye.jobs.cases",
    "cityeye.jobs.surveys",
    "cityeye.jobs.scoring",
    "cityeye.jobs.loop",
]

# Periodic jobs: name -> (task name, every N seconds, settings -> enabled?). Filled by the task modules' owners.
PERIODIC: dict[str, tuple[str, Callable[[Settings], float | None]]] = {
    # webhook retries (and anything an enqueue missed), only when webhooks are configured
    "webhooks": ("cityeye.webhooks.deliver", lambda s: s.push.poll_s if s.push.webhooks else None),
    # scorer and forecast refit from the case store's verdicts (then rescoring of the open cases)
    "scoring_refit": ("cityeye.scoring.refit", lambda s: s.scoring.refit_every_s),
    # the data team's loop: feedback dataset → retrain from production → compare → candidate (never promotes)
    "loop": ("cityeye.loop.run", lambda s: s.loop.every_h * 3600 if s.loop.every_h else None),
}

_settings: Settings | None = None
_runtime: tuple[int, Runtime] | None = None  # (pid, the runtime of this process)
_settings_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_app: Celery | None = None


def set_settings(settings: Settings | None) -> None:
    """The settings every task of this process uses (the API and `cityeye worker` call this at start).

    `None` forgets them (and the app made from them): the next use reads env / $CITYEYE_CONFIG again.
    """
    global _settings, _app, _runtime
    with _settings_lock:
        _settings = settings
        _app = None
        if _runtime is not None and _runtime[1].settings is not settings:
            _runtime = None  # made for other settings: the next runtime() builds one for these


def current_settings() -> Settings:
    """The process's settings; a bare `celery -A cityeye.jobs worker` reads them from env / $CITYEYE_CONFIG."""
    global _settings
    with _settings_lock:
        if _settings is None:
            _settings = load_settings(os.environ.get("CITYEYE_CONFIG"))
        return _settings


def use_runtime(runtime: Runtime | None) -> None:
    """Make `runtime` the one this process's tasks use (the API lifespan and the stream worker pass theirs)."""
    global _runtime
    with _settings_lock:
        _runtime = (os.getpid(), runtime) if runtime is not None else None


def runtime() -> Runtime:
    """The process's `Runtime` (services built once, from `current_settings()`): what every task works with.

    A forked worker process builds its own on first use, so no engine or connection crosses a fork.
    """
    global _runtime
    settings = current_settings()
    with _settings_lock:
        if _runtime is None or _runtime[0] != os.getpid() or _runtime[1].settings is not settings:
            from cityeye.runtime import Runtime

            _runtime = (os.getpid(), Runtime.from_settings(settings, webhooks="enqueue"))
        return _runtime[1]


class _Jobs:
    """The `models.jobs.JobQueue` of this process: Redis + Celery workers in scale-out, the thread pool else."""

    def submit(self, name: str, *args: Any) -> None:
        settings = current_settings()
        _import_task_modules()
        if settings.redis_url:
            get_app().send_task(name, args=list(args), ignore_result=True)
            return
        task = get_app().tasks[name]  # KeyError: a job name no task module registers (a bug, not user input)
        submit(task, *args)


_imported = False


def _import_task_modules() -> None:
    """Register every task (a worker imports `TASK_MODULES` itself; an embedded process does it here, once)."""
    global _imported
    if not _imported:
        import importlib

        for module in TASK_MODULES:
            importlib.import_module(module)
        _imported = True


def jobs() -> _Jobs:
    """The job queue (`models.jobs.JobQueue`) lower layers receive to enqueue work by name."""
    return _JOBS


_JOBS = _Jobs()


def make_celery(settings: Settings) -> Celery:
    """The Celery app for `settings`: Redis broker and result backend, at-least-once delivery."""
    app = Celery("cityeye", set_as_current=True)
    restore_every = max(1.0, min(10.0, settings.ops.task_visibility_timeout_s / 8))
    url = settings.redis_url or "memory://"
    app.conf.update(
        broker_url=url,
        result_backend=settings.redis_url or "cache+memory://",
        imports=tuple(TASK_MODULES),
        task_acks_late=True,  # a task is acknowledged after it ran: a killed worker's task is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # a task whose worker died (kill -9, power cut) is delivered again after this long
            "visibility_timeout": settings.ops.task_visibility_timeout_s,
            # how often a worker sweeps for such tasks: kombu's default (every 100 s) unless the timeout is short
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": max(
                1, min(10, int(settings.ops.task_visibility_timeout_s / (4 * restore_every)))
            ),
            "socket_connect_timeout": settings.ops.outbound_timeout_s,
        },
        broker_connection_timeout=settings.ops.outbound_timeout_s,
        # a producer whose broker is down learns it within ~2 s (and keeps the work, e.g. in an EventSpool)
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        result_backend_transport_options={
            "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
        },
        redis_socket_connect_timeout=settings.ops.outbound_timeout_s,
        redis_socket_timeout=max(settings.ops.outbound_timeout_s, 30.0),
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            name: {"task": task, "schedule": every}
            for name, (task, every_of) in PERIODIC.items()
            if (every := every_of(settings))
        },
    )
    return app


def get_app() -> Celery:
    """The process's Celery app (made from `current_settings()` on first use)."""
    global _app
    if _app is None:
        _app = make_celery(current_settings())
    return _app


def submit(task: Any, *args: Any, **kwargs: Any) -> Future[Any] | Any:
    """Run `task` in the background: on a worker via Redis (scale-out) or in this process's thread pool.

    Returns a Celery `AsyncResult` or a `concurrent.futures.Future`; callers that need progress keep it in
    the database instead (both modes see the same rows).
    """
    global _pool
    settings = current_settings()
    if settings.redis_url:
        get_app()
        return task.apply_async(args=args, kwargs=kwargs)
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cityeye-task")
    future = _pool.submit(task, *args, **kwargs)
    future.add_done_callback(lambda f: _log_failure(f, getattr(task, "name", repr(task))))
    return future


def _log_failure(future: Future[Any], name: str) -> None:
    """An embedded task's exception would otherwise stay in its Future, unseen: log it."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("background task %s failed: %s", name, exc, exc_info=exc)


def shutdown_embedded(wait: bool = True) -> None:
    """Stop the embedded thread pool (the API calls this at shutdown)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait)
        _pool = None


def run_worker(settings: Settings, concurrency: int = 1, beat: bool = False, queues: str | None = None) -> int:
    """`cityeye worker`: a Celery worker (and optionally the beat scheduler) on `settings.redis_url`."""
    if not settings.redis_url:
        raise ValueError("cityeye worker needs redis_url (embedded mode runs tasks inside `cityeye serve`)")
    from models.logs import configure_logging

    set_settings(settings)
    configure_logging(settings.ops.log_format, settings.ops.log_level)
    app = get_app()
    argv = [
        "worker",
        f"--loglevel={settings.ops.log_level}",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.paths.beat_schedule}"]
    if queues:
        argv.append(f"--queues={queues}")
    app.worker_main(argv)
    return 0


from celery import shared_task  # noqa: E402  (after the app helpers, so this module is its own task module)


@shared_task(name="cityeye.ping")
def ping(value: str = "pong") -> str:
    """A no-op task: shows that a worker is up and sees the same settings (returns `value@data_dir`)."""
    return f"{value}@{current_settings().data_dir.resolve()}"


# A bare `celery -A cityeye.jobs worker` finds the app here.
def __getattr__(name: str) -> Any:
    if name in {"app", "celery"}:
        return get_app()
    raise AttributeError(name)


# ---- every task: its id in the log lines it writes, and a count by outcome ---------------------------------
from celery.signals import task_postrun, task_prerun  # noqa: E402

_log_tokens: dict[str, Any] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_kwargs: Any) -> None:
    from models.logs import push_context

    if task_id:
        _log_tokens[task_id] = push_context(task_id=task_id)


@task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_kwargs: Any) -> None:
    from api import metrics
    from models.logs import pop_context

    metrics.TASKS.labels(task=getattr(task, "name", "?"), outcome=(state or "unknown").lower()).inc()
    token = _log_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        pop_context(token)


# ---- a worker process builds its runtime once, after the fork -----------------------------------------------
from celery.signals import worker_process_init  # noqa: E402


@worker_process_init.connect
def _process_runtime(**_kwargs: Any) -> None:
    global _runtime
    _runtime = None  # anything inherited from the parent belongs to another process; runtime() builds anew
