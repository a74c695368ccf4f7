"""A deployed SORTuner and the env, on the same instance with the same policy, make the same decisions.

For ``SOR-v0`` (discrete and continuous) and ``SORMatrix-v0``: the ω of ``SORTuner.solve_system(instance)``
equals the env step's ``info["knob"]`` and the sweeps its ``info["sweeps"]``/``info["cost"]``; online learning
(``solve(..., learn=True)``) leaves a bandit in exactly the state an env step with ``select``/``observe``
leaves it. For ``SORDynamic-v0``: the ω of every block, in order, and the total sweeps are the same.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401
from tunegym.agents import SORTuner, load_tuner
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner import Tuner


def env_decision(env: gym.Env, seed: int, policy) -> tuple[object, dict]:
    """Reset on ``seed``; the env's instance and the info of one greedy step of ``policy``."""
    obs, _ = env.reset(seed=seed)
    instance = env.unwrapped.instance
    action, _ = policy.predict(obs, deterministic=True)
    return instance, env.step(action)[4]


def trained(env_id: str, agent: str, steps: int = 300, **kwargs):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    policy = make_agent(agent, env, {}, seed=0, device="cpu")
    policy.learn(env, total_timesteps=steps)
    return policy, env


@pytest.mark.parametrize("env_id, agent, kwargs", [
    ("tunegym/SOR-v0", "chebcb", {}),
    ("tunegym/SOR-v0", "spectral", {"action": "continuous"}),
    ("tunegym/SORMatrix-v0", "linucb", {}),
])
def test_tuner_and_env_pick_the_same_omega_and_spend_the_same_sweeps(env_id, agent, kwargs):
    policy, env = trained(env_id, agent, **kwargs)
    tuner = SORTuner.from_env(policy, env)
    for seed in range(100, 106):
        instance, info = env_decision(env, seed, policy)
        result = tuner.solve_system(instance, max_sweeps=env.unwrapped.process.max_sweeps)
        assert result.omega == info["knob"] == info["omega"]
        assert result.sweeps == info["sweeps"] == info["cost"]
        assert result.status == info["status"]


def test_shipped_ppo_tuner_matches_the_env_it_was_trained_on():
    policy = load_tuner("pretrained:sor-ppo")
    tuner = SORTuner.from_policy(policy)
    env = gym.make(policy.env_id, **policy.env_kwargs)
    for seed in range(100, 106):
        instance, info = env_decision(env, seed, policy)
        result = tuner.solve_system(instance)
        assert (result.omega, result.sweeps) == (info["knob"], info["sweeps"])


@pytest.mark.parametrize("agent", ["chebcb", "spectral", "tsallis_inf"])
def test_online_learning_in_deployment_is_the_env_update(agent):
    policy, env = trained("tunegym/SOR-v0", agent, steps=50)
    for seed in (200, 201, 202):
        in_env, deployed = copy.deepcopy(policy), copy.deepcopy(policy)
        obs, _ = env.reset(seed=seed)
        instance = env.unwrapped.instance
        action = in_env.select(obs)
        _, reward, _, _, info = env.step(action)
        in_env.observe(obs, action, reward, info)
        result = SORTuner.from_env(deployed, env).solve_system(instance, max_sweeps=10_000, learn=True)
        assert result.omega == info["knob"] and result.sweeps == info["sweeps"]
        assert_same_state(deployed.state_dict(), in_env.state_dict())
        policy = in_env


def assert_same_state(got, expected) -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys()
        for key in expected:
            assert_same_state(got[key], expected[key])
    elif isinstance(expected, (list, tuple, np.ndarray)) and not np.isscalar(expected):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    else:
        assert got == expected or (got != got and expected != expected)


class ResidualRule:
    """A deterministic policy of the residual history: cautious while the residual is high, bolder as it falls."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        log_residual, rate = float(observation[0]), float(observation[1])
        arm = int(np.clip(round(10 - 1.2 * log_residual + 4 * (rate > 0.9)), 0, 19))
        return arm, state


@pytest.mark.parametrize("kwargs", [{}, {"block": 7, "grids": [8, 12]}])
def test_dynamic_tuner_repeats_the_env_omega_per_block(kwargs):
    env = gym.make("tunegym/SORDynamic-v0", **kwargs)
    rule = ResidualRule()
    tuner = SORTuner(Tuner.from_env(rule, env))
    for seed in (0, 1, 2):
        obs, _ = env.reset(seed=seed)
        instance = env.unwrapped.instance
        omegas, sweeps, done = [], 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(rule.predict(obs)[0])
            omegas.append(info["knob"])
            sweeps += info["sweeps"]
            done = terminated or truncated
        result = tuner.solve_system(instance)
        assert len(set(omegas)) > 1  # the rule really changes ω within the solve
        assert result.omega.tolist() == omegas and result.sweeps == sweeps == info["total_sweeps"]
        assert result.status == info["status"] == "converged"
        assert env.unwrapped.process.x.tolist() == result.x.tolist()


def test_dynamic_tuner_solves_a_user_matrix():
    from tunegym.envs.sor import poisson2d, solve

    env = gym.make("tunegym/SORDynamic-v0")
    tuner = SORTuner(Tuner.from_env(ResidualRule(), env))
    A = poisson2d(12)
    b = np.random.default_rng(0).standard_normal(144)
    result = tuner.solve(A, b)
    assert result.converged and result.omega.size >= 2
    np.testing.assert_allclose(result.x, solve(A, b, 1.0).x, atol=1e-6)
