"""Compiled numerics of the Krylov learner (:class:`~tunegym.agents.krylov_tuner.KrylovReuseBandit`).

Why compiled: the learner decides and learns once per linear solve, and on the deploy path
(``KrylovTuner.solve``) that work is overhead on every call. Written as a few dozen NumPy calls per step it cost
about 0.3 ms per solve at 10^5 unknowns, and several times that when the caller's own work between solves (a time
stepper, PyAMG) has flushed the caches: most of it interpreter and dispatch, against a goal of < 2% of a solve
that takes about 13 ms. So a decision is one call (:func:`predict`) and a live update two (:func:`remember`,
:func:`add_observation`).

- :func:`predict`: the clipped context, the regressions' basis functions of it, every fresh arm's predicted
  amortised, weighted work per nonzero with the first least one and its ties, and the predicted work of reusing the
  kept preconditioner.
- :func:`remember`: one live solve's step of the residual memory.
- :func:`add_observation`: one observation added to an arm's two regressions, both re-solved.
- :func:`ridge_solve`: a ridge regression's coefficients from its Gram matrix (Cholesky; the matrix is the prior
  ``ridge · I`` plus outer products, so symmetric positive definite). The one solver every path uses (a fresh or
  loaded state, an update), so a resumed learner computes bit for bit what an uninterrupted one does.
- :func:`warm`: every kernel loaded once per process when a learner is built, not at its first use mid-run.

Arrays are float64 and C-contiguous; shapes as :class:`KrylovReuseBandit` holds them (``gram[part, arm, d, d]``,
``targets[part, arm, d]``, ``thetas[part, arm, d]``; part 0 = log setup work, 1 = log iteration work). The model's
constants live here, where the kernels read them as compile-time constants.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tunegym.envs.krylov.process import FEATURE_NAMES, MATRIX_FEATURES

__all__ = ["predict", "remember", "add_observation", "ridge_solve", "ridge_solve_all", "basis_of", "reuse_basis",
           "clip_context", "lapses", "dot", "warm", "DOMINANCE_KNOTS", "FLOOR", "PRIOR", "DIM"]

#: knots of the piecewise-linear term in diagonal dominance (scaled to [-1, 1]): an arm's iteration count can turn
#: sharply as a time step moves a system from mass- to stiffness-dominated, which a quadratic smooths over
DOMINANCE_KNOTS = np.linspace(-1.0, 1.0, 9)[1:-1]
#: the regressions' inputs: 1, the matrix features, five squares and products, the hinges
DIM = 1 + MATRIX_FEATURES + 5 + len(DOMINANCE_KNOTS)
FLOOR = 0.01  # work per nonzero added before logs (setup of "none" is 0)
#: the ridge prior's mean (log work per nonzero) for setup and iterations: an arm with little data is predicted
#: to cost about 10 + 300 mat-vecs, pessimistic, so it is played only when exploring, never by a shrunk estimate
PRIOR = np.array([math.log(10.0), math.log(300.0)])

_AT = {name: i for i, name in enumerate(FEATURE_NAMES)}
_DOMINANCE, _SPREAD, _BAND = _AT["diagonal_dominance"], _AT["log10_diag_spread"], _AT["offdiag_band1_fraction"]
_CHANGE, _AGE = _AT["log10_diag_change"], _AT["log10_kept_age"]
_KEPT_NONE, _PREV_FAILED = _AT["kept_none"], _AT["prev_failed"]
_PREV_WORK, _PREV_ITERATION = _AT["prev_log10_work_per_nnz"], _AT["prev_log10_iteration_work_per_nnz"]
_PRIOR_SETUP, _PRIOR_ITERATION = float(PRIOR[0]), float(PRIOR[1])


@numba.njit(cache=True, nogil=True)
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``Σ a_k b_k`` summed in index order."""
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@numba.njit(cache=True, nogil=True)
def basis_of(raw: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The regressions' inputs ``[1, x, d², s², d·s, b², b·d, max(d - knot, 0)...]`` of a clipped context, with
    ``x = 2 (raw - low) / width - 1`` on the matrix features (``box`` rows: low, high, width) and ``d, s, b`` its
    dominance, spread and band entries."""
    m = MATRIX_FEATURES
    basis = np.empty(DIM)
    basis[0] = 1.0
    for k in range(m):
        basis[1 + k] = 2.0 * (raw[k] - box[0, k]) / box[2, k] - 1.0
    dominance, spread, band = basis[1 + _DOMINANCE], basis[1 + _SPREAD], basis[1 + _BAND]
    basis[1 + m] = dominance * dominance
    basis[2 + m] = spread * spread
    basis[3 + m] = dominance * spread
    basis[4 + m] = band * band
    basis[5 + m] = band * dominance
    for k in range(DOMINANCE_KNOTS.shape[0]):
        basis[6 + m + k] = max(dominance - DOMINANCE_KNOTS[k], 0.0)
    return basis


@numba.njit(cache=True, nogil=True)
def reuse_basis(raw: np.ndarray) -> np.ndarray:
    """The reuse regression's inputs ``[1, c, c², age]``: ``c`` the log10 diagonal change centred (-6..1 to -3..4),
    ``age`` log10 of the kept preconditioner's age."""
    c = raw[_CHANGE] + 3.0
    basis = np.empty(4)
    basis[0], basis[1], basis[2], basis[3] = 1.0, c, c * c, raw[_AGE]
    return basis


@numba.njit(cache=True, nogil=True)
def clip_context(context: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(context clipped to [low, high], whether it held no NaN)`` (NaN is not clipped; the caller refuses it)."""
    raw = np.empty(context.shape[0])
    finite = True
    for k in range(context.shape[0]):
        if math.isnan(context[k]):
            finite = False
        raw[k] = min(max(context[k], box[0, k]), box[1, k])
    return raw, finite


@numba.njit(cache=True, nogil=True)
def lapses(raw: np.ndarray, residual_reset: float) -> bool:
    """Whether the residual memory starts afresh at this context: the first system of a sequence (nothing kept, no
    previous solve) or a diagonal that changed by ``residual_reset`` (log10 relative) or more."""
    first = raw[_KEPT_NONE] >= 0.5 and raw[_PREV_WORK] <= 0.0
    return first or raw[_CHANGE] >= residual_reset


@numba.njit(cache=True, nogil=True)
def predict(context: np.ndarray, box: np.ndarray, thetas: np.ndarray, residual_weight: np.ndarray,
            residual: np.ndarray, weights: np.ndarray, horizon: float, reuse_index: int, reuse_theta: np.ndarray,
            kept_weight: float, residual_reset: float, log_iteration_out: np.ndarray):
    """One decision's numbers: ``(raw, basis, finite, fresh, best, ties, reuse, lapsed)``.

    ``raw``, ``finite``: :func:`clip_context`; ``basis``: :func:`basis_of`; ``lapsed``: :func:`lapses`. ``fresh``
    per arm ``(max(e^{log setup} - FLOOR, 0) / horizon + max(e^{log iter} - FLOOR, 0)) · weight`` with
    ``log setup = θ₀·φ + PRIOR₀`` and ``log iter = θ₁·φ + PRIOR₁`` (plus ``residual_weight · residual`` unless
    ``lapsed``), ``inf`` for the reuse arm; ``best`` the first arm of least ``fresh`` and ``ties`` how many share
    that value; ``reuse`` the predicted work per nonzero of reusing the kept preconditioner: the previous solve's
    iteration work times ``e^{growth}``, growth from the reuse regression on :func:`reuse_basis` and the reuse arm's
    memory, times ``kept_weight`` (``inf`` when nothing is kept or the previous
    solve failed). ``log_iteration_out`` receives ``θ₁·φ + PRIOR₁`` per arm."""
    raw, finite = clip_context(context, box)
    basis = basis_of(raw, box)
    lapsed = lapses(raw, residual_reset)
    n = thetas.shape[1]
    fresh = np.empty(n)
    for arm in range(n):
        log_setup = dot(thetas[0, arm], basis) + _PRIOR_SETUP
        log_iteration = dot(thetas[1, arm], basis) + _PRIOR_ITERATION
        log_iteration_out[arm] = log_iteration
        if not lapsed:
            log_iteration += residual_weight[arm] * residual[arm]
        setup = max(math.exp(log_setup) - FLOOR, 0.0)
        iteration = max(math.exp(log_iteration) - FLOOR, 0.0)
        fresh[arm] = (setup / horizon + iteration) * weights[arm]
    fresh[reuse_index] = np.inf
    best, ties = 0, 0
    for arm in range(n):
        if fresh[arm] < fresh[best]:
            best, ties = arm, 1
        elif fresh[arm] == fresh[best]:
            ties += 1
    reuse = np.inf
    if raw[_KEPT_NONE] < 0.5 and raw[_PREV_FAILED] < 0.5:
        last = 10.0 ** raw[_PREV_ITERATION] - 1.0
        growth = dot(reuse_theta, reuse_basis(raw))
        if not lapsed:
            growth += residual_weight[reuse_index] * residual[reuse_index]
        reuse = ((last + FLOOR) * math.exp(growth) - FLOOR) * kept_weight
    return raw, basis, finite, fresh, best, ties, reuse, lapsed


@numba.njit(cache=True, nogil=True)
def remember(residual: np.ndarray, residual_weight: np.ndarray, decay: float, lapsed: bool, held: int, built: int,
             built_error: float, reuse_index: int, reuse_error: float, reused: bool) -> None:
    """Age the residual memory by one live solve (``lapsed``: drop it first) and store what the solve taught it: a
    freshly ``built`` arm (``-1``: none) its prediction error, a reuse (``reused``) the reuse model's error in the
    reuse arm's slot while the ``held`` arm (``-1``: none) keeps its weight, since the preconditioner it was
    measured on is still the one in use."""
    if lapsed:
        residual_weight[:] = 0.0
    kept_weight = residual_weight[held] if held >= 0 else 0.0
    for k in range(residual_weight.shape[0]):
        residual_weight[k] *= decay
    if held >= 0:
        residual_weight[held] = kept_weight
    if decay <= 0.0:
        return
    if built >= 0:
        residual[built] = built_error
        residual_weight[built] = decay
    if reused:
        residual[reuse_index] = reuse_error
        residual_weight[reuse_index] = decay


@numba.njit(cache=True, nogil=True)
def ridge_solve(gram: np.ndarray, target: np.ndarray, out: np.ndarray) -> bool:
    """``out = gram⁻¹ target`` by Cholesky; False (``out`` then holds garbage) if ``gram`` is not positive definite
    or not finite, which a valid learner state never is."""
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
                    setup: float, iteration: float, solve: bool) -> bool:
    """Add ``φ φᵀ`` to both of ``arm``'s Gram matrices and ``(log(work + FLOOR) - PRIOR[part]) · φ`` to their
    targets (``setup`` and ``iteration`` work per nonzero); with ``solve``, re-solve that arm's two coefficient
    vectors into ``thetas``. False if a value is not finite (nothing is then added) or a solve fails."""
    values = np.empty(2)
    values[0] = math.log(setup + FLOOR) - _PRIOR_SETUP
    values[1] = math.log(iteration + FLOOR) - _PRIOR_ITERATION
    if not (math.isfinite(values[0]) and math.isfinite(values[1])):
        return False
    d = phi.shape[0]
    for part in range(2):
        value = values[part]
        for i in range(d):
            for j in range(d):
                gram[part, arm, i, j] += phi[i] * phi[j]
            targets[part, arm, i] += value * phi[i]
    if solve:
        for part in range(2):
            if not ridge_solve(gram[part, arm], targets[part, arm], thetas[part, arm]):
                return False
    return True


_WARM = False


def warm() -> None:
    """Call every kernel here once on tiny arrays of the types the learner passes, so that numba loads them (from
    its cache, or compiles them on a first run) now rather than inside a solve: a first call costs milliseconds,
    which a deployed tuner's first decisions (one of them a reuse, hours into a run) should not pay. Once per
    process; :class:`~tunegym.agents.krylov_tuner.KrylovReuseBandit` calls it when built."""
    global _WARM
    if _WARM:
        return
    arms, d = 2, DIM
    box = np.stack([np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES))])
    gram = np.tile(np.eye(d), (2, arms, 1, 1))
    targets, thetas = np.zeros((2, arms, d)), np.zeros((2, arms, d))
    residual, residual_weight, weights = np.zeros(arms), np.zeros(arms), np.ones(arms)
    raw, finite = clip_context(np.full(len(FEATURE_NAMES), 0.5), box)
    basis = basis_of(raw, box)
    reuse_basis(raw)
    lapses(raw, -0.5)
    ridge_solve_all(gram, targets, thetas)
    ridge_solve(np.eye(4), np.zeros(4), np.zeros(4))
    predict(raw, box, thetas, residual_weight, residual, weights, 2.0, arms - 1, np.zeros(4), 1.0, -0.5,
            np.zeros(arms))
    dot(basis, basis)
    remember(residual, residual_weight, 0.5, False, 0, -1, 0.0, arms - 1, 0.1, True)
    add_observation(gram, targets, thetas, 0, basis, 1.0, 1.0, True)
    _WARM = True
