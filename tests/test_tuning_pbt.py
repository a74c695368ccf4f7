"""Population-based training without Ray: explore stays in bounds, exploit carries learned state."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401
from tunegym.agents.registry import make_agent
from tunegym.envs.core.errors import ConfigError
from tunegym.tuning import Objective, SeedSplit, run_pbt
from tunegym.tuning.cli import main
from tunegym.tuning.pbt import perturb, with_config

SPACE = {"epsilon": {"type": "float", "low": 0.005, "high": 0.5, "log": True}}


def test_explore_scales_floats_within_bounds():
    rng = np.random.default_rng(0)
    space = {**SPACE, "shift": {"type": "float", "low": 0.0, "high": 1.0}, "degree": {"type": "int", "low": 1, "high": 6}}
    for _ in range(50):
        config = perturb({"epsilon": 0.45, "shift": 0.0, "degree": 3}, space, rng)
        assert 0.005 <= config["epsilon"] <= 0.5 and 0.0 < config["shift"] <= 1.0 and config["degree"] == 3
    assert perturb({"epsilon": 0.1}, SPACE, rng)["epsilon"] in (pytest.approx(0.08), pytest.approx(0.125))


def test_exploit_copies_learned_state_without_sharing_it():
    env = gym.make("tunegym/SOR-v0")
    env.reset(seed=0)
    donor = make_agent("epsilon_greedy", env, {"epsilon": 0.2}, seed=0).learn(env, 150)
    copy = with_config(donor, {"epsilon": 0.05})
    assert copy.config.epsilon == 0.05 and copy.t == donor.t
    np.testing.assert_array_equal(copy.means, donor.means)
    before = copy.means.copy()
    donor.learn(env, 100)
    np.testing.assert_array_equal(copy.means, before)  # the donor's further training does not leak in
    with pytest.raises(ConfigError, match="PBT"):
        with_config(object(), {"epsilon": 0.1})


def test_pbt_is_reproducible_and_uses_only_tune_seeds():
    split = SeedSplit((0, 1, 2, 3), (100, 101))
    objective = Objective("tunegym/SOR-v0", "epsilon_greedy", 90, split, eval_steps=15, rungs=3)
    first = run_pbt(objective, SPACE, 4, seed=2, progress=False)
    second = run_pbt(objective, SPACE, 4, seed=2, progress=False)
    assert first == second
    assert len(first["trials"]) == 4 and all(len(t["history"]) == 3 for t in first["trials"])
    assert any("exploited_from" in h for t in first["trials"] for h in t["history"])
    with pytest.raises(ConfigError, match="population"):
        run_pbt(objective, SPACE, 1, progress=False)


def test_tune_method_pbt_writes_best_config_and_test_score(tmp_path):
    out = tmp_path / "pbt"
    assert main(["tune", "--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--method", "pbt", "--trials", "4",
                 "--budget", "90", "--eval-steps", "15", "--seeds", "tune=0-3,test=100-101", "--out", str(out),
                 "--no-progress"]) == 0
    best = json.loads((out / "best.json").read_text())
    assert set(best["config"]) == {"epsilon"} and len(best["per_test_seed"]) == 2 and best["method"] == "pbt"
    trials = json.loads((out / "trials.json").read_text())
    assert len(trials["trials"]) == 4 and trials["seeds"]["tune"] == [0, 1, 2, 3]
