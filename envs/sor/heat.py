"""Learning to Relax setting B: a 2-D heat equation whose time steps are linear systems for SSOR-PCG.

The process follows the authors' MATLAB code (Khodak et al., ICLR 2024; ``utils/Heat2D.m``,
``scripts/h2d.m``, ``utils/bump.m``): on the unit square with zero Dirichlet boundary,

    ∂u/∂t = κ(t) Δu + f(t, x),     u(0, x) = bump(x; (½, ½), ¼),

discretised by the 5-point Laplacian on a uniform grid with ``grid`` intervals per side (their ``nx``;
``h = 1/grid``, ``(grid - 1)²`` unknowns, natural ordering) and stepped by Crank–Nicolson with step ``dt``:

    A_k = I + c_k K,    b_k = (I - c_k K) u_k + dt f(t_k + dt/2),    c_k = κ(t_k + dt/2) dt / (2 h²),

where ``K`` is the unscaled Laplacian (diagonal 4, off-diagonals -1), so ``A_k`` is SPD for every κ ≥ 0.
Each ``A_k u_{k+1} = b_k`` is one instance; it is solved by :func:`~tunegym.envs.sor.pcg.ssor_pcg`
warm-started from ``u_k`` to a relative residual of 1e-8, and the knob is the SSOR relaxation factor ω.
The diffusion coefficient is ``κ(t) = max(a_lo sin(2πt/P), -a_hi sin(2πt/P))``: half of each period it is
small (≤ a_lo, nearly free systems), half it rises to ``a_hi`` (systems whose best ω is well above 1).
The forcing is ``f = 32 · bump(x; center(t), ⅛)`` with the centre moving on a circle around (½, ½).
``bump(x; c, r) = exp(1 - 1/(1 - min(1, |x - c|²/r²)))`` (zero outside the radius).

Differences from the authors' setting (all deliberate, all switchable back):
- *Randomised schedule.* ``randomize=True`` (default) draws, from the rng, the start time in the
  diffusion period, the amplitudes ``a_lo ~ U(diffusion_low)`` and ``a_hi ~ U(diffusion_high)``, and the
  forcing path (orbit radius, revolutions per unit time, phase, direction), so that episodes differ.
  ``randomize=False`` is the paper's single deterministic run: start 0, ``a_lo = 0.1``, ``a_hi = 10``,
  ``P = 1``, orbit radius ¼ at 8 revolutions per unit time (their ``16πt``), counter-clockwise.
- *Episode length.* The paper runs ``T = 5000`` steps with ``dt = 1e-3`` (five diffusion periods) on
  ``grid ∈ {25, 50, 100, 200, 400}``. Our default is ``grid = 32`` (961 unknowns; cheap enough for tests
  and RL) and episodes of ``n_steps = 1000`` (one diffusion period); any ``grid ≥ 25`` up to 400 works.
- *Who advances the simulation.* As in the authors' loop, the env advances the state with the agent's
  own solution (the best iterate when a solve fails), so the next right-hand side depends on it at the
  level of the tolerance. Iterating :meth:`HeatEquationSequence.sequence` on its own (no solution sent
  back) advances with a reference solve (SSOR-PCG, ω = 1.5, ``reference_tol = 1e-10``). Because the states
  of two runs differ only by about ``tol``, instance ids are stable along one trajectory but not across
  agents; join results by (seed, step) rather than by id in this env.
- *Preconditioner order.* See :mod:`tunegym.envs.sor.pcg`: forward sweep first (textbook SSOR); MATLAB's
  call applies the backward sweep first. Counts agree up to a reflection of the grid.
- *Context.* ChebCB / Tsallis-INF-CB in the paper see the diffusion coefficient ``κ(t)`` only; we give a
  small vector (:data:`HEAT_CONTEXT_NAMES`): phase in the diffusion period, ``κ`` at the half step,
  the mesh ratio ``κ dt / h²``, the forcing centre, and ``log10`` of the warm start's relative residual.

What this module must not do: draw randomness from anything but the rng it is handed, or solve with
anything other than :mod:`tunegym.envs.sor.pcg` (the cost unit is that solver's CG iterations).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from gymnasium import spaces

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.sor.env import DEFAULT_ARMS, omega_knob
from tunegym.envs.sor.instances import LinearSystem, poisson2d
from tunegym.envs.sor.process import finite_or_none
from tunegym.envs.sor.pcg import PCGResult, ssor_pcg_prepared
from tunegym.envs.sor.solver import PreparedMatrix, prepare_matrix

__all__ = [
    "HEAT_CONTEXT_NAMES",
    "HeatContext",
    "HeatEquation",
    "HeatEquationSequence",
    "HeatRun",
    "HeatRunDistribution",
    "HeatSchedule",
    "HeatSolve",
    "HeatStepOracle",
    "SORHeatEnv",
    "bump",
    "make_heat_env",
]

#: Names of the context vector each heat system carries (the env's observation).
HEAT_CONTEXT_NAMES = (
    "diffusion_phase",  # (t + dt/2) / P mod 1; κ > a_lo only for phase in (1/2, 1)
    "diffusion",  # κ(t + dt/2)
    "mesh_ratio",  # κ dt / h², the stiffness of the step (2 c_k)
    "forcing_x",  # centre of the forcing bump at t + dt/2
    "forcing_y",
    "log10_initial_residual",  # log10 ||b - A u_k|| / ||b||: how good the warm start is
)
_RESIDUAL_FLOOR = -16.0
_RESIDUAL_CEIL = 4.0
_REFERENCE_OMEGA = 1.5
_MIN_GRID, _MAX_GRID = 3, 4096


def bump(points: np.ndarray, center: Sequence[float], radius: float) -> np.ndarray:
    """The smooth bump ``exp(1 - 1/(1 - min(1, |x - c|²/r²)))`` of the authors' ``bump.m`` (1 at ``c``)."""
    dist_sq = np.sum((points - np.asarray(center, dtype=np.float64)) ** 2, axis=1) / radius**2
    out = np.zeros(points.shape[0])
    inside = dist_sq < 1.0
    out[inside] = np.exp(1.0 - 1.0 / (1.0 - dist_sq[inside]))
    return out


