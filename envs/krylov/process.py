"""The Krylov process: one preconditioned solve per system, keeping the last preconditioner for reuse.

:class:`KrylovSolve` is the process of ``tunegym/PCG-v0`` and ``tunegym/PGMRES-v0`` and of
:class:`tunegym.agents.KrylovTuner`. One decision per system: the preconditioner arm
(:mod:`tunegym.envs.krylov.precond`). The process is stateful across the systems of a sequence: it keeps the
last preconditioner it built, so the ``("reuse",)`` arm applies it to the next system without paying its setup
again. :meth:`KrylovSolve.forget` drops it (an env's ``reset`` does, so the first system of every episode
has nothing to reuse and replays are exact); reuse with nothing kept, or with a kept preconditioner of another
size (or a non-symmetric one under CG: :meth:`KrylovSolve.can_reuse`), builds ``reuse_fallback`` and charges its
setup.

:class:`KrylovFeatures` is the observation: cheap matrix features of the system about to be solved and the
previous solve's statistics (kept through :meth:`KrylovFeatures.record`). ``krylov.matvecs`` is the reward:
``-work / nnz(A) / scale``, the work in mat-vec equivalents, so systems of different sizes weigh alike.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

import numba
import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.core.features import Features, clip_observation, register_features
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import register_reward
from tunegym.envs.krylov.instances import KrylovSystem, check_vector
from tunegym.envs.krylov.precond import (
    REUSE,
    SOLVERS,
    Preconditioner,
    PreconditionerFailure,
    SolveOutcome,
    arm_label,
    build_preconditioner,
    check_arm,
    krylov_solve,
)

__all__ = ["KrylovSolve", "KrylovFeatures", "FEATURE_NAMES", "MATRIX_FEATURES", "DEFAULT_FALLBACK", "matvecs_reward",
           "SCAN_ROWS", "SAMPLE_ROWS", "SCAN_BLOCKS", "scan_rows"]

#: what the reuse arm builds when nothing (or nothing of the right size) is kept
DEFAULT_FALLBACK = ("amg_sa", 0.0, "gauss_seidel")
FAILED = ("breakdown", "diverged", "max_iterations")


def _real_setting(value: Any, name: str) -> float:
    """A setting that must be a finite real number (a 0-d array included), as a float; :class:`ConfigError`
    otherwise (a string, ``None``, a bool, NaN, infinity)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {value!r}", value=value)
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be finite, got {value!r}", value=value)
    return number


def _count_setting(value: Any, name: str) -> int:
    """A count >= 1: an integer, or a float without a fraction (``1e3``); :class:`ConfigError` for ``2.5`` (``int()``
    would quietly make it 2), ``"5"``, ``None``, a bool, NaN or infinity."""
    number = _real_setting(value, name)
    if not (number.is_integer() and number >= 1):
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}", value=value)
    return int(value) if isinstance(value, numbers.Integral) else int(number)


