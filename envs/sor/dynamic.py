"""Change the SOR relaxation factor during one solve, every ``block`` sweeps (``tunegym/SORDynamic-v0``).

:class:`SORBlockSolve` is the process: one SOR solve of one system, paused every ``block`` sweeps for a new
ω (the iterate carries over). :class:`ResidualHistory` is its observation (residual level and rate so far,
the ω in use, the budget spent, the tolerance, and the system's context). The env and
:class:`tunegym.agents.SORTuner` (for a tuner trained here) both drive these two, so a deployed tuner picks
the same ω per block as the env rollout on the same system.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.sor.env import DEFAULT_ARMS, context_bounds, omega_knob
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
)
from tunegym.envs.sor.process import SystemContext, finite_or_none
from tunegym.envs.sor.solver import PreparedMatrix, SORResult, residual_overflow, solve_prepared

__all__ = ["SORBlockSolve", "ResidualHistory", "SORDynamicEnv", "make_dynamic_env", "DEFAULT_BLOCK",
           "DEFAULT_FAILURE_PENALTY"]

_LOG_RES_LOW, _LOG_RES_HIGH = -12.0, 4.0
#: sweeps between decisions, and the failure penalty (in sweeps), of ``SORDynamic-v0`` by default
DEFAULT_BLOCK = 10
DEFAULT_FAILURE_PENALTY = 1000.0


class SORBlockSolve(Process):
    """One SOR solve of one system from ``x0`` (default 0), with ω chosen anew every ``block`` sweeps.

    Each :meth:`advance` runs at most ``block`` forward sweeps with the given ω. Cost: the sweeps of the
    block, plus ``failure_penalty`` on the block where the solve diverges (``terminated``) or spends
    ``max_sweeps`` (``truncated``). Converged: ``terminated``.

    Diverged: the residual turns non-finite, grows by ``divergence_factor`` within a block, or exceeds
    ``divergence_factor`` times the larger of ``||b||`` and ``||b - A x0||`` (so a far warm start is swept, as
    :func:`~tunegym.envs.sor.solver.solve` sweeps it, rather than declared diverged before the first sweep).
    ``stall_window > 0`` (what :class:`~tunegym.agents.SORTuner` sets on a matrix with no convergence guarantee)
    also judges the whole solve across blocks, as one :func:`~tunegym.envs.sor.solver.solve` call would: growth
    by ``divergence_factor`` over the smallest residual so far, or a residual no smaller than ``stall_window``
    sweeps earlier. With the defaults and ``x0 = None`` every block is the one ``SORDynamic-v0`` always ran.
    """

    cost_unit = "sor_sweeps"
    quality_name = "relative_residual"

    def __init__(self, *, block: int = DEFAULT_BLOCK, tol: float = 1e-8, max_sweeps: int = 10_000,
                 failure_penalty: float = DEFAULT_FAILURE_PENALTY, divergence_factor: float = 1e8,
                 stall_window: int = 0) -> None:
        if int(block) != block or block < 1:
            raise ConfigError(f"block must be a positive number of sweeps, got {block!r}", value=block)
        if not (math.isfinite(tol) and tol > 0):
            raise ConfigError(f"tol must be positive, got {tol!r}", value=tol)
        if int(max_sweeps) < 1:
            raise ConfigError(f"max_sweeps must be >= 1, got {max_sweeps!r}", value=max_sweeps)
        if not (isinstance(divergence_factor, numbers.Real) and divergence_factor > 1.0):
            raise ConfigError(f"divergence_factor must exceed 1, got {divergence_factor!r}", value=divergence_factor)
        if not (isinstance(stall_window, numbers.Integral) and stall_window >= 0):
            raise ConfigError(f"stall_window must be a whole number >= 0, got {stall_window!r}", value=stall_window)
        self.block, self.tol, self.max_sweeps = int(block), float(tol), int(max_sweeps)
        self.failure_penalty = float(failure_penalty)
        self.divergence_factor, self.stall_window = float(divergence_factor), int(stall_window)
        self.instance: LinearSystem | None = None
        self.status = "idle"

    @property
    def system(self) -> LinearSystem | None:
        """The system being solved (what oracles and Young's rule read)."""
        return self.instance

    def start(self, instance: LinearSystem, rng: np.random.Generator | None = None, *,
              x0: np.ndarray | None = None) -> None:
        self.instance = instance
        self.x = np.zeros(instance.n) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
        bnorm = float(np.linalg.norm(instance.b))
        scale = bnorm if bnorm > 0.0 else 1.0
        if x0 is None:
            self.residual = 1.0 if bnorm > 0.0 else 0.0
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                rnorm = float(np.linalg.norm(instance.b - instance.matrix.to_csr() @ self.x))
            if not math.isfinite(rnorm):
                raise residual_overflow(self.x)
            self.residual = rnorm / scale
        # A warm start whose residual exceeds ||b||: divergence is judged from ||b - A x0|| (relative units here).
        self._far_limit = self.divergence_factor * self.residual if self.residual > 1.0 else None
        self.sweeps, self.rate, self.omega = 0, 1.0, 0.0
        self.omegas: list[float] = []
        self.history: list[float] = [self.residual]
        self._smallest = self.residual
        self.wall_time = 0.0
        self.reason = ""
        self.status = "running"

    @property
    def done(self) -> bool:
        return self.status != "running"

    def advance(self, knob_value: Any) -> StepRecord:
        if self.instance is None or self.done:
            raise ConfigError("start() a system before advancing; this solve has ended")
        system, omega = self.instance, float(knob_value)
        budget = min(self.block, self.max_sweeps - self.sweeps)
        # A block resumes its own iterate: its limit stays on ||b|| (growth across blocks is caught), except after a
        # far warm start, where each block is limited by its start residual and _across_blocks applies the x0 limit.
        result = solve_prepared(system.matrix, system.b, omega, x0=self.x, tol=self.tol, max_sweeps=budget,
                                divergence_factor=self.divergence_factor,
                                divergence_from_x0=self._far_limit is not None)
        first = self.sweeps + 1
        self.x = result.x
        self.sweeps += result.sweeps
        previous, self.residual = self.residual, result.residual
        if result.sweeps > 0 and previous > 0 and result.residual > 0 and math.isfinite(result.residual):
            self.rate = (result.residual / previous) ** (1.0 / result.sweeps)
        self.omega = omega
        self.omegas.append(omega)
        self.history.extend(result.residual_history[1:].tolist())
        self.wall_time += result.wall_time
        status = result.status
        if status == "diverged":
            self.reason = result.reason
        elif status == "max_sweeps":  # the block's budget: judge the solve so far
            verdict = self._across_blocks(first)
            if verdict:
                status, self.reason = "diverged", verdict
        terminated = status in ("converged", "diverged")
        truncated = not terminated and self.sweeps >= self.max_sweeps
        self.status = status if terminated else ("max_sweeps" if truncated else "running")
        cost = float(result.sweeps) + (self.failure_penalty if status == "diverged" or truncated else 0.0)
        return self.record(
            cost, omega, quality=result.residual, status=self.status, terminated=terminated, truncated=truncated,
            wall_time=result.wall_time, sweeps=result.sweeps, total_sweeps=self.sweeps, omega=omega,
            converged=result.converged, residual=finite_or_none(result.residual),
            context=np.asarray(system.context, dtype=np.float64),
        )

    def _across_blocks(self, first: int) -> str:
        """Why the solve has diverged judged as a whole after a block whose sweeps are ``first..self.sweeps``
        ("" if it has not): the far-x0 limit, then (``stall_window > 0``) growth and stall across blocks."""
        factor, residual = self.divergence_factor, self.residual
        if self._far_limit is not None and residual > self._far_limit:
            return "the residual grew beyond divergence_factor times the larger of ||b|| and ||b - A x0||"
        if not self.stall_window:
            return ""
        history, window = self.history, self.stall_window
        if residual > factor * self._smallest:
            return f"the residual grew by divergence_factor={factor:g} over the smallest one of the solve"
        self._smallest = min(self._smallest, min(history[first:], default=self._smallest))
        if any(history[k] >= history[k - window] for k in range(max(first, window), self.sweeps + 1)):
            return f"no residual decrease over stall_window={window} sweeps"
        return ""

    def result(self) -> SORResult:
        """The whole solve so far as an :class:`SORResult`; ``omega`` holds the ω of each block in order."""
        return SORResult(x=self.x.copy(), sweeps=self.sweeps, converged=self.status == "converged",
                         residual=float(self.residual), status=self.status, omega=np.asarray(self.omegas),
                         wall_time=self.wall_time, residual_history=np.asarray(self.history), reason=self.reason)


class ResidualHistory(Features):
    """The state of a block-wise solve, then the system's context (as ``SOR-v0``/``SORMatrix-v0`` see it).

    ``log10`` relative residual (clipped to [-12, 4]), the residual reduction factor per sweep over the last
    block ([0, 2]), the ω used last (0 before the first block), the share of the sweep budget spent, the
    ``log10`` tolerance; then the context, bounded by ``low``/``high`` and computed for a matrix no
    distribution made as :meth:`SystemContext.context_for` does (``kind``, ``grid``).
    """

    name = "sor.residual_history"

    def __init__(self, low: Any = None, high: Any = None, kind: str = "matrix", grid: int = 10) -> None:
        self.context = SystemContext(low, high, kind=kind, grid=grid)
        head_low = np.array([_LOG_RES_LOW, 0.0, 0.0, 0.0, -16.0], dtype=np.float32)
        head_high = np.array([_LOG_RES_HIGH, 2.0, 2.0, 1.0, 0.0], dtype=np.float32)
        self.space = spaces.Box(np.concatenate([head_low, self.context.space.low]),
                                np.concatenate([head_high, self.context.space.high]), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return self.context.params()

    def observe(self, process: Process) -> np.ndarray:
        residual = process.residual
        if residual > 0 and math.isfinite(residual):
            log_res = math.log10(residual)
        else:
            log_res = _LOG_RES_LOW if residual == 0 else _LOG_RES_HIGH
        head = [log_res, process.rate, process.omega, process.sweeps / process.max_sweeps, math.log10(process.tol)]
        return np.concatenate([np.asarray(head, dtype=np.float64), self.context.observe(process)])

    def context_for(self, prepared: PreparedMatrix, jacobi_radius: float | None = None) -> np.ndarray:
        """The context part for a matrix no distribution made (see :meth:`SystemContext.context_for`)."""
        return self.context.context_for(prepared, jacobi_radius)


register_features(ResidualHistory.name, "tunegym.envs.sor.dynamic:ResidualHistory")


class SORDynamicEnv(ProcessEnv):
    """Pick ω for the next ``block`` SOR sweeps of one solve, watching the residual fall.

    ## Description
    One episode is one solve of one system from ``x0 = 0`` (:class:`SORBlockSolve`). Each step runs
    ``block`` forward SOR sweeps with the chosen ω (the iterate carries over), so the agent can start
    cautiously and speed up once the residual's rate is known: the setting the static choice of Learning to
    Relax (Khodak et al., ICLR 2024) cannot express. The cost is the exact number of SOR sweeps.

    ## Action Space
    ``Discrete(len(arms))`` (default the 20-arm grid ``linspace(1, 1.95, 20)``) or, with
    ``action="continuous"``, the normalised ``Box(-1, 1, (1,))`` mapped linearly onto
    ``[omega_low, omega_high]`` (clipped). Invalid arms or NaN raise ``ActionError``.

    ## Observation Space
    ``Box`` of shape ``(5 + len(context),)`` (:class:`ResidualHistory`): ``log10`` relative residual
    (clipped to [-12, 4]), the residual reduction factor per sweep over the last block (clipped to [0, 2]),
    the ω used last (0 before the first step), the share of the sweep budget spent, the log10 tolerance;
    then the system's context (as in ``SOR-v0``/``SORMatrix-v0``).

    ## Rewards
    ``reward="neg_cost"``: ``-cost / reward_scale`` each step, the cost being the block's sweeps plus
    ``failure_penalty`` on the step where the solve diverges or spends ``max_sweeps``.

    ## Info
    The core contract (``cost`` in ``cost_unit="sor_sweeps"``, ``knob`` = ω, ``instance_id``, ``quality`` =
    ``relative_residual``, ``status``: ``"running"`` until the solve ends, then ``"converged"``,
    ``"diverged"`` or ``"max_sweeps"``), and ``sweeps`` (of the block), ``total_sweeps``, ``omega``,
    ``converged``, ``residual``, ``context``.

    ## Starting State
    Zero iterate of a fresh system from the distribution (``reset(seed=s)`` restarts the instance stream),
    or ``reset(options={"instance": system})`` (a :class:`LinearSystem`), replayed exactly whatever the seed.
    ``env.unwrapped.instance`` is the system being solved.

    ## Episode End
    Terminated when the relative residual reaches ``tol`` or the iteration diverges; truncated at
    ``max_sweeps``.

    ## Arguments
    ``distribution``, ``block`` (10 sweeps), ``action``, ``arms``, ``omega_low``, ``omega_high``, ``tol``
    (1e-8), ``max_sweeps`` (10,000), ``reward_scale`` (100), ``failure_penalty`` (1,000 sweeps).

    ## Version History
    - v0: initial release. Before any release (2026-12-01): built on the shared process core (the same
      reset/step as ``SOR-v0``); ``info`` carries the cost contract and ``status="running"`` between blocks
      (was the block's own ``"max_sweeps"``); the continuous action is the normalised ``Box(-1, 1)``;
      ``reset(options={"instance": ...})`` no longer restarts the instance stream.
    """

    domain = "sor"
    default_knob_value = 1.0  # Gauss–Seidel

    def __init__(
        self,
        distribution: SequenceDistribution,
        *,
        block: int = DEFAULT_BLOCK,
        action: str = "discrete",
        arms: Sequence[float] = DEFAULT_ARMS,
        omega_low: float = 1.0,
        omega_high: float = 1.99,
        tol: float = 1e-8,
        max_sweeps: int = 10_000,
        reward_scale: float = 100.0,
        failure_penalty: float = DEFAULT_FAILURE_PENALTY,
    ) -> None:
        if reward_scale <= 0:
            raise ConfigError(f"reward_scale must be positive, got {reward_scale!r}", value=reward_scale)
        low, high, kind = context_bounds(distribution)
        features = ResidualHistory(low, high, kind=kind, grid=getattr(distribution, "grid", 10))
        process = SORBlockSolve(block=block, tol=tol, max_sweeps=max_sweeps, failure_penalty=failure_penalty)
        super().__init__(process, distribution, omega_knob(action, arms, omega_low, omega_high), features,
                         reward="neg_cost", reward_params={"scale": float(reward_scale)}, sequence=False,
                         instance_type=LinearSystem)


def make_dynamic_env(
    variance: str | None = "high",
    *,
    matrices: Sequence[str | Path] | None = None,
    grids: Sequence[int] | None = None,
    **env_kwargs: Any,
) -> SORDynamicEnv:
    """``tunegym/SORDynamic-v0``: setting A systems by default; ``matrices=[...]`` or ``grids=[...]`` for others."""
    if matrices:
        distribution: SequenceDistribution = MatrixFileDistribution(matrices)
    elif grids:
        distribution = LaplacianFamilyDistribution(grids)
    else:
        distribution = ShiftedLaplacianDistribution(variance or "high")
    return SORDynamicEnv(distribution, **env_kwargs)