@dataclass(frozen=True)
class HeatSchedule:
    """The time-dependent data of one simulation: diffusion coefficient and forcing path.

    ``diffusion(t) = max(diffusion_low sin(2πt/period), -diffusion_high sin(2πt/period))``;
    forcing centre ``(½ + ρ cos θ, ½ + s ρ sin θ)`` with ``θ = 2π (revolutions t + phase)``, ``ρ`` the
    ``forcing_orbit`` and ``s`` the ``forcing_direction``. Time starts at ``start_time``.
    """

    start_time: float = 0.0
    diffusion_low: float = 0.1
    diffusion_high: float = 10.0
    period: float = 1.0
    forcing_orbit: float = 0.25
    forcing_revolutions: float = 8.0
    forcing_phase: float = 0.0
    forcing_direction: float = 1.0
    forcing_amplitude: float = 32.0
    forcing_radius: float = 0.125
    initial_radius: float = 0.25

    def diffusion(self, t: float) -> float:
        s = math.sin(2.0 * math.pi * t / self.period)
        return max(self.diffusion_low * s, -self.diffusion_high * s)

    def phase(self, t: float) -> float:
        return (t / self.period) % 1.0

    def forcing_center(self, t: float) -> tuple[float, float]:
        theta = 2.0 * math.pi * (self.forcing_revolutions * t + self.forcing_phase)
        return (
            0.5 + self.forcing_orbit * math.cos(theta),
            0.5 + self.forcing_direction * self.forcing_orbit * math.sin(theta),
        )


@functools.lru_cache(maxsize=8)
def _laplacian(grid: int) -> tuple[PreparedMatrix, sp.csr_matrix, np.ndarray]:
    """The unscaled Laplacian ``K`` on ``(grid-1)²`` unknowns (prepared and CSR) and the grid points."""
    inner = grid - 1
    K = poisson2d(inner)
    prepared = prepare_matrix(K)
    # Unknown k = a * inner + c sits at (x, y) = ((a+1) h, (c+1) h): the authors' ``ijdx`` ordering.
    axis = np.arange(1, grid) / grid
    points = np.stack([np.repeat(axis, inner), np.tile(axis, inner)], axis=1)
    return prepared, K, points


