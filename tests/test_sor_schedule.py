"""The level-scheduled SOR sweep computes exactly the natural-order iterates, and is used where it pays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tunegym.envs.sor.instances import poisson2d
from tunegym.envs.sor.solver import prepare_matrix, solve_prepared


def _matrices():
    rng = np.random.default_rng(3)
    out = {f"laplacian-{g}": poisson2d(g) + 0.3 * sp.eye(g * g) for g in (4, 10)}
    out["laplacian-7x12"] = poisson2d((7, 12)) + 0.1 * sp.eye(84)
    # non-symmetric pattern (a one-sided diagonal coupling): the schedule is built on the symmetrised pattern
    n = 12
    coupling = rng.uniform(-0.5, 0.5, n * n - n - 1)
    coupling[np.arange(n * n - n - 1) % n == n - 1] = 0.0  # (r, c) -> (r+1, c+1) only, no wrap-around
    one_sided = (poisson2d(n) + sp.diags(coupling, n + 1) + 0.2 * sp.eye(n * n)).tocsr()
    one_sided.eliminate_zeros()
    out["one-sided-12"] = one_sided
    # unstructured, symmetric: random pattern on a banded matrix
    R = sp.random(150, 150, density=0.02, random_state=5, format="csr")
    out["random-150"] = (R + R.T + sp.diags(np.abs(R + R.T).sum(1).A1 + 1.0)).tocsr()
    return out


MATRICES = _matrices()


@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("omega", [0.8, 1.0, 1.5, 1.9])
def test_scheduled_sweep_gives_the_natural_order_iterates(name, omega):
    M = prepare_matrix(MATRICES[name])
    assert (M.schedule is None) == name.startswith("random")  # else this would compare the kernel with itself
    rng = np.random.default_rng(0)
    b = rng.standard_normal(M.n)
    x0 = rng.standard_normal(M.n)
    for kwargs in ({}, {"x0": x0}, {"max_sweeps": 9}, {"stall_window": 4}):
        scheduled = solve_prepared(M, b, omega, **kwargs)
        natural = solve_prepared(M.natural_order(), b, omega, **kwargs)
        assert scheduled.sweeps == natural.sweeps
        assert scheduled.status == natural.status
        np.testing.assert_array_equal(scheduled.x, natural.x)  # bit for bit, not approximately
        np.testing.assert_allclose(scheduled.residual_history, natural.residual_history, rtol=1e-12)


def test_per_row_relaxation_factors_follow_their_rows():
    M = prepare_matrix(MATRICES["laplacian-10"])
    omega = np.linspace(1.1, 1.7, M.n)
    b = np.ones(M.n)
    np.testing.assert_array_equal(solve_prepared(M, b, omega).x, solve_prepared(M.natural_order(), b, omega).x)


def test_grids_are_scheduled_and_chains_are_not():
    grid = prepare_matrix(poisson2d(10))
    assert grid.schedule is not None and grid.schedule.levels == 19  # the anti-diagonals of a 10x10 grid
    chain = prepare_matrix(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(50, 50)))
    assert chain.schedule is None  # a tridiagonal matrix has one row per level: nothing to overlap
    star = sp.lil_matrix(np.eye(40) * 50.0)
    star[0, :] = 1.0
    star[:, 0] = 1.0
    star[0, 0] = 50.0
    assert prepare_matrix(star.tocsr()).schedule is None  # one dense row would more than double the entries



def test_a_fresh_matrix_is_scheduled_only_once_its_solve_proves_long():
    A = poisson2d(24) + 0.01 * sp.eye(576)
    b = np.random.default_rng(1).standard_normal(576)
    short = prepare_matrix(A)
    quick = solve_prepared(short, b, 1.5, tol=1e-2)
    assert quick.sweeps < 64 and "schedule" not in short.__dict__  # never paid for a build
    fresh = prepare_matrix(A)
    long = solve_prepared(fresh, b, 1.0)  # Gauss-Seidel: hundreds of sweeps
    assert long.sweeps > 300 and fresh.__dict__.get("schedule") is not None  # resumed in level order
    reference = solve_prepared(fresh.natural_order(), b, 1.0)
    assert long.sweeps == reference.sweeps and long.status == reference.status
    np.testing.assert_array_equal(long.x, reference.x)
    np.testing.assert_allclose(long.residual_history, reference.residual_history, rtol=1e-12)


@pytest.mark.parametrize("shift, omega, kwargs, ends", [
    (0.05, 1.97, {"max_sweeps": 100}, "max_sweeps"),
    (0.05, 1.99, {"stall_window": 80}, "diverged"),  # the stall rule reads residuals from before the resume
    (-0.6, 1.0, {}, "diverged"),  # indefinite: the growth rule's minimum carries over the resume
])
def test_resuming_keeps_the_divergence_and_stall_rules(shift, omega, kwargs, ends):
    A = poisson2d(12) + shift * sp.eye(144)
    b = np.ones(144)
    fresh = prepare_matrix(A)
    resumed = solve_prepared(fresh, b, omega, **kwargs)
    assert resumed.sweeps > 64 and fresh.__dict__.get("schedule") is not None and resumed.status == ends
    natural = solve_prepared(fresh.natural_order(), b, omega, **kwargs)
    assert (resumed.sweeps, resumed.status) == (natural.sweeps, natural.status)
    np.testing.assert_array_equal(resumed.x, natural.x)


def test_matrices_with_one_pattern_share_its_schedule():
    base = prepare_matrix(poisson2d(8))
    assert base.shifted(0.3).schedule is base.schedule
    scaled = base.with_values(2.0 * base.data, 1.0 + 2.0 * base.diag)
    assert scaled.schedule is base.schedule
    b = np.ones(base.n)
    np.testing.assert_array_equal(solve_prepared(scaled, b, 1.3).x, solve_prepared(scaled.natural_order(), b, 1.3).x)
