"""Validation of user matrices, shared by every linear-solver domain (SOR, Krylov).

:func:`as_real_csr` turns a dense array or any SciPy sparse matrix into a float64 CSR matrix with sorted,
summed indices, or raises :class:`~tunegym.envs.core.errors.MatrixError` naming what is wrong (complex,
not 2-D, not square, empty, NaN or infinite entries) before any solver work. Domain rules beyond these
(SOR's zero diagonal, a right-hand side's length) stay with the domain. A sparse matrix's index arrays are checked
first (:func:`check_sparse_structure`): SciPy's C routines trust them, so a bad one would crash the process.

:func:`read_matrix_file` reads a user's MatrixMarket (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``) or SciPy ``.npz`` file
for both domains' ``load_matrix``, refusing what SciPy would read into another matrix than the file means (a
``pattern`` file, symmetric storage that holds both triangles) with a typed error naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunegym.envs.core.errors import InstanceError, MatrixError

__all__ = ["as_real_csr", "as_real_vector", "all_finite", "check_norm", "check_sparse_structure", "read_matrix_file",
           "MATRIX_SUFFIXES"]

MATRIX_SUFFIXES = (".mtx", ".mtx.gz", ".mtx.bz2", ".npz")


def all_finite(values: np.ndarray) -> bool:
    """Whether every entry of a float array is finite, in one BLAS pass and no temporary: the sum of squares is
    NaN or infinite if any entry is (it is also infinite when entries above about 1e154 overflow it; only then are
    the entries checked one by one). About twice as fast as ``np.isfinite(values).all()`` on a matrix's values,
    which matters on the deploy path where every call checks the user's system."""
    flat = values.reshape(-1)
    if flat.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(flat @ flat)):
            return True
    return bool(np.isfinite(flat).all())


def as_real_vector(v: Any, n: int, name: str = "b", *, solver: str = "tunegym's solvers",
                   finite: bool = True) -> np.ndarray:
    """``v`` as a float64 vector of length ``n`` (an ``(n, 1)`` column or ``(1, n)`` row is flattened);
    :class:`MatrixError` naming ``name`` if it is complex (its imaginary part would be dropped silently), not
    numeric, of another shape (an ``(n/2, 2)`` array would otherwise be flattened into another system) or, with
    ``finite``, holds NaN/inf (:func:`all_finite`); also for ``None`` and a boolean array. A sparse column or row is
    read densely. ``solver`` only words the complex case's message. Not a copy when ``v`` already is a float64
    vector."""
    if v is None:
        raise MatrixError(f"{name} must be a numeric vector, got None", value=None)
    if np.iscomplexobj(v):
        raise MatrixError(f"{name} is complex; {solver} solve real systems only", value=name)
    if getattr(v, "dtype", None) == np.bool_:
        raise MatrixError(f"{name} is boolean; pass its numeric values (True/False would be read as 1/0)",
                          value=name)
    if sp.issparse(v):  # a sparse (n, 1) column or (1, n) row, as scipy.sparse.linalg.spsolve takes it
        v = v.toarray()
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MatrixError(f"{name} must be a numeric vector: {exc}", value=v) from exc
    if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape):
        raise MatrixError(f"{name} must be a vector, got an array of shape {arr.shape}", value=arr.shape)
    vec = arr.reshape(-1)
    if vec.size != n:
        raise MatrixError(f"{name} has length {vec.size} (shape {arr.shape}); A is {n} x {n}", value=vec.size)
    if finite and not all_finite(vec):
        raise MatrixError(f"{name} has NaN or infinite entries", value=int(np.sum(~np.isfinite(vec))))
    return vec


def check_norm(vec: np.ndarray, size: float, name: str = "b") -> None:
    """:class:`MatrixError` unless ``vec``'s norm is a normal float64, given ``size``, its norm or its sum of squares
    (either is 0, finite or not alike): NaN/inf entries, a norm that overflows (every residual measured against it
    reads NaN or infinity and a solve stops at once) or one that underflows to 0 while ``vec`` is not zero (entries
    below about 1e-154: a test relative to it turns absolute and accepts ``x = 0``). The solvers call it with the
    norm they form anyway, so a normal ``vec`` costs nothing more."""
    if math.isfinite(size) and (size != 0.0 or not vec.any()):
        return
    if not np.isfinite(vec).all():
        raise MatrixError(f"{name} has NaN or infinite entries", value=int(np.sum(~np.isfinite(vec))))
    largest = float(np.abs(vec).max())
    raise MatrixError(f"the norm of {name} {'over' if size else 'under'}flows float64 (largest |{name}_i| "
                      f"{largest:.3g}); scale {name} (and x0) by a power of 10, and the solution back", value=largest)


