"""The case domain's exceptions, on the error kinds of `models.errors`; `api.errors` maps each kind to one HTTP error.

CaseError
├── CaseNotFound          no case with that id (NotFound)
├── EvidenceNotFound      no evidence with that index for the case, or its file is gone (NotFound)
├── SurveyNotFound        no survey with that id, or no such report file (NotFound)
├── InvalidFilter         a list filter names an unknown category/status or is out of range (InvalidParameter)
├── InvalidEvent          an event the store cannot take, e.g. naive datetimes (Invalid)
├── EvidenceWriteError    an evidence file could not be written; the ingestion was rolled back (no kind: HTTP 500)
├── IllegalTransition     the action is not allowed from the case's status (Conflict)
├── VersionConflict       the case changed since the caller read it: optimistic locking (Conflict, with its version)
├── SurveyNotReady        the survey is not in a state for that: queued, processing, or not done yet (Conflict)
├── PermissionDenied      the caller's role or districts do not allow the action (Forbidden)
├── InvalidAction         the action's arguments are wrong, e.g. merging a case into itself (Invalid)
│   ├── VersionRequired   no expected version given (PreconditionRequired)
│   └── FeedbackError     feedback that cannot be stored as given: bad boxes, unknown class, no raw frame
│       └── FeedbackNotFound   no feedback frame with that id, or its image file is gone (NotFound)
├── UploadRejected        an upload refused as a whole (Invalid)
│   ├── UploadTooLarge    a file, a zip or a multipart body over its limits (TooLarge)
│   ├── UnsupportedUpload content that is not an accepted type, or a body that is not multipart (UnsupportedMedia)
│   └── MalformedUpload   a multipart body that cannot be parsed (Malformed)
├── AuthError             no API key, or an unknown or revoked one (Unauthenticated)
└── ScoringError          the scoring subpackage's errors: `cases.scoring.errors`
"""

from __future__ import annotations

from models.errors import (
    CityeyeError,
    Conflict,
    Forbidden,
    Invalid,
    InvalidParameter,
    Malformed,
    NotFound,
    PreconditionRequired,
    TooLarge,
    Unauthenticated,
    UnsupportedMedia,
)


class CaseError(CityeyeError):
    """Base class of all case-domain errors."""


class CaseNotFound(CaseError, NotFound):
    def __init__(self, case_id: int):
        self.case_id = case_id
        super().__init__(f"case {case_id} not found")


class EvidenceNotFound(CaseError, NotFound):
    def __init__(self, case_id: int, n: int):
        self.case_id = case_id
        self.n = n
        super().__init__(f"evidence {n} of case {case_id} not found")


class CitizenReportNotFound(CaseError, NotFound):
    """No citizen report has that token."""


class SurveyNotFound(CaseError, NotFound):
    def __init__(self, survey_id: int):
        self.survey_id = survey_id
        super().__init__(f"survey {survey_id} not found")


class InvalidFilter(CaseError, InvalidParameter, ValueError):
    """`field` names the filter (e.g. 'category'), `value` what was given."""


class InvalidEvent(CaseError, Invalid, ValueError):
    """The event cannot be stored as given."""


class EvidenceWriteError(CaseError):
    """Writing an evidence file failed; nothing of the ingestion was kept."""


class IllegalTransition(CaseError, Conflict):
    def __init__(self, case_id: int, action: str, status: str, message: str):
        self.case_id = case_id
        self.action = action
        self.status = status
        super().__init__(message)


class VersionConflict(CaseError, Conflict):
    def __init__(self, case_id: int, expected: int | None, actual: int | None):
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        now = f"is at version {actual}" if actual is not None else "was changed"
        super().__init__(
            f"case {case_id} {now}, you sent version {expected}: someone else changed it; reload and retry"
        )


class SurveyNotReady(CaseError, Conflict):
    """The survey is queued or processing (no uploads now), or not done (no report yet)."""


class PermissionDenied(CaseError, Forbidden):
    """`needed` lists the roles that may do the action."""

    def __init__(self, message: str, needed: tuple[str, ...] = ()):
        self.needed = needed
        super().__init__(message)


class InvalidAction(CaseError, Invalid, ValueError):
    """The action's arguments cannot be applied."""


class AuthError(CaseError, Unauthenticated):
    """Missing, unknown or revoked API key."""


class VersionRequired(PreconditionRequired, InvalidAction):
    """A state-changing action was sent without the case version the caller read (HTTP 428)."""


class FeedbackError(InvalidAction):
    """Feedback that cannot be stored as given (bad boxes, unknown class, no raw frame)."""


class FeedbackNotFound(NotFound, FeedbackError):
    """No feedback frame with that id, or its image file is gone."""


class UploadRejected(CaseError, Invalid, ValueError):
    """An upload that is refused as a whole (HTTP 422; the subclasses are other kinds)."""


class UploadTooLarge(TooLarge, UploadRejected):
    """A file, a zip (members, expansion) or a multipart body (parts) over its limits."""


class UnsupportedUpload(UnsupportedMedia, UploadRejected):
    """Content that is not an accepted type, or a request body that is not multipart/form-data."""


class MalformedUpload(Malformed, UploadRejected):
    """A multipart body that cannot be parsed."""
