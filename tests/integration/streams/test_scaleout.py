"""Two stream workers on a real Redis share four cameras; kill -9 one: its cameras move to the other
within the lease TTL and no problem becomes two cases."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from cases.cameras import SqlCameraStore
from cases.db import make_engine, migrate, session_factory
from cases.service import CaseService
from datasets.synthetic import TimelineItem
from inference.streams.config import CameraConfig
from models.taxonomy import load_taxonomy
from tests.inference.streams.conftest import camera, stream_settings
from tests.inference.streams.helpers import wait_for
from tests.servers import REPO, cityeye_env

PREFIX = "cityeye:streams"


@contextmanager
def stream_worker(data_dir: Path, redis_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.streams.worker_main", str(data_dir), redis_url],
        env=cityeye_env(data_dir),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    out.close()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=15)


def test_two_workers_share_cameras_and_take_over_a_killed_ones(
    tmp_path: Path, redis_url: str, scene: tuple[Path, list[TimelineItem]]
) -> None:
    video, _ = scene
    r = redis.Redis.from_url(redis_url)
    for k in r.scan_iter(match=f"{PREFIX}:*"):
        r.delete(k)
    data = tmp_path / "data"
    settings = stream_settings(data)
    engine = make_engine(settings)
    migrate(settings, engine)
    sessions = session_factory(engine)
    store = SqlCameraStore(sessions)
    cams = [f"cam-{i}" for i in range(4)]
    for cid in cams:
        cfg = camera(cid, f"file://{video}", loop=True)
        cfg.pop("geo")  # four views of one video: without geo each camera's problems are its own cases
        store.create(CameraConfig.model_validate(cfg))
    service = CaseService(sessions, settings, load_taxonomy())

    def owners() -> dict[str, str | None]:
        return {c: (v.decode() if (v := r.get(f"{PREFIX}:lease:{c}")) else None) for c in cams}

    def worker_of(proc: subprocess.Popen[bytes]) -> Callable[[str | None], bool]:
        return lambda owner: owner is not None and owner.split(":")[1] == str(proc.pid)

    with (
        stream_worker(data, redis_url, tmp_path / "a.log") as a,
        stream_worker(data, redis_url, tmp_path / "b.log") as b,
    ):
        is_a, is_b = worker_of(a), worker_of(b)
        wait_for(
            lambda: sum(map(is_a, owners().values())) == 2 and sum(map(is_b, owners().values())) == 2,
            60,
            "the two workers to hold two cameras each",
        )
        moved = [c for c, o in owners().items() if is_a(o)]

        def cases_per_camera() -> Counter[tuple[str, str]]:
            return Counter((c.source_id, c.category) for c in service.list_cases(limit=100).items)

        wait_for(lambda: len(cases_per_camera()) == 12, 60, "three cases on each of the four cameras")

        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for(lambda: all(is_b(o) for o in owners().values()), 30, "worker b to take over a's cameras")
        took_s = time.monotonic() - killed_at
        # b runs the moved cameras through a whole loop of the video (12 s at 5 fps): every problem is seen
        # again by b, whose trackers and rules start empty
        wait_for(
            lambda: all(
                (st := store.status(c)) is not None and is_b(st["worker"]) and st["frames"] > 60 for c in moved
            ),
            60,
            "worker b to process the moved cameras",
        )
        assert b.poll() is None
    counts = cases_per_camera()
    assert sorted(counts) == sorted(
        (f"camera:{c}", k) for c in cams for k in ("billboard_hazard", "garbage", "street_stall")
    )
    assert set(counts.values()) == {1}, counts  # no duplicate case
    print(f"cameras moved {took_s:.1f} s after the kill (lease TTL {settings.streams.lease_ttl_s} s)")
    engine.dispose()
