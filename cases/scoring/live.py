"""Scores on live cases: the promoted scorer applied to the case store, and fitting from its verdicts.

`LiveScorer.score_cases(ids)` reads the cases and their observations (two queries for up to 500 cases), the
verdicts near them (one query), scores them all with one model call for P and one for the reasons, and writes
`p_confirmed`, `score` (= P × severity), `score_reasons`, `scorer_version` and `scored_at` in one executemany.
The update leaves `version` alone: a score is derived data, and a client's If-Match must not go stale because
the scorer ran. The case service calls it after its commits (`CaseService.change_listeners`: ingest batches,
lifecycle actions, merges; it adds the scorer itself when `scoring.live`); `rescore_open` rescores every open
case (after a promotion).

Verdicts for the location history: a case's verdict `confirmed` (given when verified) or `false_positive`
(the case is dismissed then), at `verified_at` / `closed_at`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cases.db import WRITE
from cases.lifecycle import STEP_OF_STATUS
from cases.orm import Case, Observation
from cases.scoring.errors import ScoringError
from cases.scoring.features import (
    CaseSnapshot,
    FeatureBuilder,
    FeatureConfig,
    FeatureMatrix,
    SourceKind,
    Verdict,
    VerdictHistory,
    VerdictRecord,
)
from cases.scoring.forecast import Occurrence
from cases.scoring.model import Scorer
from cases.scoring.priority import Reason, SlaState, explain_many, sla_urgency
from cases.scoring.registry import ScorerCard, ScorerStore
from cases.settings import ScoringSettings
from cases.status import OPEN_STATUSES, CaseStatus
from models.taxonomy import Taxonomy

log = logging.getLogger(__name__)
CHUNK = 500
DRONE_PREFIXES = ("drone", "survey")  # source ids of drone surveys (inference.survey names them so)
_CASES = cast(Table, Case.__table__)
_C = _CASES.c
_O = cast(Table, Observation.__table__).c
_WRITE = (
    update(_CASES)
    .where(_C.id == bindparam("case_id"))
    .values(
        p_confirmed=bindparam("p"),
        score=bindparam("s"),
        score_reasons=bindparam("r", type_=_C.score_reasons.type),
        scorer_version=bindparam("v"),
        scored_at=bindparam("t", type_=_C.scored_at.type),
        updated_at=_C.updated_at,  # a new score is not a change of the case (no `onupdate`)
    )
)


def source_kind(source_ids: Iterable[str]) -> SourceKind:
    kinds = {"drone" if s.lower().startswith(DRONE_PREFIXES) else "camera" for s in source_ids}
    return "mixed" if len(kinds) > 1 else cast(SourceKind, kinds.pop() if kinds else "camera")


def snapshots(session: Session, ids: Sequence[int]) -> tuple[list[CaseSnapshot], dict[int, Any]]:
    """`CaseSnapshot`s of the cases `ids` that have observations, and each case's row (status, severity, …)."""
    rows = session.execute(
        select(
            _C.id, _C.category, _C.lat, _C.lon, _C.first_seen, _C.last_seen, _C.max_confidence,
            _C.severity, _C.status, _C.status_since, _C.verdict,
        ).where(_C.id.in_(list(ids)))
    ).all()  # fmt: skip
    obs: dict[int, list[tuple[str, float]]] = {}
    for case_id, source, conf in session.execute(
        select(_O.case_id, _O.source_id, _O.confidence).where(_O.case_id.in_(list(ids)))
    ):
        obs.setdefault(case_id, []).append((source, float(conf)))
    out, info = [], {}
    for r in rows:
        seen = obs.get(r.id)
        if not seen:
            continue  # merged away (its observations moved to the case it was merged into)
        sources = {s for s, _ in seen}
        confs = [c for _, c in seen]
        top = min(1.0, max(max(confs), float(r.max_confidence)))
        out.append(
            CaseSnapshot(
                case_id=r.id,
                category=r.category,
                lat=math.nan if r.lat is None else r.lat,
                lon=math.nan if r.lon is None else r.lon,
                first_seen=r.first_seen,
                last_seen=max(r.last_seen, r.first_seen),
                observation_count=len(seen),
                source_count=len(sources),
                source_kind=source_kind(sources),
                max_confidence=top,
                mean_confidence=min(top, float(np.mean(confs))),
            )
        )
        info[r.id] = r
    return out, info


