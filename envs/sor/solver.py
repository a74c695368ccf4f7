"""Successive over-relaxation (SOR) with the residual fused into the compiled sweep.

``solve(A, b, omega)`` runs forward SOR sweeps from ``x0`` (zero by default) until the relative residual
``||b - A x|| / ||b||`` falls below ``tol``, and reports the exact number of sweeps that took.

Why our own kernel rather than a loop over PyAMG's ``sor`` sweep plus a NumPy residual: the residual of
iterate ``x^k`` can be formed *during* sweep ``k+1`` from the same pass over each row (one extra multiply
per lower-triangular entry and a rolling copy of the previous iterate), so checking convergence after every
sweep costs almost nothing instead of a second sparse mat-vec and a Python round trip per sweep
(``benchmarks/sor_speed.py`` measures the difference). The sweep itself is the textbook one
(Saad, *Iterative Methods for Sparse Linear Systems*, §4.1): ``x_i <- (1-ω) x_i + ω (b_i - Σ_{j≠i} a_ij x_j) / a_ii``.

The natural-order sweep is latency-bound: row ``i`` waits for ``x[i-1]``. When the matrix allows it, the
sweep runs in *level order* instead (:class:`Schedule`: rows grouped so that no row reads another of its
group, the wavefront order of a grid), in fixed-width ELLPACK form. Each iterate is bit-for-bit the one the
natural order computes, so sweep counts do not change (the residual's sum of squares is added in another
order, which can move it in the last bit); the sweep runs 1.3-1.7x faster on 2-D Laplacians
(``benchmarks/sor_speed.py``).

Failure is a status, never a hang: a residual that turns non-finite or grows to ``divergence_factor`` times
the smallest residual seen so far (or times ``||b||``) ends the solve as ``"diverged"``; ``max_sweeps``
bounds the work. For symmetric positive definite ``A`` and ``0 < ω < 2`` the energy norm of the error never
grows, so ``||r_k|| <= sqrt(κ(A)) ||r_j||`` for ``k > j``: the growth test cannot fire on a convergent SPD
solve unless ``κ(A) > divergence_factor²``. A relaxation factor with ``|1 - ω| >= 1`` (a scalar outside
``(0, 2)``; per-row factors whose ``Π |1 - ω_i| >= 1``) cannot converge for any matrix (Kahan: the SOR
iteration matrix has determinant ``Π (1 - ω_i)``), so such a solve ends ``"diverged"`` at once, after only
the residual of ``x0`` is formed. A given ``x0`` (a warm start) may sit far from the solution: :func:`solve`
measures the absolute limit from the larger of ``||b||`` and ``||b - A x0||`` (``divergence_from_x0``), so such
an ``x0`` is swept rather than declared diverged before the first sweep. ``stall_window`` (off by default) also
ends a solve whose residual is no smaller than ``stall_window`` sweeps earlier (a heuristic for non-SPD
matrices: it can fire on SPD solves at ω near 2, whose residual may grow for a while). Malformed input raises
:class:`~tunegym.envs.core.errors.MatrixError` before any sweep.
"""

from __future__ import annotations

import functools
import math
import numbers
import time
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.core.matrices import as_real_csr, as_real_vector, check_norm

__all__ = ["SORResult", "PreparedMatrix", "Schedule", "prepare_matrix", "check_vector", "check_tolerance",
           "initial_residual_norm", "residual_overflow", "solve", "solve_prepared", "sor_iteration_radius", "STATUSES"]

STATUSES = ("converged", "max_sweeps", "diverged")
_CONVERGED, _MAX_SWEEPS, _DIVERGED = 0, 1, 2
_HISTORY_CAP = 1_000_000  # residual history kept for at most this many sweeps (8 MB)


@numba.njit(inline="always")
def _sweep_verdict(k, rsq, rmin, history, tol_abs, max_sweeps, diverge_abs, diverge_rel, stall_window):
    """``(code, ||r^k||, new minimum)`` after a sweep formed ``||r^k||²`` = ``rsq``; code -1: sweep on, else a
    status (0 converged, 1 max_sweeps, 2 diverged). Records ``history[k]``. Shared by both sweep kernels."""
    rnorm = math.sqrt(rsq)
    if k < history.shape[0]:
        history[k] = rnorm
    if rnorm <= tol_abs:
        return 0, rnorm, rmin
    if rnorm < rmin:
        rmin = rnorm
    if not (rnorm <= diverge_abs) or rnorm > diverge_rel * rmin:  # also catches NaN
        return 2, rnorm, rmin
    if stall_window > 0 and stall_window <= k < history.shape[0] and rnorm >= history[k - stall_window]:
        return 2, rnorm, rmin
    if k >= max_sweeps:
        return 1, rnorm, rmin
    return -1, rnorm, rmin


