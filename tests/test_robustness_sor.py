"""The SOR deploy path on matrices a user brings: ``SORTuner.solve``, ``tunegym.envs.sor.solve`` and the spectrum the
tuner reads. Each input ends in a typed error before any sweep, or in a defined status for the right reason.

One test per defect found by the robustness review of the SOR deploy path; each fails without its fix (the last
test is a guard for input formats that already worked, so they keep agreeing).
"""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.agents import SORTuner
from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.sor import poisson2d, prepare_matrix, solve, solve_prepared
from tunegym.envs.sor.solver import sor_iteration_radius
from tunegym.envs.sor.features import jacobi_spectral_radius, nilpotent_jacobi, sor_spectrum
from tunegym.envs.sor.process import SystemContext


@pytest.fixture(scope="module")
def ppo_tuner() -> SORTuner:
    return SORTuner.load("pretrained:sor-ppo")


def _diagonal(n: int) -> sp.csr_matrix:
    return sp.diags(np.linspace(1.0, 10.0, n)).tocsr()


# ---- a diagonal matrix: ARPACK's zero operator, and the ω the tuners played ----------------------------------------
@pytest.mark.parametrize("n", [1, 50, 400, 5000])
def test_a_diagonal_matrix_is_solved_in_one_sweep_by_every_tuner(readme_tuner, ppo_tuner, n):
    """Before: n > 100 raised ``ArpackError -9: Starting vector is zero`` from ``sor_spectrum`` (a raw traceback from
    ``tuner.solve``); n <= 100 ran 114 sweeps at ω = 1.85 (both tuners) where ω = 1 takes one."""
    A, b = _diagonal(n), np.ones(n)
    for tuner in (copy.deepcopy(readme_tuner), copy.deepcopy(ppo_tuner)):
        assert tuner.choose_omega(A) == 1.0
        result = tuner.solve(A, b, learn=True)
        assert result.converged and result.sweeps == 1 and result.omega == 1.0
        assert not tuner.adaptation.counts.any()  # a forced ω = 1 is no sample for the learner
    spectrum = sor_spectrum(prepare_matrix(A))
    assert spectrum.radius == spectrum.jacobi_radius == 0.0 and spectrum.convergent is True


def test_a_diagonal_matrix_with_stored_zeros_or_a_negative_diagonal_is_still_diagonal(readme_tuner):
    """Before: stored off-diagonal zeros (dropped by ``prepare_matrix``) or n > 100 still reached ARPACK."""
    coo = sp.coo_matrix(_diagonal(500))
    rows, cols = np.r_[coo.row, np.arange(5)], np.r_[coo.col, np.arange(5) + 7]
    stored_zeros = sp.coo_matrix((np.r_[coo.data, np.zeros(5)], (rows, cols)), shape=(500, 500))
    negative = sp.diags(np.r_[np.linspace(1, 10, 250), -np.linspace(1, 10, 250)]).tocsr()
    for A in (stored_zeros, negative):
        result = copy.deepcopy(readme_tuner).solve(A, np.ones(500))
        assert result.converged and result.sweeps == 1


def test_the_offset_context_of_a_zero_radius_matrix_is_the_least_aggressive_one(readme_tuner):
    """Before: ρ_J = 0 fell into the ``ρ_J >= 1`` branch and got the *lowest* trained offset, the one that asks for
    the largest ω (why both tuners played 1.85 on a diagonal matrix); its limit is the highest offset."""
    features = SystemContext(low=[-0.15], high=[0.45], kind="offset")
    M = prepare_matrix(_diagonal(50))
    assert features.context_for(M, jacobi_radius=0.0)[0] == pytest.approx(0.45)
    assert features.context_for(M, jacobi_radius=1.2)[0] == pytest.approx(-0.15)
    assert features.context_for(M, jacobi_radius=1e-310)[0] == np.inf  # clipped to high by observation()
    assert readme_tuner.policy_omega(_diagonal(50)) < readme_tuner.policy_omega(poisson2d(20))


