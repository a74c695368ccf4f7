"""Regressions of issue #18's CLI crashes and surprises: each test failed before its fix."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from tunegym.envs.core.errors import CheckpointError, MatrixError
from tunegym.tuning.cli import main
from tunegym.tuning.runs import RunDir

TINY_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "gamma": 0.0}


def _one_line_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err
    assert len(err.splitlines()) == 1 and pattern in err, err
    return err


def test_quickstart_with_zero_test_seeds_is_a_one_line_error_not_an_index_error(capsys, tmp_path):
    code = main(["quickstart", "--steps", "10", "--test-seeds", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "at least 1" in err[-1] and len(err) == 2  # the deprecation line, then the error


def _train_ppo(tmp_path, steps, capsys=None, *extra):
    config = tmp_path / "ppo.json"
    config.write_text(json.dumps(TINY_PPO))
    run_dir = tmp_path / "run"
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--config", str(config), "--steps", str(steps),
                 "--out", str(run_dir), "--device", "cpu", "--no-progress", *extra]) == 0
    return RunDir(run_dir)


def test_resuming_a_finished_run_keeps_its_progress_csv(tmp_path, capsys):
    rundir = _train_ppo(tmp_path, 128)
    progress = rundir.tensorboard / "progress.csv"
    before = progress.read_text()
    assert before.count("\n") >= 3  # header + one row per rollout
    assert main(["train", "--out", str(rundir.root), "--resume", "--no-progress"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert progress.read_text() == before


def test_resume_with_more_steps_is_a_logged_extension_that_appends_to_progress_csv(tmp_path, capsys):
    rundir = _train_ppo(tmp_path, 128)
    progress = rundir.tensorboard / "progress.csv"
    before = progress.read_text().splitlines()
    capsys.readouterr()
    assert main(["train", "--out", str(rundir.root), "--resume", "--steps", "256", "--no-progress"]) == 0
    assert "extending the run's target from 128 to 256 steps" in capsys.readouterr().err
    run, _ = rundir.read()
    assert run["steps"] == 256 and run["extended_from"] == [128] and run["num_timesteps"] == 256
    after = progress.read_text().splitlines()
    assert after[: len(before)] == before and len(after) == len(before) + 2


def test_resume_with_fewer_steps_than_the_target_is_an_error(tmp_path, capsys):
    rundir = _train_ppo(tmp_path, 128)
    capsys.readouterr()
    _one_line_error(capsys, ["train", "--out", str(rundir.root), "--resume", "--steps", "64"],
                    "below the run's target of 128 steps")


def test_ppo_rounding_steps_up_to_a_whole_rollout_is_said_and_recorded(tmp_path, capsys):
    rundir = _train_ppo(tmp_path, 100)
    err = capsys.readouterr().err
    assert "--steps 100 trains 128 steps" in err
    run, _ = rundir.read()
    assert run["steps_rounded_to"] == 128 and run["num_timesteps"] == 128


def test_tune_resume_on_a_missing_out_is_an_error_not_a_new_study(tmp_path, capsys):
    out = tmp_path / "never-ran"
    _one_line_error(capsys, ["tune", "--env", "tunegym/SOR-v0", "--agent", "epsilon_greedy", "--trials", "1",
                             "--out", str(out), "--resume"], "holds no tune run")
    assert not out.exists()


@pytest.mark.parametrize("content", [pickle.dumps({"weights": [1, 2, 3]}), b"hello world\n", bytes(range(256))],
                         ids=["pickle", "text", "garbage"])
def test_a_pickle_or_garbage_tuner_file_is_a_one_line_checkpoint_error(tmp_path, content, recwarn):
    from tunegym.agents.tuner_io import load_tuner_file

    path = tmp_path / "tuner.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_tuner_file(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "is not a tunegym tuner file" in message
    assert "weights_only" not in message and "KeyError" not in message
    assert not [w for w in recwarn if "weights_only" in str(w.message) or "pickle" in str(w.message)]


def test_a_tuner_file_carrying_objects_is_refused_without_torchs_advice(tmp_path):
    import torch

    from tunegym.agents.tuner_io import load_tuner_file

    path = tmp_path / "objects.pt"
    torch.save({"format": "tunegym-tuner", "payload": CheckpointError("x")}, path)
    with pytest.raises(CheckpointError, match="carries code") as info:
        load_tuner_file(path)
    assert "weights_only" not in str(info.value) and len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("matrix, pattern", [
    (np.ones((3, 4)), "square"),
    (np.array([[4.0, np.nan], [1.0, 4.0]]), "NaN"),
    (np.array([[4.0, 1.0], [1.0, 0.0]]), "on the diagonal"),
], ids=["non-square", "nan", "zero-diagonal"])
def test_load_matrix_rejects_bad_matrices_early(tmp_path, matrix, pattern):
    import scipy.io
    import scipy.sparse as sp

    from tunegym.envs.sor.instances import load_matrix

    for path in (tmp_path / "A.npz", tmp_path / "A.mtx"):
        if path.suffix == ".npz":
            sp.save_npz(path, sp.csr_matrix(matrix))
        else:
            scipy.io.mmwrite(str(path), sp.coo_matrix(matrix))
        with pytest.raises(MatrixError, match=pattern) as info:
            load_matrix(path)
        assert str(path) in str(info.value)


def test_bench_lr_writes_a_plot(tmp_path):
    from tunegym.tuning.benches.lr import plot_results

    summary = {"iqm_loss_ratio_to_best_baseline": 1.2, "ci_loss_ratio": (1.0, 1.5)}
    results = {"seen": {"cosine": summary, "learned": {**summary, "iqm_loss_ratio_to_best_baseline": 1.1}},
               "unseen": {"cosine": summary, "learned": summary}}
    assert plot_results(results, tmp_path / "lr.png") is None
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"


def test_heat_table_has_no_empty_column():
    from tunegym.tuning.benches.learning_to_relax import METHODS_HEAT, _markdown

    summary = {name: {"mean_iterations": 3.0 + i, "ci95": (2.5 + i, 3.5 + i)} for i, name in enumerate(METHODS_HEAT)}
    config = {"setting": "heat", "grid": 32, "length": 25, "seeds": [0]}
    table = [line for line in _markdown(config, summary, METHODS_HEAT, None, "oracle").splitlines()
             if line.startswith("|")]
    cells = [line.split("|")[1:-1] for line in table]
    assert all(line.endswith("|") for line in table)
    assert len({len(row) for row in cells}) == 1 and all(cell.strip() for cell in cells[0])


def test_bench_mip_leaves_no_partial_file(tmp_path, capsys):
    pytest.importorskip("highspy")
    assert main(["bench", "mip", "--smoke", "--families", "setcover", "--methods", "highs_default",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "mip.json").is_file() and not (tmp_path / "mip.partial.json").exists()
    assert f"results in {tmp_path}/" in capsys.readouterr().out


def test_a_zero_energy_error_floors_at_machine_precision_in_the_timestep_table():
    from tunegym.tuning.benches.timestep import LOG10_ERROR_FLOOR, _summary, format_log10_error

    runs = [{"energy_error": 0.0, "force_evaluations": 10, "status": "ok"},
            {"energy_error": 1e-15, "force_evaluations": 12, "status": "ok"}]
    summary = _summary(runs)
    assert summary["median_log10_error"] == pytest.approx((LOG10_ERROR_FLOOR - 15.0) / 2)
    assert format_log10_error(_summary(runs[:1])["median_log10_error"]) == "< -16"
    assert format_log10_error(-3.14159) == "-3.14"


def test_the_same_seed_gives_the_same_bandit_run_whatever_the_hash_seed(tmp_path):
    """`tunegym train` of a bandit used to leave the env unseeded, so the same --seed trained on other instances."""
    import os
    import subprocess
    import sys

    from tunegym.agents import load_tuner

    states = []
    for hash_seed in ("0", "1"):
        out = tmp_path / f"run{hash_seed}"
        subprocess.run([sys.executable, "-m", "tunegym.tuning.cli", "train", "--env", "tunegym/SOR-v0", "--agent",
                        "ucb1", "--steps", "120", "--seed", "3", "--out", str(out), "--no-progress"], check=True,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}, capture_output=True, timeout=600)
        states.append(load_tuner(out / "checkpoints" / "agent.pt").state_dict()["arrays"]["means"].tolist())
    assert states[0] == states[1]


def test_a_complete_run_rounded_up_to_whole_rollouts_says_how_many_steps_it_trained(tmp_path, capsys):
    # was: "already complete (100 steps)" for a run that trained 128 (PPO rounds --steps up to whole rollouts)
    rundir = _train_ppo(tmp_path, 100)
    capsys.readouterr()
    assert main(["train", "--out", str(rundir.root), "--resume", "--no-progress"]) == 0
    assert "already complete (100 steps, 128 trained" in capsys.readouterr().out
