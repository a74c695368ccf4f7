"""Search spaces (YAML, conditional parameters, grids, agents' defaults) and the storages trials run against."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tunegym.envs.core.errors import ConfigError
from tunegym.tuning import default_space, load_space
from tunegym.tuning.cli import main
from tunegym.tuning.runner import _postgres_driver, finished_trials, open_storage
from tunegym.tuning.spaces import grid_values, suggest, validate_space

SPACES = Path(__file__).resolve().parents[1] / "tuning" / "search_spaces"
CONDITIONAL = """
policy: {type: categorical, choices: [greedy, ucb]}
epsilon: {type: float, low: 0.01, high: 0.5, log: true, when: {policy: greedy}}
alpha: {type: float, low: 0.1, high: 10, log: true, when: {policy: ucb}}
degree: {type: int, low: 1, high: 6}
"""


def test_conditional_parameters_are_sampled_only_under_their_parent(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(CONDITIONAL)
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [suggest(study.ask(), space) for _ in range(30)]
    for config in configs:
        assert ("epsilon" in config) == (config["policy"] == "greedy")
        assert ("alpha" in config) == (config["policy"] == "ucb")
        assert 1 <= config["degree"] <= 6 and isinstance(config["degree"], int)
    assert {c["policy"] for c in configs} == {"greedy", "ucb"}


def test_grid_is_log_spaced_for_log_parameters():
    grid = grid_values(validate_space({"a": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
                                       "n": {"type": "int", "low": 1, "high": 4},
                                       "c": {"type": "categorical", "choices": ["x", "y"]}}))
    assert grid["a"] == pytest.approx([0.01, 0.1, 1.0, 10.0])
    assert grid["n"] == [1, 2, 3, 4] and grid["c"] == ["x", "y"]


@pytest.mark.parametrize("bad", [
    {"a": {"type": "float", "low": 1, "high": 0}},
    {"a": {"type": "float", "low": 0, "high": 1, "log": True}},
    {"a": {"type": "categorical", "choices": []}},
    {"a": {"type": "normal"}},
    {"a": {"type": "float", "low": 0, "high": 1, "when": {"missing": 1}}},
    [],
])
def test_invalid_spaces_are_config_errors(bad):
    with pytest.raises(ConfigError):
        validate_space(bad)


def test_every_bandit_has_a_valid_default_space_and_shipped_files_load():
    from tunegym.agents.bandits import BANDITS

    for name in BANDITS:
        assert default_space(name)
    for path in SPACES.glob("*.yaml"):
        assert set(load_space(path)) == set(default_space(path.stem))
    with pytest.raises(ConfigError, match="unknown agent"):
        default_space("no-such-agent")


def test_postgres_urls_use_an_installed_driver():
    assert _postgres_driver("sqlite:///x.db") == "sqlite:///x.db"
    assert _postgres_driver("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert _postgres_driver("postgresql://u@h/d") in ("postgresql://u@h/d", "postgresql+psycopg://u@h/d")
    with pytest.raises(ConfigError, match="storage URL"):
        open_storage("redis://localhost")


def test_two_worker_processes_fill_one_journal_study(tmp_path):
    out = tmp_path / "journal"
    journal = tmp_path / "study.journal"
    assert main(["tune", "--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--space",
                 str(SPACES / "epsilon_greedy.yaml"), "--method", "random", "--trials", "6", "--workers", "2",
                 "--budget", "100", "--eval-steps", "20", "--storage", f"journal:{journal}", "--out", str(out),
                 "--no-progress"]) == 0
    study = optuna.load_study(study_name="random-epsilon_greedy-seed0", storage=open_storage(f"journal:{journal}"))
    assert 6 <= len(finished_trials(study)) <= 7  # each worker stops at 6 finished; one may finish a last trial
    trials = json.loads((out / "trials.json").read_text())
    assert trials["seeds"]["test"] == list(range(100, 110)) and "numpy" in trials["versions"]
    assert trials["run"]["storage"] == f"journal:{journal}"
    best = json.loads((out / "best.json").read_text())
    assert best["run"]["budget"] == 100 and len(best["per_test_seed"]) == 10
