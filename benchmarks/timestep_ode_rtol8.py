"""Can a learned gain choice (ODEStep-v0, LinUCB setting the I controller's safety factor, or with ``--knob pi_safety``
the PI controller's) reach the PI controller's cost–error front at rtol=1e-8 (or ``--rtol``)?

Trains LinUCB at rtol=1e-8 on the tune stream (seed 0, as ``tunegym bench timestep`` does) for a grid of rejection
penalties (the reward's price of a rejected step) and feature degrees (1 = linear, 3 = Chebyshev), and reports, on the
tune instances (seeds 0–9 and 1000–1009) and the bench's 20 test instances (seeds 100–109 and 1100–1109): mean RHS
evaluations, median log10 global error and the distance (decades) to PI's front, interpolated log-log through PI runs at
30 … 0.3 × rtol (3e-7 … 3e-9 at 1e-8) on the same instances (positive = above the front = worse). The variant is chosen on tune instances
(smallest tune gap); test instances are only reported.

    nice python benchmarks/timestep_ode_rtol8.py --out benchmarks/timestep_results     # ≈2.5 min here
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes
from tunegym.envs.timestep.ode_env import make_ode_step
from tunegym.tuning.benches.timestep import (
    PI_FRONT_RTOL_FACTORS,
    gap_to_front,
    ode_instances,
    ode_policy_runs,
    pi_front,
)


def evaluate(model: Any, insts: list[Any], front: list[tuple[float, float]], rtol: float,
             env_kwargs: dict[str, Any]) -> dict[str, float]:
    runs = ode_policy_runs(model, insts, rtol=rtol, env_kwargs=env_kwargs)
    errors = [r["global_error"] or 1.0 for r in runs]
    cost, err = float(np.mean([r["rhs_evaluations"] for r in runs])), float(np.median(np.log10(errors)))
    return {"mean_rhs_evaluations": cost, "median_log10_error": err, "rejected": int(sum(r["rejected"] for r in runs)),
            "gap_to_pi_front": gap_to_front(front, cost, err)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rejection-penalties", type=float, nargs="+", default=[3.0, 5.0, 8.0, 12.0])
    parser.add_argument("--degrees", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--knob", default="safety", choices=("safety", "pi_safety"),
                        help="the gain the bandit sets: the I controller's (bench default) or the PI controller's")
    parser.add_argument("--out", default="benchmarks/timestep_results")
    args = parser.parse_args()
    tune, test = ode_instances(range(10)), ode_instances(range(100, 110))
    fronts = {"tune": pi_front(tune, args.rtol), "test": pi_front(test, args.rtol)}
    rows = []
    for penalty in args.rejection_penalties:
        for degree in args.degrees:
            env_kwargs = {"rejection_penalty": penalty, "knob": args.knob}
            env = make_ode_step(max_attempts=2000, rtol=args.rtol, **env_kwargs)
            model = make_agent("linucb", env, {"degree": degree}, seed=0)
            env.reset(seed=0)
            model.learn(env, total_timesteps=args.steps)
            row = {"rejection_penalty": penalty, "degree": degree,
                   "tune": evaluate(model, tune, fronts["tune"], args.rtol, env_kwargs),
                   "test": evaluate(model, test, fronts["test"], args.rtol, env_kwargs)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    chosen = min(rows, key=lambda r: r["tune"]["gap_to_pi_front"])
    print("| rejection penalty | degree | tune evals | tune median | tune gap | test evals | test median | test gap |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mark = " (tune-chosen)" if r is chosen else ""
        print(f"| {r['rejection_penalty']:g}{mark} | {r['degree']} | {r['tune']['mean_rhs_evaluations']:,.0f} | "
              f"{r['tune']['median_log10_error']:.2f} | {r['tune']['gap_to_pi_front']:+.2f} | "
              f"{r['test']['mean_rhs_evaluations']:,.0f} | {r['test']['median_log10_error']:.2f} | "
              f"{r['test']['gap_to_pi_front']:+.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "timestep_ode_rtol8" if (args.knob, args.rtol) == ("safety", 1e-8) else f"timestep_ode_{args.knob}_rtol{args.rtol:.0e}"
    atomic_write_bytes(out / f"{name}.json", json.dumps(
        {"rtol": args.rtol, "knob": args.knob, "steps": args.steps, "pi_front": fronts,
         "pi_rtols": [f * args.rtol for f in PI_FRONT_RTOL_FACTORS], "rows": rows,
         "chosen_on_tune": {"rejection_penalty": chosen["rejection_penalty"], "degree": chosen["degree"]}},
        indent=1).encode())


if __name__ == "__main__":
    main()
