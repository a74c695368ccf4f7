"""Gymnasium environments that pick the SOR relaxation factor for a sequence of linear systems."""

from __future__ import annotations

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
from tunegym.envs.sor.features import jacobi_radius_from_rate
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
)
from tunegym.envs.sor.solver import SORResult, solve_prepared

__all__ = ["SOREnv", "make_setting_a", "make_matrix_env", "DEFAULT_ARMS"]


class SOREnv(gym.Env):
    """Choose the SOR relaxation factor ω for each linear system of a sequence.

    ## Description
    Learning to Relax (Khodak et al., ICLR 2024, arXiv 2310.02246): a solver meets a sequence of related
    systems ``A_t x = b_t`` and must choose ω for each before solving it with SOR from ``x0 = 0`` to a
    relative residual of ``tol``. The cost is the exact number of SOR sweeps.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(arms))``, arm ``i`` is ``ω = arms[i]`` (default
    ``linspace(1, 1.95, 20)``, the paper's grid). ``action="continuous"``: ``Box(omega_low, omega_high, (1,))``;
    values outside the box are clipped (``info["omega"]`` is the ω applied). A NaN action or an arm index
    outside the space raises :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    The context of the system to be solved next, ``Box`` with the distribution's bounds: the diagonal
    offset ``c`` in setting A (shape ``(1,)``), or matrix features (``FEATURE_NAMES``, shape ``(7,)``) for
    user matrices.

    ## Rewards
    ``-sweeps / reward_scale``. A solve that diverges or hits ``max_sweeps`` costs ``max_sweeps`` sweeps
    plus ``failure_penalty`` (in sweeps); the episode goes on with the next system.

    ## Info
    ``sweeps``, ``cost`` (sweeps, or the failure cost), ``omega``, ``status``, ``converged``, ``residual``,
    ``instance_id``, ``context`` (of the solved system), and the richer feedback a solve reveals beyond its count:
    ``convergence_factor`` (observed residual reduction per sweep over the last sweeps) and
    ``jacobi_radius_estimate`` (the ``ρ_J`` that factor implies through Young's theory; ``None`` unless ω
    was clearly below the optimum, since near or past it the rate says only that ω ≥ ω*). The paper's agents use only ``sweeps``. Wall time is
    kept out of ``info`` (it would make same-seed trajectories differ) and read from ``env.last_result``.

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream from ``s``; ``reset(options={"instance": system})``
    makes ``system`` (a :class:`LinearSystem`) the next one solved.

    ## Episode End
    Never terminates; truncated after ``episode_length`` systems (``max_episode_steps`` at registration).

    ## Arguments
    ``distribution`` (a :class:`SequenceDistribution` of :class:`LinearSystem`), ``action``, ``arms``,
    ``omega_low``/``omega_high``, ``tol`` (1e-8), ``max_sweeps`` (10,000 as in the authors' code),
    ``reward_scale`` (100), ``failure_penalty`` (0).

    ## Version History
    - v0: initial release.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        distribution: SequenceDistribution,
        *,
        action: str = "discrete",
        arms: Sequence[float] = DEFAULT_ARMS,
        omega_low: float = 1.0,
        omega_high: float = 1.99,
        tol: float = 1e-8,
        max_sweeps: int = 10_000,
        reward_scale: float = 100.0,
        failure_penalty: float = 0.0,
        context_low: np.ndarray | None = None,
        context_high: np.ndarray | None = None,
    ) -> None:
        if reward_scale <= 0:
            raise ConfigError(f"reward_scale must be positive, got {reward_scale!r}", value=reward_scale)
        self.distribution = distribution
        self.knob = OmegaKnob(action, arms, omega_low, omega_high)
        self.tol, self.max_sweeps = float(tol), int(max_sweeps)
        self.reward_scale, self.failure_penalty = float(reward_scale), float(failure_penalty)
        self.action_space = self.knob.space
        if context_low is None or context_high is None:
            context_low, context_high = context_bounds(distribution)
        self.observation_space = spaces.Box(
            np.asarray(context_low, dtype=np.float32), np.asarray(context_high, dtype=np.float32), dtype=np.float32
        )
        self._instance_rng = stream(None, "instances")
        self._stream: Any = None
        self.current_instance: LinearSystem | None = None
        self.last_result: SORResult | None = None

    # -- Gymnasium API -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._stream is None:
            # Instances come from their own stream so that exploration never changes which systems appear.
            self._instance_rng = stream(seed, "instances") if seed is not None else np.random.default_rng(
                self.np_random.integers(2**63)
            )
            self._stream = self.distribution.sequence(self._instance_rng)
        instance = (options or {}).get("instance")
        if instance is not None:
            if not isinstance(instance, LinearSystem):
                raise ConfigError(
                    f"options['instance'] must be a LinearSystem, got {type(instance).__name__}", value=instance
                )
            self.current_instance = instance
        else:
            self.current_instance = next(self._stream)
        return self._observation(), {"instance_id": self.current_instance.instance_id}

    def step(self, action: Any):
        if self.current_instance is None:
            raise ActionError("call reset() before step()")
        omega = self.knob.to_omega(action)
        system = self.current_instance
        result = solve_prepared(system.matrix, system.b, omega, tol=self.tol, max_sweeps=self.max_sweeps)
        self.last_result = result
        cost = float(result.sweeps) if result.converged else float(self.max_sweeps) + self.failure_penalty
        rate = result.convergence_factor()
        info = {
            "sweeps": result.sweeps,
            "cost": cost,
            "omega": omega,
            "status": result.status,
            "converged": result.converged,
            "residual": result.residual,
            "instance_id": system.instance_id,
            "context": system.context.copy(),
            "convergence_factor": _finite_or_none(rate),
            "jacobi_radius_estimate": _finite_or_none(jacobi_radius_from_rate(rate, omega)),
        }
        self.current_instance = next(self._stream)
        return self._observation(), -cost / self.reward_scale, False, False, info

    # -- helpers -------------------------------------------------------------------------------------------
    def cost_of(self, omega: float, instance: LinearSystem | None = None) -> float:
        """The cost (in sweeps, failures included) of solving ``instance`` (default: the next one) with ``omega``.

        Used by oracles; it does not advance the env.
        """
        system = instance if instance is not None else self.current_instance
        result = solve_prepared(system.matrix, system.b, omega, tol=self.tol, max_sweeps=self.max_sweeps)
        return float(result.sweeps) if result.converged else float(self.max_sweeps) + self.failure_penalty

    def action_to_omega(self, action: Any) -> float:
        """The ω an action applies (clipped for the continuous space)."""
        return self.knob.to_omega(action)

    def _observation(self) -> np.ndarray:
        obs = np.asarray(self.current_instance.context, dtype=np.float32)
        return np.clip(obs, self.observation_space.low, self.observation_space.high)


def _finite_or_none(value: float) -> float | None:
    # None, not NaN, for "unknown": NaN != NaN would make equal trajectories compare unequal.
    return value if np.isfinite(value) else None


def make_setting_a(
    variance: str = "high", *, grid: int = 10, beta: tuple[float, float] | None = None, **env_kwargs: Any
) -> SOREnv:
    """``tunegym/SOR-v0``: the Learning to Relax setting A (see :class:`ShiftedLaplacianDistribution`)."""
    return SOREnv(ShiftedLaplacianDistribution(variance, grid=grid, beta=beta), **env_kwargs)


def make_matrix_env(
    matrices: Sequence[str | Path] | None = None,
    *,
    grids: Sequence[int] = (10, 16, 24, 32),
    offset_low: float = 0.0,
    offset_high: float = 0.5,
    **env_kwargs: Any,
) -> SOREnv:
    """``tunegym/SORMatrix-v0``: user matrices from files, or generated shifted Laplacians of many sizes.

    Observations are the matrix features of :mod:`tunegym.envs.sor.features`.
    """
    if matrices:
        distribution: SequenceDistribution = MatrixFileDistribution(matrices)
    else:
        distribution = LaplacianFamilyDistribution(grids, offset_low, offset_high)
    return SOREnv(distribution, **env_kwargs)