class KrylovSolve(Process):
    """Solve each system with the preconditioner the decision names; keep it for the next system.

    Cost (``"flops"``, see :mod:`tunegym.envs.krylov.precond`): setup work of a newly built preconditioner plus
    the iterations' work. A failed solve (a preconditioner that cannot be built, breakdown, divergence, the
    iteration cap) ends that system with its status and costs what it did plus ``failure_penalty`` times the
    work of ``maxiter`` unpreconditioned CG iterations; the sequence goes on.

    A system whose ``b`` is 0 is solved by ``x = 0`` at once: nothing is built, nothing charged, and the kept
    preconditioner stays. With an initial guess (``start(..., x0=)``) its residual ``b - A x0`` is formed at the start
    (CG starts from it) and an ``x0`` whose residual overflows float64 is refused there (:class:`MatrixError`).

    Args:
        solver: ``"cg"``, ``"gmres"``, ``"bicgstab"`` or ``"auto"`` (CG for systems marked symmetric, else GMRES).
        tol: relative residual target in (0, 1); maxiter: iteration cap, a whole number (GMRES: inner iterations);
            restart: GMRES restart. Settings of the wrong type or range raise :class:`ConfigError`.
        failure_penalty: multiple of the cap's work charged on a failure (finite, >= 0).
        reuse_fallback: the arm built when ``("reuse",)`` has nothing to reuse.
    """

    cost_unit = "flops"
    quality_name = "relative_residual"

    def __init__(self, *, solver: str = "auto", tol: float = 1e-8, maxiter: int = 1000, restart: int = 30,
                 failure_penalty: float = 1.0, reuse_fallback: tuple[Any, ...] = DEFAULT_FALLBACK) -> None:
        if not (isinstance(solver, str) and solver in SOLVERS + ("auto",)):
            raise ConfigError(f"solver must be one of {SOLVERS + ('auto',)}, got {solver!r}", value=solver)
        tol = _real_setting(tol, "tol")
        if not 0.0 < tol < 1.0:  # x = 0 meets a relative residual of 1: every solve would "converge" at once
            raise ConfigError(f"tol (the relative residual to reach) must be in (0, 1), got {tol!r}", value=tol)
        failure_penalty = _real_setting(failure_penalty, "failure_penalty")
        if not failure_penalty >= 0.0:
            raise ConfigError(f"failure_penalty must be >= 0, got {failure_penalty!r}", value=failure_penalty)
        self.solver, self.tol = solver, tol
        self.maxiter, self.restart = _count_setting(maxiter, "maxiter"), _count_setting(restart, "restart")
        self.failure_penalty = failure_penalty
        self.reuse_fallback = check_arm(reuse_fallback)
        if self.reuse_fallback == REUSE:
            raise ConfigError("reuse_fallback must build something", value=reuse_fallback)
        self.instance: KrylovSystem | None = None
        self.kept: Preconditioner | None = None
        self.kept_age = 0
        self.solves = 0
        self.outcome: SolveOutcome | None = None
        self.preconditioner: Preconditioner | None = None
        self.x0: np.ndarray | None = None
        self._initial_residual: np.ndarray | None = None  # b - A x0 of the started system, when x0 is given
        self.zero_rhs = False  # whether the started system's b is 0 (then x = 0, and nothing is built)
        self._done = True
        warm_kernels()

    # -- the process protocol -----------------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop the kept preconditioner and the solve count (a new episode / a new simulation)."""
        self.kept, self.kept_age, self.solves = None, 0, 0
        self.outcome = self.preconditioner = None

    def start(self, instance: KrylovSystem, rng: np.random.Generator | None = None, *,
              x0: np.ndarray | None = None) -> None:
        if not isinstance(instance, KrylovSystem):
            raise ConfigError(f"KrylovSolve solves KrylovSystem instances, got {type(instance).__name__}",
                              value=instance)
        residual = None
        if x0 is not None:  # a complex or (n/2, 2) x0 would otherwise be cast or flattened silently
            x0 = check_vector("x0", x0, instance.n)
            with np.errstate(all="ignore"):  # formed once here, CG starts from it
                residual = instance.b - instance.A @ x0
                overflows = not math.isfinite(float(residual @ residual))
            if overflows:
                raise MatrixError(f"b - A x0 overflows float64 (largest |x0_i| {float(np.abs(x0).max()):.3g}): x0 is "
                                  "far too large for this system; pass a smaller one or none",
                                  value=float(np.abs(x0).max()))
        self.instance, self.x0, self.outcome, self._done = instance, x0, None, False
        self._initial_residual = residual
        b = instance.b  # the leading entries settle it for almost every b without a pass over all of it
        self.zero_rhs = not (b[:256].any() or b.any())

    @property
    def done(self) -> bool:
        return self._done

    def solver_for(self, system: KrylovSystem) -> str:
        if self.solver != "auto":
            return self.solver
        return "cg" if system.symmetric else "gmres"

    def can_reuse(self, system: KrylovSystem) -> bool:
        """Whether the kept preconditioner can serve ``system``: one is kept, it has ``system``'s size, and it is
        symmetric where ``system``'s solver is CG. What the ``("reuse",)`` arm applies; otherwise it builds
        ``reuse_fallback`` (and :class:`KrylovFeatures` shows nothing kept)."""
        kept = self.kept
        return kept is not None and kept.n == system.n and (kept.symmetric or self.solver_for(system) != "cg")

    def cap_work(self, system: KrylovSystem) -> float:
        """The work of ``maxiter`` unpreconditioned CG iterations on ``system`` (the failure charge's unit)."""
        return float(self.maxiter) * (system.nnz + 7.0 * system.n)

    def advance(self, knob_value: Any) -> StepRecord:
        if self.instance is None or self._done:
            raise ConfigError("start() a system before advancing; one decision per system")
        system, arm = self.instance, check_arm(knob_value)
        solver = self.solver_for(system)
        symmetric = solver == "cg"
        built_on = system.id  # a content hash on first use: outside the timed solve
        start = time.perf_counter()
        reused = fallback = False
        setup_work = 0.0
        pre: Preconditioner | None = None
        failure = ""
        zero = self.zero_rhs  # b = 0: x = 0 exactly; nothing is built and the kept preconditioner stays
        if arm == REUSE and not zero:
            if self.can_reuse(system):
                pre, reused = self.kept, True
            else:
                fallback = True
        build = None if zero else self.reuse_fallback if fallback else (None if reused else arm)
        if build is not None:
            try:
                pre = build_preconditioner(system.A, build, symmetric=symmetric,
                                           near_null_space=system.near_null_space, built_on=built_on)
                setup_work = pre.setup_work
            except (PreconditionerFailure, MatrixError) as exc:
                failure = str(exc)
        if zero:
            outcome = SolveOutcome(np.zeros(system.n), 0, 0, 0, 0.0, "converged", 0.0, "b = 0: x = 0")
            iteration_work = 0.0
        elif pre is None:
            residual = 1.0 if self._initial_residual is None else \
                float(np.linalg.norm(self._initial_residual)) / float(np.linalg.norm(system.b))
            outcome = SolveOutcome(np.zeros(system.n) if self.x0 is None else self.x0.copy(), 0, 0, 0, 0.0,
                                   "breakdown", residual, f"{arm_label(build or arm)}: {failure}")
            iteration_work = 0.0
        else:
            outcome = krylov_solve(system.A, system.b, pre, solver=solver, tol=self.tol, maxiter=self.maxiter,
                                   restart=self.restart, x0=self.x0, initial_residual=self._initial_residual)
            iteration_work = outcome.iteration_work(system.nnz, pre.apply_work)
            if reused:
                self.kept_age += 1
            else:
                self.kept, self.kept_age = pre, 0
        wall = time.perf_counter() - start
        work = setup_work + iteration_work
        cost = work + (self.failure_penalty * self.cap_work(system) if outcome.status in FAILED else 0.0)
        self.outcome, self.preconditioner, self._done = outcome, pre, True
        self.solves += 1
        label = arm_label(pre.arm) if pre is not None else "none" if zero else arm_label(build or arm)
        residual = outcome.residual if math.isfinite(outcome.residual) else None
        return self.record(
            cost, arm, quality=residual, status=outcome.status, terminated=True, wall_time=wall,
            work=work, setup_work=setup_work, iteration_work=iteration_work, iterations=outcome.iterations,
            matvecs=outcome.matvecs, applies=outcome.applies, preconditioner=label, reused=reused,
            fallback=fallback, built_on=pre.built_on if pre is not None else "", solver=solver, n=system.n,
            nnz=system.nnz, converged=outcome.converged, kept_age=self.kept_age if reused else 0,
            operator_complexity=pre.operator_complexity if pre is not None else 1.0,
        )


