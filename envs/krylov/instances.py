"""Linear systems for preconditioned Krylov solves, and the sequences they come in.

A :class:`KrylovSystem` is one ``A x = b`` (CSR matrix, right-hand side, whether CG applies, and for
elasticity the near null space PyAMG's smoothed aggregation wants). Systems come in *sequences*, as in a
simulation that solves one system per time step (PCGBandit, Khodak et al., arXiv 2509.08765): the matrix
drifts slowly, so the preconditioner that was best for the last system is a good guess for the next one,
and reusing it saves its setup.

- :class:`PDESequence` (``kind=``):
  ``"diffusion"`` implicit-Euler steps of ``u_t = div(k grad u)`` on a ``grid^dim`` cell-centred mesh,
  ``A_t = I/ν_t + K(k_t)``: the log-coefficient field ``k = 10^(c_t s(x))`` (a random smooth field ``s``
  with values in [-1, 1]) has a contrast ``c_t`` that drifts in time, and the dimensionless time step ``ν_t``
  grows geometrically from ``nu_range[0]`` to ``nu_range[1]`` over each run of ``run_length`` steps (adaptive
  time stepping after a start-up transient); each run draws a new field. Small ``ν`` makes ``A`` strongly
  diagonally dominant (Jacobi wins), large ``ν`` with high contrast needs multigrid;
  ``"anisotropic"`` the rotated anisotropic diffusion stencil of ``pyamg.gallery.diffusion_stencil_2d``
  (``epsilon``) with the angle rotating over each run, plus the same ``I/ν_t`` mass term;
  ``"elasticity"`` ``pyamg.gallery.linear_elasticity`` (Q1, plane strain) with a Poisson ratio drifting
  towards incompressibility and a mass term ``I/ν_t`` (scaled to the stiffness diagonal), with its rigid body modes;
  ``"convection"`` upwind convection–diffusion ``I/ν_t - Δu + Pe (v·∇u)`` with the wind ``v`` rotating, the
  non-symmetric family (GMRES/BiCGStab).
- :class:`MatrixSequence`: a user's matrices (``.mtx``/``.mtx.gz``/``.mtx.bz2``/``.npz`` or in memory), each solved
  with changing right-hand sides, diagonal shifts ``A + σ_t mean|diag| I`` or scalings.

Sizes are parameters (``grid``; ``dim=3`` for diffusion): the defaults are small for tests, the bench
uses 10⁴ unknowns and 10⁶ are reachable. Everything random is drawn from the ``rng`` the stream passes, so
a seed fixes a sequence. Bad input (non-square, complex, NaN, a size mismatch) raises
:class:`~tunegym.envs.core.errors.MatrixError` when the system is made, before any work.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id
from tunegym.envs.core.matrices import as_real_csr, as_real_vector, check_norm, read_matrix_file

__all__ = ["KrylovSystem", "PDESequence", "MatrixSequence", "check_system", "check_vector", "KINDS",
           "load_matrix"]

KINDS = ("diffusion", "anisotropic", "elasticity", "convection")
_SOLVERS = "tunegym's Krylov solvers"  # for the messages


def check_vector(name: str, v: Any, n: int) -> np.ndarray:
    """``v`` as a finite float64 vector of length ``n`` (:func:`~tunegym.envs.core.matrices.as_real_vector`):
    :class:`MatrixError` naming ``name`` if it is complex, not numeric, of another shape or holds NaN/inf."""
    return as_real_vector(v, n, name, solver=_SOLVERS)


def check_system(A: Any, b: Any, *, copy: bool = True) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(A, b)`` as float64 CSR (sorted, duplicates summed) and a float64 vector; :class:`MatrixError` if bad
    (``b`` as :func:`check_vector` has it). ``b``'s norm must also be a normal float64: the solvers measure
    residuals relative to it, and an overflowing norm ends every solve on NaN while an underflowing one (entries
    below about 1e-154) makes the zero vector look converged; such a ``b`` is refused, asking for a rescaled system.
    One pass over ``b`` checks both (its sum of squares, :func:`~tunegym.envs.core.matrices.check_norm`).
    ``copy=False``: ``A`` itself when it already is float64 canonical CSR (see :func:`as_real_csr`)."""
    csr = as_real_csr(A, solver=_SOLVERS, copy=copy)
    vec = as_real_vector(b, csr.shape[0], "b", solver=_SOLVERS, finite=False)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        check_norm(vec, float(vec @ vec))
    return csr, np.ascontiguousarray(vec)


