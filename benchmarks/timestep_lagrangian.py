"""Learned state-dependent η against fixed η on ThreeBody-v0, under one Lagrangian trade-off λ.

Protocol (issue 8): for a multiplier λ, the *best fixed η* is the grid η that minimises the tune-seed mean of
``force_evaluations + λ·|ΔE/E0|`` over 300 actions (the trade-off a user with that λ would pick); the learned
controller is a contextual bandit trained on tune seeds with ``reward_mode="lagrangian"`` (same λ) and
``observation="lagrangian"``. Both, every fixed η and an analytic reference (η = (work / 4λc)^(1/5) from the
last interval; not learned) then run on test seeds 100+. Cost = force evaluations (mean), quality = median
|ΔE/E0|.

    nice python benchmarks/timestep_lagrangian.py --lambdas 1e13 1e14 --out benchmarks/timestep_results
    nice python benchmarks/timestep_lagrangian.py --lambdas 1e14 1e15 --tune-seeds 40 --test-seeds 40 --no-learned
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.agents.registry import make_agent
from tunegym.envs.core.knob import BoxKnob
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.env import DEFAULT_ETAS, make_three_body
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.tuning.benches.timestep import TEST_SEEDS, TUNE_SEEDS, three_body_rollout


#: the continuous env's knob (default bounds), to encode an η as its action
ETA_KNOB = BoxKnob("eta", 1e-4, 1e-1, scale="log")


def analytic_policy(lagrange_multiplier: float, env: Any, max_change: float = 1.25):
    """The closed-form Lagrangian choice from the last interval's work and error (a reference, not learned).

    ``obs[1] = log10(c / work)`` of the last interval gives ``η = (4 λ · c/work)^(-1/5)``; η moves by at most a
    factor ``max_change`` per interval (uncapped jumps did worse). Build one per run: it remembers its last η.
    """
    last: list[float] = []

    def policy(obs: np.ndarray) -> Any:
        eta = 10 ** min(max(-(float(obs[1]) + math.log10(4 * lagrange_multiplier)) / 5.0, -4.0), -1.0)
        if last:
            eta = min(max(eta, last[-1] / max_change), last[-1] * max_change)
        last.append(eta)
        return ETA_KNOB.encode(eta)  # ThreeBodyContinuous-v0's normalised log-η action
    return policy


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {"mean_evaluations": float(np.mean([r["force_evaluations"] for r in runs])),
            "median_log10_error": float(np.median([math.log10(max(r["energy_error"], 1e-300)) for r in runs])),
            "failures": int(sum(r["status"] != "ok" for r in runs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1e14])
    parser.add_argument("--agent", default="chebcb")
    parser.add_argument("--train-steps", type=int, default=6000)
    parser.add_argument("--actions", type=int, default=300)
    parser.add_argument("--tune-seeds", type=int, default=10)
    parser.add_argument("--test-seeds", type=int, default=10)
    parser.add_argument("--max-change", type=float, default=1.25, help="analytic rule: largest η factor per interval")
    parser.add_argument("--no-learned", action="store_true", help="skip the bandit (fixed η and analytic rule only)")
    parser.add_argument("--out", default="benchmarks/timestep_results")
    args = parser.parse_args()
    dist = PaperThreeBodyDistribution()
    tune = [dist.sample(stream(s, "instances")) for s in TUNE_SEEDS[: args.tune_seeds]]
    test = [dist.sample(stream(s, "instances")) for s in range(TEST_SEEDS[0], TEST_SEEDS[0] + args.test_seeds)]
    etas = [e for e in DEFAULT_ETAS if 2e-4 < e < 1e-2]
    kw = {"reward_mode": "lagrangian", "observation": "lagrangian"}
    fixed_tune = {e: [three_body_rollout(i, lambda o, e=e: int(np.argmin(np.abs(np.log(DEFAULT_ETAS) - math.log(e)))),
                                         args.actions) for i in tune] for e in etas}
    fixed_test = {e: [three_body_rollout(i, lambda o, e=e: int(np.argmin(np.abs(np.log(DEFAULT_ETAS) - math.log(e)))),
                                         args.actions) for i in test] for e in etas}
    result: dict[str, Any] = {"tune_seeds": list(TUNE_SEEDS[: args.tune_seeds]),
                              "test_seeds": [TEST_SEEDS[0] + k for k in range(args.test_seeds)],
                              "config": vars(args), "fixed_test": {f"{e:.2e}": summary(r) for e, r in fixed_test.items()},
                              "lambdas": {}}
    for lam in args.lambdas:
        objective = {e: float(np.mean([r["force_evaluations"] + lam * r["energy_error"] for r in runs]))
                     for e, runs in fixed_tune.items()}
        best = min(objective, key=objective.get)
        learned = None
        if not args.no_learned:
            env = make_three_body(episode_length=100, lagrange_multiplier=lam, **kw)
            model = make_agent(args.agent, env, seed=TUNE_SEEDS[0])
            env.reset(seed=TUNE_SEEDS[0])
            model.learn(env, total_timesteps=args.train_steps)
            learned = summary([three_body_rollout(i, lambda o, model=model: model.predict(o, deterministic=True)[0],
                                                  args.actions, {**kw, "lagrange_multiplier": lam}) for i in test])
        continuous = {**kw, "lagrange_multiplier": lam, "action": "continuous"}
        analytic = summary([three_body_rollout(i, analytic_policy(lam, None, args.max_change), args.actions,
                                               continuous) for i in test])
        b = summary(fixed_test[best])
        dominates = learned is not None and (learned["mean_evaluations"] <= b["mean_evaluations"]
                                             and learned["median_log10_error"] <= b["median_log10_error"])
        result["lambdas"][f"{lam:.0e}"] = {"best_fixed_eta_on_tune": best, "tune_objective": objective,
                                           "best_fixed_test": b, "learned": learned, "analytic": analytic,
                                           "learned_dominates_best_fixed": bool(dominates)}
        print(f"λ={lam:.0e}: best fixed η={best:.2e} {b} | learned {learned} | analytic {analytic} | "
              f"dominates={dominates}", flush=True)
    for e, s in result["fixed_test"].items():
        print(f"fixed η={e}: {s}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "timestep_lagrangian.json" if not args.no_learned else f"timestep_lagrangian_analytic_{args.test_seeds}.json"
    (out / name).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
