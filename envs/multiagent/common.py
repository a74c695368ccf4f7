"""What the cooperative multi-agent envs share: one process step seen by every agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["broadcast_step"]


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
