"""The case lifecycle of digital city management (数字城管) as a table: who may do what, from which status.

    detected ─register─> registered ─dispatch─> dispatched ─handled─> handled ─verify─> verified ─close─> closed
      发现               立案                    派遣                   处置                核查              结案
    any open status ──dismiss──> dismissed (作废)
    verify with verdict false_positive or duplicate ──> dismissed (from any open status before verified)
    dispatch again while dispatched = hand the case to another department

`PERMISSIONS` says which roles may take each action; `TRANSITIONS` from which statuses and to which one.
Both are plain tables so a city can read them (and docs/lifecycle.md prints them). The SLA of each step comes
from the taxonomy: a case that enters status S must leave it within `sla_hours[STEP_OF_STATUS[S]]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cases.errors import IllegalTransition, InvalidAction, PermissionDenied
from cases.status import OPEN_STATUSES, CaseStatus
from models.taxonomy import Category


class Role(StrEnum):
    INSPECTOR = "inspector"  # 监督员: finds and verifies on site
    OPERATOR = "operator"  # 受理员: registers (立案) and closes
    SHIFT_LEAD = "shift_lead"  # 值班长: may do what operators, dispatchers and inspectors do
    DISPATCHER = "dispatcher"  # 派遣员: sends a case to a department
    DEPARTMENT = "department"  # 专业部门: reports a case handled
    DATA_TEAM = "data_team"  # reads cases and verdicts for retraining; may add notes
    ADMIN = "admin"  # everything
    REPORTER = "reporter"  # a citizens' reporting app (Open311): files reports and reads their status, nothing else


class Action(StrEnum):
    REGISTER = "register"
    DISPATCH = "dispatch"
    HANDLED = "handled"
    VERIFY = "verify"
    CLOSE = "close"
    DISMISS = "dismiss"
    NOTE = "note"
    MERGE = "merge"


class Verdict(StrEnum):
    """The inspector's verdict on a case (核查); kept for scoring and retraining."""

    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"
    DUPLICATE = "duplicate"


R = Role
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.REGISTER: frozenset({R.OPERATOR, R.SHIFT_LEAD, R.ADMIN}),
    Action.DISPATCH: frozenset({R.DISPATCHER, R.SHIFT_LEAD, R.ADMIN}),
    Action.HANDLED: frozenset({R.DEPARTMENT, R.ADMIN}),
    Action.VERIFY: frozenset({R.INSPECTOR, R.SHIFT_LEAD, R.ADMIN}),
    Action.CLOSE: frozenset({R.OPERATOR, R.SHIFT_LEAD, R.ADMIN}),
    Action.DISMISS: frozenset({R.OPERATOR, R.SHIFT_LEAD, R.ADMIN}),
    Action.MERGE: frozenset({R.OPERATOR, R.SHIFT_LEAD, R.ADMIN}),
    Action.NOTE: frozenset(Role),
}

S = CaseStatus
# action -> (statuses it may start from, status it leads to); VERIFY's target depends on the verdict
TRANSITIONS: dict[Action, tuple[frozenset[CaseStatus], CaseStatus | None]] = {
    Action.REGISTER: (frozenset({S.DETECTED}), S.REGISTERED),
    Action.DISPATCH: (frozenset({S.REGISTERED, S.DISPATCHED}), S.DISPATCHED),
    Action.HANDLED: (frozenset({S.DISPATCHED}), S.HANDLED),
    Action.VERIFY: (frozenset({S.DETECTED, S.REGISTERED, S.DISPATCHED, S.HANDLED}), None),
    Action.CLOSE: (frozenset({S.VERIFIED}), S.CLOSED),
    Action.DISMISS: (OPEN_STATUSES, S.DISMISSED),
    Action.MERGE: (OPEN_STATUSES, S.DISMISSED),  # the merged-away case; the target stays as it is
    Action.NOTE: (frozenset(CaseStatus), None),  # notes change nothing but the audit log
}