class HeatEquation:
    """One Crank–Nicolson simulation: its state ``u_k`` at step ``k`` and the system that advances it.

    Usable without Gymnasium: ``system()`` is the :class:`LinearSystem` for the next step (its
    ``meta["x0"]`` is ``u_k``, the warm start), ``advance(u)`` accepts ``u_{k+1}`` from any solver.
    """

    def __init__(
        self, grid: int, dt: float, schedule: HeatSchedule, *, state: np.ndarray | None = None, step: int = 0
    ) -> None:
        if int(grid) != grid or not _MIN_GRID <= grid <= _MAX_GRID:
            raise ConfigError(f"grid (intervals per side) must be an integer in [{_MIN_GRID}, {_MAX_GRID}], got {grid!r}",
                              value=grid)
        if not (dt > 0.0 and math.isfinite(dt)):
            raise ConfigError(f"dt must be a positive finite number, got {dt!r}", value=dt)
        self.grid, self.dt, self.schedule = int(grid), float(dt), schedule
        self._base, self._K, self.points = _laplacian(self.grid)
        self.step = int(step)
        if state is None:
            state = bump(self.points, (0.5, 0.5), schedule.initial_radius)
        state = np.array(state, dtype=np.float64, copy=True).reshape(-1)
        if state.shape != (self._base.n,) or not np.all(np.isfinite(state)):
            raise InstanceError(f"state must be {self._base.n} finite values, got shape {state.shape}",
                                value=state.shape)
        state.flags.writeable = False
        self.u = state
        self._system: LinearSystem | None = None

    @property
    def n(self) -> int:
        return self._base.n

    @property
    def time(self) -> float:
        return self.schedule.start_time + self.step * self.dt

    def system(self) -> LinearSystem:
        """The system ``A_k u_{k+1} = b_k`` of the current step (built once per step)."""
        if self._system is not None:
            return self._system
        half = self.time + 0.5 * self.dt
        kappa = self.schedule.diffusion(half)
        c = 0.5 * kappa * self.dt * self.grid**2
        base = self._base
        matrix = base.with_values(c * base.data, 1.0 + c * base.diag)
        center = self.schedule.forcing_center(half)
        forcing = self.schedule.forcing_amplitude * bump(self.points, center, self.schedule.forcing_radius)
        Ku = self._K @ self.u
        b = self.u - c * Ku + self.dt * forcing
        # Warm-start residual b - A u_k = dt f - 2 c K u_k, without another mat-vec.
        r0 = self.dt * forcing - 2.0 * c * Ku
        bnorm = float(np.linalg.norm(b))
        rel = float(np.linalg.norm(r0)) / (bnorm if bnorm > 0.0 else 1.0)
        log_res = _RESIDUAL_FLOOR if rel <= 0.0 else min(max(math.log10(rel), _RESIDUAL_FLOOR), _RESIDUAL_CEIL)
        mesh_ratio = 2.0 * c
        context = np.array(
            [self.schedule.phase(half), kappa, mesh_ratio, center[0], center[1], log_res], dtype=np.float32
        )
        rho_jacobi = 4.0 * c * math.cos(math.pi / self.grid) / (1.0 + 4.0 * c)
        self._system = LinearSystem(
            matrix=matrix,
            b=b,
            context=context,
            jacobi_radius=rho_jacobi,
            name=f"heat2d-g{self.grid}",
            meta={
                "x0": self.u,
                "step": self.step,
                "time": self.time,
                "diffusion": kappa,
                "grid": self.grid,
                "dt": self.dt,
                "schedule": self.schedule,
            },
        )
        return self._system

    def advance(self, solution: np.ndarray) -> None:
        """Accept ``u_{k+1}`` (any solver's answer to :meth:`system`) and move to step ``k + 1``."""
        u = np.array(solution, dtype=np.float64, copy=True).reshape(-1)
        if u.shape != (self.n,) or not np.all(np.isfinite(u)):
            raise InstanceError(f"solution must be {self.n} finite values, got shape {u.shape}", value=u.shape)
        u.flags.writeable = False
        self.u = u
        self.step += 1
        self._system = None

    @classmethod
    def from_system(cls, system: LinearSystem) -> HeatEquation:
        """The simulation positioned at ``system`` (made by this module): its next system equals it."""
        meta = getattr(system, "meta", None) or {}
        missing = [key for key in ("x0", "step", "grid", "dt", "schedule") if key not in meta]
        if missing:
            raise ConfigError(
                f"options['instance'] must be a heat-equation system from HeatEquationSequence; meta lacks {missing}",
                value=missing,
            )
        return cls(meta["grid"], meta["dt"], meta["schedule"], state=meta["x0"], step=meta["step"])


