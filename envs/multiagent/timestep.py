"""Step size and integrator order of one ODE integration, one agent per knob (PettingZoo).

Drives the very ``tunegym/ODEStep-v0`` process: the env owns an :class:`~tunegym.envs.timestep.ode_env.ODEStepEnv`
and, before each of its steps, hands the running integration to the pair the order agent chose
(:func:`~tunegym.envs.timestep.ode.switch_method`, no RHS evaluation, counters carried over). It must not
integrate anything itself.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.multiagent.common import broadcast_step
from tunegym.envs.timestep.ode import PROBLEMS, ODEProblemDistribution, switch_method
from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES, ODEStepEnv

__all__ = ["ORDER_METHODS", "StepOrderParallelEnv"]

#: The order agent's arms: Bogacki–Shampine 3(2) (3 RHS evaluations per attempt) and Dormand–Prince 5(4) (6).
ORDER_METHODS = ("RK23", "RK45")


class StepOrderParallelEnv(ParallelEnv):
    """Two agents drive one embedded Runge–Kutta integration: the controller gain and the pair (order).

    ## Agents
    ``step_size``: the safety factor of the classical controller ``h · clip(safety · err^(-1/k))``, as
    ``ODEStepEnv(knob="safety")``. ``order``: which pair attempts the step, ``RK23`` (order 3) or ``RK45``
    (order 5); the integration state passes between them for free.

    ## Action Space (per agent)
    ``step_size``: ``Discrete(len(safeties))`` over :data:`~tunegym.envs.timestep.ode_env.DEFAULT_SAFETIES`.
    ``order``: ``Discrete(2)`` over :data:`ORDER_METHODS`.

    ## Observation Space (per agent)
    Both see ODEStep-v0's ``Box(11)`` (last two log10 error norms, accepted flag, log10 h/t_end, progress,
    problem one-hot) plus one value: 1 if the last attempt used RK45, else 0.

    ## Rewards
    Cooperative: every agent gets ODEStep-v0's reward of the attempt (``log2`` step growth if accepted or
    ``-rejection_penalty``, minus RHS evaluations / ``reward_scale``; the end-of-run global-error penalty).

    ## Episode End
    One integration per episode: all agents terminate when it reaches ``t_end`` or fails, and are truncated
    after ``max_attempts``.

    ## Arguments
    ``families`` (all of :data:`~tunegym.envs.timestep.ode.PROBLEMS`), ``rtol`` (1e-6), ``max_attempts`` (2000)
    and any other ``ODEStepEnv`` keyword (``reward_scale``, ``error_weight``, ...).

    ## Version History
    - v0: initial release.
    """

    metadata = {"name": "tunegym/StepOrder-v0", "render_modes": []}

    def __init__(self, families: tuple[str, ...] = PROBLEMS, *, rtol: float = 1e-6, max_attempts: int = 2000,
                 **ode_kwargs: Any) -> None:
        for forbidden in ("knob", "action", "method", "distribution"):
            if forbidden in ode_kwargs:
                raise ConfigError(f"StepOrder-v0 fixes {forbidden!r} (safety knob, discrete, order chosen per step)",
                                  value=forbidden)
        self.inner = ODEStepEnv(ODEProblemDistribution(families), method="RK45", rtol=rtol, knob="safety",
                                action="discrete", arms=DEFAULT_SAFETIES, max_attempts=max_attempts, **ode_kwargs)
        self.possible_agents = ["step_size", "order"]
        self.agents: list[str] = []
        inner_space = self.inner.observation_space
        self._observation_space = spaces.Box(np.append(inner_space.low, 0.0).astype(np.float32),
                                             np.append(inner_space.high, 1.0).astype(np.float32), dtype=np.float32)
        self._method = "RK45"

    @functools.cache
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    @functools.cache
    def action_space(self, agent: str) -> spaces.Space:
        if agent == "order":
            return spaces.Discrete(len(ORDER_METHODS))
        return spaces.Discrete(len(DEFAULT_SAFETIES))

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.inner.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self._method = "RK45"
        return self._observations(obs), {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ConfigError(f"actions missing for agents {missing}", value=missing)
        order = np.asarray(actions["order"])
        if order.size != 1 or int(order.reshape(())) not in range(len(ORDER_METHODS)):
            raise ActionError(f"order action must be 0 (RK23) or 1 (RK45), got {actions['order']!r}",
                              value=actions["order"])
        self._method = ORDER_METHODS[int(order.reshape(()))]
        self.inner.solver = switch_method(self.inner.solver, self._method)
        obs, reward, terminated, truncated, info = self.inner.step(actions["step_size"])
        info = {**info, "method": self._method}
        result = broadcast_step(self.agents, self._observations(obs), reward, terminated, truncated, info)
        if terminated or truncated:
            self.agents = []
        return result

    def _observations(self, inner_obs: np.ndarray) -> dict[str, np.ndarray]:
        obs = np.append(inner_obs, 1.0 if self._method == "RK45" else 0.0).astype(np.float32)
        return {a: obs.copy() for a in self.possible_agents}
