"""The SOR processes: one solve of one linear system, and the context features a policy sees for it.

:class:`SORSolve` is the process of ``tunegym/SOR-v0`` and ``SORMatrix-v0`` (one decision per system: ω)
and of :class:`tunegym.agents.SORTuner` when it solves a user's system. :class:`SystemContext` is their
observation: the context the system carries (the offset ``c`` in setting A, matrix features for user
matrices), and, for a user's matrix that carries none, the same kind of context computed from the matrix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.sor.features import (
    FEATURE_HIGH,
    FEATURE_LOW,
    jacobi_radius_from_rate,
    jacobi_spectral_radius,
    matrix_features,
)
from tunegym.envs.sor.instances import LinearSystem
from tunegym.envs.sor.solver import PreparedMatrix, SORResult, solve_prepared

__all__ = ["SORSolve", "SystemContext", "finite_or_none"]


def finite_or_none(value: float) -> float | None:
    """``value``, or None where it is not finite (NaN != NaN would make equal trajectories compare unequal)."""
    return float(value) if value is not None and math.isfinite(value) else None


class SORSolve(Process):
    """Solve one system ``A x = b`` by SOR from ``x0`` (default 0) with the ω the decision gives.

    Cost: the exact number of sweeps; a solve that diverges or reaches ``max_sweeps`` costs ``max_sweeps``
    plus ``failure_penalty`` and ends with that status (a defined terminal state, never a hang). A given ``x0``
    (the tuner's warm start) is judged as :func:`~tunegym.envs.sor.solver.solve` judges it: divergence is growth
    beyond ``divergence_factor`` times the larger of ``||b||`` and ``||b - A x0||``.
    ``divergence_factor`` and ``stall_window`` are :func:`~tunegym.envs.sor.solver.solve`'s (the envs keep the
    defaults; :class:`~tunegym.agents.SORTuner` tightens them on matrices with no convergence guarantee).
    """

    cost_unit = "sor_sweeps"
    quality_name = "relative_residual"

    def __init__(self, *, tol: float = 1e-8, max_sweeps: int = 10_000, failure_penalty: float = 0.0,
                 divergence_factor: float = 1e8, stall_window: int = 0) -> None:
        self.divergence_factor, self.stall_window = float(divergence_factor), int(stall_window)
        if not (math.isfinite(tol) and tol > 0):
            raise ConfigError(f"tol must be positive, got {tol!r}", value=tol)
        if int(max_sweeps) < 1:
            raise ConfigError(f"max_sweeps must be >= 1, got {max_sweeps!r}", value=max_sweeps)
        self.tol, self.max_sweeps, self.failure_penalty = float(tol), int(max_sweeps), float(failure_penalty)
        self.instance: LinearSystem | None = None
        self.x0: np.ndarray | None = None
        self.result: SORResult | None = None

    def start(self, instance: LinearSystem, rng: np.random.Generator | None = None, *,
              x0: np.ndarray | None = None) -> None:
        self.instance, self.x0, self.result = instance, x0, None

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def system(self) -> LinearSystem | None:
        """The system the next decision is about (what oracles and Young's rule read)."""
        return self.instance

    def relaxation(self, knob_value: Any) -> tuple[float | np.ndarray, Any]:
        """``(factor for the solver, value recorded)`` of a knob value: here one ω for every row.

        Block SOR (:mod:`tunegym.envs.multiagent.block_sor`) overrides it to spread one ω per block of rows.
        """
        omega = float(knob_value)
        return omega, omega

    def advance(self, knob_value: Any) -> StepRecord:
        if self.instance is None or self.done:
            raise ConfigError("start() a system before advancing; one decision per solve")
        system = self.instance
        rows, omega = self.relaxation(knob_value)
        result = solve_prepared(system.matrix, system.b, rows, x0=self.x0, tol=self.tol, max_sweeps=self.max_sweeps,
                                divergence_factor=self.divergence_factor, stall_window=self.stall_window,
                                divergence_from_x0=True)
        self.result = result
        cost = float(result.sweeps) if result.converged else float(self.max_sweeps) + self.failure_penalty
        rate = result.convergence_factor()
        radius = jacobi_radius_from_rate(rate, omega) if np.ndim(omega) == 0 else float("nan")
        return self.record(
            cost, omega, quality=result.residual, status=result.status, terminated=True,
            wall_time=result.wall_time, sweeps=result.sweeps, omega=omega, converged=result.converged,
            residual=finite_or_none(result.residual), context=np.asarray(system.context, dtype=np.float64),
            convergence_factor=finite_or_none(rate), jacobi_radius_estimate=finite_or_none(radius),
        )


class SystemContext(Features):
    """The context of the system about to be solved, clipped into ``[low, high]``.

    ``kind`` says how the context of a matrix that carries none (a user's) is computed, the same way the
    training distribution computed it: ``"offset"`` (setting A: the offset ``c`` of ``L + cI`` on a
    ``grid x grid`` Laplacian with the same Jacobi spectral radius, ``c = 4 cos(π/(grid+1)) / ρ_J - 4``) or
    ``"matrix"`` (:func:`tunegym.envs.sor.features.matrix_features`).
    """

    name = "sor.context"

    def __init__(self, low: Any = None, high: Any = None, kind: str = "matrix", grid: int = 10) -> None:
        if kind not in ("offset", "matrix"):
            raise ConfigError(f"context kind must be 'offset' or 'matrix', got {kind!r}", value=kind)
        low = FEATURE_LOW if low is None else low
        high = FEATURE_HIGH if high is None else high
        self.kind, self.grid = kind, int(grid)
        self.space = spaces.Box(np.asarray(low, dtype=np.float32).reshape(-1),
                                np.asarray(high, dtype=np.float32).reshape(-1), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"low": self.space.low.tolist(), "high": self.space.high.tolist(), "kind": self.kind,
                "grid": self.grid}

    def observe(self, process: Process) -> np.ndarray:
        return np.asarray(process.instance.context, dtype=np.float64)

    def context_for(self, prepared: PreparedMatrix, jacobi_radius: float | None = None) -> np.ndarray:
        """The context a system with matrix ``prepared`` gets (for matrices no distribution made).

        ``"offset"``: ``ρ_J = 0`` (a diagonal or triangular matrix, one sweep at ω = 1) gets the highest trained
        offset, the limit of the formula; ``ρ_J >= 1`` the lowest."""
        rho = jacobi_spectral_radius(prepared) if jacobi_radius is None else jacobi_radius
        if self.kind == "offset":
            if 0.0 < rho < 1.0:  # overflows to +inf for a subnormal rho, which observation() clips to high
                offset = 4.0 * math.cos(math.pi / (self.grid + 1)) / rho - 4.0
            elif rho == 0.0:  # the formula's limit: the least aggressive trained offset (was the most aggressive)
                offset = float(self.space.high[0])
            else:  # rho >= 1 or not finite: no Young ω exists; the most aggressive trained offset
                offset = float(self.space.low[0])
            return np.array([offset], dtype=np.float64)
        return np.asarray(matrix_features(prepared, jacobi_radius=rho), dtype=np.float64)


register_features(SystemContext.name, "tunegym.envs.sor.process:SystemContext")