def test_an_arpack_failure_falls_back_instead_of_raising(monkeypatch):
    """Before: only ``ArpackNoConvergence`` was caught; any other ``ArpackError`` (-9 on a trivial operator, -8, ...)
    escaped ``sor_spectrum`` and ``jacobi_spectral_radius`` as a raw traceback."""
    def refuse(*args, **kwargs):
        raise spla.ArpackError(-9)

    monkeypatch.setattr(spla, "eigsh", refuse)
    small, large = prepare_matrix(poisson2d(15)), prepare_matrix(poisson2d(25))
    assert sor_spectrum(small).radius == pytest.approx(np.cos(np.pi / 16))  # dense fallback (n <= 400)
    estimate = sor_spectrum(large).radius  # power iteration fallback (n > 400)
    assert 0.9 < estimate <= np.cos(np.pi / 26) + 1e-9
    assert 0.9 < jacobi_spectral_radius(large, symmetric=True) <= np.cos(np.pi / 26) + 1e-9


# ---- other matrices whose Jacobi radius is known exactly -----------------------------------------------------------
def test_triangular_matrices_have_jacobi_radius_zero_and_are_solved_at_omega_one(readme_tuner):
    """Before: power iteration reported ρ_J = 0.4997 for an upper bidiagonal matrix (true: 0, the Jacobi matrix is
    nilpotent), and the tuner played ω = 1.35, diverged (transient growth) and re-solved at ω = 1: 227 sweeps."""
    upper = sp.diags([np.full(500, 2.0), np.full(499, 1.0)], [0, 1]).tocsr()
    lower = sp.tril(sp.random(500, 500, density=0.01, random_state=1) + 2 * sp.identity(500)).tocsr()
    perm = np.random.default_rng(0).permutation(500)
    permuted = lower[perm][:, perm]
    for A in (upper, lower, permuted):
        M = prepare_matrix(A)
        off = sp.csr_matrix((M.data, M.indices, M.indptr), shape=(500, 500))
        assert nilpotent_jacobi(off) and jacobi_spectral_radius(M) == 0.0
    result = copy.deepcopy(readme_tuner).solve(upper, np.ones(500))
    assert result.converged and result.sweeps == 27 and len(result.attempts) == 1
    assert copy.deepcopy(readme_tuner).solve(lower, np.ones(500)).sweeps == 1  # forward substitution
    assert not nilpotent_jacobi(sp.csr_matrix(poisson2d(4) - sp.diags(poisson2d(4).diagonal())))


def test_a_negative_definite_matrix_has_the_spectrum_of_its_negation(readme_tuner):
    """Before: ``-A`` for an SPD ``A`` got no convergence guarantee (a non-positive diagonal sent it to the dense
    non-symmetric eigensolver, 2 s at n = 400) and an indefinite ``-A`` was swept until it diverged."""
    L = poisson2d(20)
    plus, minus = sor_spectrum(prepare_matrix(L)), sor_spectrum(prepare_matrix(-L))
    assert minus.convergent is True and minus.radius == pytest.approx(plus.radius)
    indefinite = -(L - 0.3 * sp.identity(400))
    assert sor_spectrum(prepare_matrix(indefinite)).convergent is False
    result = copy.deepcopy(readme_tuner).solve(indefinite, np.ones(400))
    assert result.status == "diverged" and result.sweeps == 0 and "negative diagonal" in result.reason


def test_the_dynamic_tuner_refuses_an_indefinite_symmetric_matrix_at_once(dynamic_tuner):
    """Before: the dynamic path skipped the Ostrowski–Reich refusal and swept (56 to 80 sweeps) to a divergence;
    a diagonal matrix of 400 rows raised the ARPACK error there too."""
    tuner = copy.deepcopy(dynamic_tuner)
    result = tuner.solve(poisson2d(20) - 0.3 * sp.identity(400), np.ones(400))
    assert result.status == "diverged" and result.sweeps == 0 and "Ostrowski" in result.reason
    assert tuner.solve(_diagonal(400), np.ones(400)).converged


