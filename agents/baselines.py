"""Fixed rules and oracles for the SOR envs, speaking the agent interface.

They answer ``predict(obs)`` like an agent so that every results table compares them side by side.
Young's rule and the grid oracle need the system about to be solved, which an observation does not
carry in full; they read it from the env they are bound to (``env.unwrapped.current_instance``), which is
what makes them oracles rather than deployable policies.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.envs.sor.features import young_omega

__all__ = ["FixedOmega", "YoungOmega", "GridOracle"]


class _BoundBaseline:
    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.knob = self.env.knob

    def learn(self, env: gym.Env | None = None, total_timesteps: int = 0, **kwargs: Any) -> "_BoundBaseline":
        """Nothing to learn; present so baselines run wherever agents do."""
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self.knob.to_action(self.omega()), state

    def omega(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class FixedOmega(_BoundBaseline):
    """Always the same ω (the nearest arm in a discrete env). ``omega=1`` is Gauss–Seidel."""

    def __init__(self, env: gym.Env, omega: float = 1.0) -> None:
        super().__init__(env)
        self.fixed = float(omega)

    def omega(self) -> float:
        return self.fixed


class YoungOmega(_BoundBaseline):
    """Young's ``ω* = 2 / (1 + sqrt(1 - ρ_J²))`` from the system's Jacobi spectral radius.

    Exact for setting A (``ρ_J`` is known in closed form); estimated for user matrices. Optimal for the
    asymptotic rate of consistently ordered matrices, not necessarily for the sweep count to a finite
    tolerance.
    """

    def omega(self) -> float:
        return young_omega(self.env.current_instance.jacobi_radius)


class GridOracle(_BoundBaseline):
    """Per-instance optimum over the arm grid: solves the next system with every arm, picks the fewest sweeps.

    Costs one solve per arm per step; a lower bound for any policy restricted to the grid. Works on any env
    exposing ``knob``, ``current_instance`` and ``cost_of(omega)``. In a discrete env an ω off the env's
    grid maps to the nearest arm, so pair :meth:`fine` with ``action="continuous"``.
    """

    def __init__(self, env: gym.Env, arms: Any = None) -> None:
        super().__init__(env)
        self.arms = np.asarray(self.knob.arms if arms is None else arms, dtype=np.float64)

    def omega(self) -> float:
        costs = [self.env.cost_of(w) for w in self.arms]
        return float(self.arms[int(np.argmin(costs))])

    @classmethod
    def fine(cls, env: gym.Env, step: float = 0.01) -> "GridOracle":
        """The paper's per-instance optimum: a ``step`` grid on [1, 1.99] (use with a continuous env)."""
        return cls(env, arms=np.arange(1.0, 1.99 + 1e-12, step))
