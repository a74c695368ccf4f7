"""Cheap matrix features and the SOR theory that links them to the best relaxation factor.

Features are the context a tuner sees for a matrix it has never met: size, sparsity, diagonal
statistics, diagonal dominance, and an estimate of the Jacobi spectral radius ``ρ_J = ρ(I - D⁻¹A)``.
For a consistently ordered matrix with ``ρ_J < 1`` (e.g. 5-point Laplacians), Young's theorem gives the
optimal SOR factor ``ω* = 2 / (1 + sqrt(1 - ρ_J²))`` and the SOR convergence factor for every ω
(Young 1971; Saad, *Iterative Methods*, §4.2.5). The env and the deployed tuner both call this module,
so a tuner sees exactly the features it was trained on.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from tunegym.envs.sor.solver import PreparedMatrix

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_LOW",
    "FEATURE_HIGH",
    "matrix_features",
    "jacobi_spectral_radius",
    "nilpotent_jacobi",
    "young_omega",
    "sor_convergence_factor",
    "jacobi_radius_from_rate",
    "SORSpectrum",
    "sor_spectrum",
]

FEATURE_NAMES = (
    "log10_n",
    "nnz_per_row",
    "diag_cv",
    "min_dominance",
    "mean_dominance",
    "symmetric",
    "jacobi_radius",
)
# Declared bounds of the feature vector; values are clipped into them.
FEATURE_LOW = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)
FEATURE_HIGH = np.array([8.0, 64.0, 10.0, 10.0, 10.0, 1.0, 2.0], dtype=np.float32)


def jacobi_spectral_radius(M: PreparedMatrix, *, symmetric: bool | None = None, seed: int = 0) -> float:
    """Estimate ``ρ(I - D⁻¹A)``.

    Exactly 0 when the Jacobi matrix is nilpotent by its pattern (:func:`nilpotent_jacobi`: a diagonal or
    triangular ``A``). Symmetric matrices with positive diagonal use ARPACK on the similar symmetric matrix
    ``D^{-1/2} (D - A) D^{-1/2}`` (exact to ARPACK's tolerance); others, and any ARPACK failure, use 200 power
    iterations, which give a lower estimate when the dominant eigenvalues are complex (0 when an iterate
    vanishes: the Jacobi matrix is then nilpotent on a random vector's Krylov space). Tiny matrices use dense
    eigenvalues.
    """
    n = M.n
    off = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(n, n))
    if symmetric is None:
        symmetric = _is_symmetric(off)
    if nilpotent_jacobi(off, symmetric=symmetric):
        return 0.0
    if n <= 400:
        jac = (-off.multiply(1.0 / M.diag[:, None])).toarray()
        return float(np.max(np.abs(np.linalg.eigvals(jac))))
    if symmetric and np.all(M.diag > 0):
        s = 1.0 / np.sqrt(M.diag)
        B = -(sp.diags(s) @ off @ sp.diags(s))
        try:
            vals = spla.eigsh(B, k=1, which="LM", return_eigenvectors=False, tol=1e-6, maxiter=5000,
                              v0=np.random.default_rng(seed).standard_normal(n))
            return float(abs(vals[0]))
        except spla.ArpackNoConvergence as exc:  # fall back to power iteration below
            if len(exc.eigenvalues):
                return float(np.max(np.abs(exc.eigenvalues)))
        except spla.ArpackError:  # e.g. -9 "starting vector is zero" on a trivial operator: power iteration below
            pass
    jac = -(sp.diags(1.0 / M.diag) @ off)
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(200):
        w = jac @ v
        norm = float(np.linalg.norm(w))
        if norm == 0.0:  # J^k v = 0 for a random v: J is nilpotent (its last norm says nothing about ρ)
            return 0.0
        if not math.isfinite(norm):
            break
        estimate = norm
        v = w / norm
    return estimate


def nilpotent_jacobi(off: sp.csr_matrix, *, symmetric: bool | None = None) -> bool:
    """Whether the Jacobi matrix ``-D⁻¹(A - D)`` of a matrix with off-diagonal part ``off`` is nilpotent by its
    pattern alone, so ``ρ_J = 0`` exactly: no off-diagonal entry (a diagonal ``A``), or a directed graph of the
    off-diagonal entries with no cycle (a triangular ``A``, or one that a symmetric permutation makes
    triangular). Such a matrix gives ARPACK a zero operator (``ArpackError -9``) and power iteration a
    meaningless norm, and SOR's iteration matrix has the single eigenvalue ``1 - ω`` (ω = 1 is best). ``off``
    must hold no stored zeros (a :class:`PreparedMatrix` holds none). O(nnz); a symmetric pattern with any
    entry has a 2-cycle, so only the empty one qualifies."""
    if off.nnz == 0:
        return True
    if symmetric if symmetric is not None else _is_symmetric(off):
        return False
    components, _ = csgraph.connected_components(off, directed=True, connection="strong")
    return components == off.shape[0]


class SORSpectrum(tuple):
    """What the Jacobi spectrum of ``A`` says about SOR: ``(radius, jacobi_radius, symmetric, positive_diagonal,
    convergent)``.

    ``radius`` is the number Young's formula should be given. For a symmetric ``A`` with a positive diagonal it
    is the *largest* eigenvalue ``μ_max`` of ``J = I - D^{-1/2} A D^{-1/2}`` (not ``max |λ(J)|``): ``A`` is
    positive definite iff ``μ_max < 1`` (then SOR converges for every ``0 < ω < 2``, Ostrowski–Reich), and
    for a consistently ordered ``A`` the spectrum of ``J`` is symmetric, so ``μ_max = ρ_J``. A matrix that is
    not consistently ordered (9-point stencils, elasticity) can have ``ρ_J >= 1`` from an eigenvalue below
    ``-1`` while ``μ_max < 1``; Young's ω from ``μ_max`` is then still close to the best ω, from ``ρ_J`` it is
    1. A symmetric ``A`` with a negative diagonal is read as ``-A`` (same Jacobi matrix, same SOR iterates for
    ``-A x = -b``): a negative definite ``A`` is as convergent as a positive definite one. Other matrices:
    ``radius = jacobi_radius = ρ_J`` (power iteration), exactly 0 when the Jacobi matrix is nilpotent by its
    pattern (:func:`nilpotent_jacobi`: a diagonal or triangular ``A``; ω = 1 is then best). ``convergent`` is
    True (definite: SOR converges for every ω in (0, 2); also a diagonal ``A``, whose SOR iteration matrix is
    ``(1 - ω) I``), False (symmetric, diagonal of one sign, ``μ_max > 1``: indefinite, SOR diverges for every
    ω, by the converse of Ostrowski–Reich) or None (no theorem applies).
    """

    __slots__ = ()

    def __new__(cls, radius: float, jacobi_radius: float, symmetric: bool, positive_diagonal: bool,
                convergent: bool | None) -> "SORSpectrum":
        return tuple.__new__(cls, (float(radius), float(jacobi_radius), bool(symmetric), bool(positive_diagonal),
                                   convergent))

    def __getnewargs__(self) -> tuple:
        """The five fields, so that ``copy.deepcopy`` and ``pickle`` rebuild it (tuple's own gives one argument):
        a :class:`~tunegym.agents.SORTuner` caches spectra, and a used tuner must copy."""
        return tuple(self)

    radius = property(lambda self: self[0])
    jacobi_radius = property(lambda self: self[1])
    symmetric = property(lambda self: self[2])
    positive_diagonal = property(lambda self: self[3])
    convergent = property(lambda self: self[4])

    @property
    def spd(self) -> bool:
        """Whether SOR provably converges for every ω in (0, 2) (the name is historical: definite, or diagonal)."""
        return self.convergent is True


def sor_spectrum(M: PreparedMatrix, *, seed: int = 0) -> SORSpectrum:
    """The :class:`SORSpectrum` of ``M``: both ends of the Jacobi spectrum for a symmetric matrix with a
    diagonal of one sign (dense ``eigvalsh`` up to 100 rows, else ARPACK ``eigsh`` on the scaled matrix, tol 1e-8;
    an ARPACK failure falls back to :func:`jacobi_spectral_radius`), :func:`jacobi_spectral_radius` for any other
    matrix; a diagonal matrix is read off without an eigensolver (ARPACK refuses its zero operator)."""
    n = M.n
    off = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(n, n))
    symmetric = _is_symmetric(off)
    positive = bool(np.all(M.diag > 0))
    if off.nnz == 0:  # J = 0: SOR's iteration matrix is (1 - ω) I, one sweep at ω = 1
        return SORSpectrum(0.0, 0.0, True, positive, True)
    sign = 1.0 if positive else (-1.0 if symmetric and bool(np.all(M.diag < 0)) else 0.0)
    if not (symmetric and sign):
        rho = jacobi_spectral_radius(M, symmetric=symmetric, seed=seed)
        return SORSpectrum(rho, rho, symmetric, positive, None)
    s = 1.0 / np.sqrt(sign * M.diag)
    B = -sign * (sp.diags(s) @ off @ sp.diags(s))  # = I - |D|^{-1/2} (sign A) |D|^{-1/2}
    if n <= 100:
        values = np.linalg.eigvalsh(B.toarray())
        low, high = float(values[0]), float(values[-1])
    else:
        v0 = np.random.default_rng(seed).standard_normal(n)
        try:
            high = float(spla.eigsh(B, k=1, which="LA", return_eigenvectors=False, tol=1e-8, maxiter=20_000,
                                    v0=v0)[0])
            low = float(spla.eigsh(B, k=1, which="SA", return_eigenvectors=False, tol=1e-6, maxiter=20_000,
                                   v0=v0)[0])
        except spla.ArpackError:  # no convergence, or an operator ARPACK refuses (error -9: zero start vector)
            rho = jacobi_spectral_radius(M, symmetric=True, seed=seed)
            return SORSpectrum(rho, rho, True, positive, None)
    convergent = True if high < 1.0 - 1e-12 else (False if high > 1.0 + 1e-9 else None)
    return SORSpectrum(high, max(abs(low), abs(high)), True, positive, convergent)


def _is_symmetric(off: sp.csr_matrix) -> bool:
    diff = off - off.T
    scale = abs(off).max() if off.nnz else 1.0
    return bool(diff.nnz == 0 or abs(diff).max() <= 1e-12 * max(scale, 1e-300))


def _relative_spread(absdiag: np.ndarray) -> float:
    """``std / mean`` of the diagonal's magnitudes; scale-free, so a matrix scaled by 1e300 has its unscaled
    spread (the direct formula's squares overflow there; only then is the diagonal rescaled by its largest entry,
    which leaves every other matrix's feature bit for bit as it was)."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.std(absdiag) / max(np.mean(absdiag), 1e-300))
    if not math.isfinite(spread) and absdiag.size and np.isfinite(absdiag).all():
        scaled = absdiag / absdiag.max()
        spread = float(np.std(scaled) / max(np.mean(scaled), 1e-300))
    return spread


def matrix_features(M: PreparedMatrix, *, jacobi_radius: float | None = None) -> np.ndarray:
    """The feature vector (see ``FEATURE_NAMES``), clipped into ``[FEATURE_LOW, FEATURE_HIGH]``."""
    n = M.n
    off = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(n, n))
    absdiag = np.abs(M.diag)
    offsum = np.asarray(abs(off).sum(axis=1)).ravel()
    dominance = absdiag / np.maximum(offsum, 1e-300)
    symmetric = _is_symmetric(off)
    rho = jacobi_spectral_radius(M, symmetric=symmetric) if jacobi_radius is None else jacobi_radius
    values = np.array(
        [
            math.log10(n),
            (off.nnz + n) / n,
            _relative_spread(absdiag),
            float(np.min(dominance)),
            float(np.mean(dominance)),
            1.0 if symmetric else 0.0,
            rho,
        ],
        dtype=np.float64,
    )
    values = np.nan_to_num(values, nan=0.0, posinf=1e9, neginf=0.0)
    return np.clip(values, FEATURE_LOW, FEATURE_HIGH).astype(np.float32)


def young_omega(jacobi_radius: float) -> float:
    """Young's optimal SOR factor ``2 / (1 + sqrt(1 - ρ_J²))``; ω = 1 when ``ρ_J >= 1`` (no guarantee)."""
    if not (0.0 <= jacobi_radius < 1.0):
        return 1.0
    return 2.0 / (1.0 + math.sqrt(1.0 - jacobi_radius**2))


def sor_convergence_factor(omega: float, jacobi_radius: float) -> float:
    """Spectral radius of the SOR iteration for a consistently ordered matrix (Young's theorem).

    ``ω - 1`` for ``ω >= ω*``; otherwise the larger root ``λ`` of ``(λ + ω - 1)² = λ ω² ρ_J²``.
    """
    mu = jacobi_radius
    w_star = young_omega(mu)
    if omega >= w_star or mu >= 1.0:
        return abs(omega - 1.0) if mu < 1.0 else float("nan")
    t = omega * mu
    root = 0.5 * t + math.sqrt(max(0.25 * t * t - (omega - 1.0), 0.0))
    return root * root


def jacobi_radius_from_rate(rate: float, omega: float, *, margin: float = 0.05) -> float:
    """Invert :func:`sor_convergence_factor`: the ``ρ_J`` implied by an observed SOR rate at ``omega``.

    Only defined on the under-relaxed side: at or past ``ω*`` the asymptotic rate is ``ω - 1`` whatever
    ``ρ_J`` is, and a rate measured over finitely many sweeps there sits slightly above ``ω - 1``, which
    would imply a spurious radius. So an estimate is returned only when ``omega`` is at least ``margin``
    below the ``ω*`` it implies; otherwise NaN (the observation says only that ω is near or past ω*).
    """
    if not (0.0 < rate < 1.0) or rate <= abs(omega - 1.0):
        return float("nan")
    mu = (rate + omega - 1.0) / (omega * math.sqrt(rate))
    if not 0.0 <= mu < 1.0 or omega > young_omega(mu) - margin:
        return float("nan")
    return float(mu)
