"""Shared test fixtures. Tests run on CPU; numba caches compiled kernels between runs."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import importlib.util  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import tunegym.envs  # noqa: E402,F401  (registers the environments)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Import ``benchmarks/<name>.py`` (not a package) as a module: the scripts behind published figures."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="module")
def readme_tuner():
    """The README's SOR tuner (``SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0)``)."""
    from tunegym.agents import SORTuner

    return SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0)


@pytest.fixture(scope="module")
def dynamic_tuner():
    """A dynamic SOR tuner (ω per block of sweeps), trained briefly."""
    from tunegym.agents import SORTuner

    return SORTuner.train("tunegym/SORDynamic-v0", agent="chebcb", steps=300, seed=0)


@pytest.fixture(scope="session")
def skew() -> Callable[[int], sp.csr_matrix]:
    """``skew(n)``: the tridiagonal skew-symmetric matrix (1 above the diagonal, -1 below)."""
    return lambda n: sp.diags([np.ones(n - 1), -np.ones(n - 1)], [1, -1]).tocsr()
