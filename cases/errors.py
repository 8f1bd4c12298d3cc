"""The case domain's exceptions. The API maps each to one HTTP error in one place (`api.main`).

CaseError
├── CaseNotFound          no case with that id
├── EvidenceNotFound      no evidence with that index for the case (or its file is gone)
├── InvalidFilter         a list filter names an unknown category/status or is out of range
├── InvalidEvent          an event the store cannot take (e.g. naive datetimes)
└── EvidenceWriteError    an evidence file could not be written; the ingestion was rolled back
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
