"""The dynamic SOR deploy path (ω chosen per block of sweeps, ``tunegym/SORDynamic-v0``) on matrices a user brings.

``SORTuner.solve`` for a dynamic tuner keeps the policy's ω per block and gets the static path's contract
(tests/test_robustness_sor.py): a nilpotent Jacobi matrix is solved at ω = 1, a matrix with no convergence guarantee
is judged across blocks and re-solved at a fixed ω when it diverges, a far warm start is swept, and a solve that needs
no sweep teaches nothing. One test per defect found by the review of the dynamic path; each fails without its fix (the
last is a guard for copying and saving a tuner mid-sequence, which already worked).
"""

from __future__ import annotations

import copy
import pickle

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from tunegym.agents import SORTuner
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.sor import poisson2d, prepare_matrix, solve
from tunegym.envs.sor.dynamic import SORBlockSolve
from tunegym.envs.sor.instances import LinearSystem


def _policy_omegas(result) -> np.ndarray:
    """The per-block ω of the policy's own attempt (the first one)."""
    return np.asarray(result.attempts[0][0])


# ---- matrices with no convergence guarantee ---------------------------------------------------------------------
def test_a_slightly_indefinite_non_symmetric_matrix_is_diverged_within_1000_sweeps(dynamic_tuner, skew):
    """Before: a 40x40 Laplacian shifted by -0.012 I (just past indefinite) plus a 1e-4 skew part ran the whole budget
    and ended "max_sweeps" after 10,000 sweeps (no stall guard, no fallback); SOR converges for no ω there."""
    n = 1600
    A = (poisson2d(40) - 0.012 * sp.identity(n) + 1e-4 * skew(n)).tocsr()
    result = copy.deepcopy(dynamic_tuner).solve(A, np.ones(n))
    assert result.status == "diverged" and result.sweeps <= 1000
    assert [omega for omega, _, _ in result.attempts[1:]] == [1.0, 0.5]
    assert result.sweeps == sum(sweeps for _, sweeps, _ in result.attempts)
    assert "re-solved" in result.reason and "stall_window" in result.reason


def test_a_singular_laplacian_with_no_solution_is_given_up_quickly_and_said_so(dynamic_tuner):
    """Before: an inconsistent ``b`` on a graph Laplacian ended "max_sweeps" after 10,000 sweeps with no word on why;
    the static path stops within 1,000 and says that A looks singular. A consistent ``b`` still converges (the stall
    guard does not cut a slow solve that keeps falling: 2,194 sweeps on a path of 60 nodes, as before)."""
    for graph, sweeps in ((nx.grid_2d_graph(20, 20), 508), (nx.path_graph(60), 2194)):
        lap = sp.csr_matrix(nx.laplacian_matrix(graph).astype(float))
        n = lap.shape[0]
        b = np.ones(n)
        b[0] += 1.0  # not orthogonal to the null vector (ones): no solution
        result = copy.deepcopy(dynamic_tuner).solve(lap, b)
        assert result.status == "diverged" and result.sweeps <= 1000 and "singular" in result.reason
        assert [omega for omega, _, _ in result.attempts[1:]] == [1.0]  # symmetric: one verdict for every ω in (0, 2)
        consistent = copy.deepcopy(dynamic_tuner).solve(lap, lap @ np.random.default_rng(0).standard_normal(n))
        assert consistent.converged and consistent.sweeps == sweeps


@pytest.mark.parametrize("n, beta", [(200, 0.47), (400, 0.45)])
def test_a_matrix_that_gauss_seidel_solves_is_never_left_diverged(dynamic_tuner, skew, n, beta):
    """Before: ``I + beta * skew`` (Jacobi eigenvalues imaginary, |μ| about 0.93: SOR converges only for ω below
    2 / (1 + |μ|), about 1.04) ended "diverged" under the policy's ω >= 1.05, though ω = 1 converges; now the solve is
    re-solved at ω = 1 and converges, both attempts charged."""
    A = (sp.identity(n) + beta * skew(n)).tocsr()
    b = np.ones(n)
    assert solve(A, b, 1.0).converged and solve(A, b, 1.5).status == "diverged"
    result = copy.deepcopy(dynamic_tuner).solve(A, b)
    assert result.converged and np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b)
    assert result.attempts[0][2] == "diverged" and _policy_omegas(result).min() > 1.0
    assert result.attempts[-1][:1] == (1.0,) and set(result.omega.tolist()) == {1.0}
    assert result.sweeps == sum(sweeps for _, sweeps, _ in result.attempts) and "re-solved" in result.reason