@register_reward("krylov.matvecs")
def matvecs_reward(record: StepRecord, scale: float = 100.0) -> float:
    """``-cost / nnz(A) / scale``: the solve's work (failures charged) in mat-vec equivalents, scaled."""
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"reward scale must be positive, got {scale!r}", value=scale)
    return -float(record.cost) / max(float(record.extra.get("nnz", 1.0)), 1.0) / scale


FEATURE_NAMES = (
    "log10_n", "nnz_per_row", "diagonal_dominance", "log10_diag_spread", "positive_offdiag_fraction",
    "offdiag_band1_fraction", "log10_diag_change", "prev_log10_work_per_nnz", "prev_log10_iterations",
    "prev_failed", "kept_none",
    "kept_simple", "kept_ilu", "kept_amg", "log10_kept_age", "prev_log10_iteration_work_per_nnz",
    "kept_log10_setup_per_nnz", "kept_log10_first_iteration_work_per_nnz",
)
#: the matrix features (what predicts a fresh arm's cost) are the first six
MATRIX_FEATURES = 6
_LOW = np.array([0, 0, 0, 0, 0, 0, -6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
_HIGH = np.array([7, 30, 1, 8, 1, 1, 1, 5, 4, 1, 1, 1, 1, 1, 3, 5, 5, 5], dtype=np.float32)


_NO_HISTORY = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float64)  # before a first solve: nothing kept
_CHANGE = FEATURE_NAMES.index("log10_diag_change")
#: the history entries (after the matrix features and the diagonal change) that describe the kept preconditioner,
#: and their values when nothing that could serve the next system is kept
_KEPT_HISTORY = np.array([FEATURE_NAMES.index(name) - MATRIX_FEATURES - 1 for name in (
    "kept_none", "kept_simple", "kept_ilu", "kept_amg", "log10_kept_age", "kept_log10_setup_per_nnz",
    "kept_log10_first_iteration_work_per_nnz")])
_NOTHING_KEPT = np.array([1.0, 0, 0, 0, 0, 0, 0])

#: matrices of up to this many rows are scanned whole (every suite matrix is); bigger ones through a sample
SCAN_ROWS = 1 << 14
#: the sample's rows (see :func:`scan_rows`) ...
SAMPLE_ROWS = 1 << 12
#: ... in this many contiguous blocks
SCAN_BLOCKS = 16


def scan_rows(n: int) -> np.ndarray:
    """The rows the feature scan reads for a matrix of ``n`` rows: all of them up to :data:`SCAN_ROWS`, else
    :data:`SAMPLE_ROWS` rows in :data:`SCAN_BLOCKS` contiguous blocks, one block at a random place in each of as many
    equal slices of the rows (seeded by ``n``, so the same rows for every system of a size and the diagonal change
    compares like with like). Contiguous blocks keep the read sequential, which matters on a matrix not yet in
    cache; the random offsets keep the sample from aliasing with a grid's row length."""
    if n <= SCAN_ROWS:
        return np.arange(n, dtype=np.int64)
    size = SAMPLE_ROWS // SCAN_BLOCKS
    edges = (np.arange(SCAN_BLOCKS + 1, dtype=np.int64) * n) // SCAN_BLOCKS  # slices of > size rows (n > SCAN_ROWS)
    room = edges[1:] - edges[:-1] - size + 1
    starts = edges[:-1] + (np.random.default_rng(n).random(SCAN_BLOCKS) * room).astype(np.int64)
    return (starts[:, None] + np.arange(size, dtype=np.int64)).reshape(-1)


@numba.njit(cache=True, nogil=True)
def _matrix_scan(indptr, indices, data, rows, diag):
    """One pass over ``rows`` of a CSR matrix: their diagonal entries into ``diag`` (in place), mean
    ``|a_ii| / Σ_j |a_ij|``, positive off-diagonal count, off-diagonal count, the share of off-diagonal
    magnitude on the first off-diagonals (``|i - j| = 1``), and the largest and smallest nonzero ``|a_ii|``
    (0 and inf if there is none). No allocation beyond the caller's ``diag``."""
    n = rows.shape[0]
    dominance = 0.0
    positive = 0
    off = 0
    off_mass = 0.0
    band_mass = 0.0
    hi, lo = 0.0, math.inf
    for k in range(n):
        i = rows[k]
        total = 0.0
        d = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            j = indices[p]
            total += abs(v)
            if j == i:
                d += v
            else:
                off += 1
                off_mass += abs(v)
                if j == i - 1 or j == i + 1:
                    band_mass += abs(v)
                if v > 0.0:
                    positive += 1
        diag[k] = d
        a = abs(d)
        if a > 0.0:
            hi = max(hi, a)
            lo = min(lo, a)
        if total > 0.0:
            dominance += abs(d) / total
    band = band_mass / off_mass if off_mass > 0.0 else 0.0
    return dominance / n, positive, off, band, hi, lo


@numba.njit(cache=True, nogil=True)
def _matrix_values(indptr, indices, data, rows):
    """``(values, diag)``: the six matrix features (``log10 n``, nonzeros per row, dominance, log10 diagonal spread,
    positive off-diagonal share, first-off-diagonal share; see :class:`KrylovFeatures`) from :func:`_matrix_scan`
    of ``rows``, and the diagonal entries of those rows."""
    n = indptr.shape[0] - 1
    diag = np.empty(rows.shape[0])
    dominance, positive, offdiag, band, hi, lo = _matrix_scan(indptr, indices, data, rows, diag)
    values = np.empty(MATRIX_FEATURES)
    values[0] = math.log10(n)
    values[1] = indptr[n] / n
    values[2] = dominance
    values[3] = math.log10(hi / lo) if hi > 0 else 0.0
    values[4] = positive / offdiag if offdiag > 0 else 0.0
    values[5] = band
    return values, diag


@numba.njit(cache=True, nogil=True)
def _compose(values, diag, last, history):
    """The observation: the matrix ``values``, log10 of the diagonal's relative change ``||d - last|| / ||d||``
    (floored at 1e-6; -6 when ``last`` is not the previous system's diagonal on the same rows, passed empty), and
    the previous solve's ``history``."""
    m = values.shape[0]
    out = np.empty(m + 1 + history.shape[0])
    out[:m] = values
    change = -6.0
    if last.shape[0] == diag.shape[0]:
        diff, norm = 0.0, 0.0
        for i in range(diag.shape[0]):
            norm += diag[i] * diag[i]
            diff += (diag[i] - last[i]) ** 2
        change = math.log10(max(math.sqrt(diff) / max(math.sqrt(norm), 1e-300), 1e-6))
    out[m] = change
    out[m + 1:] = history
    return out


@numba.njit(cache=True, nogil=True)
def _observe_matrix(indptr, indices, data, rows, last, history, low, high):
    """``(observation, values, diag)`` of a matrix not yet scanned: :func:`_matrix_values`, :func:`_compose` and
    the shared :func:`~tunegym.envs.core.features.clip_observation` in one call (the deploy path's features cost
    one dispatch per solve)."""
    values, diag = _matrix_values(indptr, indices, data, rows)
    return clip_observation(_compose(values, diag, last, history), low, high), values, diag


_WARM = False


def warm_kernels() -> None:
    """Call the domain's compiled kernels (the feature scan and the SSOR/IC applies) once on a 3 x 3 system, so that
    numba loads them now (from its cache, or compiles them on a first run) rather than at their first use inside a
    solve, which costs milliseconds: a deployed tuner's first SSOR choice may come hours into a run. Once per
    process; the process and the features call it when built."""
    global _WARM
    if _WARM:
        return
    from tunegym.envs.krylov.precond import _ldlt_apply, _ssor_apply

    # SciPy's CSR index type (int32; int64 only past 2^31 nonzeros, where a first call's milliseconds do not show)
    indptr, indices = np.array([0, 2, 5, 7], dtype=np.int32), np.array([0, 1, 0, 1, 2, 1, 2], dtype=np.int32)
    data, rows, vec = np.array([4.0, -1.0, -1.0, 4.0, -1.0, -1.0, 4.0]), np.arange(3, dtype=np.int64), np.ones(3)
    low, high = _LOW.astype(np.float64), _HIGH.astype(np.float64)
    _observe_matrix(indptr, indices, data, rows, np.zeros(0), _NO_HISTORY, low, high)
    values, diag = _matrix_values(indptr, indices, data, rows)
    clip_observation(_compose(values, diag, diag, _NO_HISTORY), low, high)
    _ssor_apply(indptr, indices, data, 1.5, vec, np.zeros(3))
    _ldlt_apply(indptr, indices, data, np.ones(3), vec, np.zeros(3))
    _WARM = True


class KrylovFeatures(Features):
    """Cheap features of the next matrix (one O(nnz) pass, no solves) and the previous solve's statistics.

    Matrix: ``log10 n``, nonzeros per row, mean diagonal dominance ``|a_ii| / Σ_j |a_ij|``, log10 of the
    diagonal's max/min ratio (a coefficient-contrast proxy), fraction of positive off-diagonals, the share
    of off-diagonal magnitude on the first off-diagonals ``|i - j| = 1`` (how much of the coupling runs along
    the ordering: what incomplete factorisations and SSOR capture; it tells a rotated anisotropy from an
    aligned one, which the other features do not), log10 of the relative change of the diagonal since the
    previous system. Previous solve (kept by :meth:`record`,
    cleared when the process has forgotten its history): log10 work per nonzero, log10 iterations, whether
    it failed, which family the kept preconditioner is (none / Jacobi-SSOR / ILU / AMG), log10 of its age,
    log10 of the previous solve's iteration work per nonzero (what reusing would cost on an unchanged
    matrix), and the kept preconditioner's setup and its first solve's iteration work per nonzero (what a
    rebuild would cost). See :data:`FEATURE_NAMES`; bounds are fixed, values are clipped. The matrix scan is
    one numba pass over the CSR arrays (the diagonal is its only allocation), cached per system object. Above
    :data:`SCAN_ROWS` (2^14) rows it reads a fixed sample of :data:`SAMPLE_ROWS` (2^12) rows in 16 blocks
    (:func:`scan_rows`): the row features are means and ratios, which the sample estimates closely, and the
    diagonal's spread and change are taken on the sample (the same rows for every system of a size), so the
    scan's cost stops growing with the matrix (at 10^5 unknowns the full pass took about 6% of a plain CG solve's
    time on the suite's diffusion systems; a sample of 2^14 rows about 1.3%, of 2^12 about 0.5%). The suite's
    matrices, up to 10,648 rows, are read whole.

    When the previous system had another size, the diagonal change reads its bound (1: another matrix, where it
    read -6, "unchanged", before) and so lapses the learner's residual memory; and whenever the process keeps a
    preconditioner that cannot serve the next system (another size, or a non-symmetric one under CG:
    :meth:`KrylovSolve.can_reuse`), the kept-preconditioner entries read "nothing kept", as the reuse arm would build
    afresh. Within a sequence of one size and one solver, as every suite sequence is, nothing changes.
    """

    name = "krylov.features"

    def __init__(self) -> None:
        self.space = spaces.Box(_LOW.copy(), _HIGH.copy(), dtype=np.float32)
        self._empty = np.zeros(0)
        warm_kernels()
        self._last: np.ndarray | None = None
        self._last_diag: np.ndarray | None = None
        self._first_iteration = 0.0
        self._cache: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._rows, self._rows_n = np.zeros(0, dtype=np.int64), 0
        self._last_n = 0  # rows of the system whose (sampled) diagonal _last_diag holds

    def reset(self, process: Process) -> None:
        if getattr(process, "solves", 0) == 0:
            self._last, self._last_diag, self._first_iteration = None, None, 0.0

    def record(self, process: Process, record: StepRecord) -> None:
        extra = record.extra
        system = process.instance
        self._last_diag, self._last_n = self._scan(system)[1], system.n
        nnz = max(float(extra.get("nnz", 1)), 1.0)
        work = max(float(extra.get("work", 0.0)) / nnz, 1e-9)
        iteration = max(float(extra.get("iteration_work", 0.0)) / nnz, 0.0)
        kept_pre = getattr(process, "kept", None)
        family = kept_pre.arm[0] if kept_pre is not None else None
        if not extra.get("reused", False):
            self._first_iteration = iteration
        kept = [family is None, family in ("none", "jacobi", "ssor"), family == "ilu", family in ("amg_sa", "amg_rs")]
        age = float(getattr(process, "kept_age", 0))
        setup = float(kept_pre.setup_work) / nnz if kept_pre is not None else 0.0
        self._last = np.array([math.log10(1.0 + work), math.log10(1.0 + float(extra.get("iterations", 0))),
                               float(record.status != "converged"), *map(float, kept), math.log10(1.0 + age),
                               math.log10(1.0 + iteration), math.log10(1.0 + setup),
                               math.log10(1.0 + self._first_iteration)])

    def _scan(self, system: KrylovSystem) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and self._cache[0] is system:
            return self._cache[1], self._cache[2]
        self._choose_rows(system.n)
        A = system.A
        values, diag = _matrix_values(A.indptr, A.indices, A.data, self._rows)
        self._cache = (system, values, diag)
        return values, diag

    def _choose_rows(self, n: int) -> None:
        """Make ``_rows`` the scan's rows for a matrix of ``n`` rows (:func:`scan_rows`, kept while ``n`` holds)."""
        if self._rows_n != n:
            self._rows, self._rows_n = scan_rows(n), n

    def _previous(self, process: Process, system: KrylovSystem) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(last, history, resized)`` for :func:`_compose`: the previous system's sampled diagonal when it had
        ``system``'s size (the same rows), else an empty array; the previous solve's statistics; and whether the
        previous system had another size. When the process keeps a preconditioner that cannot serve ``system``
        (another size, or not symmetric under CG: :meth:`KrylovSolve.can_reuse`) the statistics show nothing kept,
        as the reuse arm would build afresh."""
        resized = self._last_diag is not None and self._last_n != system.n
        last = self._last_diag if self._last_diag is not None and not resized else self._empty
        history = self._last if self._last is not None else _NO_HISTORY
        can_reuse = getattr(process, "can_reuse", None)
        if can_reuse is not None and getattr(process, "kept", None) is not None and not can_reuse(system):
            history = history.copy()
            history[_KEPT_HISTORY] = _NOTHING_KEPT
        return last, history, resized

    def matrix_features(self, system: KrylovSystem) -> np.ndarray:
        """The six matrix features of ``system`` (cached for the last system object)."""
        return self._scan(system)[0]

    def observation(self, process: Process) -> np.ndarray:
        """:meth:`observe`, finite and clipped into :attr:`space` (float32), as the base class makes it; for a
        system not yet scanned, scan and all in one compiled call (:func:`_observe_matrix`)."""
        system = process.instance
        last, history, resized = self._previous(process, system)
        if self._cache is not None and self._cache[0] is system:
            observation = clip_observation(_compose(self._cache[1], self._cache[2], last, history), *self.bounds())
        else:
            self._choose_rows(system.n)
            A = system.A
            observation, values, diag = _observe_matrix(A.indptr, A.indices, A.data, self._rows, last, history,
                                                        *self.bounds())
            self._cache = (system, values, diag)
        if resized:
            observation[_CHANGE] = _HIGH[_CHANGE]
        return observation

    def observe(self, process: Process) -> np.ndarray:
        system = process.instance
        values, diag = self._scan(system)
        last, history, resized = self._previous(process, system)
        observation = _compose(values, diag, last, history)
        if resized:
            observation[_CHANGE] = _HIGH[_CHANGE]
        return observation


register_features(KrylovFeatures.name, "tunegym.envs.krylov.process:KrylovFeatures")
