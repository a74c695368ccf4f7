"""What the cooperative multi-agent envs share: one process step seen by every agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ActionError, ConfigError

__all__ = ["broadcast_step", "check_actions", "check_seed"]


def check_seed(seed: Any) -> int | None:
    """``seed`` as a plain ``int`` (``None`` passes): NumPy integers are accepted, anything else (a bool, a float,
    a string, a negative number) raises :class:`ConfigError`. Each env otherwise failed its own way (Gymnasium's
    ``Error`` for ``np.int64(3)``, a bare ``ValueError``/``TypeError`` from NumPy)."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}", value=seed)
    return int(seed)


def check_actions(live_agents: list[str], possible_agents: list[str], actions: Any) -> None:
    """Refuse a joint step the process must not take, with :class:`ActionError`: the episode has ended (no live
    agents: an empty dict would otherwise pass the "missing" check and step a finished process), the actions are
    not a mapping, an agent is missing, or a name is no agent of this env (a typo would silently be ignored)."""
    if not live_agents:
        raise ActionError("the episode has ended (or not started); call reset()")
    if not isinstance(actions, Mapping):
        raise ActionError(f"actions must be a dict agent -> action, got {type(actions).__name__}", value=actions)
    missing = [a for a in live_agents if a not in actions]
    if missing:
        raise ActionError(f"actions missing for agents {missing}", value=missing)
    unknown = [a for a in actions if a not in possible_agents]
    if unknown:
        raise ActionError(f"actions for unknown agents {unknown}; agents: {possible_agents}", value=unknown)


def broadcast_step(agents: list[str], observations: Mapping[str, np.ndarray], reward: float, terminated: bool,
                   truncated: bool, info: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
    """PettingZoo's five per-agent dicts for one step of a shared process: every agent gets the same reward,
    end flags and (a copy of the) info; ``observations`` are already per agent."""
    return (
        {a: observations[a] for a in agents},
        {a: float(reward) for a in agents},
        {a: bool(terminated) for a in agents},
        {a: bool(truncated) for a in agents},
        {a: dict(info) for a in agents},
    )
