"""HPO methods behind one interface: an Optuna sampler and pruner, a population loop, or an ask/tell optimiser.

``random``, ``grid``, ``tpe`` (Bergstra et al. 2011), ``cmaes`` (Hansen; Optuna's CMA-ES via ``cmaes``) run
every trial to its full budget; ``sha`` (successive halving, Jamieson & Talwalkar 2016) and ``hyperband``
(Li et al. 2018) sample at random and stop weak trials at the budget rungs the objective reports.
``pbt`` (population-based training, :mod:`tunegym.tuning.pbt`) trains a population in budget slices and
lets weak members take over strong members' learned state with perturbed hyperparameters; it runs in one
process (the Ray backend, :mod:`tunegym.tuning.ray_backend`, has a distributed PBT and ASHA).

*Ask/tell* methods bring their own optimiser, which proposes a config and a fidelity (training steps) and is
told the score; :func:`tunegym.tuning.runner.run_study` runs each proposal through the same objective and
stores it as an Optuna trial, so ``trials.json``, ``best.json``, ``--resume`` and the tune/test split work
as for the sampler methods. A proposal below the full budget is stored as a ``PRUNED`` trial (as Hyperband's
stopped trials are), so the best config is always chosen among full-budget trials.

- ``dehb``: DEHB (Awad et al. 2021, the ``dehb`` package), differential evolution inside Hyperband brackets;
  fidelities ``budget * 3**-k`` down to ``budget / rungs``.
- ``smac``: SMAC3's ``HyperparameterOptimizationFacade`` (random forest + expected improvement, Sobol
  initial design of at most a quarter of the trials); every trial at the full budget.
- ``smac-mf``: SMAC3's ``MultiFidelityFacade`` (the random-forest model inside a Hyperband intensifier,
  eta 3, BOHB-like), fidelities from ``budget / rungs`` to ``budget``.

All three are seeded with the HPO run seed (``dehb``: its generator and the ConfigSpace seed; SMAC: the
scenario seed) and replay the same proposals for the same seed and scores, which is what ``--resume``
relies on: a resumed run asks the optimiser again and tells it the stored scores of the trials already
finished. They run one worker per study (``--workers 1``; neither can share a study with other processes).
Requirements: ``dehb>=0.1.1,!=0.1.2`` (0.1.2 pins ``numpy<2``; 0.1.1 has no pin and runs on NumPy 2) and
``smac>=2.4.1``, with ``ConfigSpace`` 1.x, from the ``hpo`` extra. BOHB proper (HpBandSter) is not offered:
it is unmaintained; ``smac-mf`` is its maintained successor.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.extras import require
from tunegym.tuning.spaces import grid_values

__all__ = ["Method", "METHODS", "get_method", "Proposal", "Fidelities", "to_configspace"]


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
    #: ask/tell methods (DEHB, SMAC3): ``make_optimizer(space, seed, n_trials, fidelities)`` returns an
    #: object with ``ask() -> Proposal``, ``tell(proposal, score)`` and ``close()``; the runner drives it
    make_optimizer: Callable[[Mapping[str, Any], int, int, "Fidelities"], Any] | None = None
    #: multi-fidelity methods stop or size trials below the full budget (more trials for the same compute)
    multi_fidelity: bool = False

    @property
    def ask_tell(self) -> bool:
        return self.make_optimizer is not None

    def sampler(self, space: Mapping[str, Any], seed: int) -> Any:
        return self.make_sampler(space, seed)

    def pruner(self, budget: int, rungs: int) -> Any:
        return self.make_pruner(budget, rungs)

    def optimizer(self, space: Mapping[str, Any], seed: int, n_trials: int, fidelities: "Fidelities") -> Any:
        if self.make_optimizer is None:
            raise ConfigError(f"{self.name} is not an ask/tell method", value=self.name)
        return self.make_optimizer(space, seed, n_trials, fidelities)


@dataclass(frozen=True)
class Fidelities:
    """The training-step range a multi-fidelity method may choose from: ``budget / rungs`` to ``budget``."""

    low: int
    high: int
    eta: int = 3

    @classmethod
    def of(cls, budget: int, rungs: int) -> "Fidelities":
        return cls(max(1, int(round(budget / max(rungs, 1)))), int(budget))


@dataclass(frozen=True)
class Proposal:
    """One config an ask/tell optimiser wants scored, at ``fidelity`` training steps; ``handle`` is the
    optimiser's own record of it (DEHB's job info, SMAC's ``TrialInfo``), given back by ``tell``."""

    config: dict[str, Any]
    fidelity: int
    handle: Any = None


