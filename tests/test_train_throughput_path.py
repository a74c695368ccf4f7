"""The path ``tunegym train`` runs for SB3 agents: ``--n-envs``, the native vector env, ``--torch-threads``, the
``time/fps`` column the throughput benchmark reads. Behaviour only: nothing here times anything."""

from __future__ import annotations

import csv
import functools
import json

import numpy as np
import pytest
import torch

from tunegym.agents.deeprl.envs import NativeVecEnv, _build_worker_env, make_vec_env
from tunegym.tuning.cli import main
from tunegym.tuning.runs import RunDir

TINY_PPO = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}


def _config(tmp_path, config):
    path = tmp_path / "ppo.json"
    path.write_text(json.dumps(config))
    return str(path)


def _progress(run):
    with open(RunDir(run).tensorboard / "progress.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _train(run, *extra):
    return main(["train", "--agent", "ppo", "--out", str(run), "--device", "cpu", "--no-progress", *extra])


@pytest.fixture
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_n_envs_2_trains_resumes_and_logs_fps(tmp_path, keep_torch_threads):
    run = tmp_path / "run"
    config = _config(tmp_path, TINY_PPO)
    assert _train(run, "--env", "tunegym/SOR-v0", "--config", config, "--steps", "128", "--n-envs", "2") == 0
    saved_run, saved_config = RunDir(run).read()
    assert saved_config["n_envs"] == 2 and saved_config["vec_env"] == "native"
    assert saved_run["num_timesteps"] == 128
    rows = _progress(run)
    assert len(rows) == 2  # 128 steps = 2 rollouts of 32 steps x 2 copies
    assert all(float(row["time/fps"]) > 0 for row in rows)
    assert "env/cost" in rows[0]

    assert _train(run, "--resume", "--steps", "256") == 0  # extend: 2 more rollouts on the same 2 copies
    saved_run, saved_config = RunDir(run).read()
    assert saved_run["num_timesteps"] == 256 and saved_config["n_envs"] == 2
    rows = _progress(run)
    assert [int(row["time/total_timesteps"]) for row in rows] == [64, 128, 192, 256]
    assert all(float(row["time/fps"]) > 0 for row in rows)


def test_resume_refuses_another_n_envs(tmp_path, capsys, keep_torch_threads):
    run = tmp_path / "run"
    assert _train(run, "--env", "tunegym/SOR-v0", "--config", _config(tmp_path, TINY_PPO), "--steps", "32") == 0
    capsys.readouterr()
    assert _train(run, "--resume", "--steps", "64", "--n-envs", "2") == 2
    err = capsys.readouterr().err.strip()
    assert "--n-envs 2 differs from the run's n_envs 1" in err and len(err.splitlines()) == 1


def test_n_envs_is_for_sb3_agents_and_positive(tmp_path, capsys):
    assert _train(tmp_path / "a", "--env", "tunegym/SOR-v0", "--steps", "32", "--n-envs", "0") == 2
    assert "--n-envs must be >= 1" in capsys.readouterr().err
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "linucb", "--steps", "32", "--n-envs", "2",
                 "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "--n-envs applies to the SB3 agents" in capsys.readouterr().err


def test_cartpole_trains_through_the_cli_with_one_torch_thread(tmp_path, keep_torch_threads):
    torch.set_num_threads(2)
    run = tmp_path / "cartpole"
    assert _train(run, "--env", "CartPole-v1", "--config", _config(tmp_path, TINY_PPO), "--steps", "64") == 0
    assert torch.get_num_threads() == 1  # the default --torch-threads
    assert float(_progress(run)[-1]["time/fps"]) > 0


@pytest.mark.parametrize("env_id", ["tunegym/SOR-v0", "CartPole-v1"])
@pytest.mark.parametrize("n_envs", [1, 2])
def test_native_vec_env_steps_exactly_as_dummy_vec_env(env_id, n_envs):
    native, dummy = make_vec_env(env_id, {}, n_envs, "native"), make_vec_env(env_id, {}, n_envs, "dummy")
    assert isinstance(native, NativeVecEnv)
    if env_id.startswith("tunegym/") and n_envs > 1:
        assert native.threads == n_envs  # tunegym's ProcessEnvs step concurrently
    try:
        for venv in (native, dummy):
            venv.seed(3)
        np.testing.assert_array_equal(native.reset(), dummy.reset())
        rng = np.random.default_rng(0)
        for _ in range(600):  # past CartPole's terminations and SOR-v0's 100-system episodes
            actions = rng.integers(0, native.action_space.n, size=n_envs)
            obs_n, rew_n, done_n, info_n = native.step(actions)
            obs_d, rew_d, done_d, info_d = dummy.step(actions)
            np.testing.assert_array_equal(obs_n, obs_d)
            np.testing.assert_array_equal(rew_n, rew_d)
            np.testing.assert_array_equal(done_n, done_d)
            for a, b in zip(info_n, info_d):
                assert a.keys() == b.keys()
                if "terminal_observation" in a:
                    np.testing.assert_array_equal(a.pop("terminal_observation"), b.pop("terminal_observation"))
                for info in (a, b):  # Monitor's episode wall time ("t") is the one figure that may differ
                    if "episode" in info:
                        info["episode"] = {k: v for k, v in info["episode"].items() if k != "t"}
                assert a == b
        obs_n[...] = 99.0  # SB3 gets a copy: writing to it leaves the env's buffer alone
        assert not np.any(native.buf_obs[None] == 99.0)
    finally:
        native.close()
        dummy.close()


def test_native_vec_env_steps_foreign_envs_one_after_the_other():
    fns = [functools.partial(_build_worker_env, "CartPole-v1", {}, False) for _ in range(2)]
    venv = NativeVecEnv(fns)
    try:
        assert venv.threads == 1  # not a tunegym ProcessEnv: no thread-safety promise, no threads
    finally:
        venv.close()
