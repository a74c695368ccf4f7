"""Ray Tune as an optional backend (``pip install 'tunegym[ray]'``): clusters, ASHA and PBT, same spaces.

The search-space file and the :class:`~tunegym.tuning.objective.Objective` are the ones the Optuna path uses;
only the scheduler differs:

- ``random``: Ray's random search, every trial to its full budget;
- ``asha``: asynchronous successive halving on the objective's budget rungs;
- ``pbt``: population-based training (Jaderberg et al. 2017). Members report at every rung with a
  checkpoint of their agent; weak members restart from a strong member's checkpoint with its float
  hyperparameters perturbed. The agent's learned state survives the change, so PBT needs agents whose
  hyperparameters can be swapped on a trained state: the bandits (float parameters only; integer and
  categorical ones stay as sampled).

Ray is imported only here. Results go under ``OUT/ray``; the best configuration is scored on test seeds by
the same guarded final evaluation as the Optuna path.
"""

from __future__ import annotations

import math
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.extras import require
from tunegym.tuning.objective import Objective
from tunegym.tuning.pbt import with_config as _with_config

__all__ = ["RAY_METHODS", "ray_space", "run_ray"]

RAY_METHODS = ("random", "asha", "pbt")


def _import_ray() -> Any:
    return require("ray", "ray", "the Ray backend (--backend ray)"), require("ray.tune", "ray", "the Ray backend (--backend ray)")


def ray_space(space: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Our search-space spec as Ray Tune distributions (conditional parameters are not supported by Ray)."""
    _, tune = _import_ray()
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.get("when"):
            raise ConfigError(f"parameter {name!r}: Ray Tune spaces have no 'when' conditions; use the optuna backend")
        if spec["type"] == "categorical":
            out[name] = tune.choice(list(spec["choices"]))
        elif spec["type"] == "int":
            low, high = int(spec["low"]), int(spec["high"])
            out[name] = tune.lograndint(low, high + 1) if spec.get("log") else tune.randint(low, high + 1)
        else:
            low, high = float(spec["low"]), float(spec["high"])
            out[name] = tune.loguniform(low, high) if spec.get("log") else tune.uniform(low, high)
    return out


def _trainable(config: dict[str, Any], objective: Objective, run_seed: int) -> None:
    from ray import tune
    from ray.tune import Checkpoint

    from tunegym.agents.tuners import load_tuner
    from tunegym.tuning.seeds import SeedSplit

    trial_id = tune.get_context().get_trial_id() or "0"
    number = zlib.crc32(trial_id.encode()) % 10_000
    seed = objective.split.trial_seeds(number, 1, run_seed)[0]
    objective.split.check([seed])
    agent, env, _ = objective._build(config, seed)
    done = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            agent = _with_config(load_tuner(Path(folder) / "agent.pt"), config)
            done = int((Path(folder) / "steps").read_text())
    rung_size = max(1, objective.budget // objective.rungs)
    while done < objective.budget:
        step = min(rung_size, objective.budget - done)
        objective._train(agent, env, step)
        done += step
        score = objective.validate(agent, SeedSplit.derived(seed, "validation"))
        with tempfile.TemporaryDirectory() as folder:
            if hasattr(agent, "state_dict"):
                agent.save(Path(folder) / "agent.pt")
                (Path(folder) / "steps").write_text(str(done))
                tune.report({"score": score, "steps": done}, checkpoint=Checkpoint.from_directory(folder))
            else:
                tune.report({"score": score, "steps": done})


def run_ray(
    objective: Objective,
    space: Mapping[str, dict[str, Any]],
    method: str,
    n_trials: int,
    out: Path,
    *,
    seed: int = 0,
    workers: int = 1,
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``n_trials`` Ray Tune trials (``method`` in :data:`RAY_METHODS`); returns the best config and score."""
    ray, tune = _import_ray()
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    if method not in RAY_METHODS:
        raise ConfigError(f"unknown ray method {method!r}; choices: {list(RAY_METHODS)}", value=method)
    param_space = ray_space(space)
    rung_size = max(1, objective.budget // objective.rungs)
    if method == "asha":
        scheduler: Any = ASHAScheduler(time_attr="steps", max_t=objective.budget, grace_period=rung_size,
                                       reduction_factor=2)
    elif method == "pbt":
        mutations = {name: param_space[name] for name, spec in space.items() if spec["type"] == "float"}
        if not mutations:
            raise ConfigError("PBT needs at least one float hyperparameter to perturb", value=list(space))
        scheduler = PopulationBasedTraining(time_attr="steps", perturbation_interval=rung_size,
                                            hyperparam_mutations=mutations)
    else:
        scheduler = FIFOScheduler()
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 object_store_memory=100 * 1024 * 1024)
    storage = (Path(out) / "ray").resolve()
    name = f"{method}-{objective.agent}-seed{seed}"
    trainable = tune.with_parameters(_trainable, objective=objective, run_seed=seed)
    trainable = tune.with_resources(trainable, {"cpu": 1})
    if resume and (storage / name).exists():
        tuner = tune.Tuner.restore(str(storage / name), trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(metric="score", mode="min", num_samples=n_trials, scheduler=scheduler,
                                        max_concurrent_trials=workers),
            run_config=tune.RunConfig(storage_path=str(storage), name=name, verbose=0),
        )
    results = tuner.fit()
    best = results.get_best_result(metric="score", mode="min", scope="all")
    trials = [{"config": {k: r.config[k] for k in space if k in r.config}, "score": r.metrics.get("score"),
               "steps": r.metrics.get("steps")} for r in results if r.metrics]
    config = {k: best.config[k] for k in space if k in best.config}
    score = best.metrics.get("score", math.nan)
    return {"config": config, "validation_score": score, "trials": trials}
