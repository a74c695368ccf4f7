"""The tuning harness and the CLI.

- :class:`SeedSplit`: disjoint tune and test seeds and the guard that keeps tuning off test seeds.
- :class:`Objective`, :func:`run_study`, :data:`METHODS`: HPO over an agent's config on tunegym envs, with
  Optuna samplers/pruners and storages (SQLite file, journal file, PostgreSQL), resumable after a kill;
  :func:`run_pbt`, population-based training over the same objective.
- :mod:`tunegym.tuning.stats`: IQM, stratified bootstrap CIs, probability of improvement, profiles, paired
  claims with verdicts; :mod:`tunegym.tuning.suites`: versioned benchmark suites and the final-test ledger.
- :mod:`tunegym.tuning.evaluation`: the evaluation loop behind every results table.
- :mod:`tunegym.tuning.cli`: the ``tunegym`` console script.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported lazily (PEP 562): the CLI imports this package for every command, and SciPy's stats (pulled in by
# :mod:`.stats`) alone costs a third of a second.
_LAZY = {
    "METHODS": "methods", "Method": "methods", "get_method": "methods",
    "Objective": "objective",
    "run_pbt": "pbt",
    "run_study": "runner",
    "SeedSplit": "seeds",
    "default_space": "spaces", "load_space": "spaces",
    "iqm": "stats", "performance_profile": "stats", "probability_of_improvement": "stats",
    "stratified_bootstrap_ci": "stats", "paired_claim": "stats", "finalize_claims": "stats",
    "Suite": "suites", "get_suite": "suites", "Ledger": "suites",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"tunegym.tuning.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'tunegym.tuning' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
