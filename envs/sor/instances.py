"""Linear-system instances and the distributions that generate or load them.

- :class:`ShiftedLaplacianDistribution`: the Learning to Relax setting A (Khodak et al., ICLR 2024):
  ``A = L + c I`` with ``L`` the 5-point Laplacian on a ``grid x grid`` interior (MATLAB's
  ``delsq(numgrid('S', grid + 2))``, diagonal 4), ``c = c_low + c_scale * Beta(a, b)``, and ``b`` a
  standard normal vector radially truncated to norm ``<= sqrt(n)`` (the authors' ``truncated_normal``).
  ``variance="high"`` is Beta(0.5, 1.5), ``"low"`` is Beta(2, 6).
- :class:`MatrixFileDistribution`: user matrices from MatrixMarket / ``.npz`` files, each with fresh
  right-hand sides.
- :func:`load_matrix`: the loader (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``, ``.npz``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id
from tunegym.envs.core.matrices import read_matrix_file
from tunegym.envs.sor.features import jacobi_spectral_radius, matrix_features
from tunegym.envs.sor.solver import PreparedMatrix, prepare_matrix

__all__ = [
    "LinearSystem",
    "ShiftedLaplacianDistribution",
    "MatrixFileDistribution",
    "LaplacianFamilyDistribution",
    "load_matrix",
    "poisson2d",
    "truncated_normal",
    "VARIANCES",
]

VARIANCES = {"high": (0.5, 1.5), "low": (2.0, 6.0)}


@dataclass(frozen=True, eq=False)
class LinearSystem(Instance):
    """One system ``A x = b`` with its prepared matrix and the context a tuner sees.

    ``context`` is the observation for this system (the offset ``c`` in setting A, matrix features for
    user matrices). ``jacobi_radius`` is exact where the generator knows it, else estimated and cached.
    """

    matrix: PreparedMatrix
    b: np.ndarray
    context: np.ndarray
    jacobi_radius: float
    name: str = "system"
    meta: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def instance_id(self) -> str:  # type: ignore[override]
        return content_id(self.name, self.matrix.diag, self.matrix.data, self.b)

    @property
    def n(self) -> int:
        return self.matrix.n

    def __hash__(self) -> int:
        return hash(self.instance_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearSystem) and other.instance_id == self.instance_id


def poisson2d(grid: int | tuple[int, int]) -> sp.csr_matrix:
    """The 5-point Laplacian on a ``grid`` interior, diagonal 4 (unscaled), natural ordering."""
    nx, ny = (grid, grid) if isinstance(grid, int) else grid
    if nx < 1 or ny < 1:
        raise ConfigError(f"grid must be positive, got {grid!r}", value=grid)
    tx = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(nx, nx))
    ty = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(ny, ny))
    return sp.csr_matrix(sp.kron(sp.identity(ny), tx) + sp.kron(ty, sp.identity(nx)))


def truncated_normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A standard normal vector conditioned on ``||v|| <= sqrt(n)`` (rejection, as the paper's code)."""
    while True:
        v = rng.standard_normal(n)
        if v @ v <= n:
            return v