@numba.njit(cache=True, nogil=True)
def _sor_kernel(indptr, split, indices, data, diag, b, x, omega_rows, tol_abs, max_sweeps, diverge_abs, history,
                diverge_rel, stall_window, k0, rmin0):
    """Run fused SOR sweeps in place on ``x``; return ``(sweeps, status, residual_norm)``.

    Sweep ``k+1`` also forms the residual of ``x^k``: for row ``i`` the lower part uses the previous
    iterate kept in ``x_prev`` (overwritten row by row, so no full copy per sweep) and the upper part uses
    ``x`` (still ``x^k`` there). When ``||r^k||`` meets the tolerance, ``x^k`` is restored and ``k`` is
    returned, so the count is exact; the one extra sweep is never reported.
    ``history[k]`` receives ``||r^k||`` while ``k`` fits in it. ``split[i]`` is where row ``i``'s upper-triangular entries start
    (column indices are sorted and the diagonal is stored apart), so the inner loops carry no branch.
    ``omega_rows[i]`` is row ``i``'s relaxation factor (all equal for plain SOR; per block for block SOR).
    ``k0``/``rmin0`` resume a solve: ``x`` holds ``x^k0``, ``history[:k0]`` its past residuals and ``rmin0`` their
    minimum (``0``/``inf`` for a fresh solve).
    Divergence: ``||r^k|| > diverge_abs``, ``||r^k|| > diverge_rel * min_{j<=k} ||r^j||``, or (when
    ``stall_window > 0``) ``||r^k|| >= ||r^{k - stall_window}||``.
    """
    n = b.shape[0]
    x_prev = x.copy()
    step = omega_rows / diag  # omega_i / a_ii: one division per row per solve, not per sweep
    k = k0
    rmin = rmin0
    while True:
        rsq = 0.0
        for i in range(n):
            lower_new = 0.0
            lower_old = 0.0
            upper = 0.0
            for p in range(indptr[i], split[i]):
                j = indices[p]
                lower_new += data[p] * x[j]
                lower_old += data[p] * x_prev[j]
            for p in range(split[i], indptr[i + 1]):
                upper += data[p] * x[indices[p]]
            xi = x[i]
            r = b[i] - lower_old - diag[i] * xi - upper
            rsq += r * r
            x_prev[i] = xi
            x[i] = (1.0 - omega_rows[i]) * xi + step[i] * (b[i] - lower_new - upper)
        code, rnorm, rmin = _sweep_verdict(k, rsq, rmin, history, tol_abs, max_sweeps, diverge_abs, diverge_rel,
                                           stall_window)
        if code >= 0:
            x[:] = x_prev  # x^k, the iterate whose residual was judged
            return k, code, rnorm
        k += 1



@numba.njit(cache=True, nogil=True)
def _sor_kernel_ell(lidx, lval, uidx, uval, diag, b, x, omega_rows, tol_abs, max_sweeps, diverge_abs, history,
                    diverge_rel, stall_window, k0, rmin0):
    """:func:`_sor_kernel` on rows stored in ELLPACK form and in *level order* (see :class:`Schedule`).

    ``lidx[i, :]``/``lval[i, :]`` are row ``i``'s entries that precede it in the original ordering (its
    "lower" part, in ascending original column order, padded with zeros at the end), ``uidx``/``uval`` the
    rest. Zero padding adds ``+0.0`` to a partial sum, which leaves it bit-for-bit unchanged, so every
    iterate equals the natural-order kernel's; only the order of the residual's sum of squares differs.
    Rows of one level do not read each other, so the CPU overlaps them instead of waiting on the
    ``x[i-1] -> x[i]`` chain that bounds the natural-order sweep; the fixed row width removes the
    data-dependent inner-loop branches.
    """
    n = b.shape[0]
    wl = lidx.shape[1]
    wu = uidx.shape[1]
    x_prev = x.copy()
    step = omega_rows / diag
    k = k0
    rmin = rmin0
    while True:
        rsq = 0.0
        for i in range(n):
            lower_new = 0.0
            lower_old = 0.0
            upper = 0.0
            for q in range(wl):
                j = lidx[i, q]
                a = lval[i, q]
                lower_new += a * x[j]
                lower_old += a * x_prev[j]
            for q in range(wu):
                upper += uval[i, q] * x[uidx[i, q]]
            xi = x[i]
            r = b[i] - lower_old - diag[i] * xi - upper
            rsq += r * r
            x_prev[i] = xi
            x[i] = (1.0 - omega_rows[i]) * xi + step[i] * (b[i] - lower_new - upper)
        code, rnorm, rmin = _sweep_verdict(k, rsq, rmin, history, tol_abs, max_sweeps, diverge_abs, diverge_rel,
                                           stall_window)
        if code >= 0:
            x[:] = x_prev  # x^k, the iterate whose residual was judged
            return k, code, rnorm
        k += 1


