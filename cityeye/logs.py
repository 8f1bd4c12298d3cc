"""Logging lives in `models/logs.py` (every layer writes log lines with the same context ids); names kept here."""

from models.logs import (
    CONTEXT_FIELDS,
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    current_context,
    log_context,
    pop_context,
    push_context,
)

__all__ = [
    "CONTEXT_FIELDS",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "current_context",
    "log_context",
    "pop_context",
    "push_context",
]
