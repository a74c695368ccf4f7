"""The tuning harness: seed protocol, statistics, determinism, resume after a kill, storage, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tunegym.envs.core.errors import ConfigError, SeedLeakError
from tunegym.tuning.cli import main
from tunegym.tuning.objective import Objective
from tunegym.tuning.seeds import SeedSplit
from tunegym.tuning.stats import iqm, performance_profile, probability_of_improvement, stratified_bootstrap_ci

TINY = ["--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--budget", "120", "--eval-steps", "30",
        "--no-progress"]


def test_seed_split_validates_and_parses():
    assert SeedSplit() == SeedSplit(tuple(range(10)), tuple(range(100, 110)))
    assert SeedSplit.parse("tune=0-3,test=50,52") == SeedSplit((0, 1, 2, 3), (50, 52))
    with pytest.raises(ConfigError, match="overlap"):
        SeedSplit((1, 2, 3), (3, 4))
    with pytest.raises(ConfigError):
        SeedSplit((), (1,))
    with pytest.raises(ConfigError):
        SeedSplit.parse("train=0-9")
    # the Python API is as strict as --seeds (bench hpo and bench lr parse with it): was a MemoryError, a silent
    # overwrite and a seed counted twice
    for text, pattern in (("tune=0-9,test=100-1000000000", "more than"), ("tune=0,tune=5", "twice"),
                          ("tune=0,0,1", "more than once"), ("tune=5-3", "backwards")):
        with pytest.raises(ConfigError, match=pattern):
            SeedSplit.parse(text)


def test_test_seeds_are_unreachable_from_inside_tuning():
    split = SeedSplit((0, 1), (100, 101))
    objective = Objective("tunegym/SOR-v0", "epsilon_greedy", 50, split, eval_steps=5)
    agent, _, _ = objective._build({}, 0)
    with pytest.raises(SeedLeakError):
        objective.validate(agent, 100)
    with split.final_evaluation() as test_seeds:
        assert objective.validate(agent, test_seeds[0]) > 0
    with pytest.raises(SeedLeakError):  # the guard closes again
        split.check([101])
    # Trials only ever draw tune seeds.
    assert all(s in split.tune for n in range(20) for s in split.trial_seeds(n, 2))


def test_statistics_match_hand_computed_values():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([[1, 100], [2, 3], [4, 5], [6, 7]]) == pytest.approx(4.5)  # pooled: mean of 3,4,5,6
    assert probability_of_improvement([1, 2], [3, 4]) == 1.0
    assert probability_of_improvement([1, 3], [2, 3]) == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    np.testing.assert_allclose(performance_profile([1, 2, 3, 4], [0, 2, 2.5, 10]), [0, 0.5, 0.5, 1.0])
    low, high = stratified_bootstrap_ci(np.arange(20.0), reps=500, seed=1)
    assert low < iqm(np.arange(20.0)) < high and high - low < 10
    assert stratified_bootstrap_ci(np.full(8, 3.0), reps=50) == (3.0, 3.0)


@pytest.mark.parametrize("method", ["random", "tpe", "grid"])
def test_same_seed_same_trial_sequence(tmp_path, method):
    params = []
    for run in ("a", "b"):
        assert main(["tune", *TINY, "--method", method, "--trials", "4", "--seed", "3",
                     "--out", str(tmp_path / run)]) == 0
        trials = json.loads((tmp_path / run / "trials.json").read_text())["trials"]
        params.append([(t["params"], t["value"]) for t in trials])
    assert params[0] == params[1]


def test_tune_writes_best_config_test_score_and_provenance(tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", *TINY, "--method", "hyperband", "--trials", "5", "--seeds", "tune=0-4,test=200-202",
                 "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert set(best["config"]) == {"epsilon"} and len(best["per_test_seed"]) == 3
    assert best["seeds"] == {"tune": [0, 1, 2, 3, 4], "test": [200, 201, 202]}
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "hyperband" and "numpy" in run["versions"]
    assert "test-seed score" in capsys.readouterr().out


@pytest.mark.slow
def test_killed_run_resumes_without_losing_or_repeating_trials(tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "tunegym.tuning.cli", "tune", *TINY, "--method", "random", "--trials", "12",
               "--budget", "400", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import optuna

    from tunegym.tuning.runner import finished_trials, open_storage

    storage_url = f"sqlite:///{(out / 'study.db').resolve()}"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name="random-epsilon_greedy-seed0", storage=open_storage(storage_url))
            if len(finished_trials(study)) >= 3:
                break
        except Exception:  # the study is not created yet
            continue
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    study = optuna.load_study(study_name="random-epsilon_greedy-seed0", storage=open_storage(storage_url))
    before = {t.number: t.params for t in finished_trials(study)}
    assert 3 <= len(before) < 12
    assert main(["tune", *TINY, "--method", "random", "--trials", "12", "--budget", "400", "--out", str(out),
                 "--resume"]) == 0
    study = optuna.load_study(study_name="random-epsilon_greedy-seed0", storage=open_storage(storage_url))
    after = finished_trials(study)
    assert len(after) == 12
    assert all(before[t.number] == t.params for t in after if t.number in before)  # kept, not redone
    assert len({t.number for t in after}) == 12


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "nope"], "unknown HPO method"),
        (["--agent", "nope"], "unknown agent"),
        (["--seeds", "tune=0-5,test=5-9"], "overlap"),
        (["--env", "tunegym/Nope-v0"], "unknown env"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, capsys, extra, message):
    args = ["tune", *TINY, "--trials", "1", "--out", str(tmp_path / "bad")]
    flag, value = extra
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_malformed_space_file_is_a_config_error(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("epsilon: {type: float, low: 0.5}\n")
    assert main(["tune", *TINY, "--trials", "1", "--space", str(space), "--out", str(tmp_path / "o")]) == 2
    assert "epsilon" in capsys.readouterr().err
    space.write_text("epsilon: [unclosed\n")
    assert main(["tune", *TINY, "--trials", "1", "--space", str(space), "--out", str(tmp_path / "o2")]) == 2


@pytest.mark.postgres
def test_two_workers_share_one_study_through_postgresql(tmp_path):
    url = os.environ.get("TUNEGYM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set TUNEGYM_TEST_POSTGRES_URL (.ci/postgres.sh starts one)")
    study = f"pg-{os.getpid()}-{int(time.time())}"
    command = [sys.executable, "-m", "tunegym.tuning.cli", "tune", *TINY, "--method", "random", "--trials", "8",
               "--storage", url, "--study", study]
    first = subprocess.Popen(command + ["--out", str(tmp_path / "a")])
    time.sleep(1.0)  # the second worker joins the study the first created
    second = subprocess.Popen(command + ["--out", str(tmp_path / "b")])
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    import optuna

    from tunegym.tuning.runner import finished_trials, open_storage

    trials = finished_trials(optuna.load_study(study_name=study, storage=open_storage(url)))
    assert 8 <= len(trials) <= 9  # each process stops at 8 finished; one may finish its last trial


@pytest.mark.slow
def test_bench_hpo_compares_methods_over_runs(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "hpo", "--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--methods", "random,sha,pbt",
                 "--runs", "2", "--trials", "3", "--budget", "90", "--eval-steps", "20", "--out", str(out)]) == 0
    assert f"wrote {out / 'results.json'}" in capsys.readouterr().out  # as every bench says where its files are
    payload = json.loads((out / "results.json").read_text())
    summary = payload["statistics"]["summary"]
    assert set(summary) == {"random", "sha", "pbt"} and all(len(entry["runs"]) == 2 for entry in summary.values())
    pi = payload["statistics"]["probability_of_improvement"]
    assert pi["random"]["sha"] + pi["sha"]["random"] == pytest.approx(1.0)
    assert payload["seeds"]["test"] == list(range(100, 110)) and (out / "hpo.png").stat().st_size > 1000


def test_tune_with_a_compute_budget_stops_at_it_and_gives_hyperband_more_trials(tmp_path, capsys):
    trials = {}
    for method in ("random", "hyperband"):
        out = tmp_path / method
        assert main(["tune", *TINY, "--method", method, "--trials", "40", "--budget", "90", "--max-steps", "450",
                     "--out", str(out), "--no-progress"]) == 0
        records = json.loads((out / "trials.json").read_text())["trials"]
        spent = sum(int(t["steps"] or 0) for t in records if t["state"] in ("COMPLETE", "PRUNED"))
        assert 450 <= spent < 450 + 90 and json.loads((out / "run.json").read_text())["max_steps"] == 450
        trials[method] = len(records)
    assert trials["random"] == 5 and trials["hyperband"] > 5
    assert main(["tune", *TINY, "--method", "pbt", "--trials", "4", "--max-steps", "100",
                 "--out", str(tmp_path / "p")]) != 0
    assert "--max-steps needs an Optuna study method" in capsys.readouterr().err
