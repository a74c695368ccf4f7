"""Typed errors shared by every tunegym environment, process and tuner.

Each error names what was wrong and carries the offending value, so a user sees the cause in one line
instead of a stack trace from deep inside a kernel. Nothing environment-specific lives here.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TunegymError",
    "ActionError",
    "InstanceError",
    "MatrixError",
    "ConfigError",
    "CheckpointError",
    "SeedLeakError",
    "MissingExtraError",
]


class TunegymError(Exception):
    """Base class of every error tunegym raises on purpose."""

    def __init__(self, message: str, *, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


class InstanceError(TunegymError, ValueError):
    """An instance (matrix, initial condition, model, dataset) is malformed or unusable."""


class MatrixError(InstanceError):
    """A linear system is malformed: not square, zero diagonal, non-finite entries, shape mismatch."""


class ConfigError(TunegymError, ValueError):
    """A configuration key does not exist, or its value has the wrong type or range."""


class CheckpointError(TunegymError, RuntimeError):
    """A checkpoint or tuner file is corrupt, foreign, or unsafe to load."""


class SeedLeakError(TunegymError, RuntimeError):
    """Code running inside tuning tried to touch a test seed."""


class ActionError(TunegymError, ValueError):
    """An action is outside the env's action space (a bad arm index, a NaN knob value)."""


class MissingExtraError(TunegymError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install "tunegym[extra]"`` to run.

    Raised by :func:`tunegym.envs.core.extras.require`; ``value`` is the missing module's name, ``extra`` the
    extra that provides it.
    """

    def __init__(self, message: str, *, value: str, extra: str) -> None:
        super().__init__(message, value=value)
        self.name = value  # ImportError's attribute: the module that could not be imported
        self.extra = extra


class TunerMismatchError(CheckpointError):
    """A tuner does not fit the process it is given (another domain, env or observation layout)."""
