"""LNSOperatorRate-v0 (two agents: operator, destroy rate) is MIPLNSRate-v0's process, split in two."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.mip.env import DESTROY_RATES
from tunegym.envs.multiagent import make


def test_two_agent_steps_reproduce_the_single_agent_rate_env():
    multi = make("tunegym/LNSOperatorRate-v0", max_steps=6)
    single = gym.make("tunegym/MIPLNSRate-v0", max_steps=6)
    obs_m, _ = multi.reset(seed=11)
    obs_s, _ = single.reset(seed=11)
    assert np.array_equal(obs_m["operator"], obs_s) and np.array_equal(obs_m["destroy_rate"], obs_s)
    for k in range(6):
        op, rate = (2 * k + 1) % 9, k % len(DESTROY_RATES)
        obs_m, rew_m, _, trunc_m, info_m = multi.step({"operator": op, "destroy_rate": rate})
        obs_s, rew_s, _, trunc_s, info_s = single.step(op * len(DESTROY_RATES) + rate)
        assert np.array_equal(obs_m["operator"], obs_s)
        assert rew_m == {"operator": rew_s, "destroy_rate": rew_s}
        assert info_m["operator"]["best_objective"] == info_s["best_objective"]
        assert info_m["destroy_rate"]["destroy_rate"] == DESTROY_RATES[rate]
        assert trunc_m["operator"] == trunc_s
    assert multi.agents == []


def test_missing_or_invalid_agent_actions_raise():
    env = make("tunegym/LNSOperatorRate-v0")
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step({"operator": 0})
    with pytest.raises(ActionError):
        env.step({"operator": 0, "destroy_rate": 5})


def test_another_knob_is_refused_instead_of_silently_replaced():
    # was: action="operator" was dropped and the env played operator_rate under the user's nose
    with pytest.raises(ConfigError, match="operator_rate"):
        make("tunegym/LNSOperatorRate-v0", action="operator")
    assert make("tunegym/LNSOperatorRate-v0", action="operator_rate").possible_agents == ["operator", "destroy_rate"]
