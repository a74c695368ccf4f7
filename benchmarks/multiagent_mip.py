"""Do two agents (destroy operator, destroy rate) beat one agent choosing the pair? MIP LNS on HiGHS.

Run: ``nice python benchmarks/multiagent_mip.py --out benchmarks/multiagent_mip.md`` (a few minutes).

Env: ``tunegym/LNSOperatorRate-v0`` (two agents on the process of ``tunegym/MIPLNSRate-v0``): small
instances of all four generator families (``SIZES``: set cover 200x400, auction 60x300, facility 40x20,
independent set 400), 20 LNS steps per episode, sub-MIP node
limit 50, reward = normalised improvement of the best objective (deterministic: node limits only).
Methods, each trained on tune seed 0 for ``--train-steps`` joint steps and then evaluated frozen (greedy) on
test seeds 100..(100 + --test-seeds - 1), ``--episodes`` episodes each:
- independent learners (:class:`IndependentLearners`): one bandit for the operator (9 arms), one for the rate
  (5 arms), each with its own observation and the shared reward;
- one bandit over the 45 (operator, rate) pairs (``FlatJointEnv``, the single-agent view of the same env);
- uniform random pairs and the fixed pair (mutation, 0.5) as references.
Metrics per episode: final primal gap and primal integral (sum of the gap over the 20 steps) against the
best known objective (a 20k-node HiGHS run, cached per instance); mean and bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np
from tunegym.agents.multiagent import IndependentLearners
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes, versions
from tunegym.envs.mip.env import DESTROY_RATES
from tunegym.envs.mip.lns import OPERATORS
from tunegym.envs.multiagent import make
from tunegym.envs.multiagent.views import FlatJointEnv
from tunegym.tuning.stats import stratified_bootstrap_ci

ENV_ID = "tunegym/LNSOperatorRate-v0"
# Larger than the env's tiny defaults (which the greedy starts nearly solve), still seconds for HiGHS.
SIZES = {"setcover": dict(n_rows=200, n_cols=400), "auction": dict(n_items=60, n_bids=300),
         "facility": dict(n_customers=40, n_facilities=20), "indset": dict(n_nodes=400)}


def make_env():
    return make(ENV_ID, sizes=SIZES)


def evaluate(actions_for: Callable[[object, dict], dict], seeds: range, episodes: int) -> dict[str, list[float]]:
    """Final gap and primal integral of each test episode under the frozen policy ``actions_for(env, obs)``."""
    gaps, integrals = [], []
    for seed in seeds:
        env = make_env()
        obs, _ = env.reset(seed=seed)
        for _ in range(episodes):
            info = {}
            while env.agents:
                obs, _, _, _, infos = env.step(actions_for(env, obs))
                info = infos["operator"]
            gaps.append(float(info["primal_gap"]))
            integrals.append(float(info["primal_integral"]))
            obs, _ = env.reset()
    return {"final_gap": gaps, "primal_integral": integrals}


def summary(values: list[float]) -> str:
    v = np.asarray(values)
    low, high = stratified_bootstrap_ci(v, statistic=np.mean) if len(v) > 1 else (v[0], v[0])
    return f"{v.mean():.4f} [{low:.4f}, {high:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="ucb1", help="bandit for every learner (registered name)")
    parser.add_argument("--train-steps", type=int, default=1500)
    parser.add_argument("--test-seeds", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    seeds = range(100, 100 + args.test_seeds)
    results, timings = {}, {}
    rng = np.random.default_rng(0)

    start = time.perf_counter()
    results["fixed pair (mutation, 0.5)"] = evaluate(
        lambda env, obs: {"operator": OPERATORS.index("mutation"), "destroy_rate": DESTROY_RATES.index(0.5)},
        seeds, args.episodes)
    results["uniform random pair"] = evaluate(
        lambda env, obs: {"operator": int(rng.integers(len(OPERATORS))),
                          "destroy_rate": int(rng.integers(len(DESTROY_RATES)))}, seeds, args.episodes)
    timings["references"] = time.perf_counter() - start

    start = time.perf_counter()
    train_env = make_env()
    learners = IndependentLearners(train_env, args.agent, seed=0).learn(train_env, args.train_steps, seed=0)
    timings["independent: train"] = time.perf_counter() - start
    start = time.perf_counter()
    results[f"two independent {args.agent} (operator; rate)"] = evaluate(
        lambda env, obs: learners.predict(obs), seeds, args.episodes)
    timings["independent: eval"] = time.perf_counter() - start

    start = time.perf_counter()
    flat_env = FlatJointEnv(make_env())
    flat_env.reset(seed=0)
    single = make_agent(args.agent, flat_env, {}, seed=0)
    single.learn(flat_env, args.train_steps)
    timings["single: train"] = time.perf_counter() - start

    def single_actions(env, obs):
        arm, _ = single.predict(np.concatenate([obs[a] for a in env.possible_agents]), deterministic=True)
        op, rate = np.unravel_index(int(np.asarray(arm).reshape(-1)[0]), (len(OPERATORS), len(DESTROY_RATES)))
        return {"operator": int(op), "destroy_rate": int(rate)}

    start = time.perf_counter()
    results[f"one {args.agent} over 45 (operator, rate) pairs"] = evaluate(single_actions, seeds, args.episodes)
    timings["single: eval"] = time.perf_counter() - start

    load = os.getloadavg()[0]
    lines = ["# Two agents (operator | destroy rate) vs one agent (the pair): MIP LNS", "",
             f"Made by `nice python benchmarks/multiagent_mip.py --agent {args.agent} --train-steps "
             f"{args.train_steps} --test-seeds {args.test_seeds} --episodes {args.episodes} --out "
             "benchmarks/multiagent_mip.md`. "
             f"Env `{ENV_ID}` (instances of the four families at sizes {json.dumps(SIZES)}, 20 LNS steps per episode, node limits: "
             f"deterministic). Trained on tune seed 0 for {args.train_steps} joint steps; evaluated greedy on test "
             f"seeds {seeds.start}-{seeds.stop - 1}, {args.episodes} episodes each "
             f"({args.test_seeds * args.episodes} episodes). Mean [bootstrap 95% CI]; lower is better. "
             f"Load average {load:.2f} on {os.cpu_count()} shared cores. Versions: {versions()}.", "",
             "| method | final primal gap | primal integral (sum of gaps over 20 steps) |", "|---|---:|---:|"]
    lines += [f"| {name} | {summary(r['final_gap'])} | {summary(r['primal_integral'])} |"
              for name, r in results.items()]
    lines += ["", f"Wall time (s): {({k: round(v, 1) for k, v in timings.items()})}", ""]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        atomic_write_bytes(args.out, report.encode())
        atomic_write_bytes(os.path.splitext(args.out)[0] + ".json",
                           json.dumps({"args": vars(args), "results": results, "timings": timings}, indent=1).encode())


if __name__ == "__main__":
    main()
