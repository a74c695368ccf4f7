"""DEHB and SMAC3 behind the harness's Method interface, and the HPO suite that tells methods apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunegym.envs.core.errors import SeedLeakError
from tunegym.tuning.cli import main
from tunegym.tuning.methods import get_method
from tunegym.tuning.objective import Objective
from tunegym.tuning.runner import run_study
from tunegym.tuning.seeds import SeedSplit

pytest.importorskip("optuna")

TINY = ["--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--budget", "90", "--eval-steps", "20",
        "--no-progress"]


@pytest.mark.parametrize("method", ["dehb", "smac", "smac-mf"])
def test_ask_tell_methods_tune_through_the_harness_and_replay_from_a_seed(tmp_path, method):
    pytest.importorskip("dehb" if method == "dehb" else "smac")
    sequences = []
    for run in ("a", "b"):
        assert main(["tune", *TINY, "--method", method, "--trials", "6", "--seed", "2",
                     "--seeds", "tune=0-4,test=200-201", "--out", str(tmp_path / run)]) == 0
        trials = json.loads((tmp_path / run / "trials.json").read_text())["trials"]
        sequences.append([(t["state"], t["params"], t["steps"]) for t in trials])
        best = json.loads((tmp_path / run / "best.json").read_text())
        assert best["seeds"]["test"] == [200, 201] and len(best["per_test_seed"]) == 2
        assert len(trials) == 6 and all(t["state"] in ("COMPLETE", "PRUNED") for t in trials)
        if method != "smac":  # multi-fidelity: some proposals train on a third of the budget
            assert {t["steps"] for t in trials} == {30, 90}
    assert sequences[0] == sequences[1]


def test_dehb_resumes_a_study_without_repeating_or_changing_trials(tmp_path):
    pytest.importorskip("dehb")
    out = tmp_path / "resumed"
    assert main(["tune", *TINY, "--method", "dehb", "--trials", "4", "--out", str(out)]) == 0
    assert main(["tune", *TINY, "--method", "dehb", "--trials", "7", "--out", str(out), "--resume"]) == 0
    assert main(["tune", *TINY, "--method", "dehb", "--trials", "7", "--out", str(tmp_path / "straight")]) == 0
    resumed, straight = ([(t["params"], t["value"]) for t in json.loads((d / "trials.json").read_text())["trials"]]
                         for d in (out, tmp_path / "straight"))
    assert resumed == straight


@pytest.mark.parametrize("method", ["dehb", "smac-mf"])
def test_ask_tell_methods_cannot_reach_a_test_seed(tmp_path, method):
    pytest.importorskip("dehb" if method == "dehb" else "smac")
    # A split whose test seeds are what trial rotation would draw: the guard must stop the first trial.
    split = SeedSplit((0, 1), (100,))
    leaky = Objective("tunegym/SOR-v0", "epsilon_greedy", 60, split, eval_steps=5)
    object.__setattr__(leaky, "split", _LeakySplit(split.tune, split.test))
    with pytest.raises(SeedLeakError):
        run_study(leaky, {"epsilon": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}, get_method(method),
                  3, storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="leak", progress=False)


class _LeakySplit(SeedSplit):
    """A split whose trial seeds are (wrongly) test seeds, as a bug in a method's seeding would produce."""

    def trial_seeds(self, trial_number: int, per_trial: int, run_seed: int = 0) -> list[int]:
        return [self.test[0]]


def test_tied_tasks_are_reported_and_dropped_from_the_ranking():
    from tunegym.tuning.benches.hpo import rank_methods, separation

    flat = separation({"random": [1.00, 1.10, 0.95], "tpe": [1.02, 0.98, 1.08], "dehb": [0.99, 1.05, 1.01]})
    steep = separation({"random": [2.0, 2.1, 1.9], "tpe": [1.0, 1.1, 0.9], "dehb": [1.5, 1.4, 1.6]})
    assert flat["tie"] and flat["p_value"] > 0.05
    assert not steep["tie"] and steep["best"] == "tpe" and steep["worst"] == "random"
    assert steep["gap"] == pytest.approx(1.0) and steep["spread"] == pytest.approx(np.sqrt(2 * 0.01 / 3))
    assert steep["p_value"] < 0.01
    # a clear difference in means that a noisy third method would have hidden under a "max std" rule
    noisy = separation({"random": [1.70, 1.80, 1.60, 1.75, 1.65], "tpe": [1.20, 1.10, 1.15, 1.25, 1.18],
                        "smac": [2.5, 1.1, 1.3, 1.2, 1.5]})
    assert not noisy["tie"] and noisy["best"] == "tpe" and noisy["worst"] == "random"
    # identical runs never separate; constant but different ones do
    assert separation({"a": [1.0, 1.0], "b": [1.0, 1.0]})["tie"]
    assert not separation({"a": [1.0, 1.0], "b": [2.0, 2.0]})["tie"]
    ranking = rank_methods({"flat": flat, "steep": steep})
    assert ranking == {"tpe": 1.0, "dehb": 2.0, "random": 3.0}  # the flat task's order counts for nothing
    assert rank_methods({"flat": flat}) == {}


def test_hpo_suite_smoke_scale_writes_report_and_paired_scores(tmp_path):
    pytest.importorskip("dehb")
    pytest.importorskip("smac")
    pytest.importorskip("matplotlib")
    from tunegym.tuning.benches.hpo import run_hpo_suite

    result = run_hpo_suite("smoke", tmp_path, methods=("random", "dehb", "smac"), runs=2,
                           tasks=["synthetic-valley"])
    assert set(result["scores"]["synthetic-valley"]) == {"random", "dehb", "smac"}
    assert all(len(v) == 2 for v in result["scores"]["synthetic-valley"].values())
    assert "tie" in result["separation"]["synthetic-valley"]
    assert (tmp_path / "hpo.md").read_text().startswith("HPO suite")
    assert json.loads((tmp_path / "hpo.json").read_text())["runs"] == 2
    assert (tmp_path / "hpo_synthetic-valley.png").stat().st_size > 1000


