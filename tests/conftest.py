"""Shared test fixtures. Tests run on CPU; numba caches compiled kernels between runs."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import tunegym.envs  # noqa: E402,F401  (registers the environments)