# ---- ω = 1 where the Jacobi matrix is nilpotent ------------------------------------------------------------------
def test_a_nilpotent_jacobi_matrix_is_solved_at_omega_one_and_teaches_nothing(dynamic_tuner):
    """Before: a diagonal matrix took 9 sweeps at the policy's ω = 1.1 (one at ω = 1) and an upper bidiagonal one 54
    (27 at ω = 1); ``choose_omega`` reported the policy's ω; ``learn=True`` fed those blocks to the policy."""
    tuner = copy.deepcopy(dynamic_tuner)
    policy = pickle.dumps(tuner.tuner.policy)
    diagonal = sp.diags(np.linspace(1.0, 10.0, 50)).tocsr()
    upper = sp.diags([np.full(500, 2.0), np.full(499, 1.0)], [0, 1]).tocsr()
    for A, sweeps in ((diagonal, 1), (upper, 27)):
        assert tuner.choose_omega(A) == 1.0
        result = tuner.solve(A, np.ones(A.shape[0]), learn=True)
        assert result.converged and result.sweeps == sweeps and set(result.omega.tolist()) == {1.0}
    assert pickle.dumps(tuner.tuner.policy) == policy


# ---- x0 ---------------------------------------------------------------------------------------------------------
def test_a_far_warm_start_is_swept_not_declared_diverged(dynamic_tuner):
    """Before: an ``x0`` whose residual exceeded 1e8 ||b|| (1e9 times the solution) ended "diverged" after 0 sweeps on
    an SPD matrix, by the tuner and by ``solve_system``; the limit is now 1e8 times the larger of ||b|| and
    ||b - A x0||, as ``solve`` judges it."""
    L, b = poisson2d(10), np.ones(100)
    far = 1e9 * solve(L, b, 1.5, tol=1e-12).x
    tuner = copy.deepcopy(dynamic_tuner)
    result = tuner.solve(L, b, x0=far)
    assert result.converged and np.linalg.norm(b - L @ result.x) <= 1e-8 * np.linalg.norm(b)
    assert tuner.solve_system(tuner.system(L, b), x0=far).converged
    # a solve that grows past the limit from such an x0 is still cut: ω = 1.95 on an indefinite matrix
    shifted = prepare_matrix(poisson2d(10) - 0.5 * sp.identity(100))
    indefinite = LinearSystem(matrix=shifted, b=b, context=np.zeros(1), jacobi_radius=1.1)
    process = SORBlockSolve(max_sweeps=5000)
    process.start(indefinite, x0=far)
    while not process.done:
        process.advance(1.95)
    assert process.status == "diverged" and process.sweeps < 5000


def test_a_solve_that_needs_no_sweep_teaches_the_policy_nothing(dynamic_tuner):
    """Before: ``b = 0`` or an exact ``x0`` (0 sweeps, cost 0) was fed to the online policy as the best possible
    outcome of the ω it happened to pick."""
    tuner = copy.deepcopy(dynamic_tuner)
    policy = pickle.dumps(tuner.tuner.policy)
    L = poisson2d(10)
    x = solve(L, np.ones(100), 1.5, tol=1e-14).x
    assert tuner.solve(L, np.zeros(100), learn=True).sweeps == 0
    assert tuner.solve(L, np.ones(100), x0=x, learn=True).sweeps == 0
    assert pickle.dumps(tuner.tuner.policy) == policy
    assert tuner.solve(L, np.ones(100), learn=True).sweeps > 0 and pickle.dumps(tuner.tuner.policy) != policy


def test_the_block_process_refuses_bad_guard_settings():
    """The guard settings are checked before any sweep (``divergence_factor``, ``stall_window``: new for the guard)."""
    for kwargs in ({"divergence_factor": 1.0}, {"divergence_factor": "1e4"}, {"stall_window": -1},
                   {"stall_window": 2.5}):
        with pytest.raises(ConfigError):
            SORBlockSolve(**kwargs)


# ---- a guard: a tuner mid-sequence copies, pickles and saves ----------------------------------------------------
def test_a_dynamic_tuner_mid_sequence_copies_pickles_and_saves(dynamic_tuner, tmp_path):
    """Not a defect: a dynamic tuner that has learned from some systems continues identically after
    ``copy.deepcopy``, ``pickle`` or ``save``/``load`` (the policy's counts and random state travel)."""
    tuner = copy.deepcopy(dynamic_tuner)
    systems = [(poisson2d(16) + 0.02 * k * sp.identity(256), np.random.default_rng(k).standard_normal(256))
               for k in range(7)]
    for A, b in systems[:4]:
        tuner.solve(A, b, learn=True)
    tuner.save(tmp_path / "dynamic.pt")
    clones = [copy.deepcopy(tuner), pickle.loads(pickle.dumps(tuner)), SORTuner.load(tmp_path / "dynamic.pt")]
    expected = [(r.omega.tolist(), r.sweeps) for r in (tuner.solve(A, b, learn=True) for A, b in systems[4:])]
    for clone in clones:
        assert clone.dynamic
        continued = [clone.solve(A, b, learn=True) for A, b in systems[4:]]
        assert [(r.omega.tolist(), r.sweeps) for r in continued] == expected
