"""LNS on a MIP with the destroy operator and the destroy rate chosen by two agents (PettingZoo).

The multi-agent form of ``tunegym/MIPLNSRate-v0`` (issue 11): one agent picks the destroy operator, the
other the share of integer variables it frees; their joint choice is ONE step of the same
:class:`~tunegym.envs.mip.env.MIPLNSEnv` (``action="operator_rate"``), which runs the LNS process of
:mod:`tunegym.envs.mip.lns`. This module holds no search code: it only splits the action.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ActionError
from tunegym.envs.mip.env import DESTROY_RATES, MIPLNSEnv
from tunegym.envs.mip.lns import OPERATORS
from tunegym.envs.multiagent.common import broadcast_step

__all__ = ["LNSOperatorRateParallelEnv"]

AGENTS = ("operator", "destroy_rate")


class LNSOperatorRateParallelEnv(ParallelEnv):
    """Two agents drive one adaptive LNS on a MIP: one picks the destroy operator, one the destroy rate.

    ## Description
    Each joint step is one step of ``tunegym/MIPLNSRate-v0`` with action ``operator * 5 + rate``: the
    operator frees that share of the integers, the rest are fixed to the incumbent, HiGHS solves the sub-MIP
    under a node limit (deterministic). Cost unit: sub-MIP nodes / simplex iterations; objective: the best
    objective (primal gap against the best known one).

    ## Agents
    ``operator`` and ``destroy_rate``.

    ## Action Space (per agent)
    ``operator``: ``Discrete(9)`` over ``OPERATORS``; ``destroy_rate``: ``Discrete(5)`` over
    ``DESTROY_RATES`` (0.1, 0.3, 0.5, 0.7, 0.9). A missing agent or an invalid index raises ``ActionError``.

    ## Observation Space (per agent)
    Both see the single-agent env's ``Box(0, 1, (28,))`` (``FEATURE_NAMES``: model shape, incumbent state,
    per-operator reward history); the rate agent's last choice is in it (``last_destroy_rate``).

    ## Rewards
    Shared (cooperative): the single-agent env's reward (``reward="improvement"`` or ``"graded"``).

    ## Episode End
    Truncated after ``max_steps`` LNS steps (default 20); never terminates.

    ## Arguments
    Every keyword of :class:`~tunegym.envs.mip.env.MIPLNSEnv` except ``action``.

    ## Version History
    - v0: initial release.
    """

    metadata = {"name": "tunegym/LNSOperatorRate-v0", "render_modes": []}

    def __init__(self, **env_kwargs: Any) -> None:
        env_kwargs.pop("action", None)
        self.env = MIPLNSEnv(action="operator_rate", **env_kwargs)
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self._spaces = {"operator": spaces.Discrete(len(OPERATORS)),
                        "destroy_rate": spaces.Discrete(len(DESTROY_RATES))}

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    @property
    def process(self):
        """The shared LNS process (``tunegym.envs.mip.lns.LNSProcess``) of the current episode."""
        return self.env.process

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return {a: observation.copy() for a in self.agents}, {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ActionError(f"actions missing for agents {missing}", value=missing)
        chosen = {}
        for agent in self.possible_agents:
            value = int(np.asarray(actions[agent]).reshape(-1)[0])
            if not self._spaces[agent].contains(np.int64(value)):
                raise ActionError(f"action {value} of agent {agent!r} outside {self._spaces[agent]}", value=value)
            chosen[agent] = value
        joint = chosen["operator"] * len(DESTROY_RATES) + chosen["destroy_rate"]
        observation, reward, terminated, truncated, info = self.env.step(joint)
        result = broadcast_step(self.agents, {a: observation.copy() for a in self.agents}, reward, terminated,
                                truncated, info)
        if terminated or truncated:
            self.agents = []
        return result

    def close(self) -> None:
        self.env.close()
