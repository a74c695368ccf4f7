"""The tuning harness and the CLI.

- :class:`SeedSplit`: disjoint tune and test seeds and the guard that keeps tuning off test seeds.
- :class:`Objective`, :func:`run_study`, :data:`METHODS`: HPO over an agent's config on tunegym envs, with
  Optuna samplers/pruners and storages (SQLite file, journal file, PostgreSQL), resumable after a kill;
  :func:`run_pbt`, population-based training over the same objective.
- :mod:`tunegym.tuning.stats`: IQM, stratified bootstrap CIs, probability of improvement, profiles.
- :mod:`tunegym.tuning.evaluation`: the evaluation loop behind every results table.
- :mod:`tunegym.tuning.cli`: the ``tunegym`` console script.
"""

from tunegym.tuning.methods import METHODS, Method, get_method
from tunegym.tuning.objective import Objective
from tunegym.tuning.pbt import run_pbt
from tunegym.tuning.runner import run_study
from tunegym.tuning.seeds import SeedSplit
from tunegym.tuning.spaces import default_space, load_space
from tunegym.tuning.stats import iqm, performance_profile, probability_of_improvement, stratified_bootstrap_ci

__all__ = [
    "METHODS",
    "Method",
    "Objective",
    "SeedSplit",
    "default_space",
    "get_method",
    "iqm",
    "load_space",
    "performance_profile",
    "probability_of_improvement",
    "run_pbt",
    "run_study",
    "stratified_bootstrap_ci",
]
