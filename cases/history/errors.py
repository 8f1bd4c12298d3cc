"""The history import's errors: an input that cannot be used as given (a ValueError: the CLI prints one line)."""

from __future__ import annotations

from cases.errors import CaseError
from models.errors import Invalid


class HistoryError(CaseError, Invalid, ValueError):
    """A history file, format, mapping or import name that cannot be used; the message says why."""
