"""``tunegym/ThreeBodyCommit-v0``: pick one constant η per three-body instance after a cheap pilot run.

Issue 8 found that switching η during a run costs accuracy (each η has its own oscillating energy-error offset and a
switch makes the difference permanent; ``benchmarks/timestep_switching.py``), so per-interval controllers lose to a
constant η. This env keeps η constant and learns *which* constant per instance: an episode is one decision.

``reset`` integrates the instance over the whole horizon with a coarse ``probe_eta`` (the *pilot*, default
η=4.64e-2: ≈2.4% of the force evaluations of η=1e-3; its cost is charged to the episode) and observes how much work
the run needs and how error-prone it is. ``step(arm)`` then integrates the instance **from t=0** with the chosen η,
held for the whole horizon (advanced in ``action_interval`` chunks exactly like ThreeBody-v0 at a constant η, so the
force counts equal a fixed-η rollout's). Restarting rather than continuing after the pilot avoids the η switch.

Why a per-instance η can pay: with ``n_i ≈ W_i/η`` force evaluations and ``log10|ΔE_i| ≈ c_i + p·log10 η``, the
choice minimising ``Σ n_i + μ Σ log10|ΔE_i|`` (total cost plus μ evaluations per decade of error, summed over
instances) is ``η_i = W_i·p·ln10/μ``: equal evaluations per instance, i.e. large η for instances that need much work.
A fixed η spends ``W_i/η`` on each; by Jensen's inequality the equal-budget allocation reaches a lower mean log error
at the same mean cost whenever the work ``W_i`` varies between instances. The pilot's force count predicts ``W_i``
(correlation of log counts with η=1e-3's ≥ 0.99 on seeds 0–139).

With ``criterion_exponents`` an arm is a pair (β, η): the run also bends the step criterion to
``dt = η·τ·(τ/t_ref)^β`` (:func:`~tunegym.envs.timestep.nbody.simulate`). No single β beats β = 0 on the paper's
distribution, but the best β differs per instance (0.24 decades of median headroom at equal cost on tune seeds 0–39)
and the pilot's energy error predicts it (correlation −0.88 with β=0.1's gain), so it is the second thing worth
choosing per instance (``benchmarks/timestep.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.timestep.instances import (
    FixedSystemsDistribution,
    NBodyInstance,
    PaperThreeBodyDistribution,
    next_instance,
)
from tunegym.envs.timestep.nbody import HermiteState

__all__ = ["COMMIT_ETAS", "COMMIT_OBSERVATION_NAMES", "ThreeBodyCommitEnv", "constant_eta_run",
           "constant_eta_state", "make_three_body_commit"]

#: Arms: 10 η values, 1/6 decade apart, from 3.16e-4 to 1e-2 (contains 1e-3 and the paper grid's 4.64e-4 … 1e-2).
COMMIT_ETAS = tuple(float(e) for e in np.logspace(-3.5, -2.0, 10))
#: The observation: the pilot's force evaluations / 1e4 (∝ the work W of the run), log10 of its final |ΔE/E0|
#: (clipped to [-16, 0]) and log10 of its force evaluations.
COMMIT_OBSERVATION_NAMES = ("pilot_evaluations_1e4", "log10_pilot_energy_error", "log10_pilot_evaluations")
_LOW = np.array([0.0, -16.0, 2.0], dtype=np.float32)
_HIGH = np.array([4.0, 0.0, 6.0], dtype=np.float32)
_ERROR_FLOOR = 1e-16


def constant_eta_state(instance: NBodyInstance, eta: float, intervals: int, action_interval: float = 0.1,
                       max_steps_per_action: int = 200_000, criterion_exponent: float = 0.0) -> tuple[HermiteState, str]:
    """``instance`` integrated at a constant ``eta`` (and criterion exponent β, see
    :func:`~tunegym.envs.timestep.nbody.simulate`) for ``intervals`` chunks of ``action_interval`` (the same
    chunking as ThreeBody-v0, so the counts match a fixed-η rollout): the final state and its status."""
    state = HermiteState(instance.masses, instance.positions, instance.velocities, G=instance.G)
    status = "ok"
    for _ in range(intervals):
        status, _ = state.advance(action_interval, eta, max_steps_per_action, criterion_exponent=criterion_exponent)
        if status != "ok":
            break
    return state, status


@lru_cache(maxsize=8192)
def constant_eta_run(instance: NBodyInstance, eta: float, intervals: int, action_interval: float = 0.1,
                     max_steps_per_action: int = 200_000, criterion_exponent: float = 0.0) -> tuple[int, float, str]:
    """Force evaluations, final |ΔE/E0| and status of :func:`constant_eta_state`. Deterministic, so results are
    cached (instances hash by content id)."""
    state, status = constant_eta_state(instance, eta, intervals, action_interval, max_steps_per_action,
                                       criterion_exponent)
    error = abs(state.energy_error)
    if not math.isfinite(error):
        error, status = 1.0, "diverged"
    return int(state.force_evaluations), float(error), status


class ThreeBodyCommitEnv(gym.Env):
    """One decision per episode: the constant η of a whole three-body run, chosen after a coarse pilot run.

    ## Action Space
    ``Discrete(len(criterion_exponents) · len(etas))``: arm ``i`` is ``(β, η) =`` :meth:`arm` ``(i)``, β-major over
    ``criterion_exponents`` (default ``(0.0,)``: plain η arms, :data:`COMMIT_ETAS`) and ``etas``. β bends the step
    criterion to ``dt = η·τ·(τ/t_ref)^β`` (:func:`~tunegym.envs.timestep.nbody.simulate`); which β suits an instance
    varies, and the pilot's energy error predicts it (``benchmarks/timestep.md``). Bad indices raise
    :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(3,)`` float32 (:data:`COMMIT_OBSERVATION_NAMES`), from the pilot run at ``probe_eta`` over the horizon.
    The first value is linear in the pilot's force count because a run's cost at any η is proportional to it.

    ## Rewards
    ``r = -(pilot + main force evaluations) / error_weight - log10(max(|ΔE/E0|, 1e-16) / 1e-16)``: the
    per-instance term of ``Σ evaluations + μ·Σ log10|ΔE|`` divided by ``μ = error_weight`` (evaluations one decade
    of error is worth), shifted by the constant 16 so that it is never positive (decades above double precision):
    optimistic bandits, whose untried arms predict 0, then try every arm.
    A run that fails (close encounter, step limit) or ends above ``energy_limit`` counts with ``|ΔE| = 1``.

    ## Info
    ``force_evaluations`` (pilot + main run), ``pilot_evaluations``, ``eta``, ``criterion_exponent``, ``energy_error``
    (|ΔE/E0| of the main run), ``status``, ``instance_id``. The pilot always runs at β = 0.

    ## Episode End
    Terminates after the one action.

    ## Arguments
    ``distribution`` (:class:`PaperThreeBodyDistribution`), ``etas``, ``criterion_exponents`` ((0.0,)),
    ``probe_eta`` (4.64e-2), ``horizon``
    (300 chunks), ``action_interval`` (0.1 yr), ``error_weight`` μ (3.5e4), ``energy_limit`` (0.1),
    ``max_steps_per_action`` (200,000).

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, distribution: SequenceDistribution | None = None, *, etas: Sequence[float] = COMMIT_ETAS,
                 probe_eta: float = float(np.logspace(-4, -1, 10)[8]), horizon: int = 300,
                 action_interval: float = 0.1, error_weight: float = 3.5e4, energy_limit: float = 0.1,
                 max_steps_per_action: int = 200_000, criterion_exponents: Sequence[float] = (0.0,)) -> None:
        self.etas = np.asarray(etas, dtype=np.float64)
        if self.etas.ndim != 1 or self.etas.size == 0 or not np.all(np.isfinite(self.etas)) or np.any(self.etas <= 0):
            raise ConfigError(f"etas must be a non-empty list of positive floats, got {etas!r}", value=etas)
        self.criterion_exponents = np.asarray(criterion_exponents, dtype=np.float64)
        if (self.criterion_exponents.ndim != 1 or self.criterion_exponents.size == 0
                or not np.all(np.isfinite(self.criterion_exponents)) or np.any(np.abs(self.criterion_exponents) > 1)):
            raise ConfigError(f"criterion_exponents must be a non-empty list of numbers in [-1, 1], got "
                              f"{criterion_exponents!r}", value=criterion_exponents)
        for name, value in (("probe_eta", probe_eta), ("action_interval", action_interval),
                            ("error_weight", error_weight), ("energy_limit", energy_limit)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}", value=value)
        if int(horizon) != horizon or int(horizon) < 1 or int(max_steps_per_action) < 1:
            raise ConfigError(f"horizon and max_steps_per_action must be integers >= 1, got {horizon!r}, "
                              f"{max_steps_per_action!r}", value=(horizon, max_steps_per_action))
        self.distribution = distribution if distribution is not None else PaperThreeBodyDistribution()
        self.probe_eta, self.horizon = float(probe_eta), int(horizon)
        self.action_interval, self.error_weight = float(action_interval), float(error_weight)
        self.energy_limit, self.max_steps_per_action = float(energy_limit), int(max_steps_per_action)
        self.action_space = spaces.Discrete(self.etas.size * self.criterion_exponents.size)
        self.observation_space = spaces.Box(_LOW, _HIGH, dtype=np.float32)
        self._stream: Any = None
        self.current_instance: NBodyInstance | None = None
        self._pilot: tuple[int, float, str] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.current_instance = next_instance(self, seed, options, NBodyInstance)
        key = self.current_instance.instance_id
        self._pilot = constant_eta_run(self.current_instance, self.probe_eta, self.horizon, self.action_interval,
                                       self.max_steps_per_action)
        evals, error, status = self._pilot
        return self._observation(), {"instance_id": key, "pilot_evaluations": evals, "pilot_energy_error": error,
                                     "pilot_status": status}

    def step(self, action: Any):
        if self._pilot is None:
            raise ActionError("call reset() before step()")
        eta, beta = self.action_to_arm(action)
        evals, error, status = constant_eta_run(self.current_instance, eta, self.horizon, self.action_interval,
                                                self.max_steps_per_action, beta)
        if status == "ok" and error > self.energy_limit:
            status = "energy_limit"
        total = evals + self._pilot[0]
        scored_error = error if status == "ok" else 1.0
        reward = -total / self.error_weight - math.log10(min(max(scored_error, _ERROR_FLOOR), 1.0) / _ERROR_FLOOR)
        info = {"force_evaluations": int(total), "cost": float(total), "pilot_evaluations": int(self._pilot[0]), "eta": eta,
                "criterion_exponent": beta, "energy_error": error, "status": status, "instance_id": self.current_instance.instance_id}
        obs = self._observation()
        self._pilot = None
        return obs, float(reward), True, False, info

    def arm(self, index: int) -> tuple[float, float]:
        """``(η, β)`` of arm ``index`` (β-major)."""
        beta_index, eta_index = divmod(int(index), self.etas.size)
        return float(self.etas[eta_index]), float(self.criterion_exponents[beta_index])

    def action_to_eta(self, action: Any) -> float:
        """The η of an action (see :meth:`action_to_arm` for its β too)."""
        return self.action_to_arm(action)[0]

    def action_to_arm(self, action: Any) -> tuple[float, float]:
        """``(η, β)`` of an action; raises :class:`ActionError` for anything but a valid arm index."""
        arr = np.asarray(action)
        if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
            if arr.size == 1 and np.issubdtype(arr.dtype, np.floating) and float(arr.reshape(())).is_integer():
                arr = arr.astype(np.int64)
            else:
                raise ActionError(f"action must be an integer arm index, got {action!r}", value=action)
        index = int(arr.reshape(()))
        if not 0 <= index < self.action_space.n:
            raise ActionError(f"arm index {index} outside 0..{self.action_space.n - 1}", value=index)
        return self.arm(index)

    def _observation(self) -> np.ndarray:
        evals, error, _ = self._pilot if self._pilot is not None else (1, 1.0, "ok")
        obs = np.array([evals / 1e4, math.log10(min(max(error, _ERROR_FLOOR), 1.0)), math.log10(evals)])
        return np.clip(obs, _LOW, _HIGH).astype(np.float32)


def make_three_body_commit(initial_conditions: Sequence[NBodyInstance] | None = None, **env_kwargs: Any
                           ) -> ThreeBodyCommitEnv:
    """``tunegym/ThreeBodyCommit-v0``: the paper's distribution, or a fixed list of :class:`NBodyInstance`."""
    if initial_conditions is None:
        return ThreeBodyCommitEnv(**env_kwargs)
    return ThreeBodyCommitEnv(FixedSystemsDistribution(list(initial_conditions)), **env_kwargs)
