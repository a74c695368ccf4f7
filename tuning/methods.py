"""HPO methods behind one interface: an Optuna sampler (which configs) and pruner (when to stop a trial).

``random``, ``grid``, ``tpe`` (Bergstra et al. 2011), ``cmaes`` (Hansen; Optuna's CMA-ES via ``cmaes``) run
every trial to its full budget; ``sha`` (successive halving, Jamieson & Talwalkar 2016) and ``hyperband``
(Li et al. 2018) sample at random and stop weak trials at the budget rungs the objective reports.
``pbt`` (population-based training, :mod:`tunegym.tuning.pbt`) trains a population in budget slices and
lets weak members take over strong members' learned state with perturbed hyperparameters; it runs in one
process (the Ray backend, :mod:`tunegym.tuning.ray_backend`, has a distributed PBT and ASHA). DEHB and BOHB are not offered: ``dehb`` 0.1.2 requires ``numpy<2``, which the rest of the stack has left behind, and HpBandSter
(BOHB) is unmaintained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tunegym.envs.core.errors import ConfigError
from tunegym.tuning.spaces import grid_values

__all__ = ["Method", "METHODS", "get_method"]


@dataclass(frozen=True)
class Method:
    """A named pair of sampler and pruner factories; ``deterministic`` methods replay from a seed."""

    name: str
    description: str
    make_sampler: Callable[[Mapping[str, Any], int], Any]
    make_pruner: Callable[[int, int], Any]
    deterministic: bool = True
    #: population methods (PBT) run their own loop over the objective instead of an Optuna study
    population: bool = False

    def sampler(self, space: Mapping[str, Any], seed: int) -> Any:
        return self.make_sampler(space, seed)

    def pruner(self, budget: int, rungs: int) -> Any:
        return self.make_pruner(budget, rungs)


def _random(space: Mapping[str, Any], seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _grid(space: Mapping[str, Any], seed: int) -> Any:
    import optuna

    return optuna.samplers.GridSampler(grid_values(space), seed=seed)


def _tpe(space: Mapping[str, Any], seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)


def _cmaes(space: Mapping[str, Any], seed: int) -> Any:
    import optuna

    try:
        import cmaes  # noqa: F401
    except ImportError as exc:
        raise ConfigError("the cmaes method needs the 'cmaes' package: pip install 'tunegym[hpo]'") from exc
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _no_pruner(budget: int, rungs: int) -> Any:
    import optuna

    return optuna.pruners.NopPruner()


def _sha(budget: int, rungs: int) -> Any:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, budget // rungs), reduction_factor=2)


def _hyperband(budget: int, rungs: int) -> Any:
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=max(1, budget // rungs), max_resource=budget,
                                          reduction_factor=2)


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("random", "random search", _random, _no_pruner),
        Method("grid", "grid search (4 points per numeric parameter)", _grid, _no_pruner),
        Method("tpe", "Optuna TPE", _tpe, _no_pruner),
        Method("cmaes", "Optuna CMA-ES", _cmaes, _no_pruner),
        Method("sha", "random sampling + successive halving over training steps", _random, _sha),
        Method("hyperband", "random sampling + Hyperband over training steps", _random, _hyperband),
        Method("pbt", "population-based training (exploit/explore on learned state)", _random, _no_pruner,
               population=True),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown HPO method {name!r}; choices: {sorted(METHODS)}", value=name)
    return METHODS[name]