@numba.njit(cache=True)
def _dependency_levels(indptr, indices):
    """Level of each row in the DAG "row ``j < i`` is a neighbour of row ``i``" (pattern already symmetric).

    ``level[i] = 1 + max(level[j])`` over neighbours ``j < i`` (0 when none): rows of one level share no
    entry, so one forward sweep may update them in any order and get the same numbers.
    """
    n = indptr.shape[0] - 1
    level = np.zeros(n, np.int64)
    for i in range(n):
        top = -1
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j < i and level[j] > top:
                top = level[j]
        level[i] = top + 1
    return level


#: schedule a matrix only when a level holds this many rows on average (below that there is little to overlap)
_MIN_MEAN_LEVEL_WIDTH = 2.0
#: ...and only when ELLPACK padding at most doubles the stored entries (one dense row would blow it up)
_MAX_ELL_FILL = 2.0


@dataclass(frozen=True)
class Schedule:
    """The same forward SOR sweep, reordered by dependency level for instruction-level parallelism.

    Level scheduling (Saad, *Iterative Methods for Sparse Linear Systems*, §11.6, there for triangular
    solves) groups rows that do not depend on each other within a sweep. Levels are computed on the
    symmetrised pattern, so for an entry ``a_ij`` with ``j > i`` row ``j`` sits in a later level and is still
    at its old value when row ``i`` is updated: the reordered sweep computes exactly the natural-order
    iterates (the wavefront/hyperplane ordering for a 5-point grid). ``order[p]`` is the original row
    updated in position ``p``; ``lidx``/``uidx`` are the level positions of each row's lower/upper neighbours
    in ELLPACK form and ``lsrc``/``usrc`` where their values sit in the CSR ``data`` (``-1``: padding). It
    depends on the sparsity pattern only, so matrices that share one share it (:meth:`PreparedMatrix.shifted`,
    :meth:`PreparedMatrix.with_values`); :meth:`gather` takes a matrix's values into that form.
    """

    order: np.ndarray
    lidx: np.ndarray
    uidx: np.ndarray
    lsrc: np.ndarray
    usrc: np.ndarray
    levels: int

    @staticmethod
    def build(M: "PreparedMatrix") -> "Schedule | None":
        """The schedule of ``M``'s pattern, or ``None`` when reordering would not pay (too few rows per level,
        or rows whose lengths differ so much that the fixed-width form would more than double the entries)."""
        n = M.n
        if n < 4 or M.data.shape[0] == 0:
            return None
        lower_counts = (M.split - M.indptr[:-1]).astype(np.int64)
        upper_counts = (M.indptr[1:] - M.split).astype(np.int64)
        wl, wu = int(lower_counts.max()), int(upper_counts.max())
        if n * (wl + wu) > _MAX_ELL_FILL * M.data.shape[0]:
            return None
        pattern = sp.csr_matrix((np.ones(M.data.shape[0]), M.indices, M.indptr), shape=(n, n))
        sym = (pattern + pattern.T).tocsr()
        level = _dependency_levels(sym.indptr.astype(np.int64), sym.indices.astype(np.int64))
        levels = int(level.max()) + 1
        if n / levels < _MIN_MEAN_LEVEL_WIDTH:
            return None
        order = np.argsort(level, kind="stable")
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        index_type = M.indices.dtype

        def ell(starts: np.ndarray, counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
            idx = np.zeros((n, width), dtype=index_type)
            src = np.full((n, width), -1, dtype=np.int64)
            if width:
                slot = np.arange(width)
                mask = slot[None, :] < counts[order][:, None]
                src[mask] = (starts[order][:, None] + slot[None, :])[mask]
                idx[mask] = position[M.indices[src[mask]]]
            return idx, src

        lidx, lsrc = ell(M.indptr[:-1].astype(np.int64), lower_counts, wl)
        uidx, usrc = ell(M.split.astype(np.int64), upper_counts, wu)
        return Schedule(order=order, lidx=lidx, uidx=uidx, lsrc=lsrc, usrc=usrc, levels=levels)

    def gather(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lval, uval)``: a matrix's off-diagonal values (CSR ``data`` of this pattern) in ELLPACK form."""
        padded = np.append(data, 0.0)  # index -1 reads the appended zero
        return padded[self.lsrc], padded[self.usrc]


@dataclass(frozen=True)
class PreparedMatrix:
    """A validated CSR matrix with its diagonal split out, ready for repeated SOR solves.

    Building one costs a pass over the matrix; environments that solve many systems with the same
    sparsity pattern build it once and derive the others with :meth:`shifted` or :meth:`with_values`, which
    share the pattern's :class:`Schedule`.
    """

    indptr: np.ndarray
    split: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    diag: np.ndarray

    @property
    def n(self) -> int:
        return int(self.diag.shape[0])

    @functools.cached_property
    def schedule(self) -> Schedule | None:
        """The level order the sweep can run in (built on first use; ``None``: natural order only)."""
        return Schedule.build(self)

    @functools.cached_property
    def level_values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """This matrix's off-diagonal values in its schedule's ELLPACK form (``None`` without a schedule)."""
        plan = self.schedule
        return None if plan is None else plan.gather(self.data)

    def natural_order(self) -> "PreparedMatrix":
        """The same matrix, swept in natural row order (the reference the scheduled sweep must equal)."""
        natural = PreparedMatrix(self.indptr, self.split, self.indices, self.data, self.diag)
        natural.__dict__["schedule"] = None
        return natural

    def with_values(self, data: np.ndarray, diag: np.ndarray) -> "PreparedMatrix":
        """A matrix with this one's pattern and new values (``data`` in this CSR order, ``diag``), sharing the
        pattern's schedule (built here once, on this matrix, if it was not yet). Values are not re-validated:
        give ``diag`` no zero (SOR divides by it)."""
        other = PreparedMatrix(self.indptr, self.split, self.indices, data, diag)
        other.__dict__["schedule"] = self.schedule
        if data is self.data:  # same values: gather them once, here, for every matrix derived this way
            other.__dict__["level_values"] = self.level_values
        return other

    def shifted(self, shift: float) -> "PreparedMatrix":
        """The matrix ``A + shift * I`` (same pattern; off-diagonal data and schedule shared, not copied)."""
        diag = self.diag + shift
        if np.any(diag == 0.0) or not np.all(np.isfinite(diag)):
            raise MatrixError(f"shift {shift!r} puts a zero or non-finite value on the diagonal", value=shift)
        return self.with_values(self.data, diag)

    def to_csr(self) -> sp.csr_matrix:
        n = self.n
        off = sp.csr_matrix((self.data, self.indices, self.indptr), shape=(n, n))
        return (off + sp.diags(self.diag)).tocsr()


@dataclass
class SORResult:
    """What one SOR solve did.

    ``sweeps`` is the exact number of sweeps after which the relative residual first met ``tol``
    (0 if ``x0`` already did). ``residual`` is ``||b - A x|| / ||b||`` of the returned ``x``.
    ``residual_history[k]`` is the relative residual after ``k`` sweeps (kept for the first million).
    ``status`` is one of ``"converged"``, ``"max_sweeps"``, ``"diverged"``. ``omega`` is the relaxation
    factor used (an array of per-row factors when the solve was given one). ``reason`` says why a solve
    ended ``"diverged"`` or was not run, or why it was re-solved (empty otherwise). ``attempts`` lists
    ``(omega, sweeps, status)`` of each solve :meth:`SORTuner.solve` charged (empty for a plain solve).
    """

    x: np.ndarray
    sweeps: int
    converged: bool
    residual: float
    status: str
    omega: float | np.ndarray
    wall_time: float
    residual_history: np.ndarray = field(repr=False)
    reason: str = ""
    attempts: list = field(default_factory=list, repr=False)

    def convergence_factor(self, tail: int = 10) -> float:
        """Observed asymptotic residual reduction per sweep, from the last ``tail`` sweeps.

        This is the "richer feedback" a solve reveals beyond its sweep count: for SOR on a consistently
        ordered matrix it pins down the Jacobi spectral radius and so Young's optimal ω
        (see :func:`tunegym.envs.sor.features.jacobi_radius_from_rate`).
        """
        hist = self.residual_history
        if hist.shape[0] < 2:
            return float("nan")
        tail = max(1, min(tail, hist.shape[0] - 1))
        start, end = hist[-tail - 1], hist[-1]
        if not (start > 0 and end > 0 and np.isfinite(start) and np.isfinite(end)):
            return float("nan")
        return float((end / start) ** (1.0 / tail))


def prepare_matrix(A: object) -> PreparedMatrix:
    """Validate ``A`` (dense array or any SciPy sparse format) and split off its diagonal.

    Raises :class:`MatrixError` for a non-square or non-2-D matrix, non-finite entries, or a zero on
    the diagonal (SOR divides by it).
    """
    csr = as_real_csr(A, solver="tunegym's SOR solvers")
    rows = csr.shape[0]
    diag = csr.diagonal().astype(np.float64)
    zero_rows = np.flatnonzero(diag == 0.0)
    if zero_rows.size:
        raise MatrixError(
            f"A has {zero_rows.size} zero(s) on the diagonal (first at row {zero_rows[0]}); SOR divides by a_ii",
            value=zero_rows[:10].tolist(),
        )
    off = csr - sp.diags(diag)
    off = sp.csr_matrix(off)
    off.eliminate_zeros()
    off.sort_indices()
    # int32 indices halve the index traffic of the memory-bound sweep; int64 only when nnz needs it.
    index_type = np.int32 if off.nnz < 2**31 - 1 else np.int64
    indptr = off.indptr.astype(index_type)
    indices = off.indices.astype(index_type)
    # First entry of each row with column > row: rows are sorted, so count the lower entries per row.
    row_of_entry = np.repeat(np.arange(rows, dtype=index_type), np.diff(indptr))
    lower_counts = np.bincount(row_of_entry[indices < row_of_entry], minlength=rows).astype(index_type)
    return PreparedMatrix(
        indptr=indptr,
        split=indptr[:-1] + lower_counts,
        indices=indices,
        data=off.data.astype(np.float64),
        diag=diag,
    )


def check_tolerance(tol: object) -> float:
    """``tol`` as a float if it is a positive finite real number (a 0-d array included), else :class:`ConfigError`
    (a string, ``None``, 0, a negative, NaN or infinity)."""
    if not (_real(tol) and tol > 0.0 and math.isfinite(tol)):  # type: ignore[operator]
        raise ConfigError(f"tol must be a positive finite number, got {tol!r}", value=tol)
    return float(tol)  # type: ignore[arg-type]


def check_vector(name: str, v: object, n: int) -> np.ndarray:
    """``v`` as a finite float64 vector of length ``n``, or :class:`MatrixError` naming ``name``
    (:func:`~tunegym.envs.core.matrices.as_real_vector`)."""
    return as_real_vector(v, n, name, solver="tunegym's SOR")


def solve_prepared(
    M: PreparedMatrix,
    b: np.ndarray,
    omega: float | np.ndarray,
    *,
    x0: np.ndarray | None = None,
    tol: float = 1e-8,
    max_sweeps: int = 100_000,
    divergence_factor: float = 1e8,
    stall_window: int = 0,
    divergence_from_x0: bool = False,
) -> SORResult:
    """:func:`solve` on an already validated matrix; ``b`` and ``x0`` must be float64 of length ``n``.

    ``divergence_from_x0`` (what :func:`solve` and :class:`~tunegym.envs.sor.process.SORSolve` pass): the absolute
    divergence limit is ``divergence_factor`` times the larger of ``||b||`` and ``||b - A x0||`` (one mat-vec when
    ``x0`` is given), and a residual of ``x0`` that overflows float64 raises :class:`MatrixError`. Off (the
    default), the limit is ``divergence_factor * ||b||``, which a solve resuming its own iterate needs (a block
    of ``SORDynamic-v0``: growth across blocks is caught there).
    """
    omega_rows = _omega_rows(omega, M.n)
    if np.ndim(omega) == 0:
        omega = float(omega)
    tol = check_tolerance(tol)
    if not _count(max_sweeps):
        raise ConfigError(f"max_sweeps must be a non-negative integer, got {max_sweeps!r}", value=max_sweeps)
    max_sweeps = int(max_sweeps)
    if not (_real(divergence_factor) and divergence_factor > 1.0):
        raise ConfigError(f"divergence_factor must exceed 1, got {divergence_factor!r}", value=divergence_factor)
    if not _count(stall_window):
        raise ConfigError(f"stall_window must be a non-negative integer, got {stall_window!r}", value=stall_window)
    # Kahan: rho(G_omega) >= (prod |1 - omega_i|)^(1/n) >= 1 here, so no sweep can help; form r(x0) only.
    if isinstance(omega, float):
        hopeless = abs(1.0 - omega) >= 1.0
    else:
        with np.errstate(divide="ignore"):
            hopeless = bool(np.mean(np.log(np.abs(1.0 - omega_rows))) >= 0.0)
    kernel_sweeps = 0 if hopeless else max_sweeps
    with np.errstate(over="ignore"):  # an overflowing norm is refused by check_norm, without a RuntimeWarning
        bnorm = float(np.linalg.norm(b))
    check_norm(b, bnorm)  # solve_prepared takes checked vectors; a norm that over- or underflows is refused here
    scale = bnorm if bnorm > 0.0 else 1.0  # b == 0: absolute residual (x = 0 is the answer)
    x = np.zeros(M.n) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
    reference = scale
    if divergence_from_x0 and x0 is not None:
        reference = max(scale, initial_residual_norm(M, b, x))
    history = np.empty(min(kernel_sweeps, _HISTORY_CAP) + 1)
    start = time.perf_counter()
    limits = (tol * scale, divergence_factor * reference, float(divergence_factor), int(stall_window))
    plan = M.__dict__.get("schedule", _UNBUILT)
    k0, rmin0 = 0, math.inf
    if plan is _UNBUILT:
        # Build the schedule only for a solve that proves long (its build costs some tens of sweeps):
        # sweep in natural order first, then continue in level order if the solve is predicted to run on.
        probe = min(kernel_sweeps, _PROBE_SWEEPS)
        sweeps, code, rnorm = _sweep(M, None, b, x, omega_rows, probe, history, limits, 0, math.inf)
        plan = None
        if code == _MAX_SWEEPS and sweeps < kernel_sweeps:
            if _worth_scheduling(history, sweeps, limits[0]):
                plan = M.schedule
            k0, rmin0 = sweeps, float(np.min(history[: min(sweeps, _HISTORY_CAP)])) if sweeps else math.inf
            sweeps, code, rnorm = _sweep(M, plan, b, x, omega_rows, kernel_sweeps, history, limits, k0, rmin0)
    else:
        sweeps, code, rnorm = _sweep(M, plan, b, x, omega_rows, kernel_sweeps, history, limits, 0, math.inf)
    wall = time.perf_counter() - start
    reason = ""
    if hopeless and code == _MAX_SWEEPS:
        code = _DIVERGED
        reason = ("SOR cannot converge for this relaxation factor: |1 - omega| >= 1 (Kahan), so the iteration "
                  "matrix has spectral radius >= 1 for every A")
    elif code == _DIVERGED:
        reason = "the residual turned non-finite or grew by divergence_factor"
        if stall_window and np.isfinite(rnorm) and rnorm <= divergence_factor * scale:
            reason = f"no residual decrease over stall_window={int(stall_window)} sweeps (or growth by divergence_factor)"
    hist = history[: min(sweeps, _HISTORY_CAP) + 1] / scale
    return SORResult(
        x=x,
        sweeps=int(sweeps),
        converged=code == _CONVERGED,
        residual=float(rnorm / scale),
        status=STATUSES[code],
        omega=omega,
        wall_time=wall,
        residual_history=hist,
        reason=reason,
    )


def initial_residual_norm(M: PreparedMatrix, b: np.ndarray, x0: np.ndarray) -> float:
    """``||b - A x0||``, or :class:`MatrixError` when it overflows float64 (a finite ``x0`` of 1e200 does)."""
    off = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(M.n, M.n))
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.linalg.norm(b - M.diag * x0 - off @ x0))
    if not math.isfinite(norm):
        raise residual_overflow(x0)
    return norm


