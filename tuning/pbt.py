"""Population-based training (Jaderberg et al. 2017, arXiv 1711.09846) over the HPO objective, without Ray.

A population of ``size`` members, each an agent trained on its own tune seed with a config sampled from the
search space, trains in ``objective.rungs`` equal slices of the budget. After every slice but the last, each
member is scored on its validation seed; the bottom quarter *exploits* (copies the learned state of a
random top-quarter member, and that member's config) and *explores* (each float hyperparameter multiplied by
0.8 or 1.25, in log space for log parameters, clipped to its bounds). Integer and categorical parameters stay
as sampled. The learned state survives a config change, so PBT needs agents whose hyperparameters can be
swapped on a trained state: the bandits (:func:`with_config`).

It runs in one process and keeps its population in memory: it is not stored in an Optuna storage, and a
killed PBT run starts again. The Ray backend (:mod:`tunegym.tuning.ray_backend`) is the distributed variant.
Like every other method it draws only tune seeds; the chosen config is the best member's final one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.extras import require
from tunegym.tuning.objective import Objective
from tunegym.tuning.seeds import SeedSplit
from tunegym.tuning.spaces import suggest

__all__ = ["run_pbt", "with_config", "perturb"]


def with_config(agent: Any, config: Mapping[str, Any]) -> Any:
    """The same learned state under new hyperparameters (bandits); PBT's explore step."""
    from tunegym.agents.bandits import Bandit
    from tunegym.agents.config import build_config

    if not isinstance(agent, Bandit):
        raise ConfigError(f"PBT needs agents whose hyperparameters can change on a trained state (bandits), "
                          f"not {type(agent).__name__}")
    state = copy.deepcopy(agent.state_dict())  # the donor keeps training: share no arrays with it
    fresh = type(agent)(agent.n_arms, build_config(agent.config_class, config), seed=agent.seed,
                        context_low=state["context_low"], context_high=state["context_high"])
    fresh.load_state_dict(state)
    return fresh


def perturb(config: Mapping[str, Any], space: Mapping[str, dict[str, Any]], rng: np.random.Generator,
            factors: tuple[float, float] = (0.8, 1.25)) -> dict[str, Any]:
    """Explore: each float parameter scaled by one of ``factors`` (log parameters multiplicatively, others
    by the same factor applied to their distance from ``low``), clipped to the space's bounds."""
    out = dict(config)
    for name, spec in space.items():
        if spec["type"] != "float" or name not in out:
            continue
        low, high = float(spec["low"]), float(spec["high"])
        factor = float(factors[int(rng.integers(len(factors)))])
        value = out[name] * factor if spec.get("log") else low + (out[name] - low) * factor
        if not spec.get("log") and value == low:  # a parameter sitting at low would never move
            value = low + (high - low) * 0.05 * factor
        out[name] = float(min(high, max(low, value)))
    return out


def run_pbt(objective: Objective, space: Mapping[str, dict[str, Any]], size: int, *, seed: int = 0,
            progress: bool = True) -> dict[str, Any]:
    """Run PBT with a population of ``size``; returns the best config, its validation score and the
    members' histories as trial records (the shape :func:`tunegym.tuning.runner.trial_records` writes)."""
    optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

    if size < 2:
        raise ConfigError("PBT needs a population of at least 2 (--trials)", value=size)
    if not any(spec["type"] == "float" for spec in space.values()):
        raise ConfigError("PBT needs at least one float hyperparameter to perturb", value=list(space))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5B7]))
    sampler = optuna.samplers.RandomSampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    initial = optuna.create_study(sampler=sampler)
    members = []
    for number in range(size):
        config = suggest(initial.ask(), space)
        tune_seed = objective.split.trial_seeds(number, 1, seed)[0]
        objective.split.check([tune_seed])
        agent, env, _ = objective._build(config, tune_seed)
        members.append({"number": number, "config": config, "agent": agent, "env": env, "seed": tune_seed,
                        "history": [], "score": math.inf})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=objective.rungs * size, desc="pbt member-slices", unit="slice")
    done = 0
    quarter = max(1, size // 4)
    for rung in range(1, objective.rungs + 1):
        target = int(round(objective.budget * rung / objective.rungs))
        for member in members:
            objective._train(member["agent"], member["env"], target - done)
            member["score"] = objective.validate(member["agent"], SeedSplit.derived(member["seed"], "validation"))
            member["history"].append({"steps": target, "score": member["score"], "config": dict(member["config"])})
            if bar is not None:
                bar.update(1)
        done = target
        if rung == objective.rungs:
            break
        ranked = sorted(members, key=lambda m: m["score"])
        for loser in ranked[-quarter:]:
            donor = ranked[int(rng.integers(quarter))]
            if donor is loser:
                continue
            loser["config"] = perturb(donor["config"], space, rng)
            loser["agent"] = with_config(donor["agent"], loser["config"])
            loser["history"][-1]["exploited_from"] = donor["number"]
    if bar is not None:
        bar.close()
    best = min(members, key=lambda m: m["score"])
    trials = [{"number": m["number"], "state": "COMPLETE", "params": m["config"], "value": m["score"],
               "steps": objective.budget, "intermediate": {str(h["steps"]): h["score"] for h in m["history"]},
               "history": m["history"]} for m in members]
    for member in members:
        member["env"].close()
    return {"config": best["config"], "validation_score": best["score"], "trial": best["number"], "trials": trials}
