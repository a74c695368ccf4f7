"""Do per-layer LR agents beat one agent that sets every layer's LR? ``tunegym/LRGroups-v0`` (issues 9 and 11).

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/multiagent_lr.py --out benchmarks/multiagent_lr.md`` (a few
minutes on one CPU core; writes ``benchmarks/multiagent_lr.json`` and the results table
``benchmarks/multiagent_lr.table.md``, which ``benchmarks/multiagent_lr.md`` quotes).

Env: ``LRGroups-v0`` defaults: MLPs with 2 hidden layers (3 layer groups, 3 agents) on blobs / 8x8 digits,
SGD+momentum or AdamW, 60-100 optimizer steps, a decision every 10 steps, 5 arms per layer
(10^-1.5 .. 10^0.5 x the base LR), shaped reward (per-window log-decrease of the train loss, minus the
final validation loss). Every learner is LinUCB (``tunegym.agents.bandits``, alpha 1, linear features) and
gets the same number of decisions, all on the task stream of tune seed ``s`` (s = 0, 1, 2: three
independent trainings); evaluation is greedy and frozen on the first task of test seeds 100-119
(``SeedSplit`` defaults shifted; never trained on). Methods:

- ``independent``: ``IndependentLearners``, one LinUCB per layer on its own observation (shared reward);
- ``shared``: one LinUCB on ``SharedKnobEnv`` choosing one multiplier for all layers (sees all layers);
- ``joint``: one LinUCB on the 125 joint actions of ``JointActionEnv`` (flattened), i.e. one agent that
  sets every layer separately;
- ``uniform-best``: the single fixed multiplier for all layers and all steps that is best on the tune tasks.

Score: final validation loss per test task (10 when the run diverged), IQM over tasks and training
seeds with a 95 % bootstrap interval (test tasks resampled within each training seed), and the paired
per-task comparison independent vs shared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from tunegym.agents.bandits.contextual import LinUCB
from tunegym.agents.multiagent import IndependentLearners, JointActionEnv, SharedKnobEnv
from tunegym.envs.core.seeding import stream
from tunegym.envs.multiagent import make
from tunegym.envs.multiagent.lr import GROUP_ARMS
from tunegym.tuning.stats import iqm, stratified_bootstrap_ci

ENV_ID = "tunegym/LRGroups-v0"
TEST_SEEDS = tuple(range(100, 120))
TUNE_SEEDS = (0, 1, 2)
DIVERGED = 10.0
CONFIG = {"alpha": 1.0, "ridge": 1.0, "degree": 1}


class FlatJointEnv(gym.ActionWrapper):
    """``JointActionEnv`` with its ``MultiDiscrete`` action flattened to one ``Discrete`` (for a bandit)."""

    def __init__(self, env: JointActionEnv) -> None:
        super().__init__(env)
        self.nvec = np.asarray(env.action_space.nvec)
        self.action_space = spaces.Discrete(int(np.prod(self.nvec)))

    def action(self, action: int) -> np.ndarray:
        return np.array(np.unravel_index(int(action), tuple(self.nvec)))


def final_loss(info: dict) -> float:
    value = info.get("val_loss")
    return DIVERGED if value is None or not np.isfinite(value) or value >= DIVERGED else float(value)


def evaluate_parallel(choose) -> list[float]:
    """Final val loss of ``choose(env, observations) -> actions`` on each test task."""
    out = []
    for seed in TEST_SEEDS:
        env = make(ENV_ID)
        obs, _ = env.reset(seed=seed)
        while env.agents:
            obs, _, _, _, infos = env.step(choose(env, obs))
        out.append(final_loss(next(iter(infos.values()))))
    return out


def evaluate_single(env_factory, bandit: LinUCB) -> list[float]:
    out = []
    for seed in TEST_SEEDS:
        env = env_factory()
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(bandit.predict(obs)[0])
            done = terminated or truncated
        out.append(final_loss(info))
    return out


def train_bandit(env: gym.Env, decisions: int, seed: int) -> LinUCB:
    bandit = LinUCB.for_env(env, CONFIG, seed=seed)
    env.reset(seed=seed)  # learn() continues this seed's task stream
    return bandit.learn(env, decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1500, help="training decisions per learner and seed")
    parser.add_argument("--out", default=None, help="write the markdown report here (and .json beside it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    losses: dict[str, list[list[float]]] = {m: [] for m in ("independent", "shared", "joint", "uniform-best")}
    for seed in TUNE_SEEDS:
        env = make(ENV_ID)
        learners = IndependentLearners(env, "linucb", CONFIG, seed=seed).learn(env, args.decisions, seed=seed)
        losses["independent"].append(evaluate_parallel(lambda env, obs: learners.predict(obs)))
        shared = train_bandit(SharedKnobEnv(make(ENV_ID)), args.decisions, seed)
        losses["shared"].append(evaluate_single(lambda: SharedKnobEnv(make(ENV_ID)), shared))
        joint = train_bandit(FlatJointEnv(JointActionEnv(make(ENV_ID))), args.decisions, seed)
        losses["joint"].append(evaluate_single(lambda: FlatJointEnv(JointActionEnv(make(ENV_ID))), joint))
        # The fixed uniform multiplier best on this seed's tune tasks (as many tasks as the learners saw, capped).
        task_stream = stream(seed, "instances")  # the stream reset(seed=seed) starts
        tasks = [make(ENV_ID).distribution.sample(task_stream) for _ in range(12)]
        scores = []
        for arm in range(len(GROUP_ARMS)):
            vals = []
            for task in tasks:
                probe = make(ENV_ID)
                probe.reset(options={"instance": task})
                while probe.agents:
                    _, _, _, _, infos = probe.step({a: arm for a in probe.agents})
                vals.append(np.log(max(final_loss(next(iter(infos.values()))), 1e-4)))
            scores.append(float(np.mean(vals)))
        best_arm = int(np.argmin(scores))
        losses["uniform-best"].append(evaluate_parallel(lambda env, obs: {a: best_arm for a in env.agents}))
        print(f"seed {seed}: " + ", ".join(f"{m} IQM {iqm(np.array(v[-1])):.4f}" for m, v in losses.items())
              + f" (uniform arm {GROUP_ARMS[best_arm]}; {time.time() - started:.0f} s)")
    results = {}
    for method, per_seed in losses.items():
        arr = np.array(per_seed)  # [seeds, tasks]
        results[method] = {"iqm_val_loss": iqm(arr), "ci": stratified_bootstrap_ci(arr.T),
                           "diverged": int(np.sum(arr >= DIVERGED)), "runs": int(arr.size)}
    ind, sh = np.array(losses["independent"]), np.array(losses["shared"])
    ratio = np.maximum(ind, 1e-4) / np.maximum(sh, 1e-4)
    paired = {"iqm_ratio_independent_over_shared": iqm(ratio), "ci": stratified_bootstrap_ci(ratio.T),
              "wins": int(np.sum(ratio < 0.99)), "ties": int(np.sum(np.abs(ratio - 1) <= 0.01)), "losses": int(np.sum(ratio > 1.01))}
    lines = ["| method | IQM final val loss [95% CI] | diverged runs |", "|---|---|---|"]
    for method, r in sorted(results.items(), key=lambda kv: kv[1]["iqm_val_loss"]):
        lines.append(f"| {method} | {r['iqm_val_loss']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {r['diverged']} / {r['runs']} |")
    lines.append(f"\nIndependent / shared, paired per task and seed: IQM ratio {paired['iqm_ratio_independent_over_shared']:.3f} "
                 f"[{paired['ci'][0]:.3f}, {paired['ci'][1]:.3f}], wins/ties/losses {paired['wins']}/{paired['ties']}/{paired['losses']}.")
    table = "\n".join(lines)
    print(table)
    print(f"({time.time() - started:.0f} s)")
    if args.out:
        out = Path(args.out)
        payload = {"decisions": args.decisions, "tune_seeds": TUNE_SEEDS, "test_seeds": TEST_SEEDS, "config": CONFIG,
                   "results": results, "paired": paired, "losses": losses, "wall_s": time.time() - started}
        out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=float))
        out.with_suffix(".table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
