"""Preconditioners as arms, the Krylov solvers, and the deterministic work model that prices both.

An *arm* is a tuple naming a preconditioner and its parameters (what the env's ``ArmKnob`` holds):

=========================================  ================================================================
``("none",)``                              no preconditioner
``("jacobi",)``                            ``D⁻¹``
``("ssor", ω)``                            symmetric SOR, ``(D + ωL) D⁻¹ (D + ωU) / (ω(2 - ω))``
``("ilu", drop_tol, fill_factor)``         ``scipy.sparse.linalg.spilu`` (SuperLU ILUTP, natural ordering); under CG
                                           its ``L`` and pivots give the symmetric ``L D Lᵀ`` (an incomplete Cholesky)
``("amg_sa", θ, smoother)``                PyAMG smoothed aggregation, symmetric strength θ, ``"jacobi"`` or
                                           ``"gauss_seidel"`` (symmetric sweeps) pre/post smoothing, one V-cycle
``("amg_rs", θ)``                          PyAMG Ruge–Stüben (classical strength θ), one V-cycle
``("reuse",)``                             the previous system's preconditioner (the process keeps it)
=========================================  ================================================================

**Work model** (unit: one multiply-add on a stored nonzero or vector entry, ``"flops"`` below). Setup:
Jacobi ``n``; SSOR ``n``; ILU the elimination's multiply-adds ``Σ_(i,k)∈L nnz(U_k,:)`` plus the factor's
nonzeros; AMG per level ``6 nnz(A_l)`` for strength, aggregation/splitting and the spectral radius estimate,
plus the Galerkin product ``A_l P_l`` and ``P_lᵀ (A_l P_l)`` counted as sparse multiply-adds, plus
``ρ_iterations · nnz(A_l)`` for SA's prolongator smoothing. Apply: Jacobi ``n``; SSOR ``2 nnz(A) + n``; ILU
``nnz(L) + nnz(U)`` (twice ``nnz(L)`` + ``n`` for ``L D Lᵀ``); a V-cycle ``Σ_l (sweeps_l · s · nnz(A_l) +
nnz(A_l) + nnz(P_l) + nnz(R_l)) + n_c²`` (``s`` = 2 for a symmetric Gauss–Seidel sweep, 1 + n/nnz for Jacobi;
the coarsest solve is a dense pseudo-inverse multiply). Each Krylov iteration adds its mat-vecs
(``nnz(A)`` each) and vector updates (``6n`` for CG, ``10n`` for BiCGStab, ``(2j + 4) n`` for GMRES's
``j``-th Arnoldi step). :func:`krylov_solve` counts mat-vecs and preconditioner applications as they happen,
so the total is exact for the algorithm run, not an estimate from the iteration count.

Failures are statuses, never hangs: a preconditioner that cannot be built (a zero diagonal under
Jacobi/SSOR, a singular or indefinite incomplete factor) raises :class:`PreconditionerFailure` before any
iteration; CG ends as ``"breakdown"`` when ``pᵀAp <= 0`` or ``rᵀz <= 0`` (an indefinite matrix or
preconditioner), ``"diverged"`` on a non-finite or exploding residual, ``"max_iterations"`` at the cap.
``"converged"`` means the true relative residual of the returned iterate meets ``tol``, never only the method's
recurrence (:func:`krylov_solve`). A kept preconditioner applied to a matrix whose values the user updated in place
is, for SSOR and a V-cycle's finest level, that of the updated matrix (they read ``A`` as they apply); Jacobi, ILU
and the coarse levels stay those of the matrix they were built on.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from tunegym.envs.core.errors import ConfigError, MatrixError

__all__ = ["ARM_FAMILIES", "DEFAULT_ARMS", "REUSE", "Preconditioner", "PreconditionerFailure", "SolveOutcome",
           "amg_work", "arm_label", "build_preconditioner", "check_arm", "krylov_solve", "SOLVERS", "STATUSES"]

ARM_FAMILIES = ("none", "jacobi", "ssor", "ilu", "amg_sa", "amg_rs", "reuse")
REUSE = ("reuse",)
#: The default arm grid: 11 arms, the last one keeps the previous system's preconditioner.
DEFAULT_ARMS: tuple[tuple[Any, ...], ...] = (
    ("none",),
    ("jacobi",),
    ("ssor", 1.0),
    ("ssor", 1.5),
    ("ilu", 1e-2, 2.0),
    ("ilu", 1e-4, 4.0),
    ("amg_sa", 0.0, "jacobi"),
    ("amg_sa", 0.0, "gauss_seidel"),
    ("amg_sa", 0.25, "gauss_seidel"),
    ("amg_rs", 0.25),
    ("reuse",),
)
SOLVERS = ("cg", "gmres", "bicgstab")
STATUSES = ("converged", "max_iterations", "breakdown", "diverged")
_SMOOTHERS = ("jacobi", "gauss_seidel")


class PreconditionerFailure(Exception):
    """A preconditioner could not be built for this matrix (the solve ends as ``"breakdown"``)."""


def arm_label(arm: tuple[Any, ...]) -> str:
    """A short readable name: ``ssor(1.5)``, ``ilu(0.01,2)``, ``amg_sa(0,gauss_seidel)``."""
    if len(arm) == 1:
        return str(arm[0])
    return f"{arm[0]}({','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in arm[1:])})"


def check_arm(arm: Any) -> tuple[Any, ...]:
    """``arm`` as a validated tuple; :class:`ConfigError` naming what is wrong."""
    arm = tuple(arm) if isinstance(arm, (tuple, list)) else (arm,)
    family = arm[0] if arm else None
    ok = isinstance(family, str) and family in ARM_FAMILIES
    try:  # a parameter that is no number (None, "abc") is a wrong arm, not a TypeError from float()
        if ok and family in ("none", "jacobi", "reuse"):
            ok = len(arm) == 1
        elif ok and family == "ssor":
            ok = len(arm) == 2 and 0.0 < float(arm[1]) < 2.0
        elif ok and family == "ilu":
            ok = len(arm) == 3 and float(arm[1]) >= 0.0 and math.isfinite(float(arm[1])) and 1.0 <= float(arm[2]) \
                and math.isfinite(float(arm[2]))
        elif ok and family == "amg_sa":
            ok = len(arm) == 3 and 0.0 <= float(arm[1]) < 1.0 and arm[2] in _SMOOTHERS
        elif ok and family == "amg_rs":
            ok = len(arm) == 2 and 0.0 <= float(arm[1]) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"not a preconditioner arm: {arm!r}; families {ARM_FAMILIES} (see tunegym.envs.krylov."
                          "precond)", value=arm)
    return arm


@dataclass
class Preconditioner:
    """A built preconditioner: ``apply(r) ≈ A⁻¹ r``, its work per application and the work its setup took."""

    arm: tuple[Any, ...]
    n: int
    apply: Callable[[np.ndarray], np.ndarray]
    apply_work: float
    setup_work: float
    symmetric: bool = True
    setup_time: float = 0.0
    built_on: str = ""
    operator_complexity: float = 1.0
    levels: int = 0

    @property
    def label(self) -> str:
        return arm_label(self.arm)


# ---- work-model helpers -------------------------------------------------------------------------------------
def _row_nnz(M: sp.spmatrix) -> np.ndarray:
    M = sp.csr_matrix(M)
    return np.diff(M.indptr).astype(np.float64)


def _spgemm_flops(X: sp.spmatrix, row_nnz_y: np.ndarray) -> tuple[float, np.ndarray]:
    """Multiply-adds of ``X @ Y`` (``Σ_(i,k)∈X nnz(Y_k,:)``) and the per-row upper bound of ``nnz(XY)``."""
    pattern = sp.csr_matrix((np.ones(X.nnz), X.indices, X.indptr), shape=X.shape) if sp.isspmatrix_csr(X) \
        else sp.csr_matrix((np.ones(sp.csr_matrix(X).nnz), sp.csr_matrix(X).indices, sp.csr_matrix(X).indptr),
                           shape=X.shape)
    per_row = pattern @ row_nnz_y
    return float(per_row.sum()), per_row


def _diagonal(A: sp.csr_matrix, family: str) -> np.ndarray:
    diag = A.diagonal()
    zeros = np.flatnonzero(diag == 0.0)
    if zeros.size:
        raise MatrixError(f"A has {zeros.size} zero(s) on the diagonal (first at row {zeros[0]}); {family} divides "
                          "by a_ii", value=zeros[:10].tolist())
    return diag


# ---- kernels ------------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _ldlt_apply(indptr, indices, data, dinv, r, z):
    """``z = (L D Lᵀ)⁻¹ r`` for a unit lower triangular ``L`` in CSR (strict part only) and ``dinv = 1/D``."""
    n = r.shape[0]
    for i in range(n):
        acc = r[i]
        for p in range(indptr[i], indptr[i + 1]):
            acc -= data[p] * z[indices[p]]
        z[i] = acc
    for i in range(n):
        z[i] *= dinv[i]
    for i in range(n - 1, -1, -1):
        zi = z[i]
        for p in range(indptr[i], indptr[i + 1]):
            z[indices[p]] -= data[p] * zi


@numba.njit(cache=True, nogil=True, error_model="numpy")  # a zero a_ii gives inf/NaN (a failed solve), not a raise
def _ssor_apply(indptr, indices, data, omega, r, z):
    """``z = ω(2-ω) (D + ωU)⁻¹ D (D + ωL)⁻¹ r`` on a CSR matrix with sorted column indices and no duplicates.

    ``D`` is read from the matrix's stored diagonal as the sweeps pass it, not from a copy taken at the build: a
    kept SSOR applied after the user updated ``A``'s values in place is then the SSOR of the matrix it is applied
    with. A copy made it a mix of the old diagonal and the new off-diagonals (after ``A.data *= 3``, CG with the
    reused mix ran into the iteration cap where a fresh SSOR took 17 iterations). The arithmetic is the same, in
    the same order, as with a copied diagonal."""
    n = r.shape[0]
    for i in range(n):
        acc = r[i]
        d = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j < i:
                acc -= omega * data[p] * z[j]
            else:
                if j == i:
                    d = data[p]
                break
        z[i] = acc / d
    for i in range(n - 1, -1, -1):
        end = indptr[i + 1]
        p = indptr[i]
        while p < end and indices[p] < i:
            p += 1
        d = 0.0
        if p < end and indices[p] == i:
            d = data[p]
            p += 1
        acc = z[i] * d
        for q in range(p, end):
            acc -= omega * data[q] * z[indices[q]]
        z[i] = acc / d
    scale = omega * (2.0 - omega)
    for i in range(n):
        z[i] *= scale


# ---- builders ------------------------------------------------------------------------------------------------
def build_preconditioner(A: sp.csr_matrix, arm: tuple[Any, ...], *, symmetric: bool = True,
                         near_null_space: np.ndarray | None = None, built_on: str = "") -> Preconditioner:
    """Build the preconditioner ``arm`` names for ``A`` (CSR, sorted); ``symmetric`` asks for an SPD one (CG).

    Raises :class:`MatrixError` for a zero diagonal under Jacobi/SSOR (before any work) and
    :class:`PreconditionerFailure` for a factor or hierarchy that cannot be built or is not positive definite.
    """
    arm = check_arm(arm)
    family, n, nnz = arm[0], A.shape[0], A.nnz
    if family == "reuse":
        raise ConfigError("the reuse arm is resolved by the process (it keeps the previous preconditioner)")
    start = time.perf_counter()
    if family == "none":
        pre = Preconditioner(arm, n, lambda r: r, 0.0, 0.0)
    elif family == "jacobi":
        diag = _diagonal(A, "Jacobi")
        if symmetric and np.any(diag < 0):
            raise PreconditionerFailure("Jacobi under CG needs a positive diagonal")
        inv = 1.0 / diag
        pre = Preconditioner(arm, n, lambda r: r * inv, float(n), float(n))
    elif family == "ssor":
        diag = _diagonal(A, "SSOR")
        if symmetric and np.any(diag < 0):
            raise PreconditionerFailure("SSOR under CG needs a positive diagonal")
        omega = float(arm[1])
        if not A.has_sorted_indices:  # the sweeps find a row's diagonal by its place in the sorted row
            A = A.sorted_indices()
        indptr, indices, data = A.indptr, A.indices, A.data

        def ssor(r: np.ndarray) -> np.ndarray:
            z = np.empty(n)
            _ssor_apply(indptr, indices, data, omega, np.ascontiguousarray(r, dtype=np.float64), z)
            return z

        pre = Preconditioner(arm, n, ssor, 2.0 * nnz + n, float(n), symmetric=True)
    elif family == "ilu":
        pre = _build_ilu(A, float(arm[1]), float(arm[2]), symmetric, arm)
    else:
        pre = _build_amg(A, arm, symmetric, near_null_space)
    pre.setup_time = time.perf_counter() - start
    pre.built_on = built_on
    return pre


#: the time an incomplete factorisation may take before it is given up as stuck: ``base + per_entry x fill_factor x
#: nnz(A)`` seconds (10 s + 20 µs per entry the factor may hold): a 27-point 3-D stencil of 27,000 rows at fill factor
#: 4 takes SuperLU 2.2 s on a loaded machine (limit 65 s), a suite system of 10^4 unknowns some 35 ms (limit 10 s)
ILU_TIME_LIMIT = (10.0, 20e-6)
#: the threads of factorisations given up as stuck (see :func:`_spilu_watched`); each keeps one core busy
STUCK_FACTORISATIONS: list[threading.Thread] = []


def _spilu_watched(A_csc: sp.csc_matrix, drop_tol: float, fill_factor: float) -> Any:
    """``scipy.sparse.linalg.spilu`` (no pivoting, natural order), given up after the :data:`ILU_TIME_LIMIT`.

    Why: SuperLU's incomplete factorisation can loop for ever. When the factor of a row overflows to NaN (tiny
    pivots of a matrix that is far from diagonally dominant, e.g. some symmetric 27-point stencils with random
    weights; tests/test_robustness_krylov.py has one), the quickselect of its dropping rule (``dqselect``) compares
    NaN with NaN and never advances; the call does not return, and cannot be interrupted. SciPy releases the GIL in it, so it runs in a thread that is waited for up to
    the limit; a factorisation still running then raises :class:`PreconditionerFailure` (the solve fails, the learner
    is charged the failure, and :class:`~tunegym.agents.KrylovTuner` solves again with its fallback) and its thread is
    left running, listed in :data:`STUCK_FACTORISATIONS`: it keeps a core busy until the process ends, and CPython's
    exit status is then 120, not 0 (the ``tunegym`` command exits with its own status). The factor and its failures
    are SciPy's own, unchanged."""
    box: dict[str, Any] = {}

    def factorise() -> None:
        try:
            with np.errstate(all="ignore"):
                box["ilu"] = sla.spilu(A_csc, drop_tol=drop_tol, fill_factor=fill_factor, permc_spec="NATURAL",
                                       diag_pivot_thresh=0.0)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            box["error"] = exc

    limit = ILU_TIME_LIMIT[0] + ILU_TIME_LIMIT[1] * fill_factor * A_csc.nnz
    worker = threading.Thread(target=factorise, name="tunegym-spilu", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        STUCK_FACTORISATIONS.append(worker)
        raise PreconditionerFailure(f"incomplete factorisation did not finish within {limit:.0f} s (SuperLU loops "
                                    "for ever when the factor overflows to NaN: A is far from diagonally dominant); "
                                    "its thread is left running, a core busy, until the process ends")
    if "error" in box:
        raise box["error"]
    return box["ilu"]


def _build_ilu(A: sp.csr_matrix, drop_tol: float, fill_factor: float, symmetric: bool,
               arm: tuple[Any, ...]) -> Preconditioner:
    n = A.shape[0]
    try:
        ilu = _spilu_watched(A.tocsc(), drop_tol, fill_factor)
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise PreconditionerFailure(f"incomplete factorisation failed: {exc}") from None
    L, U = sp.csr_matrix(ilu.L), sp.csr_matrix(ilu.U)
    flops, _ = _spgemm_flops(sp.tril(L, k=-1, format="csr"), _row_nnz(U))
    setup = flops + L.nnz + U.nnz
    d = U.diagonal()
    if not np.all(np.isfinite(L.data)) or not np.all(np.isfinite(U.data)) or np.any(d == 0):
        raise PreconditionerFailure("incomplete factor is singular or not finite")
    if not symmetric:
        return Preconditioner(arm, n, ilu.solve, float(L.nnz + U.nnz), float(setup), symmetric=False)
    if not (np.array_equal(ilu.perm_r, np.arange(n)) and np.array_equal(ilu.perm_c, np.arange(n))):
        raise PreconditionerFailure("incomplete factor pivoted; no symmetric L D Lᵀ form for CG")
    if np.any(d <= 0):
        raise PreconditionerFailure("incomplete factor has non-positive pivots: not positive definite for CG")
    strict = sp.tril(L, k=-1, format="csr")
    strict.sort_indices()
    dinv = 1.0 / d
    indptr, indices, data = strict.indptr, strict.indices, strict.data

    def ldlt(r: np.ndarray) -> np.ndarray:
        z = np.empty(n)
        _ldlt_apply(indptr, indices, data, dinv, np.ascontiguousarray(r, dtype=np.float64), z)
        return z

    return Preconditioner(arm, n, ldlt, float(2 * strict.nnz + n), float(setup), symmetric=True)


def amg_work(ml: Any, *, aggregation: bool = True, jacobi: bool = False, sweep: float = 2.0) -> tuple[float, float]:
    """``(setup, apply)`` work of a PyAMG hierarchy ``ml`` (see the module docstring): one V-cycle with one
    pre- and one post-smoothing step per level, ``sweep`` nonzeros-passes per Gauss–Seidel step."""
    setup, apply = 0.0, 0.0
    for level in ml.levels[:-1]:
        Al, P, R = level.A, level.P, level.R
        nl = Al.shape[0]
        flops_ap, rows_ap = _spgemm_flops(Al, _row_nnz(P))
        flops_rap, _ = _spgemm_flops(R, rows_ap)
        setup += 6.0 * Al.nnz + flops_ap + flops_rap + (15.0 * Al.nnz if aggregation else 0.0)
        smooth = Al.nnz + nl if jacobi else sweep * Al.nnz
        apply += 2.0 * smooth + Al.nnz + P.nnz + R.nnz + 2.0 * nl
    coarse = ml.levels[-1].A.shape[0]
    setup += float(coarse) ** 3  # dense pseudo-inverse of the coarsest matrix
    apply += float(coarse) ** 2
    return setup, apply


@contextlib.contextmanager
def _fixed_global_rng(seed: int = 0):
    """PyAMG draws the start vectors of its spectral-radius estimates from NumPy's global RNG; fix it during a
    build (and restore the caller's state after), so equal matrices give equal hierarchies and work."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


#: what PyAMG's compiled Ruge–Stüben setup prints (C ``puts``) once per row where classical interpolation divides by
#: zero, which an indefinite matrix gives (328 lines for one failed build of a 400-unknown system)
_PYAMG_PRINTS = ("Outer denominator was zero", "Inner denominator was zero")


@contextlib.contextmanager
def _pyamg_prints_kept_out(caught: list[str]):
    """Keep what compiled code writes to standard output (file descriptor 1) during the block off the user's output:
    PyAMG's lines (:data:`_PYAMG_PRINTS`) go to ``caught``, anything else is written back after the block (another
    thread's output comes late, not lost). Where there is no C library to flush (not POSIX) or no descriptor 1 to
    duplicate, nothing is redirected."""
    try:
        import ctypes

        flush = ctypes.CDLL(None).fflush
        saved = os.dup(1)
    except (ImportError, OSError, AttributeError, TypeError):
        yield
        return
    if sys.stdout is not None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    flush(None)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            flush(None)  # C's stdout buffers a pipe or file: its lines must reach the sink, not the restored fd 1
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            other = []
            for line in sink.read().decode(errors="replace").splitlines(keepends=True):
                (caught if line.startswith(_PYAMG_PRINTS) else other).append(line)
            if other:
                os.write(1, "".join(other).encode())


def _build_amg(A: sp.csr_matrix, arm: tuple[Any, ...], symmetric: bool,
               near_null_space: np.ndarray | None) -> Preconditioner:
    """PyAMG's hierarchy for ``arm``. Its warnings during the setup (e.g. ``Breakdown occurred in step 0`` of the
    Lanczos spectral radius estimate on an indefinite matrix) are not passed on: the hierarchy is checked here and
    the solve's status says how it served, and under ``-W error`` such a warning was a raw exception out of
    :meth:`KrylovTuner.solve <tunegym.agents.krylov_tuner.KrylovTuner.solve>`. Ruge–Stüben's printed lines are
    kept off the user's output (:func:`_pyamg_prints_kept_out`); a failed build counts them in its message."""
    import pyamg

    n = A.shape[0]
    family, theta = arm[0], float(arm[1])
    if A.nnz == 0:  # PyAMG builds a hierarchy, then divides by nnz(A) for its operator complexity
        raise PreconditionerFailure("AMG setup failed: A has no stored nonzeros (the zero matrix is singular)")
    printed: list[str] = []
    try:
        with np.errstate(all="ignore"), _fixed_global_rng(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if family == "amg_sa":
                smoother = ("jacobi", {"omega": 2.0 / 3.0}) if arm[2] == "jacobi" else \
                    ("gauss_seidel", {"sweep": "symmetric"})
                ml = pyamg.smoothed_aggregation_solver(
                    A, B=near_null_space, strength=("symmetric", {"theta": theta}), presmoother=smoother,
                    postsmoother=smoother, max_coarse=50, symmetry="symmetric" if symmetric else "nonsymmetric")
                sweep = 2.0 if arm[2] == "gauss_seidel" else 1.0
            else:
                smoother = ("gauss_seidel", {"sweep": "symmetric"})
                with _pyamg_prints_kept_out(printed):
                    ml = pyamg.ruge_stuben_solver(A, strength=("classical", {"theta": theta}), presmoother=smoother,
                                                  postsmoother=smoother, max_coarse=50)
                sweep = 2.0
    except (ValueError, RuntimeError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        raise PreconditionerFailure(f"AMG setup failed: {exc}") from None
    setup, apply = amg_work(ml, aggregation=family == "amg_sa", jacobi=arm[-1] == "jacobi", sweep=sweep)
    if not all(np.all(np.isfinite(level.A.data)) for level in ml.levels):
        said = f" (PyAMG: {printed[0].strip()!r} on {len(printed)} rows)" if printed else ""
        raise PreconditionerFailure(f"AMG hierarchy is not finite{said}")
    M = ml.aspreconditioner(cycle="V")
    M.matvec(np.zeros(n))  # PyAMG factors the coarsest matrix lazily, at the first cycle: make that part of setup

    def vcycle(r: np.ndarray) -> np.ndarray:
        return M.matvec(r)

    pre = Preconditioner(arm, n, vcycle, float(apply), float(setup), symmetric=True,
                         operator_complexity=float(ml.operator_complexity()), levels=len(ml.levels))
    return pre


# ---- Krylov solves --------------------------------------------------------------------------------------------
@dataclass
class SolveOutcome:
    """What one Krylov solve did: the iterate, counts, status, true relative residual and the work it cost."""

    x: np.ndarray
    iterations: int
    matvecs: int
    applies: int
    vector_work: float
    status: str
    residual: float
    message: str = ""
    wall_time: float = 0.0
    residuals: list[float] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def iteration_work(self, nnz: int, apply_work: float) -> float:
        """Mat-vecs × nnz(A) + applications × the preconditioner's apply work + vector updates."""
        return self.matvecs * float(nnz) + self.applies * float(apply_work) + self.vector_work


#: how many times a solve whose recurrence converged while the true residual of its iterate did not starts again from
#: that true residual, within the same iteration cap (see :func:`krylov_solve`)
DRIFT_RESTARTS = 3


def krylov_solve(A: sp.csr_matrix, b: np.ndarray, pre: Preconditioner, *, solver: str = "cg", tol: float = 1e-8,
                 maxiter: int = 1000, restart: int = 30, x0: np.ndarray | None = None,
                 divergence_factor: float = 1e10, initial_residual: np.ndarray | None = None) -> SolveOutcome:
    """Solve ``A x = b`` to ``||b - A x|| <= tol ||b||`` with ``solver`` preconditioned by ``pre``.

    ``maxiter`` caps the iterations, restarts included (GMRES: inner iterations, in whole restart cycles of
    ``min(restart, maxiter)``, so up to ``restart - 1`` more). Returns a :class:`SolveOutcome` whose ``residual`` is
    the true relative residual of the returned iterate (one extra mat-vec, counted), and whose status is
    ``"converged"`` only if that residual meets ``tol``. When the method's own recurrence converged and the true
    residual did not (rounding: it happens when the initial residual is far larger than ``tol ||b||``, e.g. an
    ``x0`` far from the solution's scale), the solve starts again from the true residual of its iterate, up to
    :data:`DRIFT_RESTARTS` times within the cap; then ``"max_iterations"``. CG's divergence test is relative to
    ``max(||b||, ||b - A x0||)``, so a far initial guess is not called diverged.

    ``initial_residual``: ``b - A x0`` when the caller formed it already (it is counted as one mat-vec all the same);
    an initial residual that is not finite ends the solve as ``"diverged"`` before any iteration.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"solver must be one of {SOLVERS}, got {solver!r}", value=solver)
    start = time.perf_counter()
    n = A.shape[0]
    bnorm = float(np.linalg.norm(b))
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
    if bnorm == 0.0:
        return SolveOutcome(np.zeros(n), 0, 0, 0, 0.0, "converged", 0.0, "b = 0: x = 0", time.perf_counter() - start)
    residual = None if initial_residual is None else np.array(initial_residual, dtype=np.float64, copy=True)
    formed = x0 is not None and (residual is not None or solver == "cg")  # b - A x0 is formed here or was given
    if x0 is not None and solver == "cg" and residual is None:
        with np.errstate(all="ignore"):
            residual = b - A @ x
    if residual is not None:
        with np.errstate(all="ignore"):
            finite = math.isfinite(float(residual @ residual))
        if not finite:
            return SolveOutcome(x, 0, 1, 0, 0.0, "diverged", math.inf, "the initial residual b - A x0 overflows "
                                "float64: x0 is far too large for this system", time.perf_counter() - start)
    out: SolveOutcome | None = None
    restarts = 0
    while True:
        budget = maxiter - (out.iterations if out is not None else 0)
        if solver == "cg":
            attempt = _pcg(A, b, pre.apply, x, tol, budget, bnorm, divergence_factor, False,
                           identity=pre.arm[0] == "none", residual=residual)
        else:
            attempt = _scipy_solve(A, b, pre, x, solver, tol, budget, restart, bnorm)
        out = attempt if out is None else _continued(out, attempt)
        with np.errstate(all="ignore"):
            residual = b - A @ out.x
            true = float(np.linalg.norm(residual)) / bnorm if np.all(np.isfinite(out.x)) else math.inf
        out.matvecs += 1
        if (out.status == "converged" and not true <= tol and math.isfinite(true) and restarts < DRIFT_RESTARTS
                and out.iterations < maxiter):  # the recurrence drifted from the true residual: go on from it
            restarts, x = restarts + 1, out.x
            continue
        break
    out.matvecs += 1 if formed else 0
    out.residual = true
    if out.status == "converged" and not true <= tol:
        out.status, out.message = "max_iterations", (f"recursive residual converged, true residual {true:.3g}"
                                                     + (f" after {restarts} restart(s) from it" if restarts else ""))
    if not math.isfinite(true) and out.status == "converged":
        out.status = "diverged"
    if not np.all(np.isfinite(out.x)):
        out.x = np.zeros(n)
    out.wall_time = time.perf_counter() - start
    return out


def _continued(first: SolveOutcome, then: SolveOutcome) -> SolveOutcome:
    """One outcome of a solve that started again (``then``) from where ``first`` stopped: counts summed, the rest
    ``then``'s."""
    then.iterations += first.iterations
    then.matvecs += first.matvecs
    then.applies += first.applies
    then.vector_work += first.vector_work
    then.residuals = first.residuals + then.residuals
    if then.status == "max_iterations" and then.message.startswith("no convergence"):
        then.message = f"no convergence in {then.iterations} iterations"
    return then


def _pcg(A, b, apply, x, tol, maxiter, bnorm, divergence_factor, warm, identity=False, *,
         residual=None) -> SolveOutcome:
    """Preconditioned CG in place on ``x``: from ``residual`` (``b - A x``, formed and counted by the caller; updated
    in place) when given, else from ``b - A x`` formed here (``warm``, one mat-vec) or ``b`` (``x = 0``).
    ``identity``: ``apply`` returns its argument (no preconditioner), so ``r·z`` is ``r·r``, which the residual norm
    already computed. The updates go through two scratch vectors, so an iteration allocates nothing; the arithmetic
    is the textbook recurrence, operation for operation. Diverged: the residual grew past ``divergence_factor``
    times the larger of ``||b||`` and the initial residual."""
    n = b.shape[0]
    matvecs = 1 if warm and residual is None else 0
    status, message, iterations = "max_iterations", f"no convergence in {maxiter} iterations", 0
    with np.errstate(all="ignore"):
        r = residual if residual is not None else b - A @ x if warm else b.copy()
        z = apply(r)
        applies, vec = 1, 2.0 * n
        rz = float(r @ z)
        residuals = [math.sqrt(float(r @ r)) / bnorm]
        if residuals[0] <= tol:
            return SolveOutcome(x, 0, matvecs, applies, vec, "converged", residuals[0], "initial guess converged")
        if not rz > 0.0 or not math.isfinite(rz):
            return SolveOutcome(x, 0, matvecs, applies, vec, "breakdown", residuals[0],
                                "preconditioner not positive definite (r·z <= 0)", residuals=residuals)
        limit = divergence_factor * max(1.0, residuals[0])
        p = z.copy()
        step = np.empty(n)
        for iterations in range(1, maxiter + 1):
            q = A @ p
            matvecs += 1
            pq = float(p @ q)
            vec += 2.0 * n
            if not pq > 0.0 or not math.isfinite(pq):
                status, message = "breakdown", "matrix not positive definite along a search direction (p·Ap <= 0)"
                break
            alpha = rz / pq
            x += np.multiply(p, alpha, out=step)
            r -= np.multiply(q, alpha, out=step)
            rr = float(r @ r)
            rnorm = math.sqrt(rr) / bnorm
            vec += 3.0 * n
            residuals.append(rnorm)
            if not math.isfinite(rnorm) or rnorm > limit:
                status, message = "diverged", f"residual {rnorm:.3g} after {iterations} iterations"
                break
            if rnorm <= tol:
                status, message = "converged", f"converged in {iterations} iterations"
                break
            z = apply(r)
            applies += 1
            rz_new = rr if identity else float(r @ z)
            vec += 2.0 * n
            if not rz_new > 0.0 or not math.isfinite(rz_new):
                status, message = "breakdown", "preconditioner not positive definite (r·z <= 0)"
                break
            p *= rz_new / rz
            p += z
            rz = rz_new
    return SolveOutcome(x, iterations, matvecs, applies, vec, status, residuals[-1], message, residuals=residuals)


def _scipy_solve(A, b, pre, x, solver, tol, maxiter, restart, bnorm) -> SolveOutcome:
    n = b.shape[0]
    counts = {"matvec": 0, "apply": 0, "iterations": 0}
    residuals: list[float] = []

    def matvec(v: np.ndarray) -> np.ndarray:
        counts["matvec"] += 1
        return A @ v

    def psolve(v: np.ndarray) -> np.ndarray:
        counts["apply"] += 1
        return pre.apply(v)

    def callback(value: Any) -> None:
        counts["iterations"] += 1
        if np.isscalar(value):
            residuals.append(float(value))

    Aop = sla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    Mop = sla.LinearOperator((n, n), matvec=psolve, dtype=np.float64)
    with np.errstate(all="ignore"):
        if solver == "gmres":
            m = max(1, min(int(restart), n, int(maxiter)))  # a cap below the restart length is one shorter cycle
            x, info = sla.gmres(Aop, b, x0=x, rtol=tol, atol=0.0, restart=m, maxiter=max(1, math.ceil(maxiter / m)),
                                M=Mop, callback=callback, callback_type="pr_norm")
            k = counts["iterations"]
            vec = float(sum(2 * (j % m) + 4 for j in range(k))) * n + 2.0 * n * math.ceil(max(k, 1) / m)
        else:
            x, info = sla.bicgstab(Aop, b, x0=x, rtol=tol, atol=0.0, maxiter=maxiter, M=Mop, callback=callback)
            vec = 10.0 * n * counts["iterations"] + 2.0 * n
    if info == 0:
        status, message = "converged", f"converged in {counts['iterations']} iterations"
    elif info > 0:
        status, message = "max_iterations", f"no convergence in {counts['iterations']} iterations"
    else:
        status, message = "breakdown", f"{solver} broke down (SciPy info {info})"
    return SolveOutcome(np.asarray(x, dtype=np.float64), counts["iterations"], counts["matvec"], counts["apply"], vec,
                        status, residuals[-1] if residuals else math.nan, message, residuals=residuals)
