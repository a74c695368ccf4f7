"""Conjugate gradients preconditioned by symmetric SOR (SSOR), with the whole iteration compiled.

``ssor_pcg(A, b, omega)`` solves a symmetric positive definite system ``A x = b`` by preconditioned CG
from ``x0`` (zero by default) until the relative residual ``||b - A x|| / ||b||`` falls below ``tol``, and
reports the exact number of CG iterations (one mat-vec and one SSOR application each). It is the solver of
the Learning to Relax setting B (Khodak et al., ICLR 2024; the authors' ``solvers/ssor_pcg.m``), where the
relaxation factor ω of the preconditioner is the knob.

The preconditioner is the textbook SSOR matrix (Saad, *Iterative Methods for Sparse Linear Systems*, §10.2)

    M(ω) = (D + ωL) D⁻¹ (D + ωU) / (ω (2 - ω)),

with ``A = L + D + U``; ``M⁻¹ r`` is one forward triangular sweep, a diagonal scaling and one backward
sweep, scaled by ``ω(2 - ω)``. For symmetric ``A`` with positive diagonal, ``M`` is SPD exactly when
``0 < ω < 2``, so ω outside that open interval is a :class:`ConfigError`. The authors pass MATLAB's
``pcg`` the factors in the other order (``M1 = (D + ωU) D⁻¹``, ``M2 = (D + ωL)/(ω(2 - ω))``), i.e. the
backward sweep first; for the natural ordering of a square grid the two are mirror images of each other
(reversing the unknowns swaps ``L`` and ``U``), so the counts agree up to the reflection of ``b``.

Failure is a status, never a hang or a NaN storm: ``p·Ap <= 0`` (``A`` not positive definite) or
``r·z <= 0`` (``M`` not positive definite, e.g. a negative diagonal) ends the solve as ``"breakdown"``; a
non-finite residual or one that grows by ``divergence_factor`` (possible for non-symmetric ``A``, on which
CG is not defined) as ``"diverged"``; ``maxiter`` bounds the work (``"max_iterations"``). A failed solve
returns the iterate with the smallest residual seen (as MATLAB's ``pcg`` does), never a non-finite one.
Convergence is declared on the recursively updated residual and confirmed on the true residual
``b - A x``; if the two disagree the iteration restarts from the true residual.

This module must not know about grids, time stepping or Gymnasium: the heat-equation process in
:mod:`tunegym.envs.sor.heat` calls it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numba
import numpy as np
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.sor.solver import PreparedMatrix, check_vector, prepare_matrix

__all__ = ["PCG_STATUSES", "PCGResult", "ssor_apply", "ssor_pcg", "ssor_pcg_prepared"]

PCG_STATUSES = ("converged", "max_iterations", "breakdown", "diverged")
_CONVERGED, _MAX_ITERATIONS, _BREAKDOWN, _DIVERGED = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True)
def _ssor_apply(indptr, split, indices, data, diag, omega, r, z):
    """``z = M(ω)⁻¹ r``: forward sweep with ``D + ωL``, scale by ``D``, backward sweep with ``D + ωU``.

    The scaling folds into the backward sweep: ``z_i = y_i - ω Σ_{j>i} a_ij z_j / d_i`` where ``y`` solves
    the forward system, so ``z`` holds ``y`` after the first loop and needs no second work vector.
    """
    n = r.shape[0]
    for i in range(n):
        acc = r[i]
        for p in range(indptr[i], split[i]):
            acc -= omega * data[p] * z[indices[p]]
        z[i] = acc / diag[i]
    scale = omega * (2.0 - omega)
    for i in range(n - 1, -1, -1):
        acc = 0.0
        for p in range(split[i], indptr[i + 1]):
            acc += data[p] * z[indices[p]]
        z[i] = z[i] - omega * acc / diag[i]
    for i in range(n):
        z[i] *= scale


@numba.njit(cache=True, nogil=True)
def _matvec(indptr, indices, data, diag, x, out):
    n = x.shape[0]
    for i in range(n):
        acc = diag[i] * x[i]
        for p in range(indptr[i], indptr[i + 1]):
            acc += data[p] * x[indices[p]]
        out[i] = acc


@numba.njit(cache=True, nogil=True)
def _dot(u, v):
    acc = 0.0
    for i in range(u.shape[0]):
        acc += u[i] * v[i]
    return acc


@numba.njit(cache=True, nogil=True)
def _true_residual_norm(indptr, indices, data, diag, b, x, r):
    _matvec(indptr, indices, data, diag, x, r)
    for i in range(b.shape[0]):
        r[i] = b[i] - r[i]
    return math.sqrt(_dot(r, r))


@numba.njit(cache=True, nogil=True)
def _pcg_kernel(indptr, split, indices, data, diag, b, x, omega, tol_abs, maxiter, diverge_factor):
    """SSOR-preconditioned CG in place on ``x``; return ``(iterations, status, residual_norm)``.

    On any outcome other than convergence, ``x`` is overwritten with the smallest-residual iterate.
    """
    n = b.shape[0]
    r = np.empty(n)
    z = np.empty(n)
    q = np.empty(n)
    rnorm = _true_residual_norm(indptr, indices, data, diag, b, x, r)
    if rnorm <= tol_abs:
        return 0, 0, rnorm
    if not math.isfinite(rnorm):
        return 0, 3, rnorm
    diverge_abs = diverge_factor * max(rnorm, tol_abs)
    best_x = x.copy()
    best_norm = rnorm
    _ssor_apply(indptr, split, indices, data, diag, omega, r, z)
    rho = _dot(r, z)
    if not (rho > 0.0) or not math.isfinite(rho):
        return 0, 2, rnorm
    p = z.copy()
    k = 0
    status = 1
    while k < maxiter:
        _matvec(indptr, indices, data, diag, p, q)
        curvature = _dot(p, q)
        if not (curvature > 0.0) or not math.isfinite(curvature):
            status = 2
            break
        alpha = rho / curvature
        for i in range(n):
            x[i] += alpha * p[i]
            r[i] -= alpha * q[i]
        k += 1
        rnorm = math.sqrt(_dot(r, r))
        restart = False
        if rnorm <= tol_abs:
            # Confirm on the true residual; rounding can make the recursive one drift below it.
            rnorm = _true_residual_norm(indptr, indices, data, diag, b, x, r)
            if rnorm <= tol_abs:
                return k, 0, rnorm
            restart = True
        if not math.isfinite(rnorm) or rnorm > diverge_abs:
            status = 3
            break
        if rnorm < best_norm:
            best_norm = rnorm
            best_x[:] = x
        _ssor_apply(indptr, split, indices, data, diag, omega, r, z)
        rho_next = _dot(r, z)
        if not (rho_next > 0.0) or not math.isfinite(rho_next):
            status = 2
            break
        beta = 0.0 if restart else rho_next / rho
        for i in range(n):
            p[i] = z[i] + beta * p[i]
        rho = rho_next
    x[:] = best_x
    rnorm = _true_residual_norm(indptr, indices, data, diag, b, x, r)
    return k, status, rnorm


@dataclass
class PCGResult:
    """What one SSOR-preconditioned CG solve did.

    ``iterations`` is the exact number of CG iterations (0 if ``x0`` already met ``tol``); ``residual`` is
    ``||b - A x|| / ||b||`` of the returned ``x`` (absolute if ``b == 0``); ``status`` is one of
    ``"converged"``, ``"max_iterations"``, ``"breakdown"``, ``"diverged"``; on failure ``x`` is the
    smallest-residual iterate seen. ``wall_time`` is in seconds and not deterministic.
    """

    x: np.ndarray
    iterations: int
    converged: bool
    residual: float
    status: str
    omega: float
    wall_time: float


def _check_omega(omega: float) -> float:
    try:
        value = float(omega)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"relaxation factor omega must be a number, got {omega!r}", value=omega) from exc
    if not (0.0 < value < 2.0):
        raise ConfigError(
            f"SSOR needs 0 < omega < 2 for a positive definite preconditioner, got {omega!r}", value=omega
        )
    return value


def ssor_pcg_prepared(
    M: PreparedMatrix,
    b: np.ndarray,
    omega: float,
    *,
    x0: np.ndarray | None = None,
    tol: float = 1e-8,
    maxiter: int = 10_000,
    divergence_factor: float = 1e8,
) -> PCGResult:
    """:func:`ssor_pcg` on an already validated matrix; ``b`` and ``x0`` must be float64 of length ``n``."""
    omega = _check_omega(omega)
    if not (tol > 0.0 and math.isfinite(tol)):
        raise ConfigError(f"tol must be a positive finite number, got {tol!r}", value=tol)
    if int(maxiter) != maxiter or maxiter < 0:
        raise ConfigError(f"maxiter must be a non-negative integer, got {maxiter!r}", value=maxiter)
    if not (divergence_factor > 1.0):
        raise ConfigError(f"divergence_factor must exceed 1, got {divergence_factor!r}", value=divergence_factor)
    bnorm = float(np.linalg.norm(b))
    scale = bnorm if bnorm > 0.0 else 1.0  # b == 0: absolute residual (x = 0 is the answer)
    x = np.zeros(M.n) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
    start = time.perf_counter()
    iterations, code, rnorm = _pcg_kernel(
        M.indptr, M.split, M.indices, M.data, M.diag, np.ascontiguousarray(b, dtype=np.float64), x, omega,
        tol * scale, int(maxiter), float(divergence_factor),
    )
    wall = time.perf_counter() - start
    return PCGResult(
        x=x,
        iterations=int(iterations),
        converged=code == _CONVERGED,
        residual=float(rnorm / scale),
        status=PCG_STATUSES[code],
        omega=omega,
        wall_time=wall,
    )


def ssor_pcg(
    A: object,
    b: object,
    omega: float,
    *,
    x0: object | None = None,
    tol: float = 1e-8,
    maxiter: int = 10_000,
    divergence_factor: float = 1e8,
) -> PCGResult:
    """Solve the SPD system ``A x = b`` by CG preconditioned with SSOR(ω).

    Args:
        A: square symmetric positive definite matrix, dense or SciPy sparse, non-zero diagonal.
        b: right-hand side of length ``n``.
        omega: relaxation factor of the preconditioner, ``0 < omega < 2``.
        x0: initial guess (zeros by default); the warm start of a time-stepping simulation.
        tol: relative residual ``||b - A x|| / ||b||`` to reach (absolute if ``b == 0``).
        maxiter: at most this many CG iterations (10,000 as in the authors' code).
        divergence_factor: a residual this many times the initial one ends the solve as ``"diverged"``.

    Returns:
        :class:`PCGResult` with ``x``, the exact ``iterations``, ``converged``, ``residual``, ``status``.

    Raises:
        MatrixError: malformed ``A``, ``b`` or ``x0`` (non-square, non-finite, zero diagonal, shape mismatch).
        ConfigError: ``omega`` outside ``(0, 2)``, bad ``tol``, ``maxiter`` or ``divergence_factor``.
    """
    omega = _check_omega(omega)
    M = prepare_matrix(A)
    b_arr = check_vector("b", b, M.n)
    x0_arr = None if x0 is None else check_vector("x0", x0, M.n)
    return ssor_pcg_prepared(
        M, b_arr, omega, x0=x0_arr, tol=tol, maxiter=maxiter, divergence_factor=divergence_factor
    )


def ssor_apply(M: PreparedMatrix, r: np.ndarray, omega: float) -> np.ndarray:
    """``M(ω)⁻¹ r`` for a prepared matrix (exposed for tests and for building other Krylov solvers)."""
    omega = _check_omega(omega)
    z = np.empty(M.n)
    _ssor_apply(M.indptr, M.split, M.indices, M.data, M.diag, omega, np.ascontiguousarray(r, dtype=np.float64), z)
    return z
