"""The matrix deploy paths on inputs a user brings: each bad input ends in a typed error before any work, or in a
defined status, never in a raw NumPy/SciPy/PyAMG traceback or a silently wrong answer.

One test per defect found by the robustness review of ``KrylovTuner.solve``, ``MatrixSequence``, ``SORTuner``,
``tunegym.envs.sor.solve`` and ``tunegym solve sor``; each fails without its fix.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import tunegym.envs  # noqa: F401
from tunegym.agents import KrylovTuner, SORTuner
from tunegym.envs.core.errors import CheckpointError, ConfigError, MatrixError, TunerMismatchError
from tunegym.envs.krylov.instances import KrylovSystem, MatrixSequence
from tunegym.envs.krylov.precond import PreconditionerFailure, build_preconditioner
from tunegym.envs.sor import solve as sor_solve
from tunegym.tuning.cli import main


def _laplacian(n: int = 20) -> sp.csr_matrix:
    return sp.diags([-1.0, 2.1, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


@pytest.fixture(scope="module")
def krylov() -> KrylovTuner:
    return KrylovTuner.load("pretrained:krylov")


@pytest.fixture(scope="module")
def sor_tuner() -> SORTuner:
    return SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=20, seed=0)


# ---- KrylovTuner.solve ------------------------------------------------------------------------------------------
def test_krylov_refuses_a_complex_b_or_x0_instead_of_dropping_its_imaginary_part(krylov):
    """Before: ``b + 1j`` was cast to float64 (a ComplexWarning) and the real part solved, reported converged."""
    A = _laplacian()
    with pytest.raises(MatrixError, match="b is complex"):
        krylov.solve(A, np.ones(20) + 1j)
    with pytest.raises(MatrixError, match="x0 is complex"):
        krylov.solve(A, np.ones(20), x0=np.ones(20) + 1j)


def test_krylov_refuses_a_b_that_is_not_a_vector(krylov):
    """Before: a (10, 2) array was flattened into a length-20 b and solved as if it were one."""
    with pytest.raises(MatrixError, match=r"must be a vector.*\(10, 2\)"):
        krylov.solve(_laplacian(), np.ones((10, 2)))
    column = krylov.solve(_laplacian(), np.ones((20, 1)))  # a column vector is still fine
    assert column.success


@pytest.mark.parametrize("scale, way", [(1e300, "overflows"), (1e-300, "underflows")])
def test_krylov_refuses_a_b_whose_norm_is_not_a_float64(krylov, scale, way):
    """Before: ``||b||`` underflowed to 0 for entries of 1e-300 and x = 0 came back "converged" (relative residual 1);
    at 1e300 it overflowed and every solve ended on NaN with a misleading breakdown message."""
    with pytest.raises(MatrixError, match=f"norm of b {way}"):
        krylov.solve(_laplacian(), np.full(20, scale))
    assert krylov.solve(_laplacian(), np.zeros(20)).success  # b = 0 exactly still gives x = 0


def test_amg_on_the_zero_matrix_is_a_preconditioner_failure_not_a_zero_division(krylov):
    """Before: PyAMG divided by nnz(A) = 0 for its operator complexity: a raw ZeroDivisionError out of solve()."""
    for arm in (("amg_sa", 0.0, "gauss_seidel"), ("amg_rs", 0.25)):
        with pytest.raises(PreconditionerFailure, match="no stored nonzeros"):
            build_preconditioner(sp.csr_matrix((4, 4)), arm, symmetric=False)
    gmres = KrylovTuner.pcgbandit("tunegym/PGMRES-v0", seed=0)
    for _ in range(3):
        result = gmres.solve(np.zeros((4, 4)), np.ones(4))
        assert not result.success and result.status in ("breakdown", "diverged", "max_iterations")


def test_near_null_space_is_checked_before_any_work():
    """Before: a wrong length was a raw reshape ValueError; NaN entries were passed on to PyAMG."""
    A, b = _laplacian(), np.ones(20)
    with pytest.raises(MatrixError, match="20 rows"):
        KrylovSystem.from_arrays(A, b, near_null_space=np.ones(21))
    with pytest.raises(MatrixError, match="NaN"):
        KrylovSystem.from_arrays(A, b, near_null_space=np.full(20, np.nan))
    with pytest.raises(MatrixError, match="numeric"):
        KrylovSystem.from_arrays(A, b, near_null_space="rigid")
    assert KrylovSystem.from_arrays(A, b, near_null_space=np.ones(20)).near_null_space.shape == (20, 1)


# ---- MatrixSequence -----------------------------------------------------------------------------------------
def test_matrix_sequence_settings_are_typed_errors_at_construction():
    """Before: shift_range (0, 1) failed at the first draw with 'math domain error'; a scalar matrix was an
    IndexError, a non-integer repeat a ValueError, a generator of matrices a TypeError."""
    A = _laplacian()
    for bad in ((0.0, 1.0), (-1.0, 1.0), (1.0,), "ab", (2.0, 1.0)):
        with pytest.raises(ConfigError, match="shift_range"):
            MatrixSequence([A], variation="shift", shift_range=bad)
    with pytest.raises(ConfigError, match="repeat"):
        MatrixSequence([A], repeat="x")
    with pytest.raises(ConfigError, match="matrices"):
        MatrixSequence(None)
    with pytest.raises(MatrixError, match="2-D"):
        MatrixSequence([5.0])
    systems = list(MatrixSequence(m for m in [A]).sequence(np.random.default_rng(0), 2))
    assert [s.n for s in systems] == [20, 20]


def test_matrix_sequence_shifts_a_matrix_with_a_zero_diagonal_and_refuses_a_scaling_that_overflows():
    """Before: a saddle-point matrix (zero diagonal) was 'shifted' by 0 on every system, silently; entries near the
    float64 maximum scaled by up to 10 became inf inside the sequence."""
    K = _laplacian()
    B = sp.csr_matrix(np.eye(20)[:3])
    saddle = sp.bmat([[sp.csr_matrix((20, 20)), B.T], [B, None]]).tocsr()  # diagonal all zero
    for system in MatrixSequence([saddle], variation="shift").sequence(np.random.default_rng(0), 3):
        assert np.all(system.A.diagonal() > 0) and system.meta["shift"] > 0
    shifted = next(MatrixSequence([K], variation="shift").sequence(np.random.default_rng(0), 1))
    sigma = shifted.meta["shift"]
    np.testing.assert_allclose(shifted.A.diagonal(), K.diagonal() + sigma * np.mean(K.diagonal()))  # unchanged
    with pytest.raises(MatrixError, match="overflow"):
        MatrixSequence([K * 1e307], variation="scale")
    assert MatrixSequence([K * 1e307], variation="rhs").matrices[0].nnz == K.nnz


def test_matrix_files_in_every_storage_a_user_writes_load_alike(tmp_path):
    """MatrixMarket symmetric / integer / pattern storage and ``save_npz`` give the full matrix (no fix needed:
    kept so that a loader change cannot lose the mirrored half of a symmetric file)."""
    from tunegym.envs.krylov.instances import load_matrix

    A = _laplacian()
    scipy.io.mmwrite(tmp_path / "sym.mtx", A, symmetry="symmetric")
    scipy.io.mmwrite(tmp_path / "int.mtx", sp.csr_matrix(np.rint(A.toarray() * 10).astype(np.int64)), field="integer",
                     symmetry="symmetric")
    sp.save_npz(tmp_path / "a.npz", A)
    assert abs(load_matrix(tmp_path / "sym.mtx") - A).max() == 0.0
    assert abs(load_matrix(tmp_path / "int.mtx") - 10 * A).max() < 1e-12
    assert abs(load_matrix(tmp_path / "a.npz") - A).max() == 0.0


# ---- SOR: envs.sor.solve and SORTuner ---------------------------------------------------------------------------
def test_sor_solve_settings_of_the_wrong_type_are_config_errors():
    """Before: a complex omega, max_sweeps None or inf, and a string tol were raw TypeError/OverflowError."""
    A, b = _laplacian(), np.ones(20)
    with pytest.raises(ConfigError, match="omega"):
        sor_solve(A, b, omega=1.5 + 1j)
    for sweeps in (None, float("inf")):
        with pytest.raises(ConfigError, match="max_sweeps"):
            sor_solve(A, b, omega=1.5, max_sweeps=sweeps)
    with pytest.raises(ConfigError, match="tol"):
        sor_solve(A, b, omega=1.5, tol="1e-8")
    with pytest.raises(ConfigError, match="stall_window"):
        sor_solve(A, b, omega=1.5, stall_window=None)
    assert sor_solve(A, b, omega=np.float32(1.5), max_sweeps=np.int64(10_000)).converged


@pytest.mark.parametrize("scale, way", [(1e300, "overflows"), (1e-300, "underflows")])
def test_sor_refuses_a_b_whose_norm_is_not_a_float64(sor_tuner, scale, way):
    """Before: both ended "converged" after 0 sweeps with x = 0 (at 1e-300 the test turned absolute; at 1e300 the
    tolerance itself was infinite)."""
    A = _laplacian()
    with pytest.raises(MatrixError, match=f"norm of b {way}"):
        sor_solve(A, np.full(20, scale), omega=1.5)
    with pytest.raises(MatrixError, match=f"norm of b {way}"):
        sor_tuner.solve(A, np.full(20, scale), learn=True)
    assert sor_solve(A, np.zeros(20), omega=1.5).converged


def test_sor_tuner_refuses_a_fractional_or_string_max_sweeps(sor_tuner):
    """Before: ``int()`` made 2.5 two sweeps and "5" five, where ``envs.sor.solve`` refuses both."""
    A, b = _laplacian(), np.ones(20)
    for bad in (2.5, "5", 0):
        with pytest.raises(ConfigError, match="max_sweeps"):
            sor_tuner.solve(A, b, max_sweeps=bad)
    assert sor_tuner.solve(A, b, max_sweeps=np.int64(5)).sweeps == 5


def test_sor_tuner_load_takes_pretrained_names():
    """Before: ``SORTuner.load("pretrained:sor-ppo")`` said 'no tuner file at pretrained:sor-ppo'."""
    with pytest.raises(TunerMismatchError):  # the name resolved to the Krylov tuner, which SORTuner refuses
        SORTuner.load("pretrained:krylov")
    with pytest.raises(CheckpointError, match="no pretrained tuner"):
        SORTuner.load("pretrained:no-such-tuner")
    result = SORTuner.load("pretrained:sor-ppo").solve(_laplacian(), np.ones(20))
    assert result.converged and np.linalg.norm(_laplacian() @ result.x - 1.0) <= 1e-7 * np.sqrt(20)


# ---- tunegym solve sor ----------------------------------------------------------------------------------------
def _cli_matrix(tmp_path) -> str:
    path = tmp_path / "A.mtx"
    scipy.io.mmwrite(path, _laplacian(), symmetry="symmetric")
    return str(path)


@pytest.mark.parametrize("rhs, message", [
    (np.ones(20) + 1j, "complex"),  # before: imaginary part dropped, "converged", exit 0
    (np.ones((10, 2)), "must be a vector"),  # before: flattened into another system, exit 0
    (None, "No data left"),  # an empty .npy; before: a raw EOFError traceback, exit 1
])
def test_solve_sor_refuses_a_bad_rhs_file_in_one_line(tmp_path, capsys, rhs, message):
    path = tmp_path / "b.npy"
    if rhs is None:
        path.write_bytes(b"")
    else:
        np.save(path, rhs)
    assert main(["solve", "sor", _cli_matrix(tmp_path), "--rhs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_solve_sor_refuses_an_out_path_that_cannot_be_a_file_before_solving(tmp_path, capsys):
    """Before: the solve ran, then writing raised IsADirectoryError / FileExistsError (a traceback, x lost)."""
    matrix = _cli_matrix(tmp_path)
    assert main(["solve", "sor", matrix, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["solve", "sor", matrix, "--out", str(tmp_path / "A.mtx" / "x.npy")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_whole_number_budgets_and_0d_tolerances_stay_accepted():
    """What worked before the checks keeps working: a float sweep budget that is a whole number, a 0-d array tol."""
    from tunegym.agents.sor_tuner import SORTuner
    from tunegym.envs.sor.solver import solve

    A = sp.diags([-1.0, 2.1, -1.0], [-1, 0, 1], shape=(20, 20), format="csr")
    b = np.ones(20)
    assert solve(A, b, 1.2, tol=np.array(1e-8), max_sweeps=1e5).status == "converged"
    tuner = SORTuner.load("pretrained:sor-ppo")
    assert tuner.solve(A, b, max_sweeps=1e5).status == "converged"
    with pytest.raises(ConfigError, match="whole number"):
        tuner.solve(A, b, max_sweeps=2.5)


def test_a_none_or_boolean_right_hand_side_or_boolean_matrix_is_named_and_a_sparse_column_is_read(krylov):
    """Before: b=None said 'length 1 (shape ())', a sparse column b 'setting an array element with a sequence', and
    a boolean A or b was solved silently as 0/1 (a sparsity pattern, which MatrixMarket 'pattern' files are refused
    as)."""
    A = _laplacian()
    with pytest.raises(MatrixError, match="got None"):
        krylov.solve(A, None)
    with pytest.raises(MatrixError, match="b is boolean"):
        krylov.solve(A, np.ones(20, dtype=bool))
    for solve in (lambda M: krylov.solve(M, np.ones(20)), lambda M: sor_solve(M, np.ones(20), 1.0)):
        with pytest.raises(MatrixError, match="A is boolean"):
            solve(A.astype(bool))
    column = sp.csr_matrix(np.arange(1.0, 21.0)[:, None])  # what spsolve takes
    result = krylov.solve(A, column)
    assert result.status == "converged"
    assert np.linalg.norm(A @ result.x - np.arange(1.0, 21.0)) <= 1e-8 * np.linalg.norm(np.arange(1.0, 21.0))