def _structure_problem(A: Any) -> str | None:
    """What is wrong with a SciPy sparse matrix's index arrays, or ``None``: read-only checks, O(nnz)."""
    fmt = A.format
    if fmt in ("csr", "csc", "bsr"):
        if fmt == "bsr":
            rows, cols = A.blocksize
            outer, inner = A.shape[0] // rows, A.shape[1] // cols
        else:
            outer, inner = A.shape if fmt == "csr" else A.shape[::-1]
        indptr, indices = np.asarray(A.indptr), np.asarray(A.indices)
        if indptr.ndim != 1 or indices.ndim != 1 or indptr.size != outer + 1:
            return f"indptr has shape {indptr.shape}, not ({outer + 1},)"
        end = int(indptr[-1])
        if indptr[0] != 0 or end > indices.size or end > len(A.data) or (outer and int(np.diff(indptr).min()) < 0):
            return "indptr does not start at 0, decreases, or points past the indices / data arrays"
        used = indices[:end]
        if _out_of_range(used, inner):
            return _range_message("indices", used, inner)
    elif fmt == "coo":
        for axis, index in enumerate((np.asarray(A.row), np.asarray(A.col))):
            if index.shape != np.shape(A.data):
                return f"its {('row', 'column')[axis]} array has shape {index.shape}, data {np.shape(A.data)}"
            if _out_of_range(index, A.shape[axis]):
                return _range_message(f"{('row', 'column')[axis]} indices", index, A.shape[axis])
    return None


def _range_message(what: str, index: np.ndarray, size: int) -> str:
    low, high = int(index.min()), int(index.max())
    hint = " (1-based indices, as Fortran and MATLAB count?)" if low >= 1 and high == size else ""
    return f"its {what} must lie in [0, {size}), found {low}..{high}{hint}"


def _out_of_range(index: np.ndarray, size: int) -> bool:
    """Whether an index array holds an entry outside ``[0, size)``: one pass for signed integers, read as unsigned
    (a negative entry becomes huge), a third of a matrix-vector product's time."""
    if index.size == 0:
        return False
    if index.dtype.kind == "i":
        return int(index.view(index.dtype.str.replace("i", "u")).max()) >= size
    return int(index.min()) < 0 or int(index.max()) >= size


def check_sparse_structure(A: Any, name: str = "A") -> None:
    """:class:`MatrixError` unless a SciPy sparse ``A``'s index arrays fit its shape (CSR/CSC/BSR: ``indptr`` from 0,
    non-decreasing, within the arrays, indices in range; COO: coordinates in range). SciPy checks them only on
    request (``check_format(full_check=True)``, which may change ``A`` in place), and its C routines (``tocsc``,
    ``tocsr``, products) index with them unchecked, so an index array built by hand with 1-based indices crashed the
    process (a segmentation fault) instead of raising. Other formats and dense input pass."""
    if not sp.issparse(A):
        return
    problem = _structure_problem(A)
    if problem is not None:
        raise MatrixError(f"{name} is a malformed {A.format.upper()} matrix of shape {A.shape}: {problem}",
                          value=A.format)