def is_symmetric(A: sp.csr_matrix, rtol: float = 1e-12) -> bool:
    """Whether ``A`` equals its transpose up to ``rtol`` of its largest entry (one transpose, O(nnz)).

    ``A`` canonical (sorted, no duplicates, as :func:`check_system` makes it): its CSC form holds ``A^T`` in CSR
    order, so a symmetric pattern is checked by comparing arrays (about twice as fast as forming ``A - A^T``,
    which is left for patterns that differ, e.g. by explicit zeros)."""
    scale = float(np.abs(A.data).max()) if A.nnz else 1.0
    if A.has_canonical_format:
        T = A.tocsc()
        if np.array_equal(T.indptr, A.indptr) and np.array_equal(T.indices, A.indices):
            return float(np.abs(T.data - A.data).max(initial=0.0)) <= rtol * scale
    diff = (A - A.T).tocsr()
    if diff.nnz == 0:
        return True
    return float(np.abs(diff.data).max()) <= rtol * scale


def _near_null_space(B: Any, n: int) -> np.ndarray:
    """A user's near null space as a finite float64 ``n x k`` array (a vector is one column); :class:`MatrixError`
    for a non-numeric, wrongly sized or non-finite one, which PyAMG would otherwise meet mid-setup."""
    try:
        arr = np.asarray(B, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MatrixError(f"near_null_space must be a numeric n x k array: {exc}", value=B) from exc
    if arr.ndim not in (1, 2) or arr.shape[0] != n or arr.size == 0:
        raise MatrixError(f"near_null_space must have {n} rows (one per unknown), got shape {arr.shape}",
                          value=arr.shape)
    if not np.all(np.isfinite(arr)):
        raise MatrixError("near_null_space has NaN or infinite entries", value=int(np.sum(~np.isfinite(arr))))
    return arr.reshape(n, -1)


@dataclass(frozen=True, eq=False)
class KrylovSystem(Instance):
    """One system ``A x = b`` of a sequence.

    ``symmetric`` says CG applies (``solver="auto"`` picks CG, else GMRES); ``near_null_space`` is PyAMG's
    ``B`` for smoothed aggregation (rigid body modes for elasticity; ``None``: constants); ``step`` is the
    position in its sequence and ``meta`` the generator's parameters (time step, contrast, angle...).
    Build one from a user's ``(A, b)`` with :meth:`from_arrays`.
    """

    A: sp.csr_matrix
    b: np.ndarray
    symmetric: bool
    name: str = "system"
    step: int = 0
    near_null_space: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @classmethod
    def from_arrays(cls, A: Any, b: Any, *, symmetric: bool | None = None, name: str = "user", step: int = 0,
                    near_null_space: Any = None, key: str = "", **meta: Any) -> "KrylovSystem":
        """Validate ``A`` and ``b`` (:class:`MatrixError` if bad) and wrap them; symmetry is detected if not given.

        ``A`` is wrapped as it is when it already is a float64 CSR matrix in canonical form (sorted indices, no
        duplicates), as SciPy's solvers take it: not copied, and never changed; anything else is converted into a
        new matrix. ``key``, when given, is the system's id instead of a hash of its content (see
        :attr:`instance_id`)."""
        csr, vec = check_system(A, b, copy=False)
        B = None if near_null_space is None else _near_null_space(near_null_space, csr.shape[0])
        sym = is_symmetric(csr) if symmetric is None else bool(symmetric)
        return cls(csr, vec, sym, name=name, step=int(step), near_null_space=B, meta=dict(meta), key=str(key))

    @functools.cached_property
    def instance_id(self) -> str:  # type: ignore[override]
        """``key`` if given, else a hash of name, step, ``A`` and ``b``. The hash reads every byte of the system (about
        half a CG solve's time on a diagonally dominant system of 10^5 unknowns), so the deploy path
        (:meth:`KrylovTuner.solve <tunegym.agents.krylov_tuner.KrylovTuner.solve>`), which joins nothing across
        methods, passes a ``key`` instead."""
        if self.key:
            return self.key
        return content_id(self.name, self.A.indptr, self.A.indices, self.A.data, self.b, step=self.step)

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.A.nnz)

    def __hash__(self) -> int:
        return hash(self.instance_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KrylovSystem) and other.instance_id == self.instance_id


