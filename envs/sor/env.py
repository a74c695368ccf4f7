"""Gymnasium environments that pick the SOR relaxation factor for a sequence of linear systems."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, BoxKnob, Knob
from tunegym.envs.sor.features import FEATURE_HIGH, FEATURE_LOW
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
)
from tunegym.envs.sor.process import SORSolve, SystemContext

__all__ = ["SOREnv", "make_setting_a", "make_matrix_env", "DEFAULT_ARMS", "omega_knob", "context_bounds"]

#: The Learning to Relax arm grid: 20 values from 1 to 1.95.
DEFAULT_ARMS = tuple(float(w) for w in np.linspace(1.0, 1.95, 20))


def omega_knob(action: str = "discrete", arms: Sequence[float] = DEFAULT_ARMS, omega_low: float = 1.0,
               omega_high: float = 1.99) -> Knob:
    """The relaxation factor as a knob: ``arms`` (``"discrete"``) or the interval ``[omega_low, omega_high]``."""
    if action == "discrete":
        return ArmKnob("omega", arms)
    if action == "continuous":
        if not 0.0 < omega_low < omega_high:
            raise ConfigError(f"need 0 < omega_low < omega_high, got {omega_low}, {omega_high}", value=omega_low)
        return BoxKnob("omega", omega_low, omega_high)
    raise ConfigError(f"action must be 'discrete' or 'continuous', got {action!r}", value=action)


def context_bounds(distribution: SequenceDistribution) -> tuple[np.ndarray, np.ndarray, str]:
    """Bounds and kind of the context a distribution's systems carry (offset ``c`` or matrix features)."""
    low = getattr(distribution, "context_low", None)
    high = getattr(distribution, "context_high", None)
    if low is not None and high is not None:
        return np.atleast_1d(np.asarray(low, dtype=np.float32)), np.atleast_1d(np.asarray(high, dtype=np.float32)), \
            "offset"
    return FEATURE_LOW.copy(), FEATURE_HIGH.copy(), "matrix"


class SOREnv(ProcessEnv):
    """Choose the SOR relaxation factor ω for each linear system of a sequence.

    ## Description
    Learning to Relax (Khodak et al., ICLR 2024, arXiv 2310.02246): a solver meets a sequence of related
    systems ``A_t x = b_t`` and must choose ω for each before solving it with SOR from ``x0 = 0`` to a
    relative residual of ``tol``. The cost is the exact number of SOR sweeps.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(arms))``, arm ``i`` is ``ω = arms[i]`` (default
    ``linspace(1, 1.95, 20)``, the paper's grid). ``action="continuous"``: ``Box(-1, 1, (1,))`` mapped linearly onto
    ``[omega_low, omega_high]``; values outside are clipped (``info["knob"]`` is the ω applied). A NaN action or an arm index
    outside the space raises :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    The context of the system to be solved next, ``Box`` with the distribution's bounds: the diagonal
    offset ``c`` in setting A (shape ``(1,)``), or matrix features (``FEATURE_NAMES``, shape ``(7,)``) for
    user matrices.

    ## Rewards
    ``-sweeps / reward_scale``. A solve that diverges or hits ``max_sweeps`` costs ``max_sweeps`` sweeps
    plus ``failure_penalty`` (in sweeps); the episode goes on with the next system.

    ## Info
    The core contract (``cost`` in ``cost_unit="sor_sweeps"``, ``knob`` = ω, ``instance_id``, ``quality`` =
    ``relative_residual``, ``status``), and ``sweeps``, ``omega``, ``converged``, ``residual``, ``context`` (of the solved system), and the richer feedback a solve reveals beyond its count:
    ``convergence_factor`` (observed residual reduction per sweep over the last sweeps) and
    ``jacobi_radius_estimate`` (the ``ρ_J`` that factor implies through Young's theory; ``None`` unless ω
    was clearly below the optimum, since near or past it the rate says only that ω ≥ ω*). The paper's agents use only ``sweeps``. Wall time is
    kept out of ``info`` (it would make same-seed trajectories differ) and read from ``env.unwrapped.last_record.wall_time``.

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream from ``s``; ``reset(options={"instance": system})``
    makes ``system`` (a :class:`LinearSystem`) the next one solved, and the systems after it a stream derived
    from its id. ``env.unwrapped.instance`` is the system about to be solved.

    ## Episode End
    Never terminates; truncated after ``episode_length`` systems (``max_episode_steps`` at registration).

    ## Arguments
    ``distribution`` (a :class:`SequenceDistribution` of :class:`LinearSystem`), ``action``, ``arms``,
    ``omega_low``/``omega_high``, ``tol`` (1e-8), ``max_sweeps`` (10,000 as in the authors' code),
    ``reward_scale`` (100), ``failure_penalty`` (0).

    ## Version History
    - v0: initial release. Before any release (2026-12-01): built on the shared process core; the continuous
      action is the normalised ``Box(-1, 1)``; a replayed instance fixes the systems after it. The solver ends a
      diverging solve earlier (against the smallest residual seen) and returns ``"diverged"`` at once for ω outside
      (0, 2); only failing solves change (every default arm is inside (0, 2)).
    - v0 (robustness review, 2026-12-02; the suite's systems and figures unchanged): a user matrix whose Jacobi
      matrix is nilpotent (diagonal, or triangular up to a symmetric permutation) has ``ρ_J = 0`` exactly (it
      crashed ARPACK or read a power-iteration artefact) and, in setting A's context, the highest trained offset
      (it had the lowest, the most aggressive ω); a warm start ``x0`` is judged diverged against the larger of
      ``||b||`` and ``||b - A x0||``.
    """


    domain = "sor"
    default_knob_value = 1.0  # Gauss–Seidel

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
        low, high, kind = context_bounds(distribution)
        if context_low is not None and context_high is not None:
            low, high = context_low, context_high
        features = SystemContext(low, high, kind=kind, grid=getattr(distribution, "grid", 10))
        super().__init__(SORSolve(tol=tol, max_sweeps=max_sweeps, failure_penalty=failure_penalty), distribution,
                         omega_knob(action, arms, omega_low, omega_high), features, reward="neg_cost",
                         reward_params={"scale": float(reward_scale)}, sequence=True, instance_type=LinearSystem)


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
    if matrices is not None:  # [] or a single matrix: the distribution says what is wrong or wraps it
        distribution: SequenceDistribution = MatrixFileDistribution(matrices)
    else:
        distribution = LaplacianFamilyDistribution(grids, offset_low, offset_high)
    return SOREnv(distribution, **env_kwargs)
