"""Old home of the background-job helpers; they live in `cityeye/jobs/` (kept so existing imports work)."""

from cityeye.jobs import (
    PERIODIC,
    TASK_MODULES,
    current_settings,
    get_app,
    jobs,
    make_celery,
    ping,
    run_worker,
    runtime,
    set_settings,
    shutdown_embedded,
    submit,
    use_runtime,
)

__all__ = [
    "PERIODIC",
    "TASK_MODULES",
    "current_settings",
    "get_app",
    "jobs",
    "make_celery",
    "ping",
    "run_worker",
    "runtime",
    "set_settings",
    "shutdown_embedded",
    "submit",
    "use_runtime",
]


def __getattr__(name: str) -> object:  # `celery -A cityeye.tasks worker` still finds the app
    from cityeye import jobs as _jobs

    return getattr(_jobs, name)
