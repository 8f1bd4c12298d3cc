"""The training package's exceptions, on the error kinds of `models.errors`.

TrainingError (RuntimeError)   a run cannot start or resume: missing dataset, base weights or run folder (Invalid)
└── LoopError                  the loop cannot run now: no base dataset, nothing new to learn from (Conflict)
"""

from __future__ import annotations

from models.errors import Conflict, Invalid


class TrainingError(Invalid, RuntimeError):
    """Base class of the training package's errors; raised itself when training cannot start or resume
    (missing dataset, base weights, or run folder)."""


class LoopError(Conflict, TrainingError):
    """The loop cannot run (no base dataset, nothing new to learn from, …)."""
