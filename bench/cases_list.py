"""Benchmark P7: GET /cases latency (p50 / p95) at 100k cases, on SQLite and on PostgreSQL.

    python bench/cases_list.py [--cases 100000] [--requests 200] [--backends sqlite postgres]

The cases (four categories, all statuses, ~20 km around a city centre, a year of last_seen times) are
bulk-inserted, then each query is sent `--requests` times through the real app (FastAPI TestClient,
in process: routing, auth, the two SQL queries (page + total), serialisation) and timed end to end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUERIES = {
    "newest 50": {"limit": 50},
    "category+status": {"category": "garbage", "status": "dispatched", "limit": 50},
    "overdue": {"overdue": "true", "limit": 50},
    "sort=priority": {"sort": "priority", "limit": 50},
    "bbox 2 km": {"bbox": "121.46,31.22,121.48,31.24", "limit": 50},
    "district": {"district": "d3", "limit": 50},
    "since 1 week": {"since": "2025-12-24T00:00:00Z", "limit": 50},
    "offset 5000": {"limit": 50, "offset": 5000},
}


def seed(engine: object, n: int, seed: int = 0) -> None:
    from sqlalchemy import insert

    from cases.lifecycle import STEP_OF_STATUS
    from cases.orm import Case
    from cases.status import CaseStatus
    from models.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    rng = random.Random(seed)
    end = datetime(2025, 12, 31, tzinfo=UTC)
    now = datetime.now(UTC)
    statuses = list(CaseStatus)
    rows = []
    for _ in range(n):
        key = rng.choice(list(taxonomy.categories))
        cat = taxonomy.categories[key]
        status = rng.choice(statuses)
        last = end - timedelta(minutes=rng.uniform(0, 365 * 24 * 60))
        since = now - timedelta(hours=rng.uniform(0, 48))
        step = STEP_OF_STATUS.get(status)
        p = rng.random() if rng.random() < 0.9 else None  # most cases scored (cases.scoring.live), some not yet
        rows.append(
            {
                "category": key, "status": status.value, "code": cat.code, "source_id": f"cam-{rng.randrange(500)}",
                "lat": 31.2304 + rng.uniform(-0.1, 0.1), "lon": 121.4737 + rng.uniform(-0.1, 0.1),
                "x1": 0.0, "y1": 0.0, "x2": 10.0, "y2": 10.0, "first_seen": last - timedelta(hours=1),
                "last_seen": last, "max_confidence": rng.random(), "observation_count": rng.randint(1, 20),
                "created_at": last, "updated_at": last, "version": 1, "severity": cat.severity,
                "district": f"d{rng.randrange(16)}", "reopen_count": 0, "status_since": since,
                "due_at": since + timedelta(hours=cat.sla_hours.hours(step)) if step else None,
                "p_confirmed": p, "score": cat.severity * (1.0 if p is None else p),
            }
        )  # fmt: skip
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for i in range(0, n, 5000):
            conn.execute(insert(Case), rows[i : i + 5000])


def bench(url: str | None, data_dir: Path, n: int, requests: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from cases.db import make_engine, migrate
    from cityeye.app import build_app
    from cityeye.config import AuthSettings, Settings

    settings = Settings(data_dir=data_dir, database_url=url, auth=AuthSettings(open_read=False))
    engine = make_engine(settings)
    migrate(settings, engine)
    t = time.perf_counter()
    seed(engine, n)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE cases")
    engine.dispose()
    print(f"  seeded {n} cases in {time.perf_counter() - t:.1f} s")
    with TestClient(build_app(settings)) as client:
        client.headers["X-API-Key"] = client.app.state.services.api_keys.create("bench", "data_team").token  # type: ignore[attr-defined]
        for name, params in QUERIES.items():
            r = client.get("/cases", params=params)
            assert r.status_code == 200, r.text
            total = r.json()["total"]
            times = []
            for _ in range(requests):
                t = time.perf_counter()
                client.get("/cases", params=params)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"  {name:<16} total={total:>6}  p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = ap.parse_args()
    for backend in args.backends:
        print(f"{backend}:")
        with tempfile.TemporaryDirectory(prefix="cityeye-bench-") as tmp:
            if backend == "sqlite":
                bench(None, Path(tmp), args.cases, args.requests)
                continue
            from tests.cases.pg import PostgresCluster, bin_dir

            found = bin_dir()
            if found is None:
                print("  no PostgreSQL binaries found; skipped")
                continue
            cluster = PostgresCluster(found, durable=True)
            cluster.start()
            try:
                bench(cluster.new_database(), Path(tmp), args.cases, args.requests)
            finally:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