def test_a_singular_laplacian_with_no_solution_is_given_up_quickly_and_said_so(readme_tuner):
    """Before: an inconsistent ``b`` on a path-graph Laplacian cost some 35,600 sweeps (a retry at ω = 0.5 stalled only
    after some 35,000), though SOR's verdict on a symmetric matrix with a positive diagonal is the same for every ω
    in (0, 2); the reason did not say why."""
    lap = sp.csr_matrix(nx.laplacian_matrix(nx.path_graph(500)).astype(float))
    b = np.ones(500)
    b[0] += 1.0  # not orthogonal to the null vector (ones): no solution
    result = copy.deepcopy(readme_tuner).solve(lap, b)
    assert result.status == "diverged" and result.sweeps <= 1000 and "singular" in result.reason
    assert [omega for omega, _, _ in result.attempts][1:] == [1.0]
    consistent = lap @ np.random.default_rng(0).standard_normal(500)
    assert copy.deepcopy(readme_tuner).solve(lap, consistent).converged
    cut = copy.deepcopy(readme_tuner).solve(lap, consistent, max_sweeps=50)  # converging, cut short: b may be fine
    assert cut.status == "max_sweeps" and "singular" not in (cut.reason or "")


# ---- the right-hand side, x0 and the settings -----------------------------------------------------------------------
def test_sor_iteration_radius_matches_the_dense_eigenvalues_and_gives_up_at_its_budget(skew):
    A = (poisson2d(15) - 0.02 * sp.identity(225) + 0.05 * skew(225)).tocsr()
    M = prepare_matrix(A)
    D, L, U = sp.diags(A.diagonal()), sp.tril(A, -1), sp.triu(A, 1)
    for omega in (0.5, 1.0, 1.3):
        G = np.linalg.solve((D / omega + L).toarray(), ((1 / omega - 1) * D - U).toarray())
        radius, used = sor_iteration_radius(M, omega)
        assert radius == pytest.approx(np.max(np.abs(np.linalg.eigvals(G))), abs=1e-7) and 0 < used <= 1000
    assert sor_iteration_radius(M, 1.0, max_sweeps=5) == (None, 5)
    small = prepare_matrix(poisson2d(4))  # 16 rows: dense, one sweep per unit vector
    assert sor_iteration_radius(small, 1.0) == (pytest.approx(np.cos(np.pi / 5) ** 2), 16)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_matrix_just_past_indefinite_is_diverged_within_1000_sweeps_for_any_b(readme_tuner, dynamic_tuner, skew,
                                                                               seed):
    """Before: a 40x40 Laplacian shifted just past indefinite plus a 1e-4 skew part took 1,226-1,796 sweeps (static
    tuner) and 1,280-1,910 (dynamic) with a random b: SOR's iteration matrix has spectral radius 1.0001 at ω = 1 and
    1.00004 at 0.5, and the 200-sweep stall test saw each only after the modes below 1 had decayed. The fallbacks
    are now ruled out by that radius (about 100 sweeps each) and are not swept."""
    n = 1600
    A = (poisson2d(40) - 0.012 * sp.identity(n) + 1e-4 * skew(n)).tocsr()
    b = np.random.default_rng(seed).standard_normal(n)
    for tuner in (readme_tuner, dynamic_tuner):
        result = copy.deepcopy(tuner).solve(A, b)
        assert result.status == "diverged" and result.sweeps <= 1000
        assert result.sweeps == sum(sweeps for _, sweeps, _ in result.attempts)
        assert [omega for omega, _, _ in result.attempts[1:]] == [1.0, 0.5]
        assert "ω=1: 1.00013" in result.reason and "(not swept)" in result.reason
        bounded = copy.deepcopy(tuner).solve(A, b, max_sweeps=300)  # max_sweeps bounds each attempt, check included
        assert all(sweeps <= 300 for _, sweeps, _ in bounded.attempts)
        # the dynamic policy's own attempt takes 270-340 sweeps to stall: diverged, or cut at max_sweeps first
        assert bounded.status == "diverged" if tuner is readme_tuner else bounded.status in ("diverged", "max_sweeps")


