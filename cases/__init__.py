"""The case domain: the store, merge/dedup ingestion of events, and evidence files.

`CaseService` is the one entry point other packages use; `migrate` brings a database to the current schema.
"""

from cases.db import make_engine, migrate, session_factory
from cases.errors import (
    CaseError,
    CaseNotFound,
    EvidenceNotFound,
    EvidenceWriteError,
    InvalidEvent,
    InvalidFilter,
)
from cases.service import CasePage, CaseQuery, CaseRecord, CaseService, EvidenceFile, IngestResult
from cases.status import OPEN_STATUSES, CaseStatus

__all__ = [
    "OPEN_STATUSES",
    "CaseError",
    "CaseNotFound",
    "CasePage",
    "CaseQuery",
    "CaseRecord",
    "CaseService",
    "CaseStatus",
    "EvidenceFile",
    "EvidenceNotFound",
    "EvidenceWriteError",
    "IngestResult",
    "InvalidEvent",
    "InvalidFilter",
    "make_engine",
    "migrate",
    "session_factory",
]
