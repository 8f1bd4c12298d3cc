"""Logging: plain text or one JSON object per line (`ops.log_format`), with the ids an operator filters on.

`request_id`, `camera_id`, `case_id`, `survey_id` and `task_id` come from context variables, so every log line
written while a request, a camera loop or a task runs carries them without passing them around::

    with log_context(camera_id="gate-3"):
        log.info("reconnected")      # {"ts": ..., "level": "INFO", "msg": "reconnected", "camera_id": "gate-3"}

Extra fields given as `log.info(..., extra={"case_id": 7})` are written too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("request_id", "camera_id", "case_id", "survey_id", "task_id")
_context: ContextVar[dict[str, Any]] = ContextVar("cityeye_log_context", default={})  # noqa: B039 (never mutated)

# attributes every LogRecord has: anything else on a record came from `extra=` and is written as a field
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (e.g. camera_id="gate-3") to every log line written inside the block (this task/thread)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def push_context(**fields: Any) -> Token[dict[str, Any]]:
    """Add fields to the context until `pop_context(token)` (for code that cannot use a `with` block)."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def pop_context(token: Token[dict[str, Any]]) -> None:
    try:
        _context.reset(token)
    except ValueError:  # made in another context (a signal in another thread): forget everything instead
        _context.set({})


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (text format can then use %(request_id)s)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context ids, extra fields, exc (traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message [request_id=… case_id=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None) is not None]
        return f"{line} [{' '.join(ids)}]" if ids else line


def configure_logging(fmt: str = "text", level: str = "INFO", stream: Any = None) -> logging.Handler:
    """Replace the root logger's handlers with one to `stream` (stderr) in `fmt`; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):  # one format for every line
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    return handler