# ---- generators -------------------------------------------------------------------------------------------
def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], modes: int = 4) -> np.ndarray:
    """A random smooth field on a cell grid, scaled into [-1, 1]: a few random Fourier modes plus a checkerboard of
    ``modes`` blocks per side (the jumps of layered media)."""
    axes = np.meshgrid(*[(np.arange(s) + 0.5) / s for s in shape], indexing="ij")
    value = np.zeros(shape)
    for _ in range(modes):
        freq = rng.integers(1, modes + 1, size=len(shape))
        phase = rng.uniform(0, 2 * math.pi, size=len(shape))
        term = np.ones(shape)
        for x, f, p in zip(axes, freq, phase):
            term = term * np.cos(math.pi * f * x + p)
        value += rng.normal() * term
    blocks = sum(np.floor(x * modes).astype(int) for x in axes) % 2
    value = value / (np.abs(value).max() + 1e-12) + 2.0 * blocks - 1.0
    return value / (np.abs(value).max() + 1e-12)


def _diffusion_operator(k: np.ndarray) -> sp.csr_matrix:
    """Cell-centred finite volumes of ``-div(k grad u)`` with Dirichlet walls, harmonic face means, unit spacing."""
    shape, n = k.shape, k.size
    index = np.arange(n).reshape(shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for axis in range(k.ndim):
        lo = [slice(None)] * k.ndim
        hi = [slice(None)] * k.ndim
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        ka, kb = k[tuple(lo)], k[tuple(hi)]
        face = 2.0 * ka * kb / (ka + kb)
        ia, ib = index[tuple(lo)].ravel(), index[tuple(hi)].ravel()
        rows += [ia, ib]
        cols += [ib, ia]
        vals += [-face.ravel(), -face.ravel()]
        np.add.at(diag, ia, face.ravel())
        np.add.at(diag, ib, face.ravel())
        for end in (0, -1):  # Dirichlet wall half a cell away: 2k
            wall = [slice(None)] * k.ndim
            wall[axis] = end
            np.add.at(diag, index[tuple(wall)].ravel(), 2.0 * k[tuple(wall)].ravel())
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    A.sum_duplicates()
    A.sort_indices()
    return A


def _convection_operator(grid: int, wind: tuple[float, float], peclet: float) -> sp.csr_matrix:
    """``-Δu + Pe (v·∇u)`` on a ``grid x grid`` interior, 5-point Laplacian and first-order upwind convection."""
    h = 1.0 / (grid + 1)
    one = np.ones(grid)
    lap = sp.diags([-one[:-1], 2 * one, -one[:-1]], [-1, 0, 1])
    eye = sp.identity(grid)
    vx, vy = wind
    # upwind difference of d/dx for velocity sign s: s>0 backward, s<0 forward; scaled by h (unit-spacing stencil)
    back = sp.diags([-one[:-1], one], [-1, 0])
    fwd = sp.diags([-one, one[:-1]], [0, 1])
    dx = back if vx >= 0 else fwd
    dy = back if vy >= 0 else fwd
    A = sp.kron(eye, lap) + sp.kron(lap, eye) + peclet * h * (vx * sp.kron(eye, dx) + vy * sp.kron(dy, eye))
    A = sp.csr_matrix(A)
    A.sort_indices()
    return A


class PDESequence(SequenceDistribution):
    """Systems from a time-dependent or parameterised PDE, one per time step (see the module docstring).

    Args:
        kind: ``"diffusion"``, ``"anisotropic"``, ``"elasticity"`` or ``"convection"``.
        grid: cells (or nodes) per side; ``grid**dim`` unknowns (``2 grid²`` for elasticity).
        dim: 2 or 3 (diffusion only).
        run_length: systems per simulation run; each run draws a new coefficient field / anisotropy / wind.
        nu_range: the dimensionless time step ``ν`` grows geometrically from the first to the second value
            over a run (``ν = dt / h²`` scaled by the stiffness diagonal).
        contrast: ``(low, high)`` of log10 coefficient contrast drawn per run (diffusion), drifting ±30 %.
        epsilon: anisotropy ratio (anisotropic), peclet: Péclet number (convection).
    """

    name = "krylov-pde"
    version = 1

    def __init__(self, kind: str = "diffusion", *, grid: int = 16, dim: int = 2, run_length: int = 50,
                 nu_range: Sequence[float] = (0.3, 300.0), contrast: Sequence[float] = (1.0, 3.0),
                 epsilon: float = 0.01, peclet: float = 50.0, rhs: str = "random") -> None:
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}", value=kind)
        if int(grid) < 3:
            raise ConfigError(f"grid must be >= 3, got {grid!r}", value=grid)
        if dim not in (2, 3) or (dim == 3 and kind != "diffusion"):
            raise ConfigError(f"dim must be 2 (or 3 for diffusion), got {dim!r} for {kind!r}", value=dim)
        if int(run_length) < 1:
            raise ConfigError(f"run_length must be >= 1, got {run_length!r}", value=run_length)
        lo, hi = (float(v) for v in nu_range)
        if not 0 < lo <= hi:
            raise ConfigError(f"nu_range must satisfy 0 < low <= high, got {nu_range!r}", value=nu_range)
        if rhs not in ("random", "smooth"):
            raise ConfigError(f"rhs must be 'random' or 'smooth', got {rhs!r}", value=rhs)
        self.kind, self.grid, self.dim, self.run_length = kind, int(grid), int(dim), int(run_length)
        self.nu_range = (lo, hi)
        self.contrast = (float(contrast[0]), float(contrast[1]))
        self.epsilon, self.peclet, self.rhs = float(epsilon), float(peclet), rhs
        self._elasticity_cache: dict[float, tuple[sp.csr_matrix, np.ndarray]] = {}

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "grid": self.grid, "dim": self.dim, "run_length": self.run_length,
                "nu_range": list(self.nu_range), "contrast": list(self.contrast), "epsilon": self.epsilon,
                "peclet": self.peclet, "rhs": self.rhs}

    @property
    def symmetric(self) -> bool:
        return self.kind != "convection"

    def nu(self, step: int) -> float:
        """The dimensionless time step of a run's ``step``-th system (geometric ramp)."""
        lo, hi = self.nu_range
        frac = 0.0 if self.run_length == 1 else step / (self.run_length - 1)
        return lo * (hi / lo) ** frac

    def sample(self, rng: np.random.Generator) -> KrylovSystem:
        return next(iter(self.sequence(rng)))

    def sequence(self, rng: np.random.Generator, length: int | None = None) -> Iterator[KrylovSystem]:
        count, run = 0, 0
        while True:
            params = self._run_params(rng)
            for step in range(self.run_length):
                if length is not None and count >= length:
                    return
                yield self._system(rng, params, run, step)
                count += 1
            run += 1

    # -- per-run parameters and per-step systems ----------------------------------------------------------
    def _run_params(self, rng: np.random.Generator) -> dict[str, Any]:
        shape = (self.grid,) * self.dim
        if self.kind == "diffusion":
            return {"field": _smooth_field(rng, shape), "contrast": float(rng.uniform(*self.contrast)),
                    "drift": float(rng.uniform(-0.3, 0.3)), "phase": float(rng.uniform(0, 2 * math.pi))}
        if self.kind == "anisotropic":
            return {"theta0": float(rng.uniform(0, math.pi)), "turn": float(rng.uniform(0.5, 1.0) * math.pi)}
        if self.kind == "elasticity":
            return {"E": float(10 ** rng.uniform(0, 1)), "nu0": float(rng.uniform(0.2, 0.3)),
                    "nu1": float(rng.uniform(0.4, 0.49))}
        return {"angle0": float(rng.uniform(0, 2 * math.pi)), "turn": float(rng.uniform(0.5, 2.0) * math.pi),
                "peclet": float(self.peclet * 10 ** rng.uniform(-0.5, 0.5))}

    def _rhs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.rhs == "random":
            return rng.standard_normal(n)
        return np.ones(n) + 0.1 * rng.standard_normal(n)

    def _system(self, rng: np.random.Generator, params: dict[str, Any], run: int, step: int) -> KrylovSystem:
        frac = 0.0 if self.run_length == 1 else step / (self.run_length - 1)
        nu = self.nu(step)
        B = None
        meta: dict[str, Any] = {"run": run, "step": step, "nu": nu}
        if self.kind == "diffusion":
            contrast = params["contrast"] * (1.0 + params["drift"] * math.sin(2 * math.pi * frac + params["phase"]))
            k = 10.0 ** (0.5 * contrast * params["field"])
            K = _diffusion_operator(k)
            mass = float(np.mean(K.diagonal())) / nu
            A = (K + mass * sp.identity(K.shape[0], format="csr")).tocsr()
            meta["contrast"] = contrast
        elif self.kind == "anisotropic":
            from pyamg.gallery import diffusion_stencil_2d, stencil_grid

            theta = params["theta0"] + params["turn"] * frac
            stencil = diffusion_stencil_2d(epsilon=self.epsilon, theta=theta, type="FD")
            K = stencil_grid(stencil, (self.grid, self.grid), format="csr")
            mass = float(np.mean(K.diagonal())) / nu
            A = (K + mass * sp.identity(K.shape[0], format="csr")).tocsr()
            meta["theta"] = theta
        elif self.kind == "elasticity":
            from pyamg.gallery import linear_elasticity

            poisson = params["nu0"] + (params["nu1"] - params["nu0"]) * frac
            K, B = linear_elasticity((self.grid, self.grid), E=params["E"], nu=round(poisson, 6), format="csr")
            K = sp.csr_matrix(K)
            mass = float(np.mean(K.diagonal())) / nu
            A = (K + mass * sp.identity(K.shape[0], format="csr")).tocsr()
            meta["poisson_ratio"] = poisson
        else:
            angle = params["angle0"] + params["turn"] * frac
            K = _convection_operator(self.grid, (math.cos(angle), math.sin(angle)), params["peclet"])
            mass = float(np.mean(K.diagonal())) / nu
            A = (K + mass * sp.identity(K.shape[0], format="csr")).tocsr()
            meta["angle"] = angle
        A.sum_duplicates()
        A.sort_indices()
        b = self._rhs(rng, A.shape[0])
        label = f"{self.kind}{self.dim}d-g{self.grid}" if self.kind == "diffusion" else f"{self.kind}-g{self.grid}"
        return KrylovSystem(A, b, self.symmetric, name=label, step=run * self.run_length + step,
                            near_null_space=None if B is None else np.asarray(B, dtype=np.float64), meta=meta)