def test_a_seed_leak_stops_an_optuna_study_instead_of_failing_trials_forever(tmp_path):
    """Optuna's ``catch=(TunegymError,)`` must not swallow a SeedLeakError as one more failed trial."""
    import pytest

    from tunegym.envs.core.errors import SeedLeakError
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.runner import run_study

    class LeakingObjective:
        budget, rungs = 10, 1

        def __call__(self, trial, config, seed, **kwargs):
            raise SeedLeakError("tuning touched test seed 100", value=100)

    with pytest.raises(SeedLeakError, match="test seed 100"):
        run_study(LeakingObjective(), {"x": {"type": "float", "low": 0.0, "high": 1.0}}, get_method("random"),
                  n_trials=3, storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="leak", seed=0, workers=1,
                  progress=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_study_whose_every_trial_fails_stops_with_a_config_error_instead_of_retrying_forever(tmp_path, workers):
    """Failed trials do not count as finished: an objective that fails for every config used to be retried
    without end by the Optuna loops (the ask/tell loop already stopped at 3 attempts per trial)."""
    from tunegym.envs.core.errors import ConfigError

    with pytest.raises(ConfigError, match="keeps failing"):
        run_study(FailingObjective(), {"x": {"type": "float", "low": 0.0, "high": 1.0}}, get_method("random"),
                  n_trials=2, storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="fails", seed=0,
                  workers=workers, progress=False)


class FailingObjective:
    """An objective whose every trial raises a tunegym error (an env that breaks after a few steps)."""

    budget, rungs = 10, 1

    def __call__(self, trial, config, seed, **kwargs):
        from tunegym.envs.core.errors import InstanceError

        raise InstanceError("the env broke", value=config)


def test_a_task_run_on_its_own_merges_into_the_suite_report(tmp_path):
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.hpo import merge_hpo_suites

    def payload(task, scores):
        return {"scale": "full", "methods": ["random", "tpe"], "runs": 3, "seeds": {"tune": [0], "test": [100, 101]},
                "versions": {}, "tasks": {task: {"trials": 4, "budget": 10, "eval_steps": 1}},
                "scores": {task: scores}, "details": {task: {}}, "separation": {}, "ranking": {}}

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "hpo.json").write_text(json.dumps(payload("flat", {"random": [1.0, 1.1, 0.9],
                                                                         "tpe": [1.05, 0.95, 1.0]})))
    (tmp_path / "b" / "hpo.json").write_text(json.dumps(payload("steep", {"random": [2.0, 2.1, 1.9],
                                                                          "tpe": [1.0, 1.1, 0.9]})))
    merged = merge_hpo_suites(tmp_path / "a", tmp_path / "b")
    assert set(merged["scores"]) == {"flat", "steep"}
    assert merged["separation"]["flat"]["tie"] and not merged["separation"]["steep"]["tie"]
    assert merged["ranking"] == {"tpe": 1.0, "random": 2.0}
    assert "steep" in (tmp_path / "a" / "hpo.md").read_text()
    with pytest.raises(ConfigError, match="both suite runs hold"):
        merge_hpo_suites(tmp_path / "a", tmp_path / "b")


def test_an_equal_compute_budget_gives_multi_fidelity_methods_more_trials(tmp_path):
    from tunegym.tuning.benches.hpo import SUITE_TASKS, _synthetic_objective_class
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.runner import finished_trials, run_study, steps_spent
    from tunegym.tuning.seeds import SeedSplit

    task = SUITE_TASKS["synthetic-valley-compute"]
    objective = _synthetic_objective_class()("synthetic", "synthetic", 90, SeedSplit(), eval_steps=1)
    counts = {}
    for name in ("random", "hyperband"):
        study = run_study(objective, task["space"], get_method(name), 60, storage=f"sqlite:///{tmp_path / name}.db",
                          study_name=name, seed=0, progress=False, max_steps=10 * 90)
        counts[name] = len(finished_trials(study))
        assert 10 * 90 <= steps_spent(study) < 10 * 90 + 90  # stops at the budget; the crossing trial finishes
    assert counts["random"] == 10 and counts["hyperband"] > 10  # pruned trials leave compute for more


SMAC_SCRIPT = """
import json
from tunegym.tuning.methods import Fidelities, get_method
space = {"alpha": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
         "degree": {"type": "int", "low": 1, "high": 6}, "kind": {"type": "categorical", "choices": ["a", "b", "c"]}}
optimizer = get_method("smac").optimizer(space, 0, 14, Fidelities(10, 100))
proposed = []
for _ in range(14):
    p = optimizer.ask()
    c = p.config
    optimizer.tell(p, (c["alpha"] - 1) ** 2 + c["degree"] + "abc".index(c["kind"]))
    proposed.append([round(c["alpha"], 9), c["degree"], c["kind"]])
print(json.dumps(proposed))
"""


def test_smac_proposes_the_same_configurations_whatever_the_hash_seed():
    """SMAC's local search ordered its start points by a set of Configurations (string hashes): the same seed
    proposed other model-based configurations under another PYTHONHASHSEED (``methods._deterministic_smac_local_search``)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("smac")
    runs = [subprocess.run([sys.executable, "-c", SMAC_SCRIPT], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, timeout=600, check=True).stdout.strip().splitlines()[-1]
            for seed in ("0", "1", "2")]
    assert len(json.loads(runs[0])) == 14
    assert runs[0] == runs[1] == runs[2]