def test_a_slow_divergence_before_a_convergent_fallback_is_checked_charged_and_then_swept(readme_tuner, skew):
    # ω = 1.65 (the policy's) takes 200 sweeps to be found diverged, so ω = 1 is checked first: radius 0.94 < 1,
    # swept and converged; the check's sweeps are in that attempt's count
    A = (poisson2d(20) + 0.39 * skew(400)).tocsr()
    b = np.random.default_rng(0).standard_normal(400)
    result = copy.deepcopy(readme_tuner).solve(A, b)
    assert result.converged and [(w, status) for w, _, status in result.attempts] == [(1.65, "diverged"),
                                                                                       (1.0, "converged")]
    swept = len(result.residual_history) - 1
    assert result.attempts[1][1] > swept and "ω=1: 0.94" in result.reason and "(swept)" in result.reason
    assert np.linalg.norm(b - A @ result.x) <= 1e-8 * np.linalg.norm(b) * 1.01


def test_a_far_warm_start_is_swept_not_declared_diverged(readme_tuner, dynamic_tuner):
    """Before: an ``x0`` whose residual exceeded 1e8 ||b|| (a warm start from another system's solution) ended
    "diverged" after 0 sweeps on an SPD matrix; one whose residual overflowed ended "diverged" with an inf residual."""
    L, b = poisson2d(10), np.ones(100)
    far = 1e9 * solve(L, b, 1.5, tol=1e-12).x
    assert solve(L, b, 1.5, x0=far).converged
    assert copy.deepcopy(readme_tuner).solve(L, b, x0=far).converged
    # a block of SORDynamic-v0 resumes its own iterate and keeps the limit on ||b||, so growth across blocks is caught
    assert solve_prepared(prepare_matrix(L), b, 1.5, x0=far).status == "diverged"
    for run in (lambda x0: solve(L, b, 1.5, x0=x0), lambda x0: copy.deepcopy(readme_tuner).solve(L, b, x0=x0),
                lambda x0: copy.deepcopy(dynamic_tuner).solve(L, b, x0=x0)):
        with pytest.raises(MatrixError, match=r"residual b - A x0 overflows"):
            run(np.full(100, 1e200))


def test_a_string_tol_or_omega_is_refused_as_solve_refuses_it(readme_tuner, dynamic_tuner):
    """Before: ``SORTuner.solve(tol="1e-8")`` parsed the string (``solve`` refused it) and ``solve(A, b, "1.5")``
    parsed a string ω (while its ``tol`` and ``max_sweeps`` refuse strings)."""
    L, b = poisson2d(6), np.ones(36)
    for tuner in (readme_tuner, dynamic_tuner):
        with pytest.raises(ConfigError, match="tol must be a positive finite number"):
            copy.deepcopy(tuner).solve(L, b, tol="1e-8")
    for omega in ("1.5", ["1.5"] * 36):
        with pytest.raises(ConfigError, match="omega must be a real number"):
            solve(L, b, omega)
    assert copy.deepcopy(readme_tuner).solve(L, b, tol=np.float64(1e-6)).converged  # real numbers still work


def test_a_solve_that_needs_no_sweep_teaches_the_deploy_learner_nothing(readme_tuner):
    """Before: a zero ``b`` or an exact ``x0`` (0 sweeps) was recorded as a cost of log(1 / predicted sweeps), far
    below any real solve's, so the arm it happened to play stayed greedy for the rest of the sequence."""
    tuner = copy.deepcopy(readme_tuner)
    L = poisson2d(10)
    x = solve(L, np.ones(100), 1.5, tol=1e-14).x
    assert tuner.solve(L, np.zeros(100), learn=True).sweeps == 0
    assert tuner.solve(L, np.ones(100), x0=x, learn=True).sweeps == 0
    assert tuner.adaptation.t == 0 and not tuner.adaptation.counts.any()
    assert tuner.solve(L, np.ones(100), learn=True).sweeps > 0 and tuner.adaptation.t == 1