def _plain(value: Any) -> Any:
    """NumPy scalars (ConfigSpace hands them out) as Python values, so Optuna and JSON accept them."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def to_configspace(space: Mapping[str, dict[str, Any]], seed: int, method: str = "dehb") -> Any:
    """A tunegym search space as a ``ConfigSpace.ConfigurationSpace`` (``when`` becomes equality conditions)."""
    CS = require("ConfigSpace", "hpo", f"the {method} method")
    cs = CS.ConfigurationSpace(seed=int(seed))
    parameters = {}
    for name, spec in space.items():
        if spec["type"] == "float":
            parameters[name] = CS.UniformFloatHyperparameter(name, float(spec["low"]), float(spec["high"]),
                                                            log=bool(spec.get("log", False)))
        elif spec["type"] == "int":
            parameters[name] = CS.UniformIntegerHyperparameter(name, int(spec["low"]), int(spec["high"]),
                                                              log=bool(spec.get("log", False)))
        else:
            parameters[name] = CS.CategoricalHyperparameter(name, list(spec["choices"]))
    cs.add(list(parameters.values()))
    conditions = []
    for name, spec in space.items():
        when = spec.get("when") or {}
        parts = [CS.EqualsCondition(parameters[name], parameters[parent], value) for parent, value in when.items()]
        if len(parts) == 1:
            conditions.append(parts[0])
        elif parts:
            conditions.append(CS.AndConjunction(*parts))
    if conditions:
        cs.add(conditions)
    return cs


def _config_dict(configuration: Any) -> dict[str, Any]:
    return {str(name): _plain(value) for name, value in dict(configuration).items()}


class _DEHB:
    """DEHB's ask/tell loop; its log file and state go to a temporary folder removed by :meth:`close`."""

    def __init__(self, space: Mapping[str, Any], seed: int, n_trials: int, fidelities: Fidelities) -> None:
        DEHB = require("dehb", "hpo", "the dehb method").DEHB
        from loguru import logger  # a dependency of dehb
        if fidelities.high <= fidelities.low:
            raise ConfigError("dehb needs a budget above budget/rungs (use --budget >= 2 * rungs)",
                              value=(fidelities.low, fidelities.high))
        self._folder = tempfile.TemporaryDirectory(prefix="tunegym-dehb-")
        self._logger = logger
        logger.disable("dehb")  # DEHB logs every bracket to stderr; the harness has its own progress
        before = set(logger._core.handlers)
        self._dehb = DEHB(cs=to_configspace(space, seed), f=None, min_fidelity=fidelities.low,
                          max_fidelity=fidelities.high, eta=fidelities.eta, seed=int(seed), n_workers=1,
                          output_path=self._folder.name, save_freq="end")
        self._sinks = set(logger._core.handlers) - before

    def ask(self) -> Proposal:
        job = self._dehb.ask()
        return Proposal(_config_dict(job["config"]), int(round(float(job["fidelity"]))), job)

    def tell(self, proposal: Proposal, score: float) -> None:
        self._dehb.tell(proposal.handle, {"fitness": float(score), "cost": float(proposal.fidelity)})

    def close(self) -> None:
        for sink in self._sinks:
            self._logger.remove(sink)
        self._folder.cleanup()


