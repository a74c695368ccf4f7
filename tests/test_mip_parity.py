"""Parity: ``LNSSolver`` (the deployed tuner) and the env make the same decisions on the same instance.

Both run under node limits only (``time_limit=None``, ``max_iterations``, ``sub_time_limit=None``, the env's
``sub_nodes`` and start), so every step is deterministic. For each tuner the test compares, step by step, the
observation the policy saw, the knob value it chose (operator and destroy rate), the sub-MIP node count
(the cost), the outcome, the best objective, and the reward the env paid against ``Tuner.reward`` of the
solver's record: an online bandit (learning from the graded reward, as Balans does) and the shipped
``pretrained:mip-lns`` PPO policy (improvement reward, 20-step features, destroy rate 0.5).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.agents.bandits import Softmax, UCB1
from tunegym.agents.lns_solver import LNSSolver, lns_tuner
from tunegym.agents.tuner import as_tuner
from tunegym.agents.tuners import load_tuner
from tunegym.envs.mip.instances import GENERATORS
from tunegym.envs.mip.lns import OPERATORS, best_known_objective

STEPS = 12
SIZES = {"auction": dict(n_items=40, n_bids=150), "setcover": dict(n_rows=120, n_cols=240)}


def _env_rollout(tuner, instance, env_id, seed, **env_kwargs):
    env = gym.make(env_id, **env_kwargs)
    obs, _ = env.reset(seed=seed, options={"instance": instance})
    steps = []
    for _ in range(STEPS):
        action, value = tuner.act(obs, learn=tuner.online)
        next_obs, reward, _, truncated, info = env.step(action)
        record = env.unwrapped.last_record
        if tuner.online:
            tuner.learn_from(obs, action, record)
        steps.append((obs, info["knob"], info["cost"], info["outcome"], info["best_objective"], reward))
        obs = next_obs
        if truncated:
            break
    env.close()
    return steps


def _solver_rollout(tuner, instance, reference, **solver_kwargs):
    solver = LNSSolver(tuner, sub_time_limit=None, **solver_kwargs)
    solution = solver.solve(instance, time_limit=None, max_iterations=STEPS, reference=reference)
    return [(obs, record.info()["knob"], record.cost, record.extra["outcome"], record.extra["best_objective"],
             solver.tuner.reward(record)) for obs, record in zip(solution.observations, solution.steps)], solution


def _assert_same(env_steps, solver_steps):
    assert len(env_steps) == len(solver_steps) == STEPS
    for k, (a, b) in enumerate(zip(env_steps, solver_steps)):
        assert np.array_equal(a[0], b[0]), f"step {k}: observations differ"
        assert a[1:] == b[1:], f"step {k}: {a[1:]} != {b[1:]}"


@pytest.mark.parametrize("family", sorted(SIZES))
@pytest.mark.parametrize("seed", [0, 7])
def test_online_bandit_makes_the_same_decisions_in_the_solver_and_in_the_env(family, seed):
    instance = GENERATORS[family](np.random.default_rng(3), **SIZES[family])
    env_kwargs = dict(reward="graded", destroy_rate=0.5, sub_nodes=50, max_steps=STEPS)
    env_steps = _env_rollout(lns_tuner(Softmax(len(OPERATORS), seed=seed), **env_kwargs), instance,
                             "tunegym/MIPLNS-v0", seed=seed + 100, sizes=None, **env_kwargs)
    solver_steps, solution = _solver_rollout(lns_tuner(Softmax(len(OPERATORS), seed=seed), **env_kwargs), instance,
                                             best_known_objective(instance), sub_nodes=50, start_nodes=1)
    _assert_same(env_steps, solver_steps)
    assert solution.nodes == sum(step[2] for step in env_steps)
    assert len({step[1]["operator"] for step in env_steps}) > 1  # the bandit explored: a real comparison


def test_rate_tuner_makes_the_same_operator_and_rate_decisions():
    instance = GENERATORS["auction"](np.random.default_rng(5), **SIZES["auction"])
    env_kwargs = dict(reward="improvement", sub_nodes=30, max_steps=STEPS)
    make = lambda: lns_tuner(UCB1(45, seed=1), action="operator_rate", **env_kwargs)  # noqa: E731
    env_steps = _env_rollout(make(), instance, "tunegym/MIPLNSRate-v0", seed=0, **env_kwargs)
    solver_steps, _ = _solver_rollout(make(), instance, best_known_objective(instance), sub_nodes=30, start_nodes=1)
    _assert_same(env_steps, solver_steps)
    assert len({step[1]["destroy_rate"] for step in env_steps}) > 1


def test_pretrained_mip_lns_sees_its_training_features_in_the_solver():
    policy = load_tuner("pretrained:mip-lns")
    tuner = as_tuner(policy)
    assert tuner.features_config["params"]["max_steps"] == 20
    assert tuner.reward_config["name"] == "mip.improvement" and tuner.env_kwargs["destroy_rate"] == 0.5
    instance = GENERATORS["auction"](np.random.default_rng(8), **SIZES["auction"])
    env_steps = _env_rollout(tuner, instance, "tunegym/MIPLNS-v0", seed=3, destroy_rate=0.5)  # as trained: 20 steps
    solver_steps, _ = _solver_rollout(as_tuner(policy), instance, best_known_objective(instance), sub_nodes=50,
                                      start_nodes=1)
    _assert_same(env_steps, solver_steps)
