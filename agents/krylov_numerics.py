"""Compiled numerics of the Krylov learner (:class:`~tunegym.agents.krylov_tuner.KrylovReuseBandit`).

Why compiled: the learner decides and learns once per linear solve, and on the deploy path
(``KrylovTuner.solve``) that work is overhead on every call. Written as a dozen NumPy calls per step it cost about
0.2 ms per solve at 10^5 unknowns (most of it interpreter and dispatch, run with caches the solve has just
flushed), against a goal of < 2% of a solve that takes about 13 ms. Each routine here is one call.

- :func:`ridge_solve`: a ridge regression's coefficients from its Gram matrix (Cholesky; the matrix is the prior
  ``ridge · I`` plus outer products, so symmetric positive definite). The one solver every path uses (a fresh or
  loaded state, an update), so a resumed learner computes bit for bit what an uninterrupted one does.
- :func:`add_observation`: one observation added to an arm's two regressions, both re-solved.
- :func:`predict_fresh`: every fresh arm's predicted amortised, weighted work per nonzero.
- :func:`dot`: a sequential dot product (the order :func:`predict_fresh` sums in).
- :func:`prepare_context`: the clipped context and the regressions' basis functions of it.

Arrays are float64 and C-contiguous; shapes as :class:`KrylovReuseBandit` holds them (``gram[part, arm, d, d]``,
``targets[part, arm, d]``, ``thetas[part, arm, d]``; part 0 = log setup work, 1 = log iteration work).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["ridge_solve", "ridge_solve_all", "add_observation", "predict_fresh", "dot", "prepare_context"]


@numba.njit(cache=True, nogil=True)
def ridge_solve(gram: np.ndarray, target: np.ndarray, out: np.ndarray) -> bool:
    """``out = gram⁻¹ target`` by Cholesky; False (``out`` untouched beyond garbage) if ``gram`` is not positive
    definite or not finite, which a valid learner state never is."""
    d = gram.shape[0]
    factor = np.zeros((d, d))
    for j in range(d):
        s = gram[j, j]
        for k in range(j):
            s -= factor[j, k] * factor[j, k]
        if not s > 0.0 or not math.isfinite(s):
            return False
        factor[j, j] = math.sqrt(s)
        for i in range(j + 1, d):
            s = gram[i, j]
            for k in range(j):
                s -= factor[i, k] * factor[j, k]
            factor[i, j] = s / factor[j, j]
    for i in range(d):  # forward: L y = target (y kept in out)
        s = target[i]
        for k in range(i):
            s -= factor[i, k] * out[k]
        out[i] = s / factor[i, i]
    for i in range(d - 1, -1, -1):  # backward: L^T x = y
        s = out[i]
        for k in range(i + 1, d):
            s -= factor[k, i] * out[k]
        out[i] = s / factor[i, i]
    for i in range(d):
        if not math.isfinite(out[i]):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def ridge_solve_all(gram: np.ndarray, targets: np.ndarray, thetas: np.ndarray) -> bool:
    """:func:`ridge_solve` for every ``[part, arm]``; False if any Gram matrix is invalid."""
    for part in range(gram.shape[0]):
        for arm in range(gram.shape[1]):
            if not ridge_solve(gram[part, arm], targets[part, arm], thetas[part, arm]):
                return False
    return True


@numba.njit(cache=True, nogil=True)
def add_observation(gram: np.ndarray, targets: np.ndarray, thetas: np.ndarray, arm: int, phi: np.ndarray,
                    values: np.ndarray, solve: bool) -> bool:
    """Add ``phi φᵀ`` to both of ``arm``'s Gram matrices and ``values[part] · phi`` to their targets; with
    ``solve``, re-solve that arm's two coefficient vectors into ``thetas`` (False if that fails)."""
    d = phi.shape[0]
    for part in range(gram.shape[0]):
        value = values[part]
        for i in range(d):
            for j in range(d):
                gram[part, arm, i, j] += phi[i] * phi[j]
            targets[part, arm, i] += value * phi[i]
    if solve:
        for part in range(gram.shape[0]):
            if not ridge_solve(gram[part, arm], targets[part, arm], thetas[part, arm]):
                return False
    return True


@numba.njit(cache=True, nogil=True)
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``Σ a_k b_k`` summed in index order."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@numba.njit(cache=True, nogil=True)
def predict_fresh(thetas: np.ndarray, basis: np.ndarray, prior: np.ndarray, memory: bool, residual_weight: np.ndarray,
                  residual: np.ndarray, weights: np.ndarray, horizon: float, floor: float, reuse_index: int,
                  log_iteration_out: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(fresh, best, ties)``: per arm ``(max(e^{log setup} - floor, 0) / horizon + max(e^{log iter} - floor, 0))
    · weight`` with ``log setup = θ₀·φ + prior₀`` and ``log iter = θ₁·φ + prior₁`` (plus ``residual_weight ·
    residual`` when ``memory``), ``inf`` for the reuse arm, which is priced apart; the first arm of least
    ``fresh`` and how many arms share that value. ``log_iteration_out`` receives ``θ₁·φ + prior₁`` per arm."""
    n = thetas.shape[1]
    fresh = np.empty(n)
    for arm in range(n):
        log_setup = dot(thetas[0, arm], basis) + prior[0]
        log_iteration = dot(thetas[1, arm], basis) + prior[1]
        log_iteration_out[arm] = log_iteration
        if memory:
            log_iteration += residual_weight[arm] * residual[arm]
        setup = max(math.exp(log_setup) - floor, 0.0)
        iteration = max(math.exp(log_iteration) - floor, 0.0)
        fresh[arm] = (setup / horizon + iteration) * weights[arm]
    fresh[reuse_index] = np.inf
    best, ties = 0, 0
    for arm in range(n):
        if fresh[arm] < fresh[best]:
            best, ties = arm, 1
        elif fresh[arm] == fresh[best]:
            ties += 1
    return fresh, best, ties


@numba.njit(cache=True, nogil=True)
def prepare_context(context: np.ndarray, low: np.ndarray, high: np.ndarray, width: np.ndarray, knots: np.ndarray,
                    dominance_at: int, spread_at: int, band_at: int,
                    matrix_features: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(raw, basis, finite)``: the context clipped to ``[low, high]``, the regressions' inputs ``[1, x, d², s²,
    d·s, b², b·d, max(d - knot, 0)...]`` with ``x = 2 (raw - low) / width - 1`` on the first ``matrix_features``
    entries and ``d, s, b`` its entries at ``dominance_at``, ``spread_at``, ``band_at``, and whether every entry of
    the context was a number (NaN is not clipped; the caller refuses it)."""
    raw = np.empty(context.shape[0])
    finite = True
    for k in range(context.shape[0]):
        if math.isnan(context[k]):
            finite = False
        raw[k] = min(max(context[k], low[k]), high[k])
    m = matrix_features
    basis = np.empty(1 + m + 5 + knots.shape[0])
    basis[0] = 1.0
    for k in range(m):
        basis[1 + k] = 2.0 * (raw[k] - low[k]) / width[k] - 1.0
    dominance, spread, band = basis[1 + dominance_at], basis[1 + spread_at], basis[1 + band_at]
    basis[1 + m] = dominance * dominance
    basis[2 + m] = spread * spread
    basis[3 + m] = dominance * spread
    basis[4 + m] = band * band
    basis[5 + m] = band * dominance
    for k in range(knots.shape[0]):
        basis[6 + m + k] = max(dominance - knots[k], 0.0)
    return raw, basis, finite
