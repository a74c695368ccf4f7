"""The SOR solver: right answers, exact sweep counts, and clear failures on bad input."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.envs.core.errors import ConfigError, InstanceError, MatrixError
from tunegym.envs.sor import load_matrix, poisson2d, solve
from tunegym.envs.sor.features import (
    jacobi_radius_from_rate,
    jacobi_spectral_radius,
    sor_convergence_factor,
    young_omega,
)
from tunegym.envs.sor.solver import prepare_matrix


def python_sor_sweeps(A: np.ndarray, b: np.ndarray, omega: float, tol: float) -> tuple[int, np.ndarray]:
    """Textbook SOR, one row at a time, residual checked after every sweep."""
    x = np.zeros_like(b)
    bnorm = np.linalg.norm(b)
    sweeps = 0
    while np.linalg.norm(b - A @ x) / bnorm >= tol:
        for i in range(len(b)):
            sigma = A[i] @ x - A[i, i] * x[i]
            x[i] = (1 - omega) * x[i] + omega * (b[i] - sigma) / A[i, i]
        sweeps += 1
    return sweeps, x


@pytest.fixture
def system():
    rng = np.random.default_rng(7)
    A = poisson2d(8) + 0.1 * sp.identity(64)
    return sp.csr_matrix(A), rng.standard_normal(64)


def test_solution_matches_spsolve(system):
    A, b = system
    result = solve(A, b, 1.5, tol=1e-10)
    assert result.converged and result.status == "converged"
    np.testing.assert_allclose(result.x, spla.spsolve(A.tocsc(), b), rtol=1e-8, atol=1e-9)
    assert result.residual < 1e-10
    assert np.linalg.norm(b - A @ result.x) / np.linalg.norm(b) == pytest.approx(result.residual, rel=1e-6)


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.3, 1.6, 1.9])
def test_sweep_count_is_exact(system, omega):
    A, b = system
    expected_sweeps, expected_x = python_sor_sweeps(A.toarray(), b, omega, 1e-8)
    result = solve(A, b, omega, tol=1e-8)
    assert result.sweeps == expected_sweeps
    np.testing.assert_allclose(result.x, expected_x, rtol=1e-10, atol=1e-12)
    assert result.residual_history.shape == (expected_sweeps + 1,)
    assert result.residual_history[0] == pytest.approx(1.0)


def test_dense_nonsymmetric_input_and_initial_guess():
    rng = np.random.default_rng(1)
    A = rng.uniform(-1, 1, (30, 30)) + 40 * np.eye(30)  # diagonally dominant, not symmetric
    b = rng.standard_normal(30)
    exact = np.linalg.solve(A, b)
    assert solve(A, b, 1.0, x0=exact).sweeps == 0
    result = solve(A, b, 1.1)
    assert result.converged
    np.testing.assert_allclose(result.x, exact, rtol=1e-6)


def test_zero_rhs_is_solved_without_sweeps():
    result = solve(poisson2d(4), np.zeros(16), 1.5)
    assert result.converged and result.sweeps == 0 and np.all(result.x == 0)


@pytest.mark.parametrize("omega", [2.3, -0.5])
def test_omega_outside_zero_two_diverges_quickly_and_quietly(omega):
    A = poisson2d(10)
    b = np.ones(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning storm
        result = solve(A, b, omega, max_sweeps=100_000)
    assert result.status == "diverged" and not result.converged
    assert result.sweeps < 500
    assert np.all(np.isfinite(result.x))


def test_indefinite_matrix_diverges_instead_of_hanging():
    A = poisson2d(10) - 1.0 * sp.identity(100)  # indefinite: SOR diverges for every omega
    result = solve(A, np.ones(100), 1.2, max_sweeps=1_000_000)
    assert result.status == "diverged"


def test_max_sweeps_caps_the_work(system):
    A, b = system
    result = solve(A, b, 1.0, max_sweeps=3)
    assert result.status == "max_sweeps" and result.sweeps == 3 and not result.converged


@pytest.mark.parametrize(
    "A, b, match",
    [
        (np.ones((3, 4)), np.ones(3), "square"),
        (np.array([[1.0, 2.0], [3.0, 0.0]]), np.ones(2), "zero"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), "NaN"),
        (np.eye(3), np.ones(4), "shape"),
        (np.eye(3), np.array([1.0, np.inf, 0.0]), "NaN or infinite"),
        (np.ones(3), np.ones(3), "2-D"),
        (np.eye(2) * (1 + 1j), np.ones(2), "complex"),
        (np.eye(2), np.ones(2) * 1j, "complex"),
    ],
)
def test_bad_input_raises_matrix_error_before_any_sweep(A, b, match):
    with pytest.raises(MatrixError, match=match):
        solve(A, b, 1.5)


@pytest.mark.parametrize("kwargs", [{"omega": float("nan")}, {"omega": 0.0}, {"omega": 1.5, "tol": 0.0},
                                    {"omega": 1.5, "max_sweeps": -1}])
def test_bad_parameters_raise_config_error(kwargs):
    omega = kwargs.pop("omega")
    with pytest.raises(ConfigError):
        solve(np.eye(2) * 2, np.ones(2), omega, **kwargs)


def test_load_matrix_formats(tmp_path):
    A = sp.csr_matrix(poisson2d(5))
    scipy.io.mmwrite(str(tmp_path / "a.mtx"), A)
    sp.save_npz(tmp_path / "a.npz", A)
    with open(tmp_path / "a.mtx", "rb") as src, gzip.open(tmp_path / "b.mtx.gz", "wb") as dst:
        dst.write(src.read())
    for name in ("a.mtx", "a.npz", "b.mtx.gz"):
        loaded = load_matrix(tmp_path / name)
        assert (loaded != A).nnz == 0
    (tmp_path / "a.csv").write_text("1,2\n3,4\n")
    with pytest.raises(InstanceError, match="unsupported"):
        load_matrix(tmp_path / "a.csv")
    (tmp_path / "bad.mtx").write_text("this is not matrix market\n")
    with pytest.raises(InstanceError, match="could not read"):
        load_matrix(tmp_path / "bad.mtx")
    with pytest.raises(InstanceError, match="no matrix file"):
        load_matrix(tmp_path / "missing.npz")


def test_young_theory_predicts_the_observed_rate():
    grid = 30
    A = poisson2d(grid)
    rho = np.cos(np.pi / (grid + 1))  # Jacobi radius of the 2-D Laplacian
    assert jacobi_spectral_radius(prepare_matrix(A)) == pytest.approx(rho, rel=1e-6)
    b = np.random.default_rng(0).standard_normal(grid * grid)
    for omega in (1.0, 1.4):
        result = solve(A, b, omega)
        observed = result.convergence_factor(tail=40)
        assert observed == pytest.approx(sor_convergence_factor(omega, rho), rel=2e-3)
        assert jacobi_radius_from_rate(observed, omega) == pytest.approx(rho, rel=2e-3)
    w_star = young_omega(rho)
    assert solve(A, b, w_star).sweeps < solve(A, b, 1.5).sweeps < solve(A, b, 1.0).sweeps
