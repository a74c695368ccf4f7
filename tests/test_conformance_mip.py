"""Conformance of the MIP envs: ``check_tunegym_env`` on MIPLNS-v0 and MIPLNSRate-v0 (tiny instances) and
``check_tunegym_parallel_env`` on LNSOperatorRate-v0, plus the multi-agent view's instance replay."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.envs.multiagent import make
from tunegym.envs.testing import check_tunegym_env, check_tunegym_parallel_env


@pytest.mark.parametrize("env_id", ["tunegym/MIPLNS-v0", "tunegym/MIPLNSRate-v0"])
@pytest.mark.parametrize("reward", ["improvement", "graded"])
def test_lns_envs_pass_the_conformance_checker(env_id, reward):
    check_tunegym_env(gym.make(env_id, reward=reward, max_steps=6), steps=8)


def test_lns_operator_rate_passes_the_parallel_checker():
    check_tunegym_parallel_env(lambda: make("tunegym/LNSOperatorRate-v0", max_steps=5), cycles=6)


def test_lns_operator_rate_replays_an_instance_whatever_the_seed():
    def rollout(seed, instance=None):
        env = make("tunegym/LNSOperatorRate-v0", max_steps=6)
        obs, _ = env.reset(seed=seed, options=None if instance is None else {"instance": instance})
        trace = [obs["operator"].tolist()]
        for k in range(6):
            obs, rewards, _, _, infos = env.step({"operator": (3 * k + 1) % 9, "destroy_rate": k % 5})
            trace.append((obs["operator"].tolist(), rewards["operator"], infos["operator"]["cost"],
                          infos["destroy_rate"]["knob"]))
        return env.instance, trace

    instance, original = rollout(4)
    assert rollout(99, instance)[1] == original == rollout(1234, instance)[1]
    assert np.isfinite(sum(step[2] for step in original[1:]))