# ---- user matrices ----------------------------------------------------------------------------------------
def load_matrix(path: str | Path) -> sp.csr_matrix:
    """A sparse matrix from MatrixMarket (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``) or SciPy ``.npz``;
    :class:`InstanceError` or :class:`MatrixError` (naming the file) for a missing, foreign or malformed file, or one
    SciPy would misread (:func:`~tunegym.envs.core.matrices.read_matrix_file`: a pattern file, symmetric storage
    holding both triangles)."""
    path = Path(path)
    matrix = read_matrix_file(path, solver=_SOLVERS)
    try:
        csr, _ = check_system(matrix, np.zeros(matrix.shape[0]))
    except MatrixError as exc:
        raise MatrixError(f"{str(path)!r}: {exc}", value=exc.value) from exc
    return csr


def _shift_range(shift_range: Any) -> tuple[float, float]:
    """``(low, high)`` with ``0 < low <= high``, both finite (the shifts are drawn log-uniformly between them);
    :class:`ConfigError` otherwise, at construction rather than at the first draw."""
    try:
        lo, hi = (float(v) for v in shift_range)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"shift_range must be two numbers (low, high), got {shift_range!r}",
                          value=shift_range) from exc
    if not (0.0 < lo <= hi and math.isfinite(hi)):
        raise ConfigError(f"shift_range must satisfy 0 < low <= high < inf, got {shift_range!r}", value=shift_range)
    return lo, hi