class ShiftedLaplacianDistribution(SequenceDistribution):
    """Setting A of Learning to Relax: ``A = L + c I`` with a Beta-distributed offset ``c``.

    Args:
        variance: ``"high"`` (Beta(0.5, 1.5)) or ``"low"`` (Beta(2, 6)); or give ``beta=(a, b)``.
        grid: interior grid side (10 in the paper: 100 unknowns).
        offset_low, offset_scale: ``c = offset_low + offset_scale * Beta``; the paper's -0.15 and 0.6.
    """

    name = "poisson2d-shifted"
    version = 0

    def __init__(
        self,
        variance: str = "high",
        *,
        grid: int = 10,
        beta: tuple[float, float] | None = None,
        offset_low: float = -0.15,
        offset_scale: float = 0.6,
    ) -> None:
        if beta is None:
            if variance not in VARIANCES:
                raise ConfigError(f"variance must be one of {sorted(VARIANCES)}, got {variance!r}", value=variance)
            beta = VARIANCES[variance]
        self.variance = variance
        self.grid = int(grid)
        self.beta = (float(beta[0]), float(beta[1]))
        self.offset_low = float(offset_low)
        self.offset_scale = float(offset_scale)
        laplacian = poisson2d(self.grid)
        self._base = prepare_matrix(laplacian)
        # Eigenvalues of L are 4 - 2cos(pi i/(g+1)) - 2cos(pi j/(g+1)); A = L + cI must stay positive definite.
        self._lambda_min = 4.0 - 4.0 * math.cos(math.pi / (self.grid + 1))
        self._off_radius = 4.0 * math.cos(math.pi / (self.grid + 1))  # spectral radius of D - L
        if self.offset_low <= -self._lambda_min:
            raise ConfigError(
                f"offset_low={self.offset_low} makes L + cI singular or indefinite (needs > {-self._lambda_min:.4f})",
                value=self.offset_low,
            )

    @property
    def params(self) -> dict[str, Any]:
        return {
            "variance": self.variance,
            "grid": self.grid,
            "beta": list(self.beta),
            "offset_low": self.offset_low,
            "offset_scale": self.offset_scale,
        }

    @property
    def context_low(self) -> float:
        return self.offset_low

    @property
    def context_high(self) -> float:
        return self.offset_low + self.offset_scale

    def jacobi_radius(self, offset: float) -> float:
        """Exact ``ρ_J`` of ``L + cI``: ``4 cos(π/(g+1)) / (4 + c)``."""
        return self._off_radius / (4.0 + offset)

    def make(self, offset: float, b: np.ndarray) -> LinearSystem:
        """The system for a given offset and right-hand side (used by tests and the oracle)."""
        return LinearSystem(
            matrix=self._base.shifted(offset),
            b=np.asarray(b, dtype=np.float64),
            context=np.array([offset], dtype=np.float32),
            jacobi_radius=self.jacobi_radius(offset),
            name=f"{self.name}-g{self.grid}",
            meta={"offset": float(offset)},
        )

    def sample(self, rng: np.random.Generator) -> LinearSystem:
        offset = self.offset_low + self.offset_scale * rng.beta(*self.beta)
        return self.make(offset, truncated_normal(rng, self._base.n))


class LaplacianFamilyDistribution(SequenceDistribution):
    """Shifted 2-D Laplacians of varying size, for the matrix env when the user brings no files.

    Grid sides are drawn uniformly from ``grids``; offsets ``c ~ U[offset_low, offset_high]``.
    """

    name = "laplacian-family"
    version = 0

    def __init__(
        self, grids: Sequence[int] = (10, 16, 24, 32), offset_low: float = 0.0, offset_high: float = 0.5
    ) -> None:
        if not grids:
            raise ConfigError("grids must not be empty", value=grids)
        self.grids = tuple(int(g) for g in grids)
        self.offset_low, self.offset_high = float(offset_low), float(offset_high)
        self._bases = {g: prepare_matrix(poisson2d(g)) for g in self.grids}
        for g in self.grids:
            lam_min = 4.0 - 4.0 * math.cos(math.pi / (g + 1))
            if self.offset_low <= -lam_min:
                raise ConfigError(f"offset_low={self.offset_low} makes the {g}x{g} system indefinite", value=g)

    @property
    def params(self) -> dict[str, Any]:
        return {"grids": list(self.grids), "offset_low": self.offset_low, "offset_high": self.offset_high}

    def sample(self, rng: np.random.Generator) -> LinearSystem:
        grid = self.grids[int(rng.integers(len(self.grids)))]
        offset = float(rng.uniform(self.offset_low, self.offset_high))
        matrix = self._bases[grid].shifted(offset)
        rho = 4.0 * math.cos(math.pi / (grid + 1)) / (4.0 + offset)
        return LinearSystem(
            matrix=matrix,
            b=rng.standard_normal(matrix.n),
            context=matrix_features(matrix, jacobi_radius=rho),
            jacobi_radius=rho,
            name=f"laplacian-g{grid}",
            meta={"grid": grid, "offset": offset},
        )


