"""The 数字城管 lifecycle: transitions, roles, SLA deadlines, audit log, optimistic locking, merge, recurrence."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cases.db import make_engine, migrate, session_factory
from cases.districts import UnknownDistrict
from cases.errors import (
    CaseNotFound,
    IllegalTransition,
    InvalidAction,
    PermissionDenied,
    VersionConflict,
    VersionRequired,
)
from cases.lifecycle import PERMISSIONS, TRANSITIONS, Action, Actor, Role, Verdict
from cases.orm import AuditEntry, Case
from cases.service import CaseService
from cases.status import OPEN_STATUSES, CaseStatus
from cityeye.config import LifecycleSettings, Settings
from models.taxonomy import load_taxonomy
from tests.cases.factories import T0, Clock, make_event, north_of

S = CaseStatus
OPERATOR = Actor("olga", Role.OPERATOR)
DISPATCHER = Actor("dan", Role.DISPATCHER)
DEPARTMENT = Actor("sanitation", Role.DEPARTMENT)
INSPECTOR = Actor("ivy", Role.INSPECTOR)
ADMIN = Actor("root", Role.ADMIN)
GARBAGE_SLA = load_taxonomy().categories["garbage"].sla_hours


def new_case(service: CaseService, metres: float = 0, **kwargs: object) -> Case:
    kwargs.setdefault("source_id", f"cam-{metres:g}")  # event ids hash the source, not the position
    result = service.ingest(make_event(geo=north_of(metres), evidence=(), **kwargs))  # type: ignore[arg-type]
    return service.get_case(result.case_id).case


def put_in(engine: Engine, case_id: int, status: CaseStatus) -> int:
    """Force a case into `status` (bypassing the lifecycle) and return its new version."""
    with session_factory(engine)() as session, session.begin():
        case = session.get_one(Case, case_id)
        case.status = status.value
        session.flush()
        return case.version


def walk(service: CaseService, case: Case, to: CaseStatus) -> Case:
    """Take a fresh case along the happy path up to `to`."""
    steps = [
        (S.REGISTERED, Action.REGISTER, OPERATOR, {}),
        (S.DISPATCHED, Action.DISPATCH, DISPATCHER, {"department": "sanitation"}),
        (S.HANDLED, Action.HANDLED, DEPARTMENT, {}),
        (S.VERIFIED, Action.VERIFY, INSPECTOR, {"verdict": Verdict.CONFIRMED}),
        (S.CLOSED, Action.CLOSE, OPERATOR, {}),
    ]
    for status, action, actor, kwargs in steps:
        if case.status == to:
            break
        case = service.act(case.id, action, actor, version=case.version, **kwargs)  # type: ignore[arg-type]
        assert case.status == status
    return case


# ---- the happy path, SLA and audit --------------------------------------------------------------------------
def test_the_full_lifecycle_sets_deadlines_timestamps_and_audits_every_step(service: CaseService, clock: Clock) -> None:
    case = new_case(service)
    assert (case.status, case.severity, case.status_since) == (S.DETECTED, 3, T0)
    assert case.due_at == T0 + timedelta(hours=GARBAGE_SLA.hours("register"))

    plan = [
        (Action.REGISTER, OPERATOR, {}, S.REGISTERED, "dispatch", "registered_at"),
        (Action.DISPATCH, DISPATCHER, {"department": "sanitation"}, S.DISPATCHED, "handle", "dispatched_at"),
        (Action.HANDLED, DEPARTMENT, {}, S.HANDLED, "verify", "handled_at"),
        (Action.VERIFY, INSPECTOR, {"verdict": "confirmed"}, S.VERIFIED, "close", "verified_at"),
        (Action.CLOSE, OPERATOR, {}, S.CLOSED, None, "closed_at"),
    ]
    for action, actor, kwargs, status, step, column in plan:
        now = clock.advance(minutes=20)
        version = case.version
        case = service.act(case.id, action, actor, version=version, note=f"{action} done", **kwargs)  # type: ignore[arg-type]
        assert (case.status, case.version, case.status_since, getattr(case, column)) == (status, version + 1, now, now)
        assert case.due_at == (now + timedelta(hours=GARBAGE_SLA.hours(step)) if step else None)
    assert (case.department, case.verdict) == ("sanitation", "confirmed")

    audit = service.audit_log(case.id)
    assert [(a.action, a.actor, a.role, a.from_status, a.to_status) for a in audit] == [
        ("create", "system", "admin", None, "detected"),
        ("register", "olga", "operator", "detected", "registered"),
        ("dispatch", "dan", "dispatcher", "registered", "dispatched"),
        ("handled", "sanitation", "department", "dispatched", "handled"),
        ("verify", "ivy", "inspector", "handled", "verified"),
        ("close", "olga", "operator", "verified", "closed"),
    ]
    assert audit[2].detail == {"department": "sanitation"} and audit[4].detail == {"verdict": "confirmed"}
    assert audit[1].note == "register done" and audit[1].at == T0 + timedelta(minutes=20)
    assert [a.action for a in service.get_case(case.id).audit] == [a.action for a in audit]


def test_a_redispatch_hands_the_case_to_another_department_and_restarts_the_clock(
    service: CaseService, clock: Clock
) -> None:
    case = walk(service, new_case(service), S.DISPATCHED)
    now = clock.advance(hours=3)
    case = service.act(case.id, "dispatch", DISPATCHER, version=case.version, department="roads")
    assert (case.status, case.department, case.dispatched_at) == (S.DISPATCHED, "roads", now)
    assert case.due_at == now + timedelta(hours=GARBAGE_SLA.hours("handle"))


def test_overdue_cases_are_found_and_sorted_by_priority(service: CaseService, clock: Clock) -> None:
    garbage = new_case(service)  # severity 3, register within 1 h
    sign = new_case(service, 5000, category="billboard_hazard")  # severity 4, register within 2 h
    assert service.list_cases(overdue=True).total == 0
    assert [c.id for c in service.list_cases(sort="priority").items] == [sign.id, garbage.id]
    assert [c.id for c in service.list_cases(sort="due").items] == [garbage.id, sign.id]

    clock.advance(minutes=90)  # garbage overdue: 3 × 2 = 6 beats the sign's 4 × 1
    assert [c.id for c in service.list_cases(overdue=True).items] == [garbage.id]
    assert [c.id for c in service.list_cases(overdue=False).items] == [sign.id]
    assert [c.id for c in service.list_cases(sort="priority").items] == [garbage.id, sign.id]

    service.act(garbage.id, "register", OPERATOR, version=garbage.version)  # a new step, a new deadline
    assert service.list_cases(overdue=True).total == 0


# ---- illegal transitions and wrong roles ---------------------------------------------------------------------
STATE_ACTIONS = [a for a in Action if a not in (Action.NOTE, Action.MERGE)]
ILLEGAL = [(status, action) for action in STATE_ACTIONS for status in S if status not in TRANSITIONS[action][0]]


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_every_illegal_transition_is_refused_with_a_message(
    service: CaseService, engine: Engine, status: CaseStatus, action: Action
) -> None:
    case = new_case(service)
    version = put_in(engine, case.id, status)
    with pytest.raises(IllegalTransition) as err:
        service.act(case.id, action, ADMIN, version=version, department="d", verdict="false_positive", note="why")
    assert f"case {case.id}" in str(err.value) and status.value in str(err.value)
    assert service.get_case(case.id).case.status == status  # nothing changed
    assert [a.action for a in service.audit_log(case.id)] == ["create"]


@pytest.mark.parametrize("status", [S.DETECTED, S.REGISTERED, S.DISPATCHED])
def test_a_confirmed_verify_needs_a_handled_case(service: CaseService, engine: Engine, status: CaseStatus) -> None:
    case = new_case(service)
    version = put_in(engine, case.id, status)
    with pytest.raises(IllegalTransition, match="confirmed verify needs status handled"):
        service.act(case.id, "verify", INSPECTOR, version=version, verdict="confirmed")


WRONG_ROLES = [
    (action, role)
    for action in Action
    if action is not Action.MERGE
    for role in Role
    if role not in PERMISSIONS[action]
]


@pytest.mark.parametrize(("action", "role"), WRONG_ROLES, ids=[f"{a}-{r}" for a, r in WRONG_ROLES])
def test_every_wrong_role_is_refused_naming_the_roles_needed(
    service: CaseService, engine: Engine, action: Action, role: Role
) -> None:
    case = new_case(service)
    allowed, _ = TRANSITIONS[action]
    version = put_in(engine, case.id, S.HANDLED if S.HANDLED in allowed else next(iter(allowed)))
    with pytest.raises(PermissionDenied) as err:
        service.act(case.id, action, Actor("eve", role), version=version, department="d", verdict="confirmed")
    needed = [r.value for r in Role if r in PERMISSIONS[action]]
    assert str(err.value) == f"{action.value} needs role {' or '.join(needed)}; key 'eve' has role {role.value}"
    assert err.value.needed == tuple(needed)


def test_merge_needs_an_operator_shift_lead_or_admin(service: CaseService) -> None:
    a, b = new_case(service), new_case(service, 1000)
    for role in Role:
        if role not in PERMISSIONS[Action.MERGE]:
            with pytest.raises(PermissionDenied, match="merge needs role operator or shift_lead or admin"):
                service.merge(a.id, b.id, Actor("eve", role), version=a.version)


@pytest.mark.parametrize("verdict", [Verdict.FALSE_POSITIVE, Verdict.DUPLICATE])
@pytest.mark.parametrize("status", [S.DETECTED, S.REGISTERED, S.DISPATCHED, S.HANDLED])
def test_a_false_positive_or_duplicate_verdict_dismisses(
    service: CaseService, status: CaseStatus, verdict: Verdict
) -> None:
    case = walk(service, new_case(service), status)
    case = service.act(case.id, "verify", INSPECTOR, version=case.version, verdict=verdict)
    assert (case.status, case.verdict, case.due_at) == (S.DISMISSED, verdict.value, None)
    assert service.list_cases(verdict=verdict).total == 1


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_dismiss_works_from_every_open_status_and_needs_a_reason(service: CaseService, status: CaseStatus) -> None:
    case = walk(service, new_case(service), status)
    with pytest.raises(InvalidAction, match="dismiss needs a note"):
        service.act(case.id, "dismiss", OPERATOR, version=case.version)
    case = service.act(case.id, "dismiss", OPERATOR, version=case.version, note="a parked car, not a stall")
    assert case.status == S.DISMISSED and case.closed_at is not None


def test_action_arguments_are_checked(service: CaseService) -> None:
    case = walk(service, new_case(service), S.REGISTERED)
    with pytest.raises(InvalidAction, match="dispatch needs the department"):
        service.act(case.id, "dispatch", DISPATCHER, version=case.version, department=" ")
    handled = walk(service, new_case(service, 1000), S.HANDLED)
    with pytest.raises(InvalidAction, match="verify needs a verdict"):
        service.act(handled.id, "verify", INSPECTOR, version=handled.version)
    with pytest.raises(ValueError):
        service.act(handled.id, "verify", INSPECTOR, version=handled.version, verdict="maybe")
    with pytest.raises(CaseNotFound):
        service.act(999, "register", OPERATOR, version=1)
    with pytest.raises(InvalidAction, match="a note needs text"):
        service.act(case.id, "note", OPERATOR, note="  ")


def test_notes_are_audited_on_any_status_without_changing_the_case(service: CaseService) -> None:
    case = walk(service, new_case(service), S.CLOSED)
    after = service.act(case.id, "note", Actor("dt", Role.DATA_TEAM), note="good training example")
    assert (after.status, after.version) == (S.CLOSED, case.version)
    last = service.audit_log(case.id)[-1]
    assert (last.action, last.actor, last.from_status, last.to_status, last.note) == (
        "note",
        "dt",
        "closed",
        "closed",
        "good training example",
    )


def test_the_audit_log_is_append_only(service: CaseService, engine: Engine) -> None:
    case = walk(service, new_case(service), S.REGISTERED)
    with session_factory(engine)() as session:
        entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.case_id == case.id)).first()
        assert entry is not None
        entry.note = "rewritten history"
        with pytest.raises(ValueError, match="append-only"):
            session.flush()
        session.rollback()
        entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.case_id == case.id)).first()
        session.delete(entry)
        with pytest.raises(ValueError, match="append-only"):
            session.flush()


# ---- optimistic locking ------------------------------------------------------------------------------------
def test_a_stale_or_missing_version_is_refused(service: CaseService) -> None:
    case = new_case(service)
    with pytest.raises(VersionRequired, match="send the version you read"):
        service.act(case.id, "register", OPERATOR)
    registered = service.act(case.id, "register", OPERATOR, version=case.version)
    with pytest.raises(VersionConflict) as err:
        service.act(case.id, "dismiss", OPERATOR, version=case.version, note="stale")
    assert (err.value.expected, err.value.actual) == (case.version, registered.version)
    assert f"case {case.id} is at version {registered.version}, you sent version {case.version}" in str(err.value)


def test_a_new_sighting_changes_the_version_too(service: CaseService) -> None:
    case = new_case(service)
    service.ingest(make_event(geo=north_of(3), start=T0 + timedelta(minutes=5), evidence=()))
    with pytest.raises(VersionConflict):
        service.act(case.id, "register", OPERATOR, version=case.version)


def test_two_dispatchers_racing_on_one_version_one_wins_one_gets_a_conflict(service: CaseService) -> None:
    case = walk(service, new_case(service), S.REGISTERED)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def dispatch(department: str) -> None:
        barrier.wait()
        try:
            outcomes[department] = service.act(
                case.id, "dispatch", DISPATCHER, version=case.version, department=department
            )
        except VersionConflict as exc:
            outcomes[department] = exc

    threads = [threading.Thread(target=dispatch, args=(d,)) for d in ("roads", "parks")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [d for d, o in outcomes.items() if isinstance(o, Case)]
    lost = [d for d, o in outcomes.items() if isinstance(o, VersionConflict)]
    assert len(won) == 1 and len(lost) == 1
    final = service.get_case(case.id).case
    assert (final.department, final.version) == (won[0], case.version + 1)
    assert [a.action for a in service.audit_log(case.id)].count("dispatch") == 1


# ---- merge -------------------------------------------------------------------------------------------------
def test_merging_moves_observations_and_evidence_and_dismisses_the_duplicate(service: CaseService) -> None:
    target = service.ingest(make_event(geo=north_of(0)))
    source = service.ingest(make_event(geo=north_of(500), start=T0 + timedelta(hours=1), confidence=0.95))
    src = service.get_case(source.case_id).case
    merged = service.merge(src.id, target.case_id, OPERATOR, version=src.version, note="same pile, bad GPS")
    assert merged.observation_count == 2 and merged.max_confidence == pytest.approx(0.95)
    assert merged.last_seen == src.last_seen

    record = service.get_case(target.case_id)
    assert len(record.observations) == 2
    assert [e.n for e in record.evidence] == [1, 2, 3, 4]
    for n in (3, 4):  # the moved images are still served
        assert service.get_evidence(target.case_id, n).path.is_file()
    gone = service.get_case(src.id)
    assert (gone.case.status, gone.case.verdict, gone.case.duplicate_of) == (S.DISMISSED, "duplicate", target.case_id)
    assert gone.observations == [] and gone.evidence == []
    assert gone.audit[-1].detail == {"into": target.case_id, "observations": 1, "evidence": 2}
    assert record.audit[-1].detail == {"from": src.id}


def test_merge_refuses_itself_other_categories_closed_targets_and_stale_versions(
    service: CaseService, engine: Engine
) -> None:
    a, b = new_case(service), new_case(service, 1000)
    stall = new_case(service, 2000, category="street_stall")
    with pytest.raises(InvalidAction, match="into itself"):
        service.merge(a.id, a.id, OPERATOR, version=a.version)
    with pytest.raises(InvalidAction, match="categories differ"):
        service.merge(a.id, stall.id, OPERATOR, version=a.version)
    with pytest.raises(VersionConflict):
        service.merge(a.id, b.id, OPERATOR, version=a.version + 7)
    with pytest.raises(VersionConflict):
        service.merge(a.id, b.id, OPERATOR, version=a.version, target_version=b.version + 1)
    put_in(engine, b.id, S.CLOSED)
    with pytest.raises(IllegalTransition, match="merge into an open case"):
        service.merge(a.id, b.id, OPERATOR, version=a.version)
    with pytest.raises(IllegalTransition, match="only possible on open cases"):
        service.merge(b.id, a.id, OPERATOR, version=b.version + 1)


# ---- districts -----------------------------------------------------------------------------------------------
@pytest.fixture
def district_service(engine: Engine, tmp_path: Path, clock: Clock, settings: Settings) -> CaseService:
    s = settings.model_copy(
        update={
            "lifecycle": LifecycleSettings.model_validate(
                {"districts": {"Huangpu": [121.46, 31.22, 121.50, 31.24], "xuhui": {"name": "徐汇区"}}}
            )
        }
    )
    return CaseService(session_factory(engine), s, load_taxonomy(), clock=clock)


def test_districts_come_from_config_and_bind_keys(district_service: CaseService) -> None:
    service = district_service
    inside = new_case(service)
    outside = new_case(service, 5000)  # 5 km north: outside the box
    assert (inside.district, outside.district) == ("huangpu", None)

    local = Actor("hp-op", Role.OPERATOR, ("huangpu",))
    with pytest.raises(PermissionDenied, match="is in district \\(none\\); key 'hp-op' is bound to huangpu"):
        service.act(outside.id, "register", local, version=outside.version)
    with pytest.raises(PermissionDenied, match="district xuhui"):
        service.act(inside.id, "register", local, version=inside.version, district="XuHui")
    with pytest.raises(
        UnknownDistrict, match="unknown district 'minhang'; the configured districts are: huangpu, xuhui"
    ):
        service.act(inside.id, "register", local, version=inside.version, district="minhang")
    service.act(inside.id, "register", local, version=inside.version)
    assert [c.id for c in service.list_cases(visible_districts=local.districts).items] == [inside.id]
    assert [c.id for c in service.list_cases(district="huangpu").items] == [inside.id]
    moved = service.act(outside.id, "register", OPERATOR, version=outside.version, district="HUANGPU")
    assert moved.district == "huangpu"


# ---- recurrence -----------------------------------------------------------------------------------------------
def _recurring(engine: Engine, settings: Settings, clock: Clock, mode: str) -> CaseService:
    s = settings.model_copy(update={"lifecycle": LifecycleSettings(recurrence=mode, recurrence_window_h=48)})  # type: ignore[arg-type]
    return CaseService(session_factory(engine), s, load_taxonomy(), clock=clock)


def test_a_closed_problem_that_recurs_is_linked_as_a_repeat(engine: Engine, settings: Settings, clock: Clock) -> None:
    service = _recurring(engine, settings, clock, "link")
    closed = walk(service, new_case(service), S.CLOSED)  # closed at T0 + 0 (clock did not move)
    again = service.ingest(make_event(geo=north_of(5), start=T0 + timedelta(hours=5), evidence=()))
    assert again.created and again.repeat_of == closed.id and again.case_id != closed.id
    assert service.get_case(again.case_id).case.repeat_of == closed.id
    assert service.get_case(again.case_id).audit[0].detail == {"repeat_of": closed.id}
    late = service.ingest(make_event(geo=north_of(5), start=T0 + timedelta(hours=100), evidence=()))
    assert late.created and late.repeat_of is None and late.case_id != again.case_id


def test_a_closed_problem_that_recurs_is_reopened(engine: Engine, settings: Settings, clock: Clock) -> None:
    service = _recurring(engine, settings, clock, "reopen")
    closed = walk(service, new_case(service), S.CLOSED)
    now = clock.advance(hours=5)
    again = service.ingest(make_event(geo=north_of(5), start=now, evidence=()))
    assert (again.case_id, again.created, again.merged, again.reopened) == (closed.id, False, True, True)
    case = service.get_case(closed.id)
    assert (case.case.status, case.case.reopen_count, case.case.verdict, case.case.closed_at) == (
        S.REGISTERED,
        1,
        None,
        None,
    )
    assert case.case.department == "sanitation" and case.case.observation_count == 2
    assert case.case.due_at == now + timedelta(hours=GARBAGE_SLA.hours("dispatch"))
    assert (case.audit[-1].action, case.audit[-1].from_status, case.audit[-1].to_status) == (
        "reopen",
        "closed",
        "registered",
    )


def test_recurrence_off_ignores_closed_cases(engine: Engine, settings: Settings, clock: Clock) -> None:
    service = _recurring(engine, settings, clock, "off")
    closed = walk(service, new_case(service), S.CLOSED)
    again = service.ingest(make_event(geo=north_of(5), start=T0 + timedelta(hours=5), evidence=()))
    assert again.created and again.repeat_of is None and again.case_id != closed.id


def test_dismissed_cases_never_come_back(engine: Engine, settings: Settings, clock: Clock) -> None:
    service = _recurring(engine, settings, clock, "reopen")
    case = new_case(service)
    service.act(case.id, "dismiss", OPERATOR, version=case.version, note="false alarm")
    again = service.ingest(make_event(geo=north_of(5), start=T0 + timedelta(hours=1), evidence=()))
    assert again.created and not again.reopened and again.repeat_of is None


# ---- migration 0001 -> 0002 ----------------------------------------------------------------------------------
def test_migrating_an_0001_database_backfills_severity_and_deadlines(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "old")
    migrate(settings, revision="0001")
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO cases (category, status, code, source_id, lat, lon, x1, y1, x2, y2, first_seen,"
                    " last_seen, max_confidence, observation_count, created_at, updated_at, version) VALUES"
                    " ('billboard_hazard', 'dispatched', '0301', 'cam', 31.2, 121.4, 0, 0, 1, 1,"
                    " '2025-06-01 08:00:00', '2025-06-01 08:00:00', 0.5, 1, '2025-06-01 08:00:00',"
                    " '2025-06-01 09:00:00', 3)"
                )
            )
        migrate(settings, engine)
        case = session_factory(engine)().get_one(Case, 1)
        assert (case.severity, case.status_since, case.reopen_count) == (4, T0 + timedelta(hours=1), 0)
        assert case.due_at == T0 + timedelta(hours=1 + 24)  # billboard: handle within 24 h
    finally:
        engine.dispose()


def test_sort_by_priority_pages_match_a_full_sort(engine: Engine, service: CaseService, clock: Clock) -> None:
    """The index-backed priority query (per-severity streams) gives the same pages as sorting everything."""
    rng = random.Random(4)
    now = clock()
    rows = []
    for _ in range(300):
        due = rng.choice([None, now - timedelta(hours=rng.randrange(1, 5)), now + timedelta(hours=rng.randrange(5))])
        rows.append(
            {
                "category": "garbage", "status": "detected", "code": "g", "source_id": "cam", "lat": 31.0,
                "lon": 121.0, "x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0, "first_seen": now, "last_seen": now,
                "max_confidence": 0.5, "observation_count": 1, "version": 1, "reopen_count": 0,
                "severity": rng.choice([1, 2, 3, 4, 5, 7]), "due_at": due, "district": rng.choice(["a", "b"]),
            }
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Case), rows)
    every = service.list_cases(limit=500).items

    def key(c: Case) -> tuple[int, int, datetime, int]:
        overdue = c.due_at is not None and c.due_at < now
        return (-c.severity * (2 if overdue else 1), c.due_at is None, c.due_at or now, -c.id)

    for district in (None, "a"):
        expected = [c.id for c in sorted(every, key=key) if district is None or c.district == district]
        for offset, limit in ((0, 50), (40, 7), (280, 50)):
            page = service.list_cases(sort="priority", district=district, limit=limit, offset=offset)
            assert [c.id for c in page.items] == expected[offset : offset + limit]
