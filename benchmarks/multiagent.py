"""Per-knob agents vs one agent for every multi-agent env: does splitting the knobs pay, on test seeds?

For each env id (default: all of ``tunegym.envs.multiagent.ENV_IDS``) it trains, on tune seed 0 only:

- ``independent``: one bandit per agent (``IndependentLearners``), each seeing its own observation;
- ``parameter sharing``: one bandit fed by every agent, its index one-hot in the context (``ParameterSharing``);
- ``flat``: one bandit over every combination of the knobs' arms (``FlatJointEnv``; skipped above 4096);
- ``shared``: one bandit whose arm is applied to every knob (``SharedKnobEnv``; only for identical knobs);
- ``ppo-joint`` (``--ppo``): one PPO policy setting all knobs (``JointActionEnv``, ``MultiDiscrete``);

then evaluates each on test seeds (one episode per seed) and writes a Markdown table of mean cost per step
(the env's ``info["cost"]``) and mean episode return; the verdict compares returns (the env's objective,
which for some envs also pays for accuracy). Same path as ``tunegym train --multiagent ...``.

    python benchmarks/multiagent.py --out benchmarks/multiagent.md --steps 3000 --ppo
    python benchmarks/multiagent.py --env tunegym/BlockSOR-v0 --env-kwargs '{"grid": 12}' --out /tmp/x.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.multiagent import IndependentLearners, ParameterSharing
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes, versions
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.multiagent import ENV_IDS, make
from tunegym.envs.multiagent.views import make_view
from tunegym.tuning.evaluation import EpisodeStats, evaluate_parallel, evaluate_policy

TUNE_SEED = 0


def _single_agent(env_id: str, env_kwargs: dict[str, Any], view: str, agent: str, steps: int,
                  config: dict[str, Any]) -> Any:
    env = make_view(env_id, view, **env_kwargs)
    env.reset(seed=TUNE_SEED)
    learner = make_agent(agent, env, config, seed=TUNE_SEED, device="cpu")
    learner.learn(env, total_timesteps=steps)
    env.close()
    return learner


def compare(env_id: str, env_kwargs: dict[str, Any], *, agent: str, steps: int, seeds: list[int],
            ppo_steps: int | None) -> tuple[list[EpisodeStats], dict[str, float], list[str]]:
    """Train every applicable method on the tune seed and evaluate it on ``seeds``."""
    results, timings, skipped = [], {}, []
    start = time.perf_counter()
    env = make(env_id, **env_kwargs)
    learners = IndependentLearners(env, agent, seed=TUNE_SEED).learn(env, steps, seed=TUNE_SEED)
    env.close()
    results.append(evaluate_parallel(env_id, learners, seeds, env_kwargs=env_kwargs,
                                     method=f"independent: one {agent} per agent"))
    timings["independent"] = time.perf_counter() - start
    start = time.perf_counter()
    env = make(env_id, **env_kwargs)
    try:
        sharing = ParameterSharing(env, agent, seed=TUNE_SEED).learn(env, steps, seed=TUNE_SEED)
    except ConfigError as exc:
        skipped.append(f"parameter-sharing: {exc}")
    else:
        results.append(evaluate_parallel(env_id, sharing, seeds, env_kwargs=env_kwargs,
                                         method=f"parameter sharing: one {agent} learns from every agent"))
        timings["parameter-sharing"] = time.perf_counter() - start
    finally:
        env.close()
    for view, label in (("flat", f"flat: one {agent} over all arm combinations"),
                        ("shared", f"shared: one {agent}, same arm for every knob")):
        start = time.perf_counter()
        try:
            learner = _single_agent(env_id, env_kwargs, view, agent, steps, {})
        except ConfigError as exc:
            skipped.append(f"{view}: {exc}")
            continue
        results.append(evaluate_policy(env_id, lambda _env, p=learner: p, seeds,
                                       env_kwargs={**env_kwargs, "multiagent_view": view}, method=label))
        timings[view] = time.perf_counter() - start
    if ppo_steps:
        start = time.perf_counter()
        try:
            policy = _single_agent(env_id, env_kwargs, "joint", "ppo", ppo_steps, {"n_steps": 256, "batch_size": 64})
        except ConfigError as exc:
            skipped.append(f"ppo-joint: {exc}")
        else:
            results.append(evaluate_policy(env_id, lambda _env: policy, seeds,
                                           env_kwargs={**env_kwargs, "multiagent_view": "joint"},
                                           method=f"ppo-joint: one PPO policy, all knobs ({ppo_steps} steps)"))
            timings["ppo-joint"] = time.perf_counter() - start
    return results, timings, skipped


def _table(results: list[EpisodeStats]) -> str:
    rows = ["| method | mean cost / step | 95% CI over seeds | mean return |", "|---|---:|---:|---:|"]
    for r in results:
        values = np.asarray(r.mean_cost)
        half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        rows.append(f"| {r.method} | {r.cost:.4g} | ±{half:.2g} | {np.mean(r.returns):.4g} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="multi-agent env id (repeatable; default: all)")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of kwargs, or of {env_id: kwargs}")
    parser.add_argument("--agent", default="chebcb", help="bandit used by every bandit method (default chebcb)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per bandit method")
    parser.add_argument("--ppo", type=int, nargs="?", const=12000, default=None, metavar="STEPS",
                        help="also train PPO on the joint view (default 12000 steps)")
    parser.add_argument("--seeds", default="100-104", help="test seeds, LOW-HIGH or comma list (default 100-104)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from tunegym.tuning.commands.common import evaluation_seeds

    seeds = evaluation_seeds(args.seeds)
    if min(seeds) < 100:
        raise SystemExit("test seeds must be >= 100 (tune seeds 0-9 train the agents)")
    kwargs_arg = json.loads(args.env_kwargs)
    env_ids = args.env or list(ENV_IDS)
    sections = [
        "# Per-knob agents vs one agent, every multi-agent env",
        "",
        f"Made by `python benchmarks/multiagent.py {' '.join(sys.argv[1:] if argv is None else argv)}`. "
        f"Agents train on tune seed {TUNE_SEED} only; test seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}), one episode "
        f"each; cost = the env's `info['cost']` per step (lower is better). Versions: {versions()}.",
    ]
    report: dict[str, Any] = {"seeds": seeds, "tune_seed": TUNE_SEED, "versions": versions(), "envs": {}}
    for env_id in env_ids:
        env_kwargs = kwargs_arg.get(env_id, {}) if any(k in ENV_IDS for k in kwargs_arg) else kwargs_arg
        results, timings, skipped = compare(env_id, env_kwargs, agent=args.agent, steps=args.steps, seeds=seeds,
                                            ppo_steps=args.ppo)
        per_knob = [r for r in results if r.method.startswith(("independent", "parameter sharing"))]
        def score(r: EpisodeStats) -> float:  # the env's own objective; cost alone ignores accuracy terms
            return float(np.mean(r.returns))

        best_knob = max(per_knob, key=score)
        best_single = max((r for r in results if r not in per_knob), key=score, default=None)
        verdict = ("no single-agent method applies" if best_single is None else
                   f"per-knob agents {'BEAT' if score(best_knob) > score(best_single) else 'do NOT beat'} the best "
                   f"single agent in mean return ({score(best_knob):.4g}, {best_knob.method}, vs "
                   f"{score(best_single):.4g}, {best_single.method})")
        sections += ["", f"## {env_id} {json.dumps(env_kwargs) if env_kwargs else ''}".rstrip(), "",
                     _table(results), "", f"**{verdict}.** Wall time (s): "
                     f"{ {k: round(v, 1) for k, v in timings.items()} }."]
        sections += [f"Skipped: {s}" for s in skipped]
        report["envs"][env_id] = {"env_kwargs": env_kwargs, "results": [r.as_dict() for r in results],
                                  "skipped": skipped, "timings": timings, "verdict": verdict}
        print(f"{env_id}: {verdict}", flush=True)
    out = Path(args.out)
    atomic_write_bytes(out, ("\n".join(sections) + "\n").encode())
    atomic_write_bytes(out.with_suffix(".json"), (json.dumps(report, indent=2, default=str) + "\n").encode())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
