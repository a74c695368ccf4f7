"""Multi-agent envs pass PettingZoo's own conformance tests and share the single-agent process."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.multiagent import ENV_IDS, make


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_api_conformance(env_id):
    parallel_api_test(make(env_id), num_cycles=60)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_seed_determinism(env_id):
    parallel_seed_test(lambda: make(env_id))


def test_unknown_multiagent_env_is_a_config_error():
    with pytest.raises(ConfigError, match="choices"):
        make("tunegym/Nope-v0")


def test_block_sor_per_block_omega_matters_and_matches_uniform_sor():
    env = make("tunegym/BlockSOR-v0", grid=12, blocks=3)
    env.reset(seed=4)
    uniform = env.cost_of(np.full(3, 1.8))
    # One factor per block reproduces plain SOR with that factor on the same system.
    from tunegym.envs.sor.solver import solve_prepared

    system = env.instance
    assert uniform == solve_prepared(system.matrix, system.b, 1.8).sweeps
    # A per-block coordinate search beats the best uniform factor on every one of 5 systems, by 3.8% on average
    # (measured: 2, 2, 2, 2 and 1 sweeps of 36-69), where "1 improvement in 5" passed on a single lucky system.
    # An env that applied one factor to every block (per-block knobs ignored) fails this: no improvement at all.
    arms = np.linspace(1.5, 1.95, 10)
    improved, gains = 0, []
    for _ in range(5):
        best_uniform = min(env.cost_of(np.full(3, w)) for w in arms)
        best_blocks = best_uniform
        current = np.full(3, arms[int(np.argmin([env.cost_of(np.full(3, w)) for w in arms]))])
        for block in range(3):  # coordinate descent over blocks
            for w in arms:
                trial = current.copy()
                trial[block] = w
                cost = env.cost_of(trial)
                if cost < best_blocks:
                    best_blocks, current = cost, trial
        improved += best_blocks < best_uniform
        gains.append(1.0 - best_blocks / best_uniform)
        env.step({agent: 16 for agent in env.agents})
    assert improved == 5 and np.mean(gains) >= 0.025, gains


def test_independent_learners_train_on_block_sor_and_beat_gauss_seidel():
    from tunegym.agents.multiagent import IndependentLearners

    env = make("tunegym/BlockSOR-v0", grid=12, blocks=3)
    learners = IndependentLearners(env, "chebcb", seed=0).learn(env, total_steps=400, seed=0)
    obs, _ = env.reset(seed=99)
    learned, fixed = [], []
    for _ in range(30):
        fixed.append(env.cost_of(np.ones(3)))
        obs, _, _, _, infos = env.step(learners.predict(obs))
        learned.append(infos["block_0"]["sweeps"])
        if not env.agents:
            obs, _ = env.reset()
    assert np.mean(learned) < 0.4 * np.mean(fixed)


def test_independent_learners_refuse_offline_agents():
    from tunegym.agents.multiagent import IndependentLearners

    with pytest.raises(ConfigError, match="online"):
        IndependentLearners(make("tunegym/BlockSOR-v0"), "ppo")
