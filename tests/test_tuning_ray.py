"""The Ray Tune backend: the same search spaces, PBT that keeps learned state, the same final evaluation."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from tunegym.agents.registry import make_agent
from tunegym.envs.core.errors import ConfigError
from tunegym.tuning.cli import main

ray = pytest.importorskip("ray")

from tunegym.tuning.ray_backend import _with_config, ray_space  # noqa: E402


def test_search_space_maps_onto_ray_distributions():
    space = ray_space({"a": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                       "b": {"type": "int", "low": 1, "high": 4},
                       "c": {"type": "categorical", "choices": ["x", "y"]}})
    assert set(space) == {"a", "b", "c"}
    sample = {name: domain.sample() for name, domain in space.items()}
    assert 0.01 <= sample["a"] <= 1.0 and 1 <= sample["b"] <= 4 and sample["c"] in ("x", "y")
    with pytest.raises(ConfigError, match="when"):
        ray_space({"a": {"type": "float", "low": 0, "high": 1},
                   "b": {"type": "float", "low": 0, "high": 1, "when": {"a": 0.5}}})


def test_pbt_explore_keeps_the_learned_state():
    env = gym.make("tunegym/SOR-v0")
    env.reset(seed=0)
    agent = make_agent("epsilon_greedy", env, {"epsilon": 0.2}, seed=0).learn(env, 200)
    perturbed = _with_config(agent, {"epsilon": 0.05})
    assert perturbed.config.epsilon == 0.05 and perturbed.t == agent.t
    np.testing.assert_array_equal(perturbed.means, agent.means)
    with pytest.raises(ConfigError, match="PBT"):
        _with_config(object(), {"epsilon": 0.1})


@pytest.mark.slow
def test_tune_with_ray_pbt_writes_best_config_and_test_score(tmp_path):
    out = tmp_path / "ray"
    assert main(["tune", "--backend", "ray", "--method", "pbt", "--env", "tunegym/SOR-v0", "--agent",
                 "epsilon_greedy", "--trials", "3", "--workers", "2", "--budget", "150", "--eval-steps", "20",
                 "--seeds", "tune=0-4,test=100-101", "--out", str(out), "--no-progress"]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["backend"] == "ray" and set(best["config"]) == {"epsilon"} and len(best["per_test_seed"]) == 2
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 3