def verdict_history(
    session: Session, since: datetime | None = None, box: tuple[float, float, float, float] | None = None
) -> list[VerdictRecord]:
    """Verdicts (confirmed / false positive) of located cases, given at or after `since`, inside `box`
    (min_lat, min_lon, max_lat, max_lon) when given."""
    at = func.coalesce(_C.verified_at, _C.closed_at)
    where: list[ColumnElement[bool]] = [
        _C.verdict.in_([Verdict.CONFIRMED.value, Verdict.FALSE_POSITIVE.value]),
        _C.lat.is_not(None),
        _C.lon.is_not(None),
        at.is_not(None),
    ]
    if since is not None:
        where.append(at >= since)
    if box is not None:
        where += [_C.lat.between(box[0], box[2]), _C.lon.between(box[1], box[3])]
    rows = session.execute(
        select(_C.id, _C.category, _C.lat, _C.lon, _C.verdict, _C.verified_at, _C.closed_at).where(and_(*where))
    ).all()
    return [
        VerdictRecord(r.id, r.category, r.lat, r.lon, Verdict(r.verdict), _aware(r.verified_at or r.closed_at))
        for r in rows
    ]


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Active:
    scorer: Scorer
    card: ScorerCard
    config: FeatureConfig


@dataclass(frozen=True, slots=True)
class LiveScore:
    case_id: int
    p_confirmed: float
    score: float  # P × severity
    reasons: tuple[Reason, ...]