def as_real_csr(A: Any, name: str = "A", *, solver: str = "tunegym's solvers", copy: bool = True) -> sp.csr_matrix:
    """``A`` as a float64 CSR copy (duplicates summed, indices sorted); :class:`MatrixError` if it is complex,
    boolean (a sparsity pattern), not a 2-D numeric array or sparse matrix, a sparse matrix with malformed index arrays
    (:func:`check_sparse_structure`), not square, empty, or holds NaN/inf. ``name`` and ``solver``
    only word the messages (``"A is complex; <solver> solve real systems only"``).

    ``copy=False`` returns ``A`` itself when it already is a float64 CSR matrix in canonical form (what SciPy's
    and PyAMG's solvers take without copying; checked, never changed in place), else a copy as above."""
    dtype = getattr(A, "dtype", None)
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        raise MatrixError(f"{name} is complex; {solver} solve real systems only", value=str(dtype))
    if dtype == np.bool_:  # a sparsity pattern, as a MatrixMarket "pattern" file (refused too): no values to solve with
        raise MatrixError(f"{name} is boolean (a sparsity pattern?); pass its numeric values (True/False would be "
                          "read as 1/0)", value=str(dtype))
    check_sparse_structure(A, name)  # before anything reads the index arrays (has_canonical_format does)
    if not copy and sp.issparse(A) and A.format == "csr" and A.dtype == np.float64 and A.has_canonical_format:
        csr = A  # what SciPy's solvers take as it is: checked below, never changed
    elif sp.issparse(A):
        try:
            csr = sp.csr_matrix(A, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise MatrixError(f"{name} cannot be read as a real sparse matrix: {exc}", value=str(A.dtype)) from exc
    elif hasattr(A, "matvec") and hasattr(A, "shape"):  # np.asarray's error would name float() and the class
        raise MatrixError(f"{name} is a {type(A).__name__} (a matrix-free operator); {solver} need A's entries (the "
                          f"preconditioners are built from them): pass a SciPy sparse matrix or a dense array",
                          value=type(A).__name__)
    else:
        try:
            dense = np.asarray(A, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MatrixError(f"{name} must be a 2-D numeric array or SciPy sparse matrix: {exc}", value=A) from exc
        if dense.ndim != 2:
            raise MatrixError(f"{name} must be 2-D, got an array of shape {dense.shape}", value=dense.shape)
        csr = sp.csr_matrix(dense)
    if csr.shape[0] != csr.shape[1]:
        raise MatrixError(f"{name} must be square, got shape {csr.shape}", value=csr.shape)
    if csr.shape[0] == 0:
        raise MatrixError(f"{name} is empty (0 x 0)", value=csr.shape)
    if csr is not A:
        csr.sum_duplicates()
        csr.sort_indices()
    if not all_finite(csr.data):
        raise MatrixError(f"{name} has NaN or infinite entries", value=int(np.sum(~np.isfinite(csr.data))))
    return csr


def _both_triangles(matrix: Any, entries: int) -> tuple[int, int] | None:
    """An off-diagonal ``(i, j)`` (1-based) that a symmetric MatrixMarket file stores in both triangles, or ``None``.

    ``matrix``: SciPy's COO result, whose first ``entries`` (the header's count) are the file's own entries, the
    mirrored ones after them; when the arrays are not laid out so (another SciPy), nothing is checked."""
    row, col = np.asarray(matrix.row, dtype=np.int64), np.asarray(matrix.col, dtype=np.int64)
    stored_row, stored_col = row[:entries], col[:entries]
    if row.size != entries + int(np.count_nonzero(stored_row != stored_col)):
        return None
    lower, upper = stored_row > stored_col, stored_row < stored_col
    if not (lower.any() and upper.any()):
        return None
    n = int(matrix.shape[0])
    both = np.intersect1d(stored_row[lower] * n + stored_col[lower], stored_col[upper] * n + stored_row[upper])
    if both.size == 0:
        return None
    return int(both[0] // n) + 1, int(both[0] % n) + 1


def _read_npz(path: Path) -> Any:
    """``scipy.sparse.load_npz`` on an open file, so that a corrupt archive leaves no file handle open (NumPy keeps
    the one it opens when the zip directory is unreadable); a file that is no zip archive is named as such rather
    than by NumPy's advice to unpickle it (``allow_pickle``)."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise InstanceError(f"could not read matrix file {str(path)!r}: not a SciPy .npz file (no zip archive)",
                                value=str(path))
        handle.seek(0)
        try:
            return sp.load_npz(handle)
        except ValueError as exc:
            if "does not contain a sparse" not in str(exc):
                raise
            raise InstanceError(f"could not read matrix file {str(path)!r}: it holds no SciPy sparse matrix (write "
                                f"one with scipy.sparse.save_npz; numpy.savez archives are not read)",
                                value=str(path)) from exc


def read_matrix_file(path: str | Path, *, solver: str = "tunegym's solvers") -> Any:
    """The matrix in a MatrixMarket (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``) or SciPy ``.npz`` file, as SciPy reads it
    (sparse; dense for MatrixMarket ``array`` files), not yet validated as a system (the domain's ``load_matrix``
    does that). :class:`InstanceError` naming the file for a missing, foreign or unreadable one, and
    :class:`MatrixError` for files SciPy would read into another matrix than the file holds:

    - a ``pattern`` file holds a sparsity pattern, no values: SciPy gives every entry 1, and a system of ones is
      not the user's (``solver`` words that message);
    - a ``symmetric`` / ``skew-symmetric`` / ``hermitian`` file must store one triangle; one that stores an entry
      and its mirror (a full matrix under a symmetric header) would be read with every such off-diagonal entry
      doubled, another matrix that still looks fine.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"no matrix file at {str(path)!r}", value=str(path))
    name = path.name.lower()
    if not name.endswith(MATRIX_SUFFIXES):
        raise InstanceError(f"unsupported matrix file {path.name!r}: use MatrixMarket (.mtx, .mtx.gz, .mtx.bz2) or "
                            f"SciPy .npz", value=str(path))
    header = None
    try:
        if name.endswith(".npz"):
            return _read_npz(path)
        header = scipy.io.mminfo(str(path))  # (rows, cols, entries, format, field, symmetry): the header only
        if header[4] == "pattern":
            raise MatrixError(f"{str(path)!r} is a MatrixMarket pattern file: it holds where A's entries are, not "
                              f"their values, and {solver} need the values (read it with scipy.io.mmread and set "
                              f"them yourself if a matrix of ones is meant)", value=str(path))
        matrix = scipy.io.mmread(str(path))
    except InstanceError:
        raise
    except Exception as exc:  # scipy raises ValueError, OSError, EOFError, zipfile errors, gzip errors...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InstanceError(f"could not read matrix file {str(path)!r}: {first}", value=str(path)) from exc
    if header[3] == "coordinate" and header[5] != "general" and sp.issparse(matrix):
        pair = _both_triangles(matrix.tocoo(copy=False), int(header[2]))
        if pair is not None:
            i, j = pair
            raise MatrixError(f"{str(path)!r} has a {header[5]} header but stores both ({i}, {j}) and ({j}, {i}); "
                              f"a {header[5]} MatrixMarket file keeps one triangle, the other is implied, so this "
                              f"file would be read with those entries doubled (write it as 'general', or keep only "
                              f"the lower triangle)", value=[i, j])
    return matrix
