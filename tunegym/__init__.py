"""tunegym: reinforcement learning that tunes numerical algorithms.

The work lives in three subpackages: :mod:`tunegym.envs` (Gymnasium environments over real solvers,
integrators, training runs and MIP searches), :mod:`tunegym.agents` (bandits, deep RL, baselines and the
deployable tuners) and :mod:`tunegym.tuning` (the HPO harness with a strict tune/test seed split, and the CLI).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunegym")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