def _shift_unit(A: sp.csr_matrix) -> float:
    """The unit of a ``"shift"`` variation: the mean ``|a_ii|``, or, for a matrix whose diagonal is all zero
    (a saddle point, a graph adjacency), the mean magnitude of its stored entries, so that a shift still shifts."""
    for values in (np.abs(A.diagonal()), np.abs(A.data)):
        top = float(values.max()) if values.size else 0.0
        if top > 0.0:
            with np.errstate(over="ignore"):
                mean = float(np.mean(values))
            # near the float64 maximum the sum overflows: the mean of the scaled values then (elsewhere bit for bit
            # the mean the published user-matrix runs used)
            return mean if math.isfinite(mean) else top * float(np.mean(values / top))
    return 1.0


class MatrixSequence(SequenceDistribution):
    """A user's matrices, each met ``repeat`` times in a row with a changing right-hand side, shift or scaling.

    ``variation``: ``"rhs"`` (fresh normal ``b`` each time), ``"shift"`` (``A + σ_t mean|a_ii| I`` with
    ``σ_t`` drawn log-uniformly in ``shift_range``, a new ``b`` too; the mean stored ``|a_ij|`` when the diagonal is
    all zero) or ``"scale"`` (``s_t A``, ``s_t`` log-uniform
    in [0.1, 10], and a new ``b``). The matrices are validated at construction (:class:`MatrixError`).
    """

    name = "krylov-matrices"
    version = 1

    def __init__(self, matrices: Sequence[str | Path | Any] | str | Path, *, variation: str = "rhs",
                 repeat: int = 20, shift_range: Sequence[float] = (1e-3, 1.0), symmetric: bool | None = None) -> None:
        if isinstance(matrices, (str, Path)) or sp.issparse(matrices) or isinstance(matrices, np.ndarray):
            matrices = [matrices]
        try:
            matrices = list(matrices)  # any iterable of paths or matrices (a generator, a tuple)
        except TypeError as exc:
            raise ConfigError(f"matrices must be a path, a matrix or a list of them, got {type(matrices).__name__}",
                              value=matrices) from exc
        if len(matrices) == 0:
            raise ConfigError("matrices must name at least one matrix", value=matrices)
        if variation not in ("rhs", "shift", "scale"):
            raise ConfigError(f"variation must be 'rhs', 'shift' or 'scale', got {variation!r}", value=variation)
        try:
            count = int(repeat)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"repeat must be an integer >= 1, got {repeat!r}", value=repeat) from exc
        if count < 1:
            raise ConfigError(f"repeat must be >= 1, got {repeat!r}", value=repeat)
        self.variation, self.repeat = variation, int(repeat)
        self.shift_range = _shift_range(shift_range)
        self.labels: list[str] = []
        self.matrices: list[sp.csr_matrix] = []
        self.symmetric_flags: list[bool] = []
        self._shift_units: list[float] = []
        for index, item in enumerate(matrices):
            label = str(item) if isinstance(item, (str, Path)) else f"matrix{index}"
            if isinstance(item, (str, Path)):
                csr = load_matrix(item)
            else:
                try:
                    csr = as_real_csr(item, solver="tunegym's Krylov solvers")
                except MatrixError as exc:
                    raise MatrixError(f"{label}: {exc}", value=exc.value) from exc
            if variation == "scale" and csr.nnz and not math.isfinite(10.0 * float(np.max(np.abs(csr.data)))):
                raise MatrixError(f"{label}: entries up to {float(np.max(np.abs(csr.data))):.3g} overflow when "
                                  "scaled by up to 10 (variation='scale'); rescale the matrix", value=label)
            self.labels.append(label)
            self.matrices.append(csr)
            self._shift_units.append(_shift_unit(csr))
            self.symmetric_flags.append(is_symmetric(csr) if symmetric is None else bool(symmetric))

    @property
    def params(self) -> dict[str, Any]:
        return {"matrices": list(self.labels), "variation": self.variation, "repeat": self.repeat,
                "shift_range": list(self.shift_range)}

    def sample(self, rng: np.random.Generator) -> KrylovSystem:
        return next(iter(self.sequence(rng)))

    def sequence(self, rng: np.random.Generator, length: int | None = None) -> Iterator[KrylovSystem]:
        count = 0
        while True:
            index = int(rng.integers(len(self.matrices)))
            base = self.matrices[index]
            for _ in range(self.repeat):
                if length is not None and count >= length:
                    return
                meta: dict[str, Any] = {"source": self.labels[index]}
                A = base
                if self.variation == "shift":
                    lo, hi = self.shift_range
                    sigma = float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))
                    A = (base + sigma * self._shift_units[index] * sp.identity(base.shape[0])).tocsr()
                    meta["shift"] = sigma
                elif self.variation == "scale":
                    factor = float(10 ** rng.uniform(-1, 1))
                    A = (base * factor).tocsr()
                    meta["scale"] = factor
                A.sort_indices()
                yield KrylovSystem(A, rng.standard_normal(base.shape[0]), self.symmetric_flags[index],
                                   name=f"file{index}", step=count, meta=meta)
                count += 1