# ---- a guard: every format of one matrix is one system ------------------------------------------------------------
def test_every_storage_of_one_matrix_gives_the_same_omega_and_sweeps(readme_tuner):
    """Not a defect: csr_array, COO, CSC, dense, float32, int, unsorted or duplicated entries, stored zeros, and a
    list or column ``b`` all give the answer the float64 CSR matrix gets (the review probed each)."""
    L = poisson2d(10).tocsr()
    reference = copy.deepcopy(readme_tuner).solve(L, np.ones(100))
    coo = L.tocoo()
    unsorted = sp.csr_matrix((L.data.copy(), L.indices.copy(), L.indptr.copy()), shape=L.shape)
    for i in range(100):
        s, e = unsorted.indptr[i], unsorted.indptr[i + 1]
        unsorted.indices[s:e], unsorted.data[s:e] = unsorted.indices[s:e][::-1].copy(), unsorted.data[s:e][::-1].copy()
    unsorted.has_sorted_indices = False
    halves = np.r_[0.5 * coo.data, 0.5 * coo.data]
    duplicated = sp.coo_matrix((halves, (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])), shape=L.shape)
    stored_zero = sp.coo_matrix((np.r_[coo.data, 0.0], (np.r_[coo.row, 0], np.r_[coo.col, 50])), shape=L.shape)
    variants = [(sp.csr_array(L), np.ones(100)), (coo, np.ones(100)), (L.tocsc(), np.ones(100)),
                (L.toarray(), np.ones(100)), (L.astype(np.float32), np.ones(100, np.float32)),
                (L.astype(np.int64), np.ones(100, int)),
                (unsorted, np.ones(100)), (duplicated, np.ones(100)), (stored_zero, np.ones(100)), (L, [1.0] * 100),
                (L, np.ones((100, 1)))]
    for A, b in variants:
        result = copy.deepcopy(readme_tuner).solve(A, b)
        assert (result.omega, result.sweeps, result.status) == (reference.omega, reference.sweeps, reference.status)


def test_a_tuner_that_has_solved_can_be_copied_and_pickled(readme_tuner):
    """Before: ``copy.deepcopy`` or ``pickle`` of a tuner with a cached spectrum (any tuner after one solve) raised
    ``TypeError: SORSpectrum.__new__() missing 4 required positional arguments`` (the bench copies tuners)."""
    import pickle

    tuner = copy.deepcopy(readme_tuner)
    tuner.solve(poisson2d(6), np.ones(36), learn=True)
    for clone in (copy.deepcopy(tuner), pickle.loads(pickle.dumps(tuner))):
        assert clone.spectrum(poisson2d(6)) == tuner.spectrum(poisson2d(6))
        assert clone.choose_omega(poisson2d(6)) == tuner.choose_omega(poisson2d(6))


def test_the_divergence_benchmark_runs_and_its_check_saves_sweeps(tmp_path, benchmark_script):
    """``benchmarks/sor_divergence.py`` (the README's divergence figures) runs end to end on its smallest matrix."""
    module = benchmark_script("sor_divergence")
    result = module.main(["--grids", "40", "--seeds", "1", "--out", str(tmp_path / "d.json")])
    assert {row["tuner"] for row in result["rows"]} == {"static", "dynamic"}
    for row in result["rows"]:
        assert row["with_check"]["status"] == row["without_check"]["status"] == "diverged"
        assert row["with_check"]["sweeps"] <= 1000 < row["without_check"]["sweeps"]
    import tunegym.agents.sor_tuner as sor_tuner

    assert sor_tuner.RADIUS_CHECK_SWEEPS == 1000  # restored
