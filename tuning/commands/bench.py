"""``tunegym bench NAME``: the benchmark suites (reproductions, HPO comparisons, domain reports).

Each benchmark is a module under :mod:`tunegym.tuning.benches` exposing ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["register", "BENCHES"]

#: Benchmark modules under ``tunegym.tuning.benches``.
BENCHES: tuple[str, ...] = ("learning_to_relax", "timestep", "hpo", "mip", "lr")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark suite and write JSON, Markdown and plots")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")
    benches.required = True
    for name in BENCHES:
        importlib.import_module(f"tunegym.tuning.benches.{name}").register(benches)
