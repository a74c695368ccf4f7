"""Multi-agent variants on PettingZoo: several knobs of one process, one agent per knob.

``make(env_id, **kwargs)`` builds a ``pettingzoo.ParallelEnv`` by id; ``ENV_IDS`` lists the ids and
``MULTIAGENT_ENVS`` their summaries (``tunegym list`` prints them). Each env drives the same process as its
single-agent counterpart (no second copy of a solver).
"""

from __future__ import annotations

from typing import Any

from pettingzoo import ParallelEnv

from tunegym.envs import MULTIAGENT_ENVS
from tunegym.envs.core.errors import ConfigError

__all__ = ["ENV_IDS", "MULTIAGENT_ENVS", "make"]

ENV_IDS: tuple[str, ...] = tuple(spec.id for spec in MULTIAGENT_ENVS)


def make(env_id: str, **kwargs: Any) -> ParallelEnv:
    """``pettingzoo.make("parallel", env_id, **kwargs)``; unknown ids raise :class:`ConfigError` listing the choices."""
    import pettingzoo

    if env_id not in ENV_IDS:
        raise ConfigError(f"unknown multi-agent env {env_id!r}; choices: {list(ENV_IDS)}", value=env_id)
    return pettingzoo.make("parallel", env_id, **kwargs)
