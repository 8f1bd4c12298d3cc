"""Fault tests with real servers: a worker killed with SIGKILL mid-task, Redis restarted under event load, the
database down for a while, the data dir's disk full. In each, every event ends up stored exactly once (0 lost,
0 duplicated) or the command fails with one clear line and the store is as it was. Each wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cases.db import make_engine, migrate, session_factory
from cases.ingest_queue import TASK_NAME, EventSpool, event_from_json, event_to_json
from cases.service import CaseService
from cityeye.config import Settings
from inference.event import Event, EvidenceImage
from models.taxonomy import load_taxonomy
from tests.cases.factories import T0, image, make_event, north_of
from tests.cases.pg import PostgresCluster, bin_dir
from tests.integration.security.snapshot import table_rows
from tests.servers import REPO, RedisServer, cityeye_env, cityeye_worker

VISIBILITY_S = "4"  # a dead worker's task is delivered again after this many seconds


def events(n: int, tag: str) -> list[Event]:
    """`n` distinct problems (200 m apart, so none merge), each with a small evidence image."""
    return [
        make_event(
            source_id=f"cam-{tag}",
            geo=north_of(200 * i),
            start=T0 + timedelta(seconds=i),
            evidence=(EvidenceImage(image(seed=i % 7)),),
        )
        for i in range(n)
    ]


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def sqlite_counts(db: Path) -> tuple[int, int, int]:
    """(cases, observations, distinct event ids) read straight from the file; (0, 0, 0) before it exists."""
    if not db.exists():
        return (0, 0, 0)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            obs, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM observations").fetchone()
        except sqlite3.OperationalError:  # the worker has not migrated it yet
            return (0, 0, 0)
    return (int(cases), int(obs), int(distinct))


def worker_ready(log: Path) -> Callable[[], bool]:
    return lambda: log.exists() and b"ready." in log.read_bytes()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own (the test stops and restarts it)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def celery_client(redis_url: str, tmp_path: Path) -> Any:
    from cityeye.jobs import make_celery

    return make_celery(Settings(data_dir=tmp_path / "client", redis_url=redis_url))


def test_event_json_round_trip_keeps_everything_the_store_uses() -> None:
    (event,) = events(1, "rt")
    back = event_from_json(event_to_json(event))
    assert back.event_id == event.event_id and back.geo == event.geo and back.bbox == event.bbox
    assert back.start == event.start and back.evidence[0].image.shape == event.evidence[0].image.shape


def test_kill_9_of_a_worker_mid_task_redelivers_it_and_every_event_is_stored_once(
    redis: RedisServer, tmp_path: Path
) -> None:
    n = 1500
    data, db = tmp_path / "worker", tmp_path / "worker" / "cityeye.db"
    env = {"CITYEYE_OPS__TASK_VISIBILITY_TIMEOUT_S": VISIBILITY_S}
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with cityeye_worker(data, redis.url, log=log_a, new_session=True, **env) as worker:
        wait_for("worker A", worker_ready(log_a), 90)
        app = celery_client(redis.url, tmp_path)
        app.send_task(TASK_NAME, args=[[event_to_json(e) for e in events(n, "k9")]], kwargs={"chunk": 10})
        wait_for("the first chunks to commit", lambda: sqlite_counts(db)[1] > 0, 90, every=0.01)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool process, mid-task
        worker.wait(timeout=15)
    at_kill = sqlite_counts(db)[1]
    assert 0 < at_kill < n, f"the kill was not mid-task ({at_kill} of {n} stored)"
    with cityeye_worker(data, redis.url, log=log_b, **env):
        wait_for("the redelivered task to finish", lambda: sqlite_counts(db)[1] >= n, 120, every=0.2)
        time.sleep(1.0)  # nothing more arrives
    assert sqlite_counts(db) == (n, n, n)  # every event once: 0 lost, 0 duplicated
    assert b"cases.ingest_events" in log_b.read_bytes()  # B ran it: the message came back


def test_redis_restart_under_event_load_loses_no_event(redis: RedisServer, tmp_path: Path) -> None:
    batches, size = 30, 10
    data, db = tmp_path / "worker", tmp_path / "worker" / "cityeye.db"
    log = tmp_path / "w.log"
    all_events = events(batches * size, "rr")
    with cityeye_worker(data, redis.url, log=log, new_session=True):
        wait_for("worker", worker_ready(log), 90)
        app = celery_client(redis.url, tmp_path)

        def stored(ids: Sequence[str]) -> set[str]:
            if not db.exists():
                return set()
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
                marks = ",".join("?" * len(ids))
                try:
                    rows = conn.execute(f"SELECT event_id FROM observations WHERE event_id IN ({marks})", list(ids))
                    return {r[0] for r in rows}
                except sqlite3.OperationalError:
                    return set()

        sent: list[int] = []

        def send(payloads: list[dict[str, Any]]) -> None:
            app.send_task(TASK_NAME, args=[payloads], ignore_result=True)
            sent.append(len(payloads))

        spool = EventSpool(tmp_path / "spool.db", stored, send, resend_s=3)
        try:
            for b in range(batches):
                spool.publish(all_events[b * size : (b + 1) * size])
                if b == 9:
                    redis.stop(kill=True)  # queued, unconsumed messages die with it (no persistence)
                if b == 19:
                    redis.start()  # the same port: producer and worker reconnect
            wait_for("the spool to drain", lambda: spool.flush() == 0, 180, every=0.5)
        finally:
            spool.close()
    assert sqlite_counts(db) == (batches * size,) * 3  # 0 lost, 0 duplicated
    assert sum(sent) > batches * size  # what Redis lost or never took was sent again from the spool


def test_database_down_for_a_while_is_retried_and_nothing_is_lost(redis: RedisServer, tmp_path: Path) -> None:
    found = bin_dir()
    if found is None:
        pytest.skip("PostgreSQL binaries not found (check.sh installs them)")
    cluster = PostgresCluster(found)
    cluster.start()
    try:
        url = cluster.new_database()
        settings = Settings(data_dir=tmp_path / "client", database_url=url)
        engine = make_engine(settings)
        migrate(settings, engine)
        log = tmp_path / "w.log"
        n = 120
        with cityeye_worker(tmp_path / "worker", redis.url, log=log, new_session=True, CITYEYE_DATABASE_URL=url):
            wait_for("worker", worker_ready(log), 90)
            cluster.pause()  # the database goes away before the events arrive
            app = celery_client(redis.url, tmp_path)
            app.send_task(TASK_NAME, args=[[event_to_json(e) for e in events(n, "db")]])
            wait_for("a retry", lambda: b"Retry in" in log.read_bytes(), 60, every=0.2)
            time.sleep(2)
            cluster.resume()
            with engine.connect() as conn:

                def count() -> int:
                    return int(conn.exec_driver_sql("SELECT count(DISTINCT event_id) FROM observations").scalar_one())

                wait_for("the retried task", lambda: count() >= n, 120, every=0.5)
                conn.rollback()
        rows = table_rows(engine)
        engine.dispose()
    finally:
        cluster.stop()
    assert len(rows["cases"]) == n and len(rows["observations"]) == n
    assert len(rows["evidence"]) == n


# ---- disk full --------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs (root only): the data dir of a machine whose disk fills up."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> Path:
    """Write zeros into `folder/filler` until the disk is full."""
    filler = folder / "filler"
    # unbuffered: when the disk is full a write fails, and nothing is left in a buffer for close() to fail on
    # (a buffered file raised ENOSPC from close() whenever the free space was not a multiple of the chunk)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_disk_full_in_the_data_dir_is_one_clear_error_and_corrupts_nothing(small_disk: Path, tmp_path: Path) -> None:
    from cityeye.demo import make_demo_media

    data = small_disk / "data"
    settings = Settings(data_dir=data)
    engine = make_engine(settings)
    migrate(settings, engine)
    service = CaseService(session_factory(engine), settings, load_taxonomy())
    for e in events(5, "before"):
        service.ingest(e)
    before = table_rows(engine)
    media = make_demo_media(tmp_path / "media")
    street = tmp_path / "street"
    street.mkdir()
    for p in media.stills:
        shutil.copy(p, street / p.name)
    model = REPO / "models" / "default" / "v1" / "model.pt"
    env = cityeye_env(
        data,
        CITYEYE_DETECTOR__MODEL=str(model),
        CITYEYE_DETECTOR__BACKEND="pytorch",
        CITYEYE_DETECTOR__CONF="0.05",
    )
    # ultralytics' settings file first, so the model can load on a full disk (what is left to fail is the store)
    cmd = [sys.executable, "-m", "cityeye.cli", "detect", str(street)]
    filler = fill(small_disk)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert err[-1].startswith("cityeye: error: ") and (
        "No space left on device" in err[-1] or "disk is full" in err[-1]
    ), err
    # nothing corrupted: the database checks out, the old rows are as they were, no half-written evidence
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    after = table_rows(engine)
    for table in ("cases", "observations", "evidence"):
        assert after[table][: len(before[table])] == before[table]
    with engine.connect() as conn:
        rows = {str(r[0]) for r in conn.exec_driver_sql("SELECT path FROM evidence")}
    on_disk = {str(p.relative_to(settings.evidence_dir)) for p in settings.evidence_dir.rglob("*") if p.is_file()}
    assert on_disk == rows  # no half-written (.tmp) or orphaned image, none missing
    # space again: the same command works on the same store
    filler.unlink()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert len(table_rows(engine)["cases"]) > len(before["cases"])
    engine.dispose()


def test_a_worker_serves_the_metrics_of_its_pool_processes(redis: RedisServer, tmp_path: Path) -> None:
    import httpx

    from tests.servers import free_port

    port, log = free_port(), tmp_path / "w.log"
    data, db = tmp_path / "worker", tmp_path / "worker" / "cityeye.db"
    with cityeye_worker(data, redis.url, "--metrics-port", str(port), log=log):
        wait_for("worker", worker_ready(log), 90)
        app = celery_client(redis.url, tmp_path)
        batch = [event_to_json(e) for e in events(7, "m")]
        app.send_task(TASK_NAME, args=[batch])
        app.send_task(TASK_NAME, args=[batch[:3]])  # delivered again: duplicates
        wait_for("both tasks", lambda: log.read_bytes().count(b"succeeded") >= 2, 60, every=0.2)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert sqlite_counts(db) == (7, 7, 7)
    assert 'cityeye_events_ingested_total{result="created"} 7.0' in text
    assert 'cityeye_events_ingested_total{result="duplicate"} 3.0' in text
    assert 'cityeye_tasks_total{outcome="success",task="cases.ingest_events"} 2.0' in text


def test_kill_9_of_a_worker_mid_survey_completes_it_once(redis: RedisServer, tmp_path: Path, tiny_model: Path) -> None:
    """A survey of 10 drone photos; the worker (and its pool) is killed after the first photos are done. A second
    worker finishes it: every photo done, and the cases are exactly those of the same survey run without a kill."""
    from cases.lifecycle import Role
    from cityeye.app import build_app
    from cityeye.config import AuthSettings, DetectorSettings
    from datasets.synthetic import generate_scene
    from tests.api.conftest import TestClient
    from tests.api.test_surveys_api import wait_done
    from tests.inference.survey.factories import LAT0, LON0, jpeg_bytes

    photos = [
        (f"p{i}.jpg", jpeg_bytes(generate_scene("aerial", seed=40 + i, size=(960, 720)).image,
                                 lat=LAT0 + 0.002 * i, lon=LON0))
        for i in range(10)
    ]  # fmt: skip
    model_env = {"CITYEYE_DETECTOR__MODEL": str(tiny_model), "CITYEYE_DETECTOR__CONF": "0.01"}

    def run(data: Path, kill: bool) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
        settings = Settings(
            data_dir=data,
            redis_url=redis.url,
            auth=AuthSettings(open_read=True),
            detector=DetectorSettings(model=str(tiny_model), conf=0.01),
        )
        env = {**model_env, "CITYEYE_OPS__TASK_VISIBILITY_TIMEOUT_S": VISIBILITY_S}
        with TestClient(build_app(settings)) as client:
            hdr = {"X-API-Key": client.app.state.services.api_keys.create("ops", Role.SHIFT_LEAD).token}  # type: ignore[attr-defined]
            sid = client.post("/surveys", json={"area": "k9"}, headers=hdr).json()["id"]
            files = [("files", (name, data_, "image/jpeg")) for name, data_ in photos]
            assert client.post(f"/surveys/{sid}/files", files=files, headers=hdr).status_code == 201

            def done_files() -> int:
                return sum(f["status"] == "done" for f in client.get(f"/surveys/{sid}").json()["files"])

            log_a = tmp_path / f"{data.name}-a.log"
            with cityeye_worker(data, redis.url, log=log_a, new_session=True, **env) as worker:
                wait_for("worker A", worker_ready(log_a), 90)
                assert client.post(f"/surveys/{sid}/process", headers=hdr).status_code == 202
                if kill:
                    wait_for("the first photos", lambda: done_files() >= 2, 180, every=0.1)
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=15)
                    at_kill = done_files()
                    assert at_kill < len(photos), "the kill was not mid-survey"
                else:
                    body = wait_done(client, sid, timeout=300)
            if kill:
                log_b = tmp_path / f"{data.name}-b.log"
                with cityeye_worker(data, redis.url, log=log_b, **env):
                    body = wait_done(client, sid, timeout=300)
                assert b"cityeye.surveys.process" in log_b.read_bytes()  # B ran the redelivered task
            engine = client.app.state.services.cases.sessions.kw["bind"]  # type: ignore[attr-defined]
            with engine.connect() as conn:
                cases = conn.exec_driver_sql(
                    "SELECT category, round(lat, 6), round(lon, 6), observation_count FROM cases ORDER BY 1, 2, 3"
                ).all()
                events = conn.exec_driver_sql("SELECT count(*), count(DISTINCT event_id) FROM observations").one()
        assert events[0] == events[1]
        return body, [tuple(c) for c in cases]

    body, cases = run(tmp_path / "killed", kill=True)
    reference_body, reference = run(tmp_path / "reference", kill=False)
    assert body["status"] == "done" and reference_body["status"] == "done"
    assert {f["name"]: f["status"] for f in body["files"]} == {name: "done" for name, _ in photos}
    assert cases == reference  # 0 lost, 0 duplicated: the same cases as an uninterrupted run
