"""Adaptive LNS on a generated combinatorial auction: the env with a bandit, then the deployable solver."""

import gymnasium as gym
import numpy as np

import tunegym.envs  # noqa: F401
from tunegym.agents import Tuner
from tunegym.agents.bandits.classic import UCB1
from tunegym.agents.lns_solver import LNSSolver
from tunegym.envs.mip.instances import combinatorial_auction

env = gym.make("tunegym/MIPLNS-v0", families=("auction",), reward="graded")
bandit = UCB1(env.action_space.n, seed=0)
obs, info = env.reset(seed=0)
for _ in range(20):
    arm = bandit.select(obs)
    next_obs, reward, terminated, truncated, info = env.step(arm)
    bandit.update(obs, arm, reward)
    obs = next_obs
print("env: primal gap", info["primal_gap"], "primal integral", info["primal_integral"])

model = combinatorial_auction(np.random.default_rng(1), n_items=100, n_bids=500).to_highs()
# The tuner records the env's settings (features, reward, destroy rate), so the solver acts as in the env.
solution = LNSSolver(Tuner.from_env(bandit, env)).solve(model, time_limit=2.0)
print("solver:", solution.status, solution.objective, solution.operator_counts)