def _deterministic_smac_local_search() -> None:
    """Make SMAC3's local search independent of ``PYTHONHASHSEED``.

    ``LocalSearch._get_initial_points`` (SMAC 2.x) returns ``list(set(start points))``. The set's order follows
    ``Configuration.__hash__``, which hashes strings, so the order of the local searches, and with it the random
    numbers each one draws, changed with the interpreter's hash seed: the same ``seed`` proposed different
    configurations in two processes. The patch sorts the start points by their array representation (a total
    order that does not depend on hashing). SMAC's algorithm is otherwise unchanged. It is applied once, when an
    ``smac`` method is built.
    """
    import numpy as np
    from smac.acquisition.maximizer.local_search import LocalSearch

    original = LocalSearch._get_initial_points
    if getattr(original, "_tunegym_deterministic", False):
        return

    def _get_initial_points(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        points = original(self, *args, **kwargs)
        return sorted(points, key=lambda c: tuple(np.nan_to_num(np.asarray(c.get_array(), dtype=float), nan=-1.0)))

    _get_initial_points._tunegym_deterministic = True  # type: ignore[attr-defined]
    LocalSearch._get_initial_points = _get_initial_points


class _SMAC:
    """SMAC3's ask/tell loop (HPO facade, or the multi-fidelity facade when ``multi_fidelity``)."""

    def __init__(self, space: Mapping[str, Any], seed: int, n_trials: int, fidelities: Fidelities,
                 multi_fidelity: bool) -> None:
        method = "smac-mf" if multi_fidelity else "smac"
        smac = require("smac", "hpo", f"the {method} method")
        from smac.runhistory.dataclasses import TrialValue
        _deterministic_smac_local_search()
        if multi_fidelity and fidelities.high <= fidelities.low:
            raise ConfigError("smac-mf needs a budget above budget/rungs", value=(fidelities.low, fidelities.high))
        self._value_type = TrialValue
        self._folder = tempfile.TemporaryDirectory(prefix="tunegym-smac-")
        budgets = dict(min_budget=fidelities.low, max_budget=fidelities.high) if multi_fidelity else {}
        # deterministic: SMAC does not re-run a config on more of its own seeds; the harness's trial
        # seeds already rotate over the tune seeds.
        scenario = smac.Scenario(to_configspace(space, seed, method), deterministic=True, n_trials=max(1, n_trials),
                                 seed=int(seed), output_directory=self._folder.name, **budgets)

        def never_called(config: Any, seed: int = 0, budget: float | None = None) -> float:
            raise RuntimeError("the harness evaluates SMAC's trials itself")

        if multi_fidelity:
            facade = smac.MultiFidelityFacade
            intensifier = facade.get_intensifier(scenario, eta=fidelities.eta)
            self._smac = facade(scenario, never_called, intensifier=intensifier, overwrite=True, logging_level=40)
        else:
            facade = smac.HyperparameterOptimizationFacade
            self._smac = facade(scenario, never_called, overwrite=True, logging_level=40)
        self._full = fidelities.high

    def ask(self) -> Proposal:
        info = self._smac.ask()
        fidelity = self._full if info.budget is None else int(round(float(info.budget)))
        return Proposal(_config_dict(info.config), fidelity, info)

    def tell(self, proposal: Proposal, score: float) -> None:
        self._smac.tell(proposal.handle, self._value_type(cost=float(score)), save=False)

    def tell_stored(self, proposal: Proposal, config: Mapping[str, Any], fidelity: int, score: float) -> None:
        """Resume: the stored trial at this ask index differs from ``proposal`` (a study started before SMAC's
        proposals were made independent of ``PYTHONHASHSEED``, or with another SMAC version), so the stored config
        is told as the observation at the asked slot."""
        from ConfigSpace import Configuration

        from smac.runhistory.dataclasses import TrialInfo

        handle = proposal.handle
        stored = Configuration(self._smac.scenario.configspace, values=dict(config))
        budget = None if handle.budget is None else float(fidelity or handle.budget)
        info = TrialInfo(config=stored, instance=handle.instance, seed=handle.seed, budget=budget)
        self._smac.tell(info, self._value_type(cost=float(score)), save=False)

    def close(self) -> None:
        self._folder.cleanup()


def _dehb(space: Mapping[str, Any], seed: int, n_trials: int, fidelities: Fidelities) -> _DEHB:
    return _DEHB(space, seed, n_trials, fidelities)


def _smac(space: Mapping[str, Any], seed: int, n_trials: int, fidelities: Fidelities) -> _SMAC:
    return _SMAC(space, seed, n_trials, fidelities, multi_fidelity=False)


def _smac_mf(space: Mapping[str, Any], seed: int, n_trials: int, fidelities: Fidelities) -> _SMAC:
    return _SMAC(space, seed, n_trials, fidelities, multi_fidelity=True)


def _random(space: Mapping[str, Any], seed: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.samplers.RandomSampler(seed=seed)


def _grid(space: Mapping[str, Any], seed: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.samplers.GridSampler(grid_values(space), seed=seed)


def _tpe(space: Mapping[str, Any], seed: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)


def _cmaes(space: Mapping[str, Any], seed: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    require("cmaes", "hpo", "the cmaes method")
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _no_pruner(budget: int, rungs: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.pruners.NopPruner()


def _sha(budget: int, rungs: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, budget // rungs), reduction_factor=2)


def _hyperband(budget: int, rungs: int) -> Any:
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    return optuna.pruners.HyperbandPruner(min_resource=max(1, budget // rungs), max_resource=budget,
                                          reduction_factor=2)


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("random", "random search", _random, _no_pruner),
        Method("grid", "grid search (4 points per numeric parameter)", _grid, _no_pruner),
        Method("tpe", "Optuna TPE", _tpe, _no_pruner),
        Method("cmaes", "Optuna CMA-ES", _cmaes, _no_pruner),
        Method("sha", "random sampling + successive halving over training steps", _random, _sha, multi_fidelity=True),
        Method("hyperband", "random sampling + Hyperband over training steps", _random, _hyperband,
               multi_fidelity=True),
        Method("pbt", "population-based training (exploit/explore on learned state)", _random, _no_pruner,
               population=True),
        Method("dehb", "DEHB: differential evolution in Hyperband brackets over training steps", _random,
               _no_pruner, make_optimizer=_dehb, multi_fidelity=True),
        Method("smac", "SMAC3 HPO facade (random forest + EI)", _random, _no_pruner, make_optimizer=_smac),
        Method("smac-mf", "SMAC3 multi-fidelity facade (random forest in Hyperband over training steps)",
               _random, _no_pruner, make_optimizer=_smac_mf, multi_fidelity=True),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown HPO method {name!r}; choices: {sorted(METHODS)}", value=name)
    return METHODS[name]