def load_matrix(path: str | Path) -> sp.csr_matrix:
    """Load a sparse matrix from MatrixMarket (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``) or SciPy ``.npz``.

    Raises:
        InstanceError: the file is missing, of another format, or unreadable.
        MatrixError: the matrix is complex, not square, has NaN/infinite entries or a zero on the diagonal, or the
            file is one SciPy would misread (:func:`~tunegym.envs.core.matrices.read_matrix_file`: a pattern file,
            symmetric storage holding both triangles).
    """
    path = Path(path)
    matrix = read_matrix_file(path, solver="tunegym's SOR solvers")
    if not sp.issparse(matrix):
        matrix = sp.csr_matrix(np.asarray(matrix))
    if np.issubdtype(matrix.dtype, np.complexfloating):
        raise MatrixError(f"{str(path)!r} holds a complex matrix; tunegym's SOR solves real systems only",
                          value=str(path))
    try:
        prepare_matrix(matrix)  # bad input fails here, naming the file: non-square, NaN/inf, zero diagonal
    except MatrixError as exc:
        raise MatrixError(f"{str(path)!r}: {exc}", value=exc.value) from exc
    return sp.csr_matrix(matrix, dtype=np.float64)


class MatrixFileDistribution(SequenceDistribution):
    """User matrices (paths or in-memory matrices), each drawn uniformly with a fresh normal ``b``.

    ``matrices``: a path or matrix (dense or sparse), or any iterable of them; :class:`ConfigError` for anything
    else. Matrices are validated, and their features and Jacobi radius computed, once at construction.
    """

    name = "matrix-files"
    version = 0

    def __init__(self, matrices: Sequence[str | Path | sp.spmatrix | np.ndarray] | Any) -> None:
        if isinstance(matrices, (str, Path)) or sp.issparse(matrices) or isinstance(matrices, np.ndarray):
            matrices = [matrices]  # type: ignore[list-item]  # one matrix: a 2-D array is not a list of its rows
        try:
            matrices = list(matrices)  # any iterable of paths or matrices (a generator, a tuple)
        except TypeError as exc:
            raise ConfigError(f"matrices must be a path, a matrix or a list of them, got {type(matrices).__name__}",
                              value=matrices) from exc
        if len(matrices) == 0:
            raise ConfigError("matrices must name at least one matrix", value=matrices)
        self._labels: list[str] = []
        self._systems: list[tuple[PreparedMatrix, np.ndarray, float]] = []
        for index, item in enumerate(matrices):
            label = str(item) if isinstance(item, (str, Path)) else f"matrix{index}"
            raw = load_matrix(item) if isinstance(item, (str, Path)) else item
            try:
                prepared = prepare_matrix(raw)
            except MatrixError as exc:
                raise MatrixError(f"{label}: {exc}", value=exc.value) from exc
            rho = jacobi_spectral_radius(prepared)
            self._systems.append((prepared, matrix_features(prepared, jacobi_radius=rho), rho))
            self._labels.append(label)

    @property
    def params(self) -> dict[str, Any]:
        return {"matrices": list(self._labels)}

    def sample(self, rng: np.random.Generator) -> LinearSystem:
        index = int(rng.integers(len(self._systems)))
        matrix, features, rho = self._systems[index]
        return LinearSystem(
            matrix=matrix,
            b=rng.standard_normal(matrix.n),
            context=features,
            jacobi_radius=rho,
            name=f"file{index}",
            meta={"source": self._labels[index]},
        )
