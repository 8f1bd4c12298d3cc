"""The case domain's exceptions. The API maps each to one HTTP error in one place (`api.main`).

CaseError
├── CaseNotFound          no case with that id
├── EvidenceNotFound      no evidence with that index for the case (or its file is gone)
├── InvalidFilter         a list filter names an unknown category/status or is out of range
├── InvalidEvent          an event the store cannot take (e.g. naive datetimes)
├── EvidenceWriteError    an evidence file could not be written; the ingestion was rolled back
├── IllegalTransition     the action is not allowed from the case's status (HTTP 409)
├── VersionConflict       the case changed since the caller read it (optimistic locking, HTTP 409)
├── PermissionDenied      the caller's role or districts do not allow the action (HTTP 403)
├── InvalidAction         the action's arguments are wrong (e.g. merging a case into itself, HTTP 422)
│   └── VersionRequired   no expected version given (HTTP 428)
└── AuthError             no API key, or an unknown or revoked one (HTTP 401)
"""

from __future__ import annotations


class CaseError(Exception):
    """Base class of all case-domain errors."""


class CaseNotFound(CaseError):
    def __init__(self, case_id: int):
        self.case_id = case_id
        super().__init__(f"case {case_id} not found")


class EvidenceNotFound(CaseError):
    def __init__(self, case_id: int, n: int):
        self.case_id = case_id
        self.n = n
        super().__init__(f"evidence {n} of case {case_id} not found")


class InvalidFilter(CaseError, ValueError):
    """`field` names the filter (e.g. 'category'), `value` what was given."""

    def __init__(self, field: str, value: object, message: str):
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidEvent(CaseError, ValueError):
    """The event cannot be stored as given."""


class EvidenceWriteError(CaseError):
    """Writing an evidence file failed; nothing of the ingestion was kept."""


class IllegalTransition(CaseError):
    def __init__(self, case_id: int, action: str, status: str, message: str):
        self.case_id = case_id
        self.action = action
        self.status = status
        super().__init__(message)


class VersionConflict(CaseError):
    def __init__(self, case_id: int, expected: int | None, actual: int | None):
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        now = f"is at version {actual}" if actual is not None else "was changed"
        super().__init__(
            f"case {case_id} {now}, you sent version {expected}: someone else changed it; reload and retry"
        )


class PermissionDenied(CaseError):
    """`needed` lists the roles that may do the action."""

    def __init__(self, message: str, needed: tuple[str, ...] = ()):
        self.needed = needed
        super().__init__(message)


class InvalidAction(CaseError, ValueError):
    """The action's arguments cannot be applied."""


class AuthError(CaseError):
    """Missing, unknown or revoked API key."""


class VersionRequired(InvalidAction):
    """A state-changing action was sent without the case version the caller read (HTTP 428)."""
