"""The scoring package's exceptions (case-domain errors: `cases.errors.CaseError`).

ScoringError (ValueError)
├── ScorerFileError       a saved scorer or forecast cannot be used: missing, corrupt, or its checksum does not match
│   │                     its card (Unavailable)
│   └── FeatureMismatch   the scorer was fitted on other features (or category/zone levels) than the code computes
└── LeakageError          a case snapshot or history from after the scoring time was given (no kind: a bug)
"""

from __future__ import annotations

from cases.errors import CaseError
from models.errors import Unavailable


class ScoringError(CaseError, ValueError):
    """Base class of the scoring errors (a ValueError: the CLI prints it as one line)."""


class ScorerFileError(ScoringError, Unavailable):
    """A scorer file or its card is missing, unreadable, corrupt or of an unknown format."""


class FeatureMismatch(ScorerFileError):
    """The saved scorer's feature list or levels differ from the ones this code computes."""


class LeakageError(ScoringError):
    """Information from after the scoring time was offered to the feature builder."""