def residual_overflow(x0: np.ndarray) -> MatrixError:
    """The error for an ``x0`` whose residual ``b - A x0`` overflows float64 (returned for the caller to raise)."""
    largest = float(np.abs(x0).max())
    return MatrixError(f"the residual b - A x0 overflows float64 (largest |x0_i| {largest:.3g}); scale b and x0 "
                       f"by a power of 10, and the solution back", value=largest)


def _real(value: object) -> bool:
    """Whether ``value`` is a real number, a 0-d real array included (not a string, ``None`` or a complex), so
    comparing it cannot raise."""
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "fiu"
    return isinstance(value, numbers.Real)


def _count(value: object) -> bool:
    """Whether ``value`` is a finite, whole, non-negative real (an iteration budget or window)."""
    return _real(value) and math.isfinite(value) and int(value) == value and value >= 0  # type: ignore[arg-type]


_UNBUILT = object()
#: sweeps run in natural order before a matrix without a schedule gets one (most short solves end before)
_PROBE_SWEEPS = 64
#: ...and only if the residual's recent rate predicts at least this many more sweeps (a build costs about
#: 20-30 natural sweeps on large grids and saves about a third of each later sweep: benchmarks/sor_speed.md)
_SCHEDULE_PAYS_AFTER = 80


def _worth_scheduling(history: np.ndarray, k: int, tol_abs: float) -> bool:
    """Whether a solve at sweep ``k`` (residuals in ``history``) is predicted to need ``_SCHEDULE_PAYS_AFTER``
    more sweeps: from the mean reduction over its last 8 sweeps (no reduction: predicted long)."""
    if k >= history.shape[0] or k < 8:
        return True
    now, before = history[k], history[k - 8]
    if not (0.0 < now < before):
        return True
    rate = (now / before) ** 0.125
    return math.log(tol_abs / now) / math.log(rate) > _SCHEDULE_PAYS_AFTER