class HeatEquationSequence(SequenceDistribution):
    """Setting B of Learning to Relax: consecutive Crank–Nicolson systems of one heat simulation.

    ``sequence(rng, length)`` is a generator: each ``next()`` yields the system of the next time step,
    with the warm start ``u_k`` in ``meta["x0"]``. A consumer that solves the system itself may hand its
    solution back with ``generator.send(x)``; the simulation then continues from ``x`` (the env does this,
    like the authors' loop). Without it, the generator advances with a reference SSOR-PCG solve.
    ``sample(rng)`` is the first system of a fresh simulation.

    Args:
        grid: intervals per side (the authors' ``nx``): ``(grid - 1)²`` unknowns; 25–400 in the paper.
        dt: time step (the paper's ``5 / 5000``).
        randomize: draw the schedule from the rng (default) or use the paper's deterministic one.
        diffusion_low, diffusion_high: ranges of the amplitudes ``a_lo``, ``a_hi`` when randomised.
        period: period ``P`` of the diffusion coefficient.
        forcing_orbit, forcing_revolutions: ranges of the forcing path's radius and speed when randomised.
        reference_tol: tolerance of the reference solve used when no solution is sent back.

    Context bounds (:data:`HEAT_CONTEXT_NAMES`): phase in [0, 1], κ in [0, max a_hi], mesh ratio in
    [0, max a_hi · dt · grid²], forcing centre in [0, 1]², log10 residual in [-16, 4].
    """

    name = "heat2d-cn"
    version = 0

    def __init__(
        self,
        *,
        grid: int = 32,
        dt: float = 1e-3,
        randomize: bool = True,
        diffusion_low: tuple[float, float] = (0.05, 0.2),
        diffusion_high: tuple[float, float] = (5.0, 15.0),
        period: float = 1.0,
        forcing_orbit: tuple[float, float] = (0.15, 0.3),
        forcing_revolutions: tuple[float, float] = (4.0, 12.0),
        reference_tol: float = 1e-10,
    ) -> None:
        if int(grid) != grid or not _MIN_GRID <= grid <= _MAX_GRID:
            raise ConfigError(f"grid (intervals per side) must be an integer in [{_MIN_GRID}, {_MAX_GRID}], got {grid!r}",
                              value=grid)
        if not (dt > 0.0 and math.isfinite(dt)):
            raise ConfigError(f"dt must be a positive finite number, got {dt!r}", value=dt)
        if not (period > 0.0 and math.isfinite(period)):
            raise ConfigError(f"period must be a positive finite number, got {period!r}", value=period)
        self.grid, self.dt, self.randomize, self.period = int(grid), float(dt), bool(randomize), float(period)
        self.diffusion_low = _range("diffusion_low", diffusion_low, 0.0)
        self.diffusion_high = _range("diffusion_high", diffusion_high, 0.0)
        self.forcing_orbit = _range("forcing_orbit", forcing_orbit, 0.0, 0.5)
        self.forcing_revolutions = _range("forcing_revolutions", forcing_revolutions, 0.0)
        self.reference_tol = float(reference_tol)
        paper = HeatSchedule()
        high = (max(self.diffusion_high[1], self.diffusion_low[1]) if randomize
                else max(paper.diffusion_high, paper.diffusion_low))
        self.context_low = np.array([0.0, 0.0, 0.0, 0.0, 0.0, _RESIDUAL_FLOOR], dtype=np.float32)
        self.context_high = np.array(
            [1.0, high, high * self.dt * self.grid**2, 1.0, 1.0, _RESIDUAL_CEIL], dtype=np.float32
        )

    @property
    def params(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "dt": self.dt,
            "randomize": self.randomize,
            "diffusion_low": list(self.diffusion_low),
            "diffusion_high": list(self.diffusion_high),
            "period": self.period,
            "forcing_orbit": list(self.forcing_orbit),
            "forcing_revolutions": list(self.forcing_revolutions),
            "reference_tol": self.reference_tol,
        }

    def draw_schedule(self, rng: np.random.Generator) -> HeatSchedule:
        """The schedule of one simulation (the paper's when ``randomize=False``; then ``rng`` is unused)."""
        if not self.randomize:
            return HeatSchedule(period=self.period)
        return HeatSchedule(
            start_time=float(rng.uniform(0.0, self.period)),
            diffusion_low=float(rng.uniform(*self.diffusion_low)),
            diffusion_high=float(rng.uniform(*self.diffusion_high)),
            period=self.period,
            forcing_orbit=float(rng.uniform(*self.forcing_orbit)),
            forcing_revolutions=float(rng.uniform(*self.forcing_revolutions)),
            forcing_phase=float(rng.uniform(0.0, 1.0)),
            forcing_direction=float(rng.choice([-1.0, 1.0])),
        )

    def simulation(self, rng: np.random.Generator) -> HeatEquation:
        """A fresh simulation at step 0 with a schedule drawn from ``rng``."""
        return HeatEquation(self.grid, self.dt, self.draw_schedule(rng))

    def sample(self, rng: np.random.Generator) -> LinearSystem:
        return self.simulation(rng).system()

    def sequence(
        self, rng: np.random.Generator, length: int | None = None
    ) -> Generator[LinearSystem, np.ndarray | None, None]:
        return self.run(self.simulation(rng), length)

    def run(
        self, simulation: HeatEquation, length: int | None = None
    ) -> Generator[LinearSystem, np.ndarray | None, None]:
        """Yield ``simulation``'s systems step by step; a value sent back is taken as that step's solution."""
        count = 0
        while length is None or count < length:
            system = simulation.system()
            solution = yield system
            if solution is None:
                solution = self.reference_solve(system).x
            simulation.advance(solution)
            count += 1

    def reference_solve(self, system: LinearSystem) -> PCGResult:
        """The solve that advances a simulation nobody else solves (ω = 1.5, ``reference_tol``)."""
        return ssor_pcg_prepared(
            system.matrix, system.b, _REFERENCE_OMEGA, x0=system.meta.get("x0"), tol=self.reference_tol
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["context_names"] = list(HEAT_CONTEXT_NAMES)
        info["schedule_fields"] = list(asdict(HeatSchedule()))
        return info


def _range(name: str, value: Sequence[float], low: float, high: float = math.inf) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a (low, high) pair, got {value!r}", value=value) from exc
    if not (low <= a <= b <= high) or not math.isfinite(b):
        raise ConfigError(f"{name} must satisfy {low} <= low <= high <= {high}, got {value!r}", value=value)
    return a, b


@dataclass(frozen=True, eq=False)
class HeatRun(Instance):
    """One heat simulation to run: the grid, the time step and the schedule (the instance of ``SORHeat-v0``).

    Everything random about an episode is the schedule, so replaying a run replays the episode. ``step`` and
    ``state`` position the run part-way (``state`` is ``u_step``; default the initial bump at step 0):
    :meth:`resume` makes the run whose first system is a given :class:`HeatEquation` system.
    """

    grid: int
    dt: float
    schedule: HeatSchedule
    step: int = 0
    state: np.ndarray | None = None

    @functools.cached_property
    def instance_id(self) -> str:  # type: ignore[override]
        arrays = () if self.state is None else (np.asarray(self.state, dtype=np.float64),)
        return content_id("heat2d-run", *arrays, grid=self.grid, dt=self.dt, step=self.step, **asdict(self.schedule))

    def simulation(self) -> HeatEquation:
        """A fresh :class:`HeatEquation` at this run's start."""
        return HeatEquation(self.grid, self.dt, self.schedule, state=self.state, step=self.step)

    @classmethod
    def resume(cls, system: LinearSystem) -> HeatRun:
        """The run whose first system is ``system`` (made by :class:`HeatEquation`)."""
        simulation = HeatEquation.from_system(system)
        return cls(simulation.grid, simulation.dt, simulation.schedule, simulation.step, simulation.u)

    def __hash__(self) -> int:
        return hash(self.instance_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeatRun) and other.instance_id == self.instance_id


class HeatRunDistribution(SequenceDistribution):
    """Heat simulations to run: a :class:`HeatRun` per draw, its schedule drawn by ``equations``."""

    name = "heat2d-cn-runs"
    version = 0

    def __init__(self, equations: HeatEquationSequence | None = None) -> None:
        self.equations = equations if equations is not None else HeatEquationSequence()
        self.grid, self.dt = self.equations.grid, self.equations.dt
        self.context_low, self.context_high = self.equations.context_low, self.equations.context_high

    @property
    def params(self) -> dict[str, Any]:
        return self.equations.params

    def sample(self, rng: np.random.Generator) -> HeatRun:
        return HeatRun(self.grid, self.dt, self.equations.draw_schedule(rng))


class HeatSolve(Process):
    """A heat simulation advanced one Crank–Nicolson step per decision, each step's system solved by SSOR-PCG.

    :meth:`advance` solves the current system with the given ω, warm-started from ``u_k``, to relative
    residual ``tol`` (:func:`~tunegym.envs.sor.pcg.ssor_pcg_prepared`) and advances the simulation with that
    answer (its smallest-residual iterate when the solve fails). Cost: CG iterations, or ``maxiter +
    failure_penalty`` for a failed solve. The run is truncated after ``n_steps`` steps.
    """

    cost_unit = "cg_iterations"
    quality_name = "relative_residual"

    def __init__(self, *, n_steps: int = 1000, tol: float = 1e-8, maxiter: int = 10_000,
                 failure_penalty: float = 0.0) -> None:
        if int(n_steps) != n_steps or n_steps < 1:
            raise ConfigError(f"n_steps must be a positive integer, got {n_steps!r}", value=n_steps)
        if int(maxiter) != maxiter or maxiter < 1:
            raise ConfigError(f"maxiter must be a positive integer, got {maxiter!r}", value=maxiter)
        if not (0.0 < tol < 1.0):
            raise ConfigError(f"tol must be in (0, 1), got {tol!r}", value=tol)
        self.n_steps, self.tol, self.maxiter = int(n_steps), float(tol), int(maxiter)
        self.failure_penalty = float(failure_penalty)
        self.instance: HeatRun | None = None
        self.system: LinearSystem | None = None
        self.result: PCGResult | None = None
        self.steps = 0

    def start(self, instance: HeatRun, rng: np.random.Generator | None = None) -> None:
        self.instance = instance
        self.simulation = instance.simulation()
        self.system = self.simulation.system()
        self.result, self.steps = None, 0

    @property
    def done(self) -> bool:
        return self.steps >= self.n_steps

    def solve(self, omega: float) -> PCGResult:
        """SSOR-PCG on the current system at ``omega``, warm-started; does not advance the simulation."""
        system = self.system
        return ssor_pcg_prepared(system.matrix, system.b, omega, x0=system.meta.get("x0"), tol=self.tol,
                                 maxiter=self.maxiter)

    def cost(self, result: PCGResult) -> float:
        return float(result.iterations) if result.converged else float(self.maxiter) + self.failure_penalty

    def cost_at(self, omega: float) -> float:
        """The cost of the current system at ``omega`` (as :meth:`advance` would charge it), for oracles."""
        return self.cost(self.solve(float(omega)))

    def advance(self, knob_value: Any) -> StepRecord:
        if self.system is None or self.done:
            raise ConfigError("start() a run before advancing; the run has ended")
        omega, system = float(knob_value), self.system
        result = self.solve(omega)
        self.result = result
        self.simulation.advance(result.x)
        self.system = self.simulation.system()
        self.steps += 1
        meta = system.meta
        return self.record(
            self.cost(result), omega, quality=result.residual, status=result.status, truncated=self.done,
            wall_time=result.wall_time, iterations=result.iterations, omega=omega, converged=result.converged,
            residual=finite_or_none(result.residual), system_id=system.instance_id,
            context=np.asarray(system.context, dtype=np.float64), step=meta["step"], time=meta["time"],
            diffusion=meta["diffusion"],
        )


class HeatContext(Features):
    """The context of the heat system about to be solved (:data:`HEAT_CONTEXT_NAMES`), clipped to the bounds."""

    name = "sor.heat_context"

    def __init__(self, low: Any, high: Any) -> None:
        self.space = spaces.Box(np.asarray(low, dtype=np.float32).reshape(-1),
                                np.asarray(high, dtype=np.float32).reshape(-1), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"low": self.space.low.tolist(), "high": self.space.high.tolist()}

    def observe(self, process: Process) -> np.ndarray:
        return np.asarray(process.system.context, dtype=np.float64)


register_features(HeatContext.name, "tunegym.envs.sor.heat:HeatContext")


class HeatStepOracle:
    """Oracle: for each time step, the value of the knob grid with the least cost on that step's system.

    Reads the system about to be solved from the env's process (which an observation does not carry) and
    solves it once per candidate (:meth:`HeatSolve.cost_at`); a per-step lower bound for any policy on the
    grid. Speaks the agent interface (``predict``, ``learn``).
    """

    def __init__(self, env: Any, values: Sequence[float] | None = None) -> None:
        self.env = env.unwrapped
        self.knob = self.env.knob
        self.values = [float(v) for v in (self.knob.grid() if values is None else values)]

    def learn(self, env: Any = None, total_timesteps: int = 0, **kwargs: Any) -> HeatStepOracle:
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        costs = [self.env.process.cost_at(value) for value in self.values]
        return self.knob.encode(self.values[int(np.argmin(costs))]), state


class SORHeatEnv(ProcessEnv):
    """Choose the SSOR relaxation factor ω for each time step of a heat-equation simulation.

    ## Description
    Learning to Relax setting B (Khodak et al., ICLR 2024, arXiv 2310.02246; the authors' ``h2d.m``): a 2-D
    heat equation with a time-varying diffusion coefficient and a moving forcing term is stepped by
    Crank–Nicolson (see :mod:`tunegym.envs.sor.heat` for the equations and how we differ from the paper).
    Each time step is an SPD system ``A_k u_{k+1} = b_k`` solved by SSOR-preconditioned CG
    (:func:`~tunegym.envs.sor.pcg.ssor_pcg`) warm-started from ``u_k`` to relative residual ``tol``; the
    agent picks the SSOR ω before each solve. The process is :class:`HeatSolve`; the instance is the
    simulation to run (:class:`HeatRun`: grid, time step, schedule). The cost is the exact number of CG
    iterations.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(arms))``, arm ``i`` is ``ω = arms[i]`` (default
    ``linspace(1, 1.95, 20)``). ``action="continuous"``: the normalised ``Box(-1, 1, (1,))`` mapped linearly
    onto ``[omega_low, omega_high]`` with ``omega_high < 2``; values outside are clipped (``info["knob"]`` is
    the ω applied). A NaN action or an arm index outside the space raises
    :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(6,)`` float32, the context of the system about to be solved (:data:`HEAT_CONTEXT_NAMES`):
    phase in the diffusion period [0, 1], diffusion κ [0, κ_max], mesh ratio ``κ dt/h²`` [0, κ_max dt/h²],
    forcing centre x, y [0, 1], ``log10`` relative residual of the warm start [-16, 4]; clipped into the box.

    ## Rewards
    ``reward="neg_cost"``: ``-cost / reward_scale`` with the cost the CG iterations; a solve that breaks
    down, diverges or reaches ``maxiter`` costs ``maxiter + failure_penalty`` iterations; the simulation
    continues from its smallest-residual iterate.

    ## Info
    The core contract (``cost`` in ``cost_unit="cg_iterations"``, ``knob`` = ω, ``instance_id`` = the run's
    id, ``quality`` = ``relative_residual``, ``status``), and ``iterations``, ``omega``, ``converged``,
    ``residual``, ``system_id`` (the id of the step's system), ``context`` (of the solved system), ``step``,
    ``time``, ``diffusion``. Wall time is kept out of ``info`` (same seed → same trajectory) and read from
    ``env.unwrapped.last_record.wall_time``; the last solve is ``env.unwrapped.process.result``.

    ## Starting State
    ``reset(seed=s)`` draws a new simulation (schedule and forcing path) from the instance stream of ``s``;
    ``reset()`` without a seed draws the next simulation from the same stream.
    ``reset(options={"instance": run})`` replays a :class:`HeatRun` (``env.unwrapped.instance`` is the
    current one); a :class:`LinearSystem` made by :class:`HeatEquationSequence` is also accepted and resumes
    its simulation there (``HeatRun.resume``), solving that system first.

    ## Episode End
    Never terminates; truncated after ``n_steps`` time steps (the end of the simulation run). The
    observation returned with ``truncated=True`` is the context of the step that would come next.
    ``tunegym/SORHeat-v0`` is registered with ``max_episode_steps=1000`` (the default ``n_steps``); for longer
    simulations pass both, e.g. ``gym.make("tunegym/SORHeat-v0", n_steps=5000, max_episode_steps=5000)``.

    ## Arguments
    ``distribution`` (a :class:`HeatEquationSequence`; :func:`make_heat_env` builds one from ``grid``,
    ``dt``, ``randomize``...), ``n_steps`` (1000: one diffusion period at ``dt = 1e-3``), ``action``,
    ``arms``, ``omega_low``/``omega_high`` (1.0/1.99), ``tol`` (1e-8), ``maxiter`` (10,000 as the authors),
    ``reward_scale`` (10), ``failure_penalty`` (0).

    ## Version History
    - v0: initial release. Before any release (2026-12-01): built on the shared process core; the instance
      is the simulation run (``info["instance_id"]`` is the run's id, the step's system is
      ``info["system_id"]``); the continuous action is the normalised ``Box(-1, 1)``.
    """

    domain = "sor"
    default_knob_value = 1.0

    def __init__(
        self,
        distribution: HeatEquationSequence | None = None,
        *,
        n_steps: int = 1000,
        action: str = "discrete",
        arms: Sequence[float] = DEFAULT_ARMS,
        omega_low: float = 1.0,
        omega_high: float = 1.99,
        tol: float = 1e-8,
        maxiter: int = 10_000,
        reward_scale: float = 10.0,
        failure_penalty: float = 0.0,
    ) -> None:
        if reward_scale <= 0:
            raise ConfigError(f"reward_scale must be positive, got {reward_scale!r}", value=reward_scale)
        knob = omega_knob(action, arms, omega_low, omega_high)
        values = list(getattr(knob, "arms", ())) + [getattr(knob, "low", 1.0), getattr(knob, "high", 1.0)]
        if any(not 0.0 < float(v) < 2.0 for v in values):
            raise ConfigError("SSOR needs every omega in (0, 2): check arms and omega_high", value=omega_high)
        runs = HeatRunDistribution(distribution)
        self.equations = runs.equations
        process = HeatSolve(n_steps=n_steps, tol=tol, maxiter=maxiter, failure_penalty=failure_penalty)
        super().__init__(process, runs, knob, HeatContext(runs.context_low, runs.context_high), reward="neg_cost",
                         reward_params={"scale": float(reward_scale)}, sequence=False, instance_type=HeatRun)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        replay = (options or {}).get("instance")
        if isinstance(replay, LinearSystem):
            options = {**options, "instance": HeatRun.resume(replay)}
        return super().reset(seed=seed, options=options)


def make_heat_env(
    *,
    grid: int = 32,
    dt: float = 1e-3,
    randomize: bool = True,
    diffusion_low: tuple[float, float] = (0.05, 0.2),
    diffusion_high: tuple[float, float] = (5.0, 15.0),
    period: float = 1.0,
    forcing_orbit: tuple[float, float] = (0.15, 0.3),
    forcing_revolutions: tuple[float, float] = (4.0, 12.0),
    **env_kwargs: Any,
) -> SORHeatEnv:
    """``tunegym/SORHeat-v0``: Learning to Relax setting B (see :class:`HeatEquationSequence`, :class:`SORHeatEnv`)."""
    distribution = HeatEquationSequence(
        grid=grid,
        dt=dt,
        randomize=randomize,
        diffusion_low=diffusion_low,
        diffusion_high=diffusion_high,
        period=period,
        forcing_orbit=forcing_orbit,
        forcing_revolutions=forcing_revolutions,
    )
    return SORHeatEnv(distribution, **env_kwargs)
