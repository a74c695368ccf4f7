"""Validation of user matrices, shared by every linear-solver domain (SOR, Krylov).

:func:`as_real_csr` turns a dense array or any SciPy sparse matrix into a float64 CSR matrix with sorted,
summed indices, or raises :class:`~tunegym.envs.core.errors.MatrixError` naming what is wrong (complex,
not 2-D, not square, empty, NaN or infinite entries) before any solver work. Domain rules beyond these
(SOR's zero diagonal, a right-hand side's length) stay with the domain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunegym.envs.core.errors import MatrixError

__all__ = ["as_real_csr", "as_real_vector", "all_finite", "check_norm"]


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
    ``finite``, holds NaN/inf (:func:`all_finite`). ``solver`` only words the complex case's message. Not a copy
    when ``v`` already is a float64 vector."""
    if np.iscomplexobj(v):
        raise MatrixError(f"{name} is complex; {solver} solve real systems only", value=name)
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


def as_real_csr(A: Any, name: str = "A", *, solver: str = "tunegym's solvers", copy: bool = True) -> sp.csr_matrix:
    """``A`` as a float64 CSR copy (duplicates summed, indices sorted); :class:`MatrixError` if it is complex,
    not a 2-D numeric array or sparse matrix, not square, empty, or holds NaN/inf. ``name`` and ``solver``
    only word the messages (``"A is complex; <solver> solve real systems only"``).

    ``copy=False`` returns ``A`` itself when it already is a float64 CSR matrix in canonical form (what SciPy's
    and PyAMG's solvers take without copying; checked, never changed in place), else a copy as above."""
    dtype = getattr(A, "dtype", None)
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        raise MatrixError(f"{name} is complex; {solver} solve real systems only", value=str(dtype))
    if not copy and sp.issparse(A) and A.format == "csr" and A.dtype == np.float64 and A.has_canonical_format:
        csr = A  # what SciPy's solvers take as it is: checked below, never changed
    elif sp.issparse(A):
        csr = sp.csr_matrix(A, dtype=np.float64, copy=True)
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