# status -> the lifecycle step (taxonomy `sla_hours` key) whose time limit runs while a case is in it
STEP_OF_STATUS: dict[CaseStatus, str] = {
    S.DETECTED: "register",
    S.REGISTERED: "dispatch",
    S.DISPATCHED: "handle",
    S.HANDLED: "verify",
    S.VERIFIED: "close",
}

# status -> the case column that records when the case entered it
ENTERED_AT_COLUMN: dict[CaseStatus, str] = {
    S.REGISTERED: "registered_at",
    S.DISPATCHED: "dispatched_at",
    S.HANDLED: "handled_at",
    S.VERIFIED: "verified_at",
    S.CLOSED: "closed_at",
    S.DISMISSED: "closed_at",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key's name and role, and the districts it is bound to (empty = all districts)."""

    name: str
    role: Role
    districts: tuple[str, ...] = field(default=())

    def may_see(self, district: str | None) -> bool:
        """Whether the key's districts hold `district` (ids compare case-insensitively; None: unbound keys only)."""
        if not self.districts:
            return True
        return district is not None and district.casefold() in {d.casefold() for d in self.districts}


SYSTEM = Actor(name="system", role=Role.ADMIN)  # ingestion (reopen on recurrence) and merges it makes


def roles_for(action: Action) -> tuple[str, ...]:
    """The roles that may take `action`, in the order of `Role`."""
    return tuple(r.value for r in Role if r in PERMISSIONS[action])


def check_permission(actor: Actor, action: Action, case_id: int, district: str | None) -> None:
    """Raise `PermissionDenied` naming the needed roles, or the districts the key is bound to."""
    if actor.role not in PERMISSIONS[action]:
        needed = roles_for(action)
        raise PermissionDenied(
            f"{action.value} needs role {' or '.join(needed)}; key {actor.name!r} has role {actor.role.value}",
            needed,
        )
    if not actor.may_see(district):
        raise PermissionDenied(
            f"case {case_id} is in district {district or '(none)'}; key {actor.name!r} is bound to "
            f"{', '.join(actor.districts)}"
        )


def next_status(case_id: int, action: Action, status: CaseStatus, verdict: Verdict | None = None) -> CaseStatus:
    """The status `action` leads to from `status`; raises `IllegalTransition` with a message that says why."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        if status in (S.CLOSED, S.DISMISSED):
            why = f"case {case_id} is {status.value}: {action.value} is only possible on open cases"
        else:
            names = ", ".join(s.value for s in CaseStatus if s in allowed)
            why = f"cannot {action.value} case {case_id}: it is {status.value}, {action.value} needs status {names}"
        raise IllegalTransition(case_id, action.value, status.value, why)
    if action is Action.VERIFY:
        if verdict is None:
            raise InvalidAction("verify needs a verdict: confirmed, false_positive or duplicate")
        if verdict is Verdict.CONFIRMED:
            if status is not S.HANDLED:
                raise IllegalTransition(
                    case_id,
                    action.value,
                    status.value,
                    f"cannot verify case {case_id} as confirmed: it is {status.value}, a confirmed verify "
                    f"needs status handled (false_positive or duplicate may be given earlier)",
                )
            return S.VERIFIED
        return S.DISMISSED
    return status if target is None else target


def due_at(status: CaseStatus, since: datetime, category: Category) -> datetime | None:
    """When the step that runs in `status` is due; None for closed and dismissed cases."""
    step = STEP_OF_STATUS.get(status)
    return None if step is None else since + timedelta(hours=category.sla_hours.hours(step))


def is_overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and due < now


def urgency(due: datetime | None, now: datetime) -> int:
    """The list's urgency factor (sort=priority): 2 when overdue, else 1. It keeps the sort index-backed; the
    continuous SLA urgency of a case's score parts is `cases.scoring.priority.sla_urgency`."""
    return 2 if is_overdue(due, now) else 1
