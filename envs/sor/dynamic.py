"""Change the SOR relaxation factor during one solve, every ``block`` sweeps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.seeding import stream
from tunegym.envs.sor.actions import DEFAULT_ARMS, OmegaKnob, context_bounds
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
)
from tunegym.envs.sor.solver import solve_prepared

__all__ = ["DynamicSOREnv", "make_dynamic_env"]

_LOG_RES_LOW, _LOG_RES_HIGH = -12.0, 4.0


class DynamicSOREnv(gym.Env):
    """Pick ω for the next ``block`` SOR sweeps of one solve, watching the residual fall.

    ## Description
    One episode is one solve of one system from ``x0 = 0``. Each step runs ``block`` forward SOR sweeps
    with the chosen ω (the iterate carries over), so the agent can start cautiously and speed up once the
    residual's rate is known: the setting the paper's static choice cannot express.

    ## Action Space
    ``Discrete(len(arms))`` (default the 20-arm grid ``linspace(1, 1.95, 20)``) or, with
    ``action="continuous"``, ``Box(omega_low, omega_high, (1,))`` (clipped). Invalid arms raise ``ActionError``.

    ## Observation Space
    ``Box`` of shape ``(5 + len(context),)``: ``log10`` relative residual (clipped to [-12, 4]), the residual
    reduction factor per sweep over the last block (clipped to [0, 2]), the ω used last (0 before the first
    step), the share of the sweep budget spent, the log10 tolerance; then the system's context (as in
    ``SOR-v0``/``SORMatrix-v0``).

    ## Rewards
    ``-sweeps_in_block / reward_scale`` each step. Divergence (residual up by ``1e8`` or non-finite) ends the
    episode (``terminated``) with an extra ``-failure_penalty / reward_scale``; reaching ``max_sweeps``
    truncates it with the same penalty.

    ## Starting State
    Zero iterate of a fresh system from the distribution, or ``options={"instance": system}``.

    ## Episode End
    Terminated when the relative residual reaches ``tol`` or the iteration diverges; truncated at
    ``max_sweeps``.

    ## Arguments
    ``distribution``, ``block`` (10 sweeps), ``action``, ``arms``, ``omega_low``, ``omega_high``, ``tol``
    (1e-8), ``max_sweeps`` (10,000), ``reward_scale`` (100), ``failure_penalty`` (1,000 sweeps).

    ## Version History
    - v0: initial release.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        distribution: SequenceDistribution,
        *,
        block: int = 10,
        action: str = "discrete",
        arms: Sequence[float] = DEFAULT_ARMS,
        omega_low: float = 1.0,
        omega_high: float = 1.99,
        tol: float = 1e-8,
        max_sweeps: int = 10_000,
        reward_scale: float = 100.0,
        failure_penalty: float = 1000.0,
    ) -> None:
        if block < 1:
            raise ConfigError(f"block must be a positive number of sweeps, got {block!r}", value=block)
        self.distribution = distribution
        self.block, self.tol, self.max_sweeps = int(block), float(tol), int(max_sweeps)
        self.reward_scale, self.failure_penalty = float(reward_scale), float(failure_penalty)
        self.knob = OmegaKnob(action, arms, omega_low, omega_high)
        self.action_space = self.knob.space
        ctx_low, ctx_high = context_bounds(distribution)
        low = np.concatenate([[_LOG_RES_LOW, 0.0, 0.0, 0.0, -16.0], ctx_low]).astype(np.float32)
        high = np.concatenate([[_LOG_RES_HIGH, 2.0, 2.0, 1.0, 0.0], ctx_high]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._stream: Any = None
        self.current_instance: LinearSystem | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._stream is None:
            rng = stream(seed, "instances") if seed is not None else np.random.default_rng(
                self.np_random.integers(2**63)
            )
            self._stream = self.distribution.sequence(rng)
        instance = (options or {}).get("instance")
        if instance is not None and not isinstance(instance, LinearSystem):
            raise ConfigError(f"options['instance'] must be a LinearSystem, got {type(instance).__name__}")
        self.current_instance = instance if instance is not None else next(self._stream)
        self._x = np.zeros(self.current_instance.n)
        self._sweeps = 0
        self._residual = 1.0 if np.any(self.current_instance.b) else 0.0
        self._rate = 1.0
        self._omega = 0.0
        return self._observation(), {"instance_id": self.current_instance.instance_id}

    def step(self, action: Any):
        if self.current_instance is None:
            raise ActionError("call reset() before step()")
        omega = self.knob.to_omega(action)
        system = self.current_instance
        budget = min(self.block, self.max_sweeps - self._sweeps)
        result = solve_prepared(system.matrix, system.b, omega, x0=self._x, tol=self.tol, max_sweeps=budget)
        self._x = result.x
        self._sweeps += result.sweeps
        previous = self._residual
        self._residual = result.residual
        if result.sweeps > 0 and previous > 0 and result.residual > 0 and math.isfinite(result.residual):
            self._rate = (result.residual / previous) ** (1.0 / result.sweeps)
        self._omega = omega
        reward = -result.sweeps / self.reward_scale
        terminated = result.converged or result.status == "diverged"
        truncated = not terminated and self._sweeps >= self.max_sweeps
        if result.status == "diverged" or truncated:
            reward -= self.failure_penalty / self.reward_scale
        info = {
            "sweeps": result.sweeps,
            "total_sweeps": self._sweeps,
            "omega": omega,
            "status": result.status,
            "residual": result.residual,
            "instance_id": system.instance_id,
        }
        return self._observation(), reward, terminated, truncated, info

    def _observation(self) -> np.ndarray:
        log_res = math.log10(self._residual) if self._residual > 0 and math.isfinite(self._residual) else (
            _LOG_RES_LOW if self._residual == 0 else _LOG_RES_HIGH
        )
        head = [log_res, self._rate, self._omega, self._sweeps / self.max_sweeps, math.log10(self.tol)]
        obs = np.concatenate([np.asarray(head, dtype=np.float32), self.current_instance.context.astype(np.float32)])
        return np.clip(obs, self.observation_space.low, self.observation_space.high)


def make_dynamic_env(
    variance: str | None = "high",
    *,
    matrices: Sequence[str | Path] | None = None,
    grids: Sequence[int] | None = None,
    **env_kwargs: Any,
) -> DynamicSOREnv:
    """``tunegym/SORDynamic-v0``: setting A systems by default; ``matrices=[...]`` or ``grids=[...]`` for others."""
    if matrices:
        distribution: SequenceDistribution = MatrixFileDistribution(matrices)
    elif grids:
        distribution = LaplacianFamilyDistribution(grids)
    else:
        distribution = ShiftedLaplacianDistribution(variance or "high")
    return DynamicSOREnv(distribution, **env_kwargs)
