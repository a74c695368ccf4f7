"""Do two independent learners (gain, order) beat one agent that sets both? ``tunegym/StepOrder-v0``.

Run: ``nice python benchmarks/multiagent_timestep.py --out benchmarks/multiagent_timestep.md``.

Env: ``tunegym/StepOrder-v0`` (the ODEStep-v0 process, rtol 1e-6, all six problem families). Methods, trained on
tune seeds (the env's instance stream from seed 0) and evaluated frozen on test seeds 100-119 (one integration
each):
- fixed: the classical controller (safety 0.9) with RK45 throughout, and with RK23 throughout;
- two independent LinUCB learners (``IndependentLearners``: one per knob, each sees the shared observation and
  the shared reward);
- one LinUCB over the 10 x 2 joint arms (``FlatJointEnv``: ``Discrete(20)``);
- PPO on ``JointActionEnv`` (MultiDiscrete [10, 2]).
Scores: mean episode return (what all of them maximise), mean RHS evaluations, median log10 global error.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from tunegym.agents.multiagent import IndependentLearners, JointActionEnv
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes, versions
from tunegym.envs.multiagent import make
from tunegym.envs.multiagent.views import FlatJointEnv
from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES

ENV_ID = "tunegym/StepOrder-v0"
TEST_SEEDS = range(100, 120)
SAFETY_09 = DEFAULT_SAFETIES.index(0.9)


def evaluate(actions_for) -> dict[str, float]:
    returns, costs, errors = [], [], []
    for seed in TEST_SEEDS:
        env = make(ENV_ID)
        obs, _ = env.reset(seed=seed)
        total, info = 0.0, {}
        while env.agents:
            obs, rewards, _, _, infos = env.step(actions_for(env, obs))
            total += rewards["step_size"]
            info = infos["step_size"]
        returns.append(total)
        costs.append(info["total_rhs_evaluations"])
        errors.append(math.log10(max(info.get("global_error") or 1.0, 1e-300)))
    return {"mean_return": float(np.mean(returns)), "mean_rhs_evaluations": float(np.mean(costs)),
            "median_log10_error": float(np.median(errors)),
            "finished": int(sum(e < 0 for e in errors))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-steps", type=int, default=20000)
    parser.add_argument("--ppo-steps", type=int, default=40000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results, timings = {}, {}
    results["fixed: safety 0.9, RK45"] = evaluate(lambda env, obs: {"step_size": SAFETY_09, "order": 1})
    results["fixed: safety 0.9, RK23"] = evaluate(lambda env, obs: {"step_size": SAFETY_09, "order": 0})

    start = time.perf_counter()
    train_env = make(ENV_ID)
    learners = IndependentLearners(train_env, "linucb", seed=0).learn(train_env, args.train_steps, seed=0)
    results["two independent LinUCB (gain agent + order agent)"] = evaluate(
        lambda env, obs: learners.predict({a: obs[a] for a in env.agents}))
    timings["independent"] = time.perf_counter() - start

    start = time.perf_counter()
    flat_env = FlatJointEnv(make(ENV_ID))
    flat_env.reset(seed=0)
    single = make_agent("linucb", flat_env, {}, seed=0)
    single.learn(flat_env, args.train_steps)

    def single_actions(env, obs):
        arm, _ = single.predict(np.concatenate([obs[a] for a in env.possible_agents]))
        gain, order = np.unravel_index(int(arm), (len(DEFAULT_SAFETIES), 2))
        return {"step_size": int(gain), "order": int(order)}

    results["one LinUCB over the 20 joint arms"] = evaluate(single_actions)
    timings["joint-linucb"] = time.perf_counter() - start

    start = time.perf_counter()
    joint_env = JointActionEnv(make(ENV_ID))
    ppo = make_agent("ppo", joint_env, {"n_steps": 512, "batch_size": 64}, seed=0, device="cpu")
    ppo.learn(joint_env, total_timesteps=args.ppo_steps)

    def ppo_actions(env, obs):
        action, _ = ppo.predict(np.concatenate([obs[a] for a in env.possible_agents]), deterministic=True)
        return {"step_size": int(action[0]), "order": int(action[1])}

    results[f"one PPO, both knobs (MultiDiscrete, {args.ppo_steps} steps)"] = evaluate(ppo_actions)
    timings["ppo"] = time.perf_counter() - start

    lines = ["# Per-knob agents vs one agent: step size + integrator order (StepOrder-v0)", "",
             ("Made by `nice python benchmarks/multiagent_timestep.py --out benchmarks/multiagent_timestep.md`. "
              f"Test seeds 100-119 (one ODE integration each, rtol 1e-6); bandits trained for {args.train_steps} "
              f"attempts on the tune stream (seed 0), PPO for {args.ppo_steps}. Versions: {versions()}."), "",
             "| method | mean return | mean RHS evals | median log10 global error | finished |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {n} | {r['mean_return']:.1f} | {r['mean_rhs_evaluations']:,.0f} | {r['median_log10_error']:.2f} | "
              f"{r['finished']}/{len(TEST_SEEDS)} |" for n, r in results.items()]
    lines += ["", f"Wall time (s): {({k: round(v, 1) for k, v in timings.items()})}", ""]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        atomic_write_bytes(args.out, report.encode())


if __name__ == "__main__":
    main()