def _sweep(M: PreparedMatrix, plan: Schedule | None, b: np.ndarray, x: np.ndarray, omega_rows: np.ndarray,
           max_sweeps: int, history: np.ndarray, limits: tuple[float, float, float, int], k0: int,
           rmin0: float) -> tuple[int, int, float]:
    """Run (or resume at sweep ``k0``) the kernel on ``M``: natural order when ``plan`` is ``None``, else in
    ``plan``'s level order (``x`` is permuted in and back)."""
    tol_abs, diverge_abs, diverge_rel, stall = limits
    if plan is None:
        return _sor_kernel(M.indptr, M.split, M.indices, M.data, M.diag, b, x, omega_rows, tol_abs, max_sweeps,
                           diverge_abs, history, diverge_rel, stall, k0, rmin0)
    order = plan.order
    lval, uval = M.level_values  # type: ignore[misc]  (a matrix with a schedule has them)
    x_level = x[order]
    out = _sor_kernel_ell(plan.lidx, lval, plan.uidx, uval, M.diag[order], b[order], x_level,
                          omega_rows[order], tol_abs, max_sweeps, diverge_abs, history, diverge_rel, stall, k0, rmin0)
    x[order] = x_level
    return out


def sor_iteration_radius(M: PreparedMatrix, omega: float, *, max_sweeps: int = 1000, tol: float = 1e-7,
                         seed: int = 0) -> tuple[float | None, int]:
    """``(ρ(G_ω), sweeps)``: the spectral radius of SOR's iteration matrix ``G_ω`` at a fixed ``omega``, by ARPACK
    (``eigs``, largest modulus) on ``v ↦ G_ω v``, one SOR sweep of ``A x = 0`` from ``v``, so each mat-vec costs a
    sweep; ``None`` when ARPACK has not converged within ``max_sweeps`` of them.

    Why: SOR diverges exactly when ``ρ(G_ω) >= 1``, but when ``ρ(G_ω)`` is barely above 1 (a matrix just past
    indefinite) the residual first falls for hundreds of sweeps while the modes below 1 decay, so a residual test
    takes thousands of sweeps to see the divergence. Restarted Arnoldi (a basis of up to 40 vectors, fewer where
    that would pass 256 MB) pins such a radius down in a few hundred: 100-120 sweeps per ω at 1,600 rows, 776-799 at
    90,000, where a solve that swept each fallback took 37,000-71,000 sweeps (``benchmarks/sor_divergence.md``).
    Reliable where the dominant eigenvalue is real and isolated (ω <= 1 on the matrices where this matters); near
    ω = 2 ``G_ω``'s eigenvalues crowd a circle of radius ``ω - 1`` and ARPACK seldom converges within the budget.
    """
    n = M.n
    rows = np.full(n, float(omega))
    zero = np.zeros(n)
    history = np.empty(2)
    limits = (0.0, math.inf, math.inf, 0)
    count = 0

    def apply(v: np.ndarray) -> np.ndarray:
        nonlocal count
        if count >= max_sweeps:
            raise _Budget
        count += 1
        x = np.array(v, dtype=np.float64).reshape(-1)
        _sweep(M, None, zero, x, rows, 1, history, limits, 0, math.inf)
        return x

    if n <= 64:  # dense: n sweeps of the unit vectors (ARPACK needs more rows than its basis)
        if n > max_sweeps:
            return None, 0
        columns = np.stack([apply(e) for e in np.eye(n)], axis=1)
        with np.errstate(all="ignore"):
            radius = float(np.max(np.abs(np.linalg.eigvals(columns)))) if np.all(np.isfinite(columns)) else math.nan
        return (radius if math.isfinite(radius) else None), count
    operator = spla.LinearOperator((n, n), matvec=apply, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        with np.errstate(all="ignore"):
            values = spla.eigs(operator, k=1, which="LM", ncv=max(min(40, n - 1, 32_000_000 // n), 3), tol=tol,
                               v0=v0, return_eigenvectors=False, maxiter=max(max_sweeps, 1))
    except (_Budget, spla.ArpackNoConvergence, spla.ArpackError, ValueError):
        return None, count
    radius = float(np.max(np.abs(values)))
    return (radius if math.isfinite(radius) else None), count


class _Budget(Exception):
    """Raised inside ARPACK's mat-vec to stop it at the sweep budget."""


def _omega_rows(omega: float | np.ndarray, n: int) -> np.ndarray:
    """Per-row relaxation factors from a scalar or a length-``n`` array, checked finite and non-zero."""
    if isinstance(omega, float) and math.isfinite(omega) and omega != 0.0:
        return np.full(n, omega)  # the common case, on every env step: skip the array checks
    try:
        if isinstance(omega, (str, bytes)) or np.asarray(omega).dtype.kind in "USV":
            raise TypeError("a string")  # np.asarray("1.5", float) parses it quietly; tol and max_sweeps refuse it
        rows = np.asarray(omega, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # a complex, None-filled, ragged, string or non-numeric factor
        raise ConfigError(f"relaxation factor omega must be a real number or array, got {omega!r}",
                          value=omega) from exc
    if rows.ndim == 0:
        rows = np.full(n, float(rows))
    elif rows.shape != (n,):
        raise ConfigError(f"omega must be a scalar or have one factor per row ({n}), got shape {rows.shape}",
                          value=rows.shape)
    if not np.all(np.isfinite(rows)) or np.any(rows == 0.0):
        shown = omega if np.ndim(omega) == 0 else "an array with zero or non-finite entries"
        raise ConfigError(f"relaxation factor omega must be finite and non-zero, got {shown!r}", value=omega)
    return rows


def solve(
    A: object,
    b: object,
    omega: float | np.ndarray,
    *,
    x0: object | None = None,
    tol: float = 1e-8,
    max_sweeps: int = 100_000,
    divergence_factor: float = 1e8,
    stall_window: int = 0,
) -> SORResult:
    """Solve ``A x = b`` by forward SOR with relaxation factor ``omega``.

    Args:
        A: square matrix, dense or SciPy sparse, non-zero diagonal.
        b: right-hand side of length ``n``.
        omega: relaxation factor; SOR converges for SPD ``A`` iff ``0 < omega < 2``. Outside that range no
            matrix converges (Kahan), so the solve returns ``"diverged"`` at once with ``sweeps == 0``
            (``"converged"`` if ``x0`` already meets ``tol``). An array of length ``n`` gives each row its own
            factor (block SOR with one ω per block of rows).
        x0: initial guess (zeros by default). A warm start far from the solution is fine: divergence is growth
            beyond ``divergence_factor`` times the larger of ``||b||`` and ``||b - A x0||``.
        tol: relative residual ``||b - A x|| / ||b||`` to reach (absolute if ``b == 0``).
        max_sweeps: at most this many sweeps; then the status is ``"max_sweeps"``.
        divergence_factor: a relative residual above this, or a residual this many times the smallest one
            seen so far (or NaN/inf), ends the solve as ``"diverged"``.
        stall_window: when positive, a residual no smaller than ``stall_window`` sweeps earlier also ends
            the solve as ``"diverged"`` (for matrices with no convergence guarantee; off by default).

    Returns:
        :class:`SORResult` with ``x``, the exact ``sweeps``, ``converged``, ``residual``, ``status``.

    Raises:
        MatrixError: malformed ``A``, ``b`` or ``x0`` (checked before any sweep), or a residual ``b - A x0``
            that overflows float64.
        ConfigError: non-finite or zero ``omega``, bad ``tol`` or ``max_sweeps``.
    """
    M = prepare_matrix(A)
    b_arr = check_vector("b", b, M.n)
    x0_arr = None if x0 is None else check_vector("x0", x0, M.n)
    return solve_prepared(
        M, b_arr, omega, x0=x0_arr, tol=tol, max_sweeps=max_sweeps, divergence_factor=divergence_factor,
        stall_window=stall_window, divergence_from_x0=True,
    )
