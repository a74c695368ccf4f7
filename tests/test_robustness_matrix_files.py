"""A user's own matrix files and hand-built sparse matrices on the matrix paths (``load_matrix`` of both domains,
``MatrixSequence``, ``MatrixFileDistribution``, ``KrylovTuner.solve``, ``tunegym solve sor``): each ends in the
right matrix or a typed error naming the cause, never a crash, a raw SciPy/NumPy error or another matrix than the
file holds.

One test per defect found by the review of matrix files (MatrixMarket fields and storage, ``.npz`` variants, index
arrays); each fails without its fix.
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.envs.core.errors import ConfigError, InstanceError, MatrixError
from tunegym.envs.krylov.instances import KrylovSystem, MatrixSequence
from tunegym.envs.krylov.instances import load_matrix as krylov_load
from tunegym.envs.sor.instances import MatrixFileDistribution
from tunegym.envs.sor.instances import load_matrix as sor_load
from tunegym.envs.sor.solver import prepare_matrix
from tunegym.tuning.cli import main

LOADERS = [krylov_load, sor_load]


def _laplacian(n: int = 20) -> sp.csr_matrix:
    return sp.diags([-1.0, 2.1, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


def test_one_based_index_arrays_are_refused_not_a_crash(tmp_path):
    """Before: a CSR matrix built from 1-based (Fortran/MATLAB) index arrays passed every check (SciPy verifies
    indices only on request) and ``KrylovTuner.solve`` / ``MatrixSequence`` / SOR then died of a segmentation fault
    in SciPy's C routines (``tocsc``); a hand-written ``.npz`` with such indices loaded silently."""
    L = _laplacian()
    bad = sp.csr_matrix((L.data.copy(), L.indices + 1, L.indptr.copy()), shape=L.shape)
    with pytest.raises(MatrixError, match=r"indices must lie in \[0, 20\), found 1\.\.20 \(1-based"):
        KrylovSystem.from_arrays(bad, np.ones(20), symmetric=True)
    coo = L.tocoo(copy=True)
    coo.col[0] = 20  # mutated after construction, as SciPy checks COO coordinates only then
    with pytest.raises(MatrixError, match="column indices must lie"):
        KrylovSystem.from_arrays(coo, np.ones(20), symmetric=True)
    short = sp.csr_matrix((L.data.copy(), L.indices.copy(), L.indptr.copy()), shape=L.shape)
    short.indptr[-1] += 5  # points past the arrays
    with pytest.raises(MatrixError, match="indptr"):
        KrylovSystem.from_arrays(short, np.ones(20), symmetric=True)
    path = tmp_path / "one_based.npz"
    np.savez(path, format=b"csr", shape=np.array(L.shape), data=L.data, indices=L.indices + 1, indptr=L.indptr)
    with pytest.raises(MatrixError, match="one_based.npz.*malformed CSR"):
        krylov_load(path)
    with pytest.raises(MatrixError, match="malformed CSR"):
        MatrixSequence([bad])
    with pytest.raises(MatrixError, match="malformed CSR"):
        prepare_matrix(bad)
    assert KrylovSystem.from_arrays(L, np.ones(20)).A is L  # a sound float64 CSR is still taken as it is


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_symmetric_header_over_both_triangles_is_refused_not_doubled(tmp_path, capsys):
    """Before: a full matrix under a ``symmetric`` header (both (2, 1) and (1, 2) stored) was read with each such
    off-diagonal entry doubled, [[2, -2], [-2, 2]] for [[2, -1], [-1, 2]], and solved as such (SOR: 'max_sweeps')."""
    both = _write(tmp_path / "both.mtx", "%%MatrixMarket matrix coordinate real symmetric\n2 2 4\n"
                                         "1 1 2.0\n2 1 -1.0\n1 2 -1.0\n2 2 2.0\n")
    for load in LOADERS:
        with pytest.raises(MatrixError, match=r"both.mtx.*stores both \(2, 1\) and \(1, 2\)"):
            load(both)
    assert main(["solve", "sor", both]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one triangle" in err
    expected = np.array([[2.0, -1.0], [-1.0, 2.0]])
    for triangle in ("2 1 -1.0", "1 2 -1.0"):  # one triangle, either one: the other is implied
        one = _write(tmp_path / "one.mtx", f"%%MatrixMarket matrix coordinate real symmetric\n2 2 3\n"
                                           f"1 1 2.0\n{triangle}\n2 2 2.0\n")
        for load in LOADERS:
            assert np.array_equal(load(one).toarray(), expected)
    skew = _write(tmp_path / "skew.mtx", "%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 2\n"
                                         "2 1 1.0\n3 2 1.0\n")
    assert np.array_equal(krylov_load(skew).toarray(), [[0, -1, 0], [1, 0, -1], [0, 1, 0]])
    skew_both = _write(tmp_path / "skew_both.mtx", "%%MatrixMarket matrix coordinate real skew-symmetric\n2 2 2\n"
                                                   "2 1 1.0\n1 2 -1.0\n")
    with pytest.raises(MatrixError, match="skew-symmetric header"):
        krylov_load(skew_both)


def test_pattern_files_are_refused_not_read_as_ones(tmp_path):
    """Before: a MatrixMarket ``pattern`` file (a sparsity pattern, no values) was read as a matrix of ones and
    solved, a system that is not the user's (here singular: SOR ran to its sweep limit)."""
    path = _write(tmp_path / "graph.mtx", "%%MatrixMarket matrix coordinate pattern symmetric\n3 3 4\n"
                                          "1 1\n2 1\n2 2\n3 3\n")
    for load in LOADERS:
        with pytest.raises(MatrixError, match="pattern file"):
            load(path)
    with pytest.raises(MatrixError, match="pattern file"):
        MatrixSequence([path])


def _read_error(load, path) -> str:
    """The message of the error ``load(path)`` raises, with the exception (and the frames it holds) dropped."""
    try:
        load(path)
    except InstanceError as exc:
        return str(exc)
    raise AssertionError(f"{path} loaded")


def test_foreign_and_corrupt_npz_files_are_named_and_leave_no_file_open(tmp_path):
    """Before: a truncated ``.npz`` left its file handle open (a ResourceWarning at collection), a file that is no
    zip archive was met with NumPy's advice to load it with ``allow_pickle``, and a ``numpy.savez`` archive was
    named by the repr of a file object."""
    sp.save_npz(tmp_path / "good.npz", _laplacian())
    (tmp_path / "cut.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:100])
    (tmp_path / "text.npz").write_bytes(b"hello")
    np.savez(tmp_path / "dense.npz", A=_laplacian().toarray())
    gc.collect()  # files earlier tests left to the collector warn now, not inside the block below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for load in LOADERS:
            assert "could not read matrix file" in _read_error(load, tmp_path / "cut.npz")
            message = _read_error(load, tmp_path / "text.npz")
            assert "not a SciPy .npz" in message and "pickle" not in message
            message = _read_error(load, tmp_path / "dense.npz")
            assert "numpy.savez" in message and "BufferedReader" not in message
        gc.collect()
    # only this test's files count: the collector may also close a file another test of the process left open
    assert not [w for w in caught if issubclass(w.category, ResourceWarning) and str(tmp_path) in str(w.message)]
    for load in LOADERS:
        assert abs(load(tmp_path / "good.npz") - _laplacian()).max() == 0.0


def test_bz2_matrix_market_files_load(tmp_path):
    """Before: ``.mtx.bz2`` (which SciPy reads) was refused as an unsupported file."""
    import bz2

    scipy.io.mmwrite(tmp_path / "a.mtx", _laplacian(), symmetry="symmetric")
    (tmp_path / "a.mtx.bz2").write_bytes(bz2.compress((tmp_path / "a.mtx").read_bytes()))
    for load in LOADERS:
        assert abs(load(tmp_path / "a.mtx.bz2") - _laplacian()).max() == 0.0


def test_matrix_file_distribution_takes_one_array_or_any_iterable():
    """Before: ``MatrixFileDistribution(dense_array)`` took each row for a matrix ('must be 2-D, shape (20,)'), a
    generator or ``None`` raised a raw TypeError (``len()``); ``MatrixSequence`` already took them."""
    A = _laplacian()
    rng = np.random.default_rng(0)
    assert MatrixFileDistribution(A.toarray()).sample(rng).n == 20
    assert MatrixFileDistribution(m for m in [A, A]).sample(rng).n == 20
    for bad in (None, 5.0):
        with pytest.raises(ConfigError, match="matrices must be"):
            MatrixFileDistribution(bad)


def test_a_linear_operator_is_named_as_such():
    """Before: 'must be a 2-D numeric array or SciPy sparse matrix: float() argument must be a string or a real
    number, not MatrixLinearOperator'."""
    with pytest.raises(MatrixError, match="MatrixLinearOperator .a matrix-free operator.*need A's entries"):
        KrylovSystem.from_arrays(spla.aslinearoperator(_laplacian()), np.ones(20))
    with pytest.raises(MatrixError, match="matrix-free"):
        prepare_matrix(spla.aslinearoperator(_laplacian()))


@pytest.mark.parametrize("env_id", ["tunegym/PCG-v0", "tunegym/SORMatrix-v0"])
def test_a_single_matrix_makes_a_matrix_env_and_an_empty_list_is_refused(env_id):
    """Before: ``gym.make(..., matrices=A)`` raised NumPy's "truth value of an array is ambiguous" and
    ``matrices=[]`` silently gave the built-in PDE problems instead of the user's."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401

    A = sp.diags([-1.0, 2.1, -1.0], [-1, 0, 1], shape=(30, 30), format="csr")
    for matrices in (A, A.toarray(), [A]):
        env = gym.make(env_id, matrices=matrices)
        obs, _ = env.reset(seed=0)
        assert np.isfinite(obs).all()
        env.close()
    with pytest.raises(ConfigError, match="at least one matrix"):
        gym.make(env_id, matrices=[])


def test_sor_matrix_features_do_not_change_when_the_matrix_is_scaled_by_1e300():
    """Before: the diagonal's relative spread squared entries of 1e300, overflowed, and clipped to 10."""
    from tunegym.envs.sor.features import matrix_features

    A = (sp.diags([-1.0, 2.1, -1.0], [-1, 0, 1], shape=(30, 30)) + sp.diags(np.linspace(0, 1, 30))).tocsr()
    assert matrix_features(prepare_matrix(A * 1e300))[2] == pytest.approx(matrix_features(prepare_matrix(A))[2])


def test_solve_sor_reads_a_matrix_market_right_hand_side(tmp_path, capsys):
    """SuiteSparse ships b as ``NAME_b.mtx``; before, ``--rhs b.mtx`` was parsed as text ("could not convert
    string '%%MatrixMarket'"). Dense (array) and sparse (coordinate) vectors are both read."""
    A = _laplacian(20)
    scipy.io.mmwrite(tmp_path / "A.mtx", A)
    b = np.linspace(1.0, 2.0, 20)
    scipy.io.mmwrite(tmp_path / "b.mtx", b.reshape(-1, 1))
    scipy.io.mmwrite(tmp_path / "b_sparse.mtx", sp.csr_matrix(b.reshape(-1, 1)))
    for rhs in ("b.mtx", "b_sparse.mtx"):
        out = tmp_path / f"x-{rhs}.npy"
        assert main(["solve", "sor", str(tmp_path / "A.mtx"), "--rhs", str(tmp_path / rhs), "--out", str(out)]) == 0
        x = np.load(out)
        assert np.linalg.norm(b - A @ x) <= 1e-6 * np.linalg.norm(b)
