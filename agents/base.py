"""The one interface every tunegym agent, baseline and oracle speaks.

It is stable-baselines3's: ``learn``, ``predict``, ``save``, ``load``. A bandit, a PPO model and a fixed
rule are therefore interchangeable in the CLI, the tuning harness and the tuner adapters. ``predict``
returns ``(action, state)`` as SB3 does (``state`` is ``None`` for stateless policies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

__all__ = ["Agent", "Policy"]


@runtime_checkable
class Policy(Protocol):
    """Anything that maps an observation to an action."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[Any, Any]: ...


@runtime_checkable
class Agent(Policy, Protocol):
    """A policy that learns from an env and persists itself."""

    def learn(self, env: gym.Env, total_timesteps: int, **kwargs: Any) -> "Agent": ...

    def save(self, path: str | Path) -> None: ...
