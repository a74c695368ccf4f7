"""Step size and integrator order of one ODE integration, one agent per knob part (PettingZoo).

A view over the very ``tunegym/ODEStep-v0`` env and process: it owns an
:class:`~tunegym.envs.timestep.ode_env.ODEStepEnv` whose knob is the ``CompositeKnob`` of ``method`` (the RK pair
per attempt, :func:`~tunegym.envs.timestep.ode.switch_method`: no RHS evaluation, counters carried over) and the
controller gain, and joins the two agents' actions into that knob's flat action. It must not integrate anything
itself.
"""

from __future__ import annotations

import functools
from typing import Any

from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.multiagent.common import broadcast_step, check_actions, check_seed
from tunegym.envs.timestep.ode import PROBLEMS, ODEProblemDistribution
from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES, ODEStepEnv

__all__ = ["ORDER_METHODS", "StepOrderParallelEnv"]

#: The order agent's arms: Bogacki–Shampine 3(2) (3 RHS evaluations per attempt) and Dormand–Prince 5(4) (6).
ORDER_METHODS = ("RK23", "RK45")
#: agent -> the part of the composite knob it sets
AGENT_PARTS = {"step_size": "safety", "order": "method"}


class StepOrderParallelEnv(ParallelEnv):
    """Two agents drive one embedded Runge–Kutta integration: the controller gain and the pair (order).

    ## Description
    A PettingZoo view over ``ODEStepEnv(knob="safety", order_methods=ORDER_METHODS)``: the process of
    ODEStep-v0 (:class:`~tunegym.envs.timestep.process.ODEIntegration`) with a ``CompositeKnob`` whose parts are
    the pair (``method``) and the safety gain; each joint step is one attempt. Cost: RHS evaluations.

    ## Agents
    ``step_size``: the safety factor of the classical controller ``h · clip(safety · err^(-1/k))``, as
    ``ODEStepEnv(knob="safety")``. ``order``: which pair attempts the step, ``RK23`` (order 3) or ``RK45``
    (order 5); the integration state passes between them for free.

    ## Action Space (per agent)
    ``step_size``: ``Discrete(len(safeties))`` over :data:`~tunegym.envs.timestep.ode_env.DEFAULT_SAFETIES`.
    ``order``: ``Discrete(2)`` over :data:`ORDER_METHODS`. A missing or unknown agent or a bad index raises
    ``ActionError``.

    ## Observation Space (per agent)
    Both see ODEStep-v0's ``Box(11)`` (last two log10 error norms, accepted flag, log10 h/t_end, progress,
    problem one-hot) plus one value: 1 if the pair now running is RK45, else 0 (features ``ode.controller`` with
    ``method_flag``).

    ## Rewards
    Cooperative: every agent gets ODEStep-v0's reward ``ode.step`` of the attempt (``log2`` step growth if
    accepted or ``-rejection_penalty``, minus RHS evaluations / ``reward_scale``; the end-of-run global-error
    penalty).

    ## Info
    ODEStep-v0's info (the core contract: ``cost``, ``cost_unit``, ``knob`` = ``{"method", "safety"}``,
    ``instance_id``, ``quality``), the same for every agent; ``method`` is the pair that made the attempt.

    ## Starting State
    ``reset(seed=s)`` draws a problem; ``reset(options={"instance": inst})`` replays ``inst``. The run starts on
    RK45 (its initial step estimate).

    ## Episode End
    One integration per episode: all agents terminate when it reaches ``t_end`` or fails, and are truncated
    after ``max_attempts``.

    ## Arguments
    ``families`` (all of :data:`~tunegym.envs.timestep.ode.PROBLEMS`), ``rtol`` (1e-6), ``max_attempts`` (2000)
    and any other ``ODEStepEnv`` keyword (``reward_scale``, ``error_weight``, ...).

    ## Version History
    - v0: initial release. Before any release (issue 16): a view over ODEStep-v0's process through a
      ``CompositeKnob``; ``reset(options={"instance": ...})`` replays.
    """

    metadata = {"name": "tunegym/StepOrder-v0", "render_modes": []}

    def __init__(self, families: tuple[str, ...] = PROBLEMS, *, rtol: float = 1e-6, max_attempts: int = 2000,
                 **ode_kwargs: Any) -> None:
        for forbidden in ("knob", "action", "method", "distribution", "order_methods", "arms"):
            if forbidden in ode_kwargs:
                raise ConfigError(f"StepOrder-v0 fixes {forbidden!r} (safety knob, discrete, order chosen per step)",
                                  value=forbidden)
        self.env = ODEStepEnv(ODEProblemDistribution(families), method="RK45", rtol=rtol, knob="safety",
                              action="discrete", arms=DEFAULT_SAFETIES, max_attempts=max_attempts,
                              order_methods=ORDER_METHODS, **ode_kwargs)
        self.knob = self.env.knob
        self.possible_agents = list(AGENT_PARTS)
        self.agents: list[str] = []

    @functools.cache
    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space

    @functools.cache
    def action_space(self, agent: str) -> spaces.Space:
        return self.knob.part(AGENT_PARTS[agent]).space

    @property
    def process(self):
        """The shared ODE process (:class:`~tunegym.envs.timestep.process.ODEIntegration`)."""
        return self.env.process

    @property
    def inner(self) -> ODEStepEnv:
        """The single-agent env this view drives."""
        return self.env

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=check_seed(seed), options=options)
        self.agents = list(self.possible_agents)
        return {a: obs.copy() for a in self.agents}, {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        check_actions(self.agents, self.possible_agents, actions)
        by_part = {AGENT_PARTS[agent]: actions[agent] for agent in self.possible_agents}
        joint = self.knob.join([by_part[part.name] for part in self.knob.parts])
        obs, reward, terminated, truncated, info = self.env.step(joint)
        result = broadcast_step(self.agents, {a: obs.copy() for a in self.agents}, reward, terminated, truncated,
                                info)
        if terminated or truncated:
            self.agents = []
        return result

    def close(self) -> None:
        self.env.close()
