"""Do per-knob agents beat one agent that sets all knobs? Block SOR, one ω per block of rows.

Run: ``python benchmarks/multiagent_blocksor.py --out benchmarks/multiagent_blocksor.md`` (about 2 min).

Env: ``tunegym/BlockSOR-v0`` (12x12 Laplacian, 3 strips with independent Learning-to-Relax offsets).
Methods, all trained on tune seed 0 and evaluated frozen on test seeds 100-104 (50 systems each):
- independent ChebCB per block (each sees its strip's offset and the mean offset; shared reward);
- one ChebCB choosing a single ω for all blocks (``SharedKnobEnv``; sees all offsets);
- PPO choosing all three ω at once (``JointActionEnv``, MultiDiscrete);
- fixed ω = 1, and two oracles: the best uniform ω per system, and per-block coordinate descent from it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tunegym.agents.multiagent import IndependentLearners, JointActionEnv, SharedKnobEnv
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes, versions
from tunegym.envs.multiagent import make

TEST_SEEDS = range(100, 105)
STEPS_PER_SEED = 50


def evaluate(policy_step) -> float:
    costs = []
    for seed in TEST_SEEDS:
        env = make("tunegym/BlockSOR-v0", episode_length=STEPS_PER_SEED)
        obs, _ = env.reset(seed=seed)
        while env.agents:
            obs, cost = policy_step(env, obs)
            costs.append(cost)
    return float(np.mean(costs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    arms = np.linspace(1.0, 1.95, 20)
    results, timings = {}, {}

    def step_with(actions_for):
        def policy_step(env, obs):
            obs, _, _, _, infos = env.step(actions_for(env, obs))
            return obs, next(iter(infos.values()))["cost"]
        return policy_step

    start = time.perf_counter()
    results["fixed omega=1"] = evaluate(step_with(lambda env, obs: {a: 0 for a in env.agents}))

    def uniform_oracle(env, obs):
        best = int(np.argmin([env.cost_of(np.full(3, w)) for w in arms]))
        return {a: best for a in env.agents}

    results["oracle: best uniform omega per system"] = evaluate(step_with(uniform_oracle))

    def block_oracle(env, obs):
        costs = [env.cost_of(np.full(3, w)) for w in arms]
        current = np.full(3, int(np.argmin(costs)))
        best = min(costs)
        for block in range(3):
            for index in range(len(arms)):
                trial = current.copy()
                trial[block] = index
                cost = env.cost_of(arms[trial])
                if cost < best:
                    best, current = cost, trial
        return {a: int(current[j]) for j, a in enumerate(env.possible_agents)}

    results["oracle: per-block coordinate descent"] = evaluate(step_with(block_oracle))
    timings["baselines"] = time.perf_counter() - start

    start = time.perf_counter()
    train_env = make("tunegym/BlockSOR-v0")
    learners = IndependentLearners(train_env, "chebcb", seed=0).learn(train_env, args.train_steps, seed=0)
    results["per-block ChebCB (3 independent agents)"] = evaluate(step_with(lambda env, obs: learners.predict(obs)))
    timings["independent"] = time.perf_counter() - start

    start = time.perf_counter()
    shared_env = SharedKnobEnv(make("tunegym/BlockSOR-v0"))
    shared_env.reset(seed=0)
    shared = make_agent("chebcb", shared_env, {}, seed=0)
    shared.learn(shared_env, args.train_steps)

    def shared_actions(env, obs):
        joint = np.concatenate([obs[a] for a in env.possible_agents])
        arm, _ = shared.predict(joint)
        return {a: int(arm) for a in env.agents}

    results["single ChebCB, one omega for all blocks"] = evaluate(step_with(shared_actions))
    timings["shared"] = time.perf_counter() - start

    start = time.perf_counter()
    joint_env = JointActionEnv(make("tunegym/BlockSOR-v0"))
    ppo = make_agent("ppo", joint_env, {"n_steps": 256, "batch_size": 64}, seed=0, device="cpu")
    ppo.learn(joint_env, total_timesteps=args.train_steps * 4)

    def joint_actions(env, obs):
        action, _ = ppo.predict(np.concatenate([obs[a] for a in env.possible_agents]), deterministic=True)
        return {a: int(action[j]) for j, a in enumerate(env.possible_agents)}

    results[f"single PPO, all three omegas (MultiDiscrete, {args.train_steps * 4} steps)"] = evaluate(
        step_with(joint_actions))
    timings["ppo"] = time.perf_counter() - start

    lines = ["# Per-knob agents vs one agent: block SOR", "",
             "Made by `python benchmarks/multiagent_blocksor.py --out benchmarks/multiagent_blocksor.md`. "
             f"Mean SOR sweeps per system on test seeds 100-104 ({STEPS_PER_SEED} systems each); agents trained "
             f"for {args.train_steps} systems on tune seed 0 (PPO for 4x as many). Versions: {versions()}.", "",
             "| method | mean sweeps |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in results.items()]
    lines += ["", f"Wall time (s): {({k: round(v, 1) for k, v in timings.items()})}", ""]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        atomic_write_bytes(args.out, report.encode())


if __name__ == "__main__":
    main()
