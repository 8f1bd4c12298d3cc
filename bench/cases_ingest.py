"""Benchmark P6: event ingestion with merge/dedup, events per second, on SQLite and on PostgreSQL.

    python bench/cases_ingest.py [--events 5000] [--problems 1000] [--threads 1 4] [--batch 1 100]
                                 [--backends sqlite postgres]
                                 [--database-url postgresql+psycopg://...]   # else a throw-away local cluster
                                 [--pg-synchronous-commit on|off]

The events are sightings of `--problems` real problems (four categories, spread over ~10 km of a city),
each seen ~events/problems times by different cameras over a day, plus 5 % re-deliveries of an event
already ingested (duplicates). Events carry no evidence images (JPEG encoding is measured elsewhere), so
this is the store's cost: the duplicate check, the geo-window match, the insert or update, the audit row.
`--batch 1` calls `CaseService.ingest` per event (one transaction each); `--batch N` calls `ingest_many`
with N events per transaction, as a worker draining a queue does.
PostgreSQL runs with its default durability (fsync, synchronous commit) unless `--pg-synchronous-commit off`
(set for the benchmark's connections only: a crash may lose the last commits, never corrupt; it is the
PostgreSQL counterpart of SQLite's `synchronous=NORMAL`, which cityeye uses); SQLite in WAL mode.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CATEGORIES = ("street_stall", "garbage", "illegal_construction", "billboard_hazard")
CLASS = {"street_stall": "stall", "garbage": "garbage", "illegal_construction": "construction",
         "billboard_hazard": "signboard"}  # fmt: skip
LAT0, LON0 = 31.2304, 121.4737


def make_events(n_events: int, n_problems: int, seed: int = 0) -> list:
    from inference.event import Event
    from inference.frame import GeoContext

    rng = random.Random(seed)
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    problems = [
        (rng.choice(CATEGORIES), LAT0 + rng.uniform(-0.05, 0.05), LON0 + rng.uniform(-0.05, 0.05))
        for _ in range(n_problems)
    ]
    events = []
    for i in range(n_events):
        cat, lat, lon = problems[i % n_problems]
        start = t0 + timedelta(minutes=rng.uniform(0, 24 * 60))
        jitter = rng.uniform(-5, 5) / 111_195.0  # a few metres of GPS noise
        events.append(
            Event(
                category=cat,
                class_name=CLASS[cat],
                source_id=f"cam-{rng.randrange(200)}",
                start=start,
                end=start + timedelta(seconds=30),
                bbox=(rng.uniform(0, 600), rng.uniform(0, 400), 640.0, 480.0),
                confidence=rng.uniform(0.3, 0.99),
                mean_confidence=0.5,
                frames_seen=5,
                model_version="bench",
                geo=GeoContext(lat=lat + jitter, lon=lon + jitter),
                event_id=f"ev-{i}",
            )
        )
    dups = [events[rng.randrange(len(events))] for _ in range(n_events // 20)]
    events += dups
    rng.shuffle(events)
    return events


def run(
    url: str | None, data_dir: Path, events: list, threads: int, batch: int, sync_commit: str = "on"
) -> tuple[float, int, int]:
    from cases.db import make_engine, migrate, session_factory
    from cases.service import CaseService
    from cityeye.config import Settings
    from models.taxonomy import load_taxonomy

    settings = Settings(data_dir=data_dir, database_url=url)
    if url:
        options = {"options": f"-c synchronous_commit={sync_commit}"}
        engine = make_engine(settings, pool_size=max(5, threads), max_overflow=threads, connect_args=options)
    else:
        engine = make_engine(settings)
    migrate(settings, engine)
    service = CaseService(session_factory(engine), settings, load_taxonomy())
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]

    def work(chunk: list) -> list:
        return [service.ingest(chunk[0])] if batch == 1 else service.ingest_many(chunk)

    t = time.perf_counter()
    if threads == 1:
        results = [r for c in chunks for r in work(c)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = [r for rs in pool.map(work, chunks) for r in rs]
    elapsed = time.perf_counter() - t
    engine.dispose()
    return elapsed, sum(r.created for r in results), sum(r.duplicate for r in results)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 100], help="events per transaction")
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument("--database-url", help="an empty PostgreSQL database to use instead of a throw-away cluster")
    ap.add_argument("--pg-synchronous-commit", choices=["on", "off"], default="on",
                    help="PostgreSQL synchronous_commit for the benchmark's connections")  # fmt: skip
    args = ap.parse_args()

    events = make_events(args.events, args.problems)
    print(f"{len(events)} events ({args.events} sightings of {args.problems} problems + {len(events) - args.events} "
          f"re-deliveries), no evidence images")  # fmt: skip
    cluster = None
    try:
        for backend, threads, batch in itertools.product(args.backends, args.threads, args.batch):
            url = None
            if backend == "postgres":
                if args.database_url:
                    url = args.database_url
                else:
                    if cluster is None:
                        from tests.cases.pg import PostgresCluster, bin_dir

                        found = bin_dir()
                        if found is None:
                            print("postgres: no PostgreSQL binaries found; skipped")
                            continue
                        cluster = PostgresCluster(found, durable=True)
                        cluster.start()
                    url = cluster.new_database()
            with tempfile.TemporaryDirectory(prefix="cityeye-bench-") as tmp:
                sync = args.pg_synchronous_commit
                elapsed, created, dups = run(url, Path(tmp), events, threads, batch, sync)
            label = f"{backend} (synchronous_commit={args.pg_synchronous_commit})" if url else backend
            print(
                f"{label:<9} threads={threads} batch={batch:<4}: {len(events) / elapsed:8.0f} events/s "
                f"({elapsed:.2f} s; {created} cases, {dups} duplicates)"
            )
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