def reason_json(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [asdict(r) for r in reasons]


class LiveScorer:
    """The promoted scorer on the case store. Thread-safe; reloads when another version is promoted.

    `store` is the scorer registry (`ScorerStore(DataDir(...).scorers)`), `scoring` the scoring settings.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        scoring: ScoringSettings,
        taxonomy: Taxonomy,
        store: ScorerStore,
        clock: Callable[[], datetime] | None = None,
    ):
        self._sessions = sessions
        self._scoring = scoring
        self._taxonomy = taxonomy
        self._clock = clock or (lambda: datetime.now(UTC))
        self.store = store
        self._lock = threading.Lock()
        self._active: tuple[float, Active | None] | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self._taxonomy.categories)

    def active(self) -> Active | None:
        """The production scorer (cached until the next promotion), or None when none is promoted."""
        stamp = self.store.production_stamp()
        with self._lock:
            if self._active is not None and self._active[0] == stamp:
                return self._active[1]
            version = self.store.production()
            active = None
            if version is not None:
                scorer, card = self.store.load(version, self.categories)
                active = Active(scorer, card, self.store.feature_config(card))
            self._active = (stamp, active)
            return active

    def __call__(self, ids: Sequence[int]) -> None:
        """The case service's change listener: scores `ids`; a failure is logged, never raised (the change is
        committed; the next change or rescoring scores the case)."""
        try:
            self.score_cases(ids)
        except Exception:
            log.exception("scoring cases %s failed", list(ids)[:10])

    def compute(
        self, session: Session, ids: Sequence[int], active: Active, verdicts: list[tuple[float, float]] | None = None
    ) -> list[LiveScore]:
        """Scores of the cases `ids` (those with observations); appends the positions of the ones that have a
        verdict to `verdicts` (their neighbours' location history changed)."""
        snaps, info = snapshots(session, ids)
        if verdicts is not None:
            verdicts += [
                (s.lat, s.lon)
                for s in snaps
                if info[s.case_id].verdict in (Verdict.CONFIRMED.value, Verdict.FALSE_POSITIVE.value)
                and not math.isnan(s.lat)
                and not math.isnan(s.lon)
            ]
        if not snaps:
            return []
        now = self._clock()
        cfg = active.config
        lats = [s.lat for s in snaps if not math.isnan(s.lat)]
        lons = [s.lon for s in snaps if not math.isnan(s.lon)]
        records: list[VerdictRecord] = []
        if lats:
            pad = cfg.radius_m / 111_000.0
            pad_lon = pad / max(0.05, math.cos(math.radians(max(abs(min(lats)), abs(max(lats))))))
            box = (min(lats) - pad, min(lons) - pad_lon, max(lats) + pad, max(lons) + pad_lon)
            since = min(s.first_seen for s in snaps) - timedelta(days=max(cfg.window_days, cfg.recurrence_days))
            records = verdict_history(session, since, box)
        history = VerdictHistory(records, ref_lat=float(np.mean(lats)) if lats else None)
        times = [max(now, s.last_seen) for s in snaps]
        fm = FeatureBuilder(active.scorer.categories, cfg).transform(snaps, history, times)
        p = active.scorer.predict(fm)
        reasons = explain_many(active.scorer, fm.X, cfg, self._scoring.top_reasons)
        return [
            LiveScore(s.case_id, float(p[i]), float(p[i]) * int(info[s.case_id].severity), reasons[i])
            for i, s in enumerate(snaps)
        ]

    def score_cases(self, ids: Sequence[int], neighbours: bool = True) -> int:
        """Score the cases `ids` with the production scorer and store the scores; returns how many were scored.

        With `neighbours`, open cases within the scorer's radius of any of them that has a verdict are scored
        again too (their location-history features changed)."""
        if not ids:
            return 0
        active = self.active()
        if active is None:
            return 0
        unique = sorted(set(ids))
        verdicts: list[tuple[float, float]] = []
        n = 0
        for i in range(0, len(unique), CHUNK):
            with self._sessions() as session:
                scores = self.compute(session, unique[i : i + CHUNK], active, verdicts)
            if scores:  # written in a transaction of its own (on SQLite a reading one cannot take the write lock)
                with self._sessions() as session:
                    now = self._clock()
                    conn = session.connection(execution_options=WRITE)
                    conn.execute(
                        _WRITE,
                        [
                            {
                                "case_id": s.case_id,
                                "p": s.p_confirmed,
                                "s": s.score,
                                "r": reason_json(s.reasons),
                                "v": active.card.version,
                                "t": now,
                            }
                            for s in scores
                        ],
                    )
                    session.commit()
                n += len(scores)
        if neighbours and verdicts:
            near = set(self._open_near(verdicts, active.config.radius_m)) - set(unique)
            n += self.score_cases(sorted(near), neighbours=False)
        return n

    def _open_near(self, points: Sequence[tuple[float, float]], radius_m: float) -> list[int]:
        """Open cases within (about) `radius_m` of any of `points` (a box around each)."""
        dlat = radius_m / 111_000.0
        boxes = []
        for lat, lon in points:
            dlon = dlat / max(0.05, math.cos(math.radians(lat)))
            boxes.append(and_(_C.lat.between(lat - dlat, lat + dlat), _C.lon.between(lon - dlon, lon + dlon)))
        with self._sessions() as session:
            return list(
                session.scalars(select(_C.id).where(_C.status.in_([s.value for s in OPEN_STATUSES]), or_(*boxes)))
            )

    def rescore_open(self) -> int:
        """Score every open case again (after a promotion); returns how many were scored."""
        if self.active() is None:
            return 0
        with self._sessions() as session:
            ids = list(session.scalars(select(_C.id).where(_C.status.in_([s.value for s in OPEN_STATUSES]))))
        return self.score_cases(ids) if ids else 0


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """A case's priority, part by part: P(confirmed) × severity × SLA urgency (see `cases.scoring.priority`)."""

    p_confirmed: float
    severity: int
    sla_urgency: float
    hours_left: float | None
    priority: float


def score_parts(case: Case, taxonomy: Taxonomy, now: datetime) -> ScoreParts | None:
    """The parts of a stored score at `now` (the SLA urgency moves with the clock); None when unscored."""
    if case.p_confirmed is None:
        return None
    status = CaseStatus(case.status)
    if case.category not in taxonomy.categories:
        raise ScoringError(f"case {case.id}: category {case.category!r} is not in the taxonomy")
    if status in STEP_OF_STATUS:
        urgency, left = sla_urgency(SlaState(status, case.status_since), case.category, taxonomy, now)
    else:
        urgency, left = 0.0, None
    return ScoreParts(case.p_confirmed, case.severity, urgency, left, case.p_confirmed * case.severity * urgency)


# ---- fitting on the case store -----------------------------------------------------------------------------------
def store_training_set(
    sessions: sessionmaker[Session], categories: Sequence[str], config: FeatureConfig
) -> tuple[FeatureMatrix, np.ndarray]:
    """Features (as of each case's last sighting) and labels (confirmed?) of every case with a verdict."""
    with sessions() as session:
        records = verdict_history(session)
        ids = list(
            session.scalars(
                select(_C.id)
                .where(_C.verdict.in_([Verdict.CONFIRMED.value, Verdict.FALSE_POSITIVE.value]))
                .order_by(_C.id)
            )
        )
        snaps: list[CaseSnapshot] = []
        labels: dict[int, bool] = {}
        for i in range(0, len(ids), CHUNK):
            chunk, info = snapshots(session, ids[i : i + CHUNK])
            snaps += chunk
            labels |= {k: r.verdict == Verdict.CONFIRMED.value for k, r in info.items()}
    fm = FeatureBuilder(categories, config).transform(snaps, VerdictHistory(records))
    return fm, np.array([labels[s.case_id] for s in snaps], dtype=bool)


def store_occurrences(sessions: sessionmaker[Session]) -> list[Occurrence]:
    """Confirmed cases with a position, as forecast inputs (known from their verification on)."""
    with sessions() as session:
        rows = session.execute(
            select(_C.category, _C.lat, _C.lon, _C.first_seen, _C.verified_at).where(
                _C.verdict == Verdict.CONFIRMED.value,
                _C.lat.is_not(None),
                _C.lon.is_not(None),
                _C.verified_at.is_not(None),
            )
        ).all()
    return [Occurrence(r.category, r.lat, r.lon, r.first_seen, r.verified_at) for r in rows]
