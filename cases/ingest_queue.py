"""Events to the case store through the job queue, at least once, one case per problem.

Producers (stream workers, survey workers, anything that makes `Event`s away from the database) publish
through an `EventSpool`:

1. `spool.publish(events)` first writes each event to a local SQLite file (`<data_dir>/spool/events.db`,
   committed, keyed by `event_id`): from here on a crash, a Redis restart or a lost message cannot lose it;
2. then sends them to the `cityeye.cases.ingest_events` job (`INGEST_JOB`, through the `models.jobs.JobQueue`:
   Redis + `cityeye worker`, or the embedded thread pool), which calls `ingest_payloads`;
3. `spool.flush()` (call it every few seconds; `publish` calls it too) drops the events the case store has
   (their `event_id` is in `observations`) and sends the rest again once `resend_s` has passed.

The job (`cityeye/jobs/cases.py`) is acknowledged late (a worker killed mid-task has its message delivered
again), retries with exponential back-off while the database is unreachable, and ingests in chunks, each its
own transaction. Ingestion is idempotent by `event_id` (a unique index), so a re-delivered or re-sent event is a
duplicate, never a second case. Together: every event is stored once, and no event is lost while its spool file
lives.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cases import metrics
from cases.orm import Observation
from inference.event import Event, EvidenceImage
from inference.frame import GeoContext
from models.jobs import JobQueue

if TYPE_CHECKING:
    from cases.service import CaseService

log = logging.getLogger(__name__)
INGEST_JOB = "cityeye.cases.ingest_events"
TASK_NAME = "cases.ingest_events"  # the job's old name: still registered, so messages sent to it still run


# ---- events as JSON (the task's arguments) ----------------------------------------------------------------------
def event_to_json(event: Event) -> dict[str, Any]:
    """A JSON-safe dict of `event`; evidence images travel as JPEG (base64)."""
    evidence = []
    for ev in event.evidence:
        ok, buf = cv2.imencode(".jpg", ev.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise ValueError(f"event {event.event_id}: evidence image cannot be JPEG-encoded")
        evidence.append({"kind": ev.kind, "jpeg": base64.b64encode(buf.tobytes()).decode()})
    return {
        "event_id": event.event_id,
        "category": event.category,
        "class_name": event.class_name,
        "source_id": event.source_id,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "bbox": list(event.bbox),
        "confidence": event.confidence,
        "mean_confidence": event.mean_confidence,
        "frames_seen": event.frames_seen,
        "model_version": event.model_version,
        "geo": None if event.geo is None else {"lat": event.geo.lat, "lon": event.geo.lon},
        "tracker_id": event.tracker_id,
        "uri": event.uri,
        "evidence": evidence,
    }


def event_from_json(data: dict[str, Any]) -> Event:
    evidence = []
    for ev in data.get("evidence", []):
        img = cv2.imdecode(np.frombuffer(base64.b64decode(ev["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"event {data.get('event_id')}: evidence is not a JPEG")
        evidence.append(EvidenceImage(img, ev["kind"]))
    geo = data.get("geo")
    x1, y1, x2, y2 = (float(v) for v in data["bbox"])
    return Event(
        category=data["category"],
        class_name=data["class_name"],
        source_id=data["source_id"],
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        bbox=(x1, y1, x2, y2),
        confidence=float(data["confidence"]),
        mean_confidence=float(data["mean_confidence"]),
        frames_seen=int(data["frames_seen"]),
        model_version=data["model_version"],
        evidence=tuple(evidence),
        geo=None if geo is None else GeoContext(float(geo["lat"]), float(geo["lon"])),
        tracker_id=data.get("tracker_id"),
        uri=data.get("uri", ""),
        event_id=data["event_id"],
    )


# ---- the job's work ---------------------------------------------------------------------------------------------
def ingest_payloads(service: CaseService, payloads: Sequence[dict[str, Any]], chunk: int = 50) -> dict[str, int]:
    """Ingest JSON events (`event_to_json`) in chunks (one transaction each); returns counts by result."""
    counts = {"created": 0, "merged": 0, "duplicate": 0}
    for i in range(0, len(payloads), chunk):
        events = [event_from_json(p) for p in payloads[i : i + chunk]]
        for result in service.ingest_many(events):
            kind = "duplicate" if result.duplicate else "created" if result.created else "merged"
            counts[kind] += 1
            metrics.EVENTS_INGESTED.labels(result=kind).inc()
    return counts


def stored_event_ids(sessions: sessionmaker[Session], event_ids: Sequence[str]) -> set[str]:
    """The ones of `event_ids` the case store has (an observation records each)."""
    with sessions() as session:
        q = select(Observation.event_id).where(Observation.event_id.in_(list(event_ids)))
        return set(session.scalars(q))


# ---- the producer's spool -----------------------------------------------------------------------------------------
class EventSpool:
    """A producer's durable outbox of events not yet confirmed in the case store (a SQLite file)."""

    def __init__(
        self,
        path: Path,
        ingested: Callable[[Sequence[str]], set[str]],
        send: Callable[[list[dict[str, Any]]], object],
        resend_s: float = 30.0,
        batch: int = 200,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ingested = ingested
        self._send = send
        self.resend_s = resend_s
        self.batch = batch
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an event in the spool survives a power cut
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (event_id TEXT PRIMARY KEY, payload TEXT NOT NULL, "
            "created REAL NOT NULL, next_send REAL NOT NULL, sends INTEGER NOT NULL DEFAULT 0)"
        )

    @classmethod
    def for_store(
        cls, path: Path, sessions: sessionmaker[Session], jobs: JobQueue, resend_s: float = 30.0
    ) -> EventSpool:
        """A spool in the file `path` that confirms against the case store of `sessions` and sends to the
        `cityeye.cases.ingest_events` job of `jobs`."""

        def ingested(event_ids: Sequence[str]) -> set[str]:
            return stored_event_ids(sessions, event_ids)

        def send(payloads: list[dict[str, Any]]) -> None:
            jobs.submit(INGEST_JOB, payloads)

        return cls(path, ingested, send, resend_s)

    def close(self) -> None:
        self._db.close()

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def put(self, events: Iterable[Event]) -> int:
        """Write events to the spool (committed before this returns); an event already there is kept once."""
        now = time.time()
        rows = [(e.event_id, json.dumps(event_to_json(e)), now, now) for e in events]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO spool (event_id, payload, created, next_send) VALUES (?, ?, ?, ?)", rows
            )
            self._db.execute("COMMIT")
        return len(rows)

    def publish(self, events: Iterable[Event]) -> None:
        """`put` then `flush`: the events are safe on disk before anything is sent."""
        self.put(events)
        self.flush()

    def ingest_many(self, events: Sequence[Event]) -> list[Any]:
        """`inference.ports.EventOutbox`: `publish`; the ingest task stores the events later, so no outcomes now."""
        self.publish(events)
        return []

    def flush(self, now: float | None = None) -> int:
        """Forget events the store has; send the due rest (again). Returns how many are still pending.

        A broker or database that does not answer is logged and tried again on the next flush.
        """
        now = time.time() if now is None else now
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT event_id FROM spool WHERE sends > 0")]
        try:
            done: set[str] = set()
            for i in range(0, len(ids), 500):
                done |= self._ingested(ids[i : i + 500])
        except Exception as exc:
            log.warning("event spool: cannot reach the case store to confirm events (%s)", exc)
            done = set()
        with self._lock:
            if done:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM spool WHERE event_id = ?", [(i,) for i in done])
                self._db.execute("COMMIT")
            due = self._db.execute(
                "SELECT event_id, payload FROM spool WHERE next_send <= ? ORDER BY created LIMIT ?",
                (now, self.batch * 20),
            ).fetchall()
        for i in range(0, len(due), self.batch):
            part = due[i : i + self.batch]
            try:
                self._send([json.loads(p) for _, p in part])
            except Exception as exc:  # broker down: the events stay due and go out on a later flush
                log.warning("event spool: cannot send %d events (%s); kept for the next flush", len(part), exc)
                break
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "UPDATE spool SET next_send = ?, sends = sends + 1 WHERE event_id = ?",
                    [(now + self.resend_s, event_id) for event_id, _ in part],
                )
                self._db.execute("COMMIT")
        return self.pending()
