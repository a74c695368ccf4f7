"""The relaxation-factor knob as an action: the arm grid or a continuous interval, and its conversions.

Shared by every SOR env so that an agent, a baseline and a deployed tuner map actions to ω identically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.sor.features import FEATURE_HIGH, FEATURE_LOW

__all__ = ["DEFAULT_ARMS", "OmegaKnob", "context_bounds"]

#: The Learning to Relax arm grid: 20 values from 1 to 1.95.
DEFAULT_ARMS = tuple(float(w) for w in np.linspace(1.0, 1.95, 20))


class OmegaKnob:
    """ω as a ``Discrete`` arm index (``kind="discrete"``) or a clipped ``Box`` value (``"continuous"``)."""

    def __init__(
        self,
        kind: str = "discrete",
        arms: Sequence[float] = DEFAULT_ARMS,
        omega_low: float = 1.0,
        omega_high: float = 1.99,
    ) -> None:
        if kind not in ("discrete", "continuous"):
            raise ConfigError(f"action must be 'discrete' or 'continuous', got {kind!r}", value=kind)
        self.kind = kind
        self.arms = np.asarray(arms, dtype=np.float64)
        if self.arms.ndim != 1 or self.arms.size == 0 or not np.all(np.isfinite(self.arms)):
            raise ConfigError(f"arms must be a non-empty list of finite floats, got {arms!r}", value=arms)
        if not (0.0 < omega_low < omega_high):
            raise ConfigError(f"need 0 < omega_low < omega_high, got {omega_low}, {omega_high}", value=omega_low)
        self.omega_low, self.omega_high = float(omega_low), float(omega_high)
        if kind == "discrete":
            self.space: spaces.Space = spaces.Discrete(self.arms.size)
        else:
            self.space = spaces.Box(self.omega_low, self.omega_high, shape=(1,), dtype=np.float32)

    def to_omega(self, action: Any) -> float:
        """The ω an action applies; raises :class:`ActionError` for a bad arm or a non-finite value."""
        if self.kind == "discrete":
            arr = np.asarray(action)
            if arr.size != 1 or not (np.issubdtype(arr.dtype, np.integer) or _is_integral(arr)):
                raise ActionError(f"discrete action must be an integer arm index, got {action!r}", value=action)
            index = int(arr.reshape(()))
            if not 0 <= index < self.arms.size:
                raise ActionError(f"arm index {index} outside 0..{self.arms.size - 1}", value=index)
            return float(self.arms[index])
        try:
            value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        except (TypeError, ValueError, IndexError) as exc:
            raise ActionError(f"continuous action must be a number, got {action!r}", value=action) from exc
        if not math.isfinite(value):
            raise ActionError(f"continuous action must be finite, got {action!r}", value=action)
        return min(max(value, self.omega_low), self.omega_high)

    def to_action(self, omega: float) -> Any:
        """The action closest to ``omega`` (nearest arm, or the clipped value)."""
        if self.kind == "discrete":
            return int(np.argmin(np.abs(self.arms - omega)))
        return np.array([min(max(omega, self.omega_low), self.omega_high)], dtype=np.float32)


def _is_integral(arr: np.ndarray) -> bool:
    try:
        value = float(arr.reshape(()))
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value == int(value)


def context_bounds(distribution: SequenceDistribution) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the context a distribution's systems carry (offset ``c`` or matrix features)."""
    low = getattr(distribution, "context_low", None)
    high = getattr(distribution, "context_high", None)
    if low is not None and high is not None:
        return np.atleast_1d(np.asarray(low, dtype=np.float32)), np.atleast_1d(np.asarray(high, dtype=np.float32))
    return FEATURE_LOW.copy(), FEATURE_HIGH.copy()
