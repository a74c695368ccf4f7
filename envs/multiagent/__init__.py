"""Multi-agent variants on PettingZoo: several knobs of one process, one agent per knob.

``make(env_id, **kwargs)`` builds a ``pettingzoo.ParallelEnv`` by id; ``ENV_IDS`` lists the ids and
``MULTIAGENT_ENVS`` their summaries (``tunegym list`` prints them). Each env drives the same process as its
single-agent counterpart (no second copy of a solver).
"""

from __future__ import annotations

import importlib
from typing import Any

from pettingzoo import ParallelEnv

from tunegym.envs import EnvSpec
from tunegym.envs.core.errors import ConfigError

__all__ = ["ENV_IDS", "MULTIAGENT_ENVS", "make"]

MULTIAGENT_ENVS: tuple[EnvSpec, ...] = (
    EnvSpec(
        "tunegym/BlockSOR-v0",
        "tunegym.envs.multiagent.block_sor:BlockSORParallelEnv",
        None,
        "[PettingZoo] one SOR relaxation factor per block of rows, one agent per block; shared sweep cost",
    ),
    EnvSpec(
        "tunegym/LRGroups-v0",
        "tunegym.envs.multiagent.lr:LRGroupsParallelEnv",
        None,
        "[PettingZoo] one LR multiplier per layer of one torch training run, one agent per layer; shared loss reward",
    ),
    EnvSpec(
        "tunegym/LNSOperatorRate-v0",
        "tunegym.envs.multiagent.mip:LNSOperatorRateParallelEnv",
        None,
        "[PettingZoo] MIP LNS: one agent picks the destroy operator, one the destroy rate (MIPLNSRate-v0's process)",
    ),
    EnvSpec(
        "tunegym/StepOrder-v0",
        "tunegym.envs.multiagent.timestep:StepOrderParallelEnv",
        None,
        "[PettingZoo] ODE integration: one agent sets the controller gain, one the RK pair (3(2) or 5(4))",
    ),
)

ENV_IDS: tuple[str, ...] = tuple(spec.id for spec in MULTIAGENT_ENVS)


def make(env_id: str, **kwargs: Any) -> ParallelEnv:
    """Build the multi-agent env ``env_id``; unknown ids raise :class:`ConfigError` listing the choices."""
    for spec in MULTIAGENT_ENVS:
        if spec.id == env_id:
            module_name, attr = spec.entry_point.split(":")
            return getattr(importlib.import_module(module_name), attr)(**{**spec.kwargs, **kwargs})
    raise ConfigError(f"unknown multi-agent env {env_id!r}; choices: {list(ENV_IDS)}", value=env_id)
