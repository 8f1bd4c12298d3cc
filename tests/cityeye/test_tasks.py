"""The Celery app: a real `cityeye worker` on a real Redis runs a task; embedded mode runs it in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cityeye.config import Settings
from tests.servers import cityeye_env, cityeye_worker


def test_a_real_worker_on_real_redis_runs_a_task_with_the_workers_settings(redis_url: str, tmp_path: Path) -> None:
    from cityeye.jobs import make_celery

    data = tmp_path / "worker-data"
    with cityeye_worker(data, redis_url):
        app = make_celery(Settings(data_dir=tmp_path / "client", redis_url=redis_url))
        result = app.send_task("cityeye.ping", args=["hello"])
        assert result.get(timeout=60) == f"hello@{data.resolve()}"


def test_embedded_submit_runs_in_a_thread_of_this_process(tmp_path: Path) -> None:
    from cityeye import jobs as tasks

    tasks.set_settings(Settings(data_dir=tmp_path))
    try:
        future = tasks.submit(tasks.ping, "x")
        assert future.result(timeout=10) == f"x@{tmp_path.resolve()}"
    finally:
        tasks.shutdown_embedded()
        tasks.set_settings(None)


def test_worker_without_redis_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cityeye.cli", "worker"],
        env=cityeye_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "cityeye: error: cityeye worker needs redis_url (embedded mode runs tasks inside `cityeye serve`)"
    ]


def test_the_loop_job_runs_in_process_and_skips_cleanly_without_a_base_dataset(tmp_path: Path) -> None:
    from cityeye import jobs
    from cityeye.jobs import loop  # noqa: F401  (registers the job)

    jobs.set_settings(Settings(data_dir=tmp_path))
    try:
        app = jobs.get_app()
        assert {"cityeye.loop.run", "cityeye.loop_run"} <= set(app.tasks)  # the old name still runs
        assert jobs.PERIODIC["loop"][0] == "cityeye.loop.run"
        result = jobs.submit(app.tasks["cityeye.loop.run"]).result(timeout=120)
        assert set(result) == {"skipped"} and result["skipped"].startswith("base dataset 'v2' not found")
    finally:
        jobs.shutdown_embedded()
        jobs.runtime().close()
        jobs.set_settings(None)
