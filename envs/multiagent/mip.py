"""LNS on a MIP with the destroy operator and the destroy rate chosen by two agents (PettingZoo).

The multi-agent form of ``tunegym/MIPLNSRate-v0`` (issue 11): one agent per part of that env's
``CompositeKnob`` (the destroy operator, the share of integer variables it frees); their joint choice,
``knob.join``-ed, is ONE step of the same :class:`~tunegym.envs.mip.env.MIPLNSEnv` (``action="operator_rate"``),
which runs :class:`~tunegym.envs.mip.lns.LNSProcess`. This module holds no search, reset or reward code: it
only splits the knob.
"""

from __future__ import annotations

import functools
from typing import Any

from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.knob import arm_index
from tunegym.envs.mip.env import MIPLNSEnv
from tunegym.envs.multiagent.common import broadcast_step, check_actions, check_seed

__all__ = ["LNSOperatorRateParallelEnv"]

class LNSOperatorRateParallelEnv(ParallelEnv):
    """Two agents drive one adaptive LNS on a MIP: one picks the destroy operator, one the destroy rate.

    ## Description
    Each joint step is one step of ``tunegym/MIPLNSRate-v0`` with action ``operator * 5 + rate``: the
    operator frees that share of the integers, the rest are fixed to the incumbent, HiGHS solves the sub-MIP
    under a node limit (deterministic). Cost unit: sub-MIP nodes / simplex iterations; objective: the best
    objective (primal gap against the best known one).

    ## Agents
    ``operator`` and ``destroy_rate``: the parts of ``MIPLNSRate-v0``'s ``CompositeKnob`` (``knob.part(name)``).

    ## Action Space (per agent)
    ``operator``: ``Discrete(9)`` over ``OPERATORS``; ``destroy_rate``: ``Discrete(5)`` over
    ``DESTROY_RATES`` (0.1, 0.3, 0.5, 0.7, 0.9). A missing or unknown agent or an invalid index raises ``ActionError``.

    ## Observation Space (per agent)
    Both see the single-agent env's ``Box(0, 1, (28,))`` (``FEATURE_NAMES``: model shape, incumbent state,
    per-operator reward history); the rate agent's last choice is in it (``last_destroy_rate``).

    ## Rewards
    Shared (cooperative): the single-agent env's reward (``reward="improvement"`` or ``"graded"``).

    ## Info
    Every agent gets the single-agent step's info (the core contract: ``cost`` = sub-MIP nodes, ``knob`` =
    ``{"operator", "destroy_rate"}``, ``instance_id``, ``quality`` = primal gap, and the LNS figures).

    ## Starting State
    As ``MIPLNSRate-v0``: ``reset(options={"instance": inst})`` replays the instance's search exactly.

    ## Episode End
    Truncated after ``max_steps`` LNS steps (default 20); never terminates.

    ## Arguments
    Every keyword of :class:`~tunegym.envs.mip.env.MIPLNSEnv`; ``action``, if given, must be
    ``"operator_rate"`` (a ``ConfigError`` otherwise).

    ## Version History
    - v0: initial release. Before any release (2026-12-01): a view over the core ``CompositeKnob`` of
      ``MIPLNSRate-v0`` (same trajectories as that env; its LNS draws now come from the instance).
    """

    metadata = {"name": "tunegym/LNSOperatorRate-v0", "render_modes": []}

    def __init__(self, **env_kwargs: Any) -> None:
        action = env_kwargs.pop("action", "operator_rate")
        if action != "operator_rate":  # its agents are the operator-and-rate knob's parts; another knob has other ones
            raise ConfigError(f"LNSOperatorRate-v0 plays the 'operator_rate' knob, got action={action!r}",
                              value=action)
        self.env = MIPLNSEnv(action="operator_rate", **env_kwargs)
        self.knob = self.env.knob
        self.possible_agents = [part.name for part in self.knob.parts]
        self.agents: list[str] = []
        self._spaces = {part.name: part.space for part in self.knob.parts}

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

    @property
    def instance(self):
        """The MIP being searched (for ``reset(options={"instance": ...})`` replays)."""
        return self.env.instance

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=check_seed(seed), options=options)
        self.agents = list(self.possible_agents)
        return {a: observation.copy() for a in self.agents}, {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        check_actions(self.agents, self.possible_agents, actions)
        chosen = []
        for part in self.knob.parts:
            try:
                chosen.append(arm_index(actions[part.name], part.n))
            except ActionError as exc:
                raise ActionError(f"agent {part.name!r}: {exc}", value=actions[part.name]) from None
        joint = self.knob.join(chosen)
        observation, reward, terminated, truncated, info = self.env.step(joint)
        result = broadcast_step(self.agents, {a: observation.copy() for a in self.agents}, reward, terminated,
                                truncated, info)
        if terminated or truncated:
            self.agents = []
        return result

    def close(self) -> None:
        self.env.close()
