"""``tunegym train / eval / deploy``: resumable runs, one-line errors, tuner files from runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tunegym.agents.deeprl import DeepRLAgent, SB3Policy
from tunegym.agents.tuners import load_tuner
from tunegym.tuning.cli import main
from tunegym.tuning.runs import RunDir

TINY_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "gamma": 0.0}


def _config_file(tmp_path, config, name="ppo.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def _one_line_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert pattern in err, err
    return err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = _config_file(root, {**TINY_PPO, "n_steps": 128})
    code = main(["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--config", config, "--steps", "256",
                 "--seed", "7", "--out", str(root / "run"), "--device", "cpu", "--no-progress"])
    assert code == 0
    return root / "run"


def test_train_writes_provenance_checkpoint_and_tensorboard(trained_run):
    rundir = RunDir(trained_run)
    run, config = rundir.read()
    assert run["num_timesteps"] == 256 and run["completed"] and run["seed"] == 7
    assert config["n_steps"] == 128 and config["learning_rate"] == 3e-4  # defaults resolved into config.json
    assert json.loads(rundir.seeds_json.read_text())["train"] == 7
    assert "stable-baselines3" in json.loads(rundir.versions_json.read_text())
    assert any(p.name.startswith("events.out.tfevents") for p in rundir.tensorboard.iterdir())
    assert "env/cost" in (rundir.tensorboard / "progress.csv").read_text().splitlines()[0]


def test_eval_writes_json_and_markdown_against_baselines(trained_run, capsys):
    code = main(["eval", "--run", str(trained_run), "--seeds", "100-101", "--max-steps", "5",
                 "--baselines", "fixed,young"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ppo (trained)" in out and "fixed ω=1" in out and "Young ω*" in out
    report = json.loads((trained_run / "eval" / "eval-100-101.json").read_text())
    assert report["seeds"] == [100, 101] and len(report["results"]) == 3


def test_deploy_writes_a_loadable_sb3_policy_tuner(trained_run, tmp_path, capsys):
    out = tmp_path / "sor-ppo.pt"
    assert main(["deploy", "--run", str(trained_run), "--out", str(out)]) == 0
    policy = load_tuner(out)
    assert isinstance(policy, SB3Policy)
    assert policy.metadata["seeds"]["train"] == 7 and policy.metadata["num_timesteps"] == 256
    action, _ = policy.predict(torch.zeros(1).numpy())
    assert 0 <= int(action) < 20


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_to_the_same_step_count(tmp_path, capsys):
    run_dir = tmp_path / "run"
    steps = 4096
    argv = ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--config", _config_file(tmp_path, TINY_PPO),
            "--steps", str(steps), "--seed", "1", "--out", str(run_dir), "--device", "cpu",
            "--checkpoint-every", "0.3", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tunegym.tuning.cli", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = RunDir(run_dir).checkpoint
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), process.stderr.read().decode()
    process.stderr.close()
    killed_at = DeepRLAgent.load(checkpoint, device="cpu")
    assert 0 < killed_at.num_timesteps < steps
    killed_at.close()

    assert main(["train", "--out", str(run_dir), "--resume", "--no-progress"]) == 0
    assert f"resumed at {killed_at.num_timesteps}" in capsys.readouterr().out
    run, _ = RunDir(run_dir).read()
    assert run["num_timesteps"] == steps and run["completed"]
    finished = DeepRLAgent.load(checkpoint, device="cpu")
    assert finished.num_timesteps == steps
    assert finished.model._n_updates == steps // TINY_PPO["n_steps"]  # one epoch of one batch per rollout
    finished.close()
    import csv

    with open(RunDir(run_dir).tensorboard / "progress.csv") as handle:  # rows logged after the checkpoint by the
        logged = [int(float(row["time/total_timesteps"])) for row in csv.DictReader(handle)]  # killed run: dropped
    assert logged == sorted(set(logged)) and logged[-1] == steps


def test_unknown_env_is_a_one_line_error(tmp_path, capsys):
    _one_line_error(capsys, ["train", "--env", "tunegym/Nope-v0", "--agent", "ppo", "--steps", "10",
                             "--out", str(tmp_path / "r")], "unknown env 'tunegym/Nope-v0'")


def test_unknown_agent_is_a_one_line_error_listing_choices(tmp_path, capsys):
    err = _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo2", "--steps", "10",
                                   "--out", str(tmp_path / "r")], "unknown agent 'ppo2'")
    assert "ppo" in err.split("choices:")[1]


def test_unknown_config_key_is_a_one_line_error(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("n_step: 64\n")
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--config", str(config),
                             "--steps", "10", "--out", str(tmp_path / "r")], "unknown config key(s) ['n_step']")


def test_mistyped_config_value_is_a_one_line_error(tmp_path, capsys):
    config = _config_file(tmp_path, {"learning_rate": "fast"})
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--config", config,
                             "--steps", "10", "--out", str(tmp_path / "r")], "'learning_rate' must be a number")


def test_bad_env_kwargs_are_a_one_line_error(tmp_path, capsys):
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--env-kwargs", "{variance",
                             "--steps", "10", "--out", str(tmp_path / "r")], "--env-kwargs is not valid JSON")
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--env-kwargs", '{"colour": 1}',
                             "--steps", "10", "--out", str(tmp_path / "r")], "rejects env kwargs")


def test_dqn_on_continuous_knob_is_a_one_line_error(tmp_path, capsys):
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--env-kwargs", '{"action": "continuous"}',
                             "--agent", "dqn", "--steps", "10", "--out", str(tmp_path / "r")],
                    "DQN cannot act in action space Box")


def _run_dir_with_checkpoint(tmp_path, content: bytes):
    rundir = RunDir(tmp_path / "run")
    rundir.write({"env_id": "tunegym/SOR-v0", "env_kwargs": {}, "agent": "ppo", "steps": 64, "seed": 0,
                  "device": "cpu"}, TINY_PPO, {"train": 0}, {})
    rundir.checkpoint.parent.mkdir(parents=True)
    rundir.checkpoint.write_bytes(content)
    return rundir


@pytest.mark.parametrize("command", ["train", "eval", "deploy"])
def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys, command):
    rundir = _run_dir_with_checkpoint(tmp_path, b"PK\x03\x04 not really a checkpoint")
    argv = {"train": ["train", "--out", str(rundir.root), "--resume"],
            "eval": ["eval", "--run", str(rundir.root)],
            "deploy": ["deploy", "--run", str(rundir.root), "--out", str(tmp_path / "x.pt")]}[command]
    _one_line_error(capsys, argv, "not a loadable tunegym checkpoint")


def test_foreign_checkpoint_is_a_one_line_error(tmp_path, capsys):
    import io

    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    rundir = _run_dir_with_checkpoint(tmp_path, buffer.getvalue())
    _one_line_error(capsys, ["train", "--out", str(rundir.root), "--resume"], "is not a tunegym checkpoint")


def test_existing_run_dir_without_resume_is_refused(trained_run, capsys):
    _one_line_error(capsys, ["train", "--env", "tunegym/SOR-v0", "--agent", "ppo", "--steps", "10",
                             "--out", str(trained_run)], "pass --resume")


def test_bandit_trains_evaluates_and_deploys_through_the_cli(tmp_path, capsys):
    pytest.importorskip("tunegym.agents.bandits")
    run_dir = tmp_path / "run"
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "ucb1", "--steps", "200", "--seed", "0",
                 "--out", str(run_dir), "--no-progress"]) == 0
    assert main(["eval", "--run", str(run_dir), "--seeds", "100", "--max-steps", "5",
                 "--baselines", "fixed"]) == 0
    out = tmp_path / "bandit.pt"
    assert main(["deploy", "--run", str(run_dir), "--out", str(out)]) == 0
    # The deployed file must hold what was learned, not merely load: on test seeds it plays as well as the best
    # fixed omega chosen on the tune seed (measured 99.9 vs 100.6 sweeps). A uniformly random arm (about 2.6 x)
    # or an untrained bandit (its first arm, omega=1: about 5.6 x) fails the 1.1 x bound.
    import numpy as np

    from tunegym.agents.baselines import FixedOmega
    from tunegym.tuning.evaluation import evaluate_policy

    deployed = load_tuner(out)
    arms = np.linspace(1.0, 1.95, 20)
    tune = [evaluate_policy("tunegym/SOR-v0", lambda e, w=w: FixedOmega(e, w), [0], steps=30).cost for w in arms]
    best = float(arms[int(np.argmin(tune))])
    fixed = evaluate_policy("tunegym/SOR-v0", lambda e: FixedOmega(e, best), [100, 101], steps=30).cost
    learned = evaluate_policy("tunegym/SOR-v0", lambda e: deployed, [100, 101], steps=30).cost
    untrained = evaluate_policy("tunegym/SOR-v0", lambda e: FixedOmega(e, 1.0), [100, 101], steps=30).cost
    assert untrained > 1.1 * fixed  # the test can fail
    assert learned <= 1.1 * fixed, (learned, fixed)


class _AlwaysArm:
    """A minimal non-SB3 agent (the shape bandits have): learn by stepping the env, save a tuner file."""

    def __init__(self, env, config, seed):
        self.arm, self.seed, self.steps = int(config.get("arm", 15)), seed, 0

    def learn(self, env, total_timesteps):
        env.reset(seed=self.seed)
        for _ in range(total_timesteps):
            _, _, terminated, truncated, _ = env.step(self.arm)
            self.steps += 1
            if terminated or truncated:
                env.reset()
        return self

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return self.arm, state

    def save(self, path):
        import numpy as np

        from tunegym.agents.tuner_io import save_tuner_file

        save_tuner_file(path, "always-arm", {"steps": self.steps}, {"arm": np.array([self.arm])})


def make_always_arm(env, config, *, seed=None, device="auto"):
    return _AlwaysArm(env, config, seed)


def test_non_sb3_agent_trains_through_make_agent_and_saves_its_file(tmp_path, monkeypatch):
    from tunegym.agents import registry
    from tunegym.agents.tuner_io import load_tuner_file

    monkeypatch.setitem(registry.AGENT_FACTORIES, "always-arm", f"{__name__}:make_always_arm")
    run_dir = tmp_path / "run"
    assert main(["train", "--env", "tunegym/SOR-v0", "--agent", "always-arm", "--steps", "30", "--seed", "2",
                 "--out", str(run_dir), "--no-progress"]) == 0
    rundir = RunDir(run_dir)
    run, config = rundir.read()
    assert run["completed"] and run["num_timesteps"] == 30 and config == {}
    kind, metadata, arrays = load_tuner_file(rundir.agent_file)
    assert kind == "always-arm" and metadata["steps"] == 30 and arrays["arm"][0] == 15
    assert any(p.name.startswith("events.out.tfevents") for p in rundir.tensorboard.iterdir())
    assert main(["train", "--out", str(run_dir), "--resume", "--no-progress"]) == 0  # complete: no-op


def test_a_checkpoint_is_written_only_after_new_steps():
    """Slow start-up (compiling kernels) must not leave a step-0 checkpoint that a kill would 'resume' from."""
    from types import SimpleNamespace

    from tunegym.agents.deeprl.callbacks import TimedCheckpointCallback

    saved = []
    callback = TimedCheckpointCallback(lambda: saved.append(callback.model.num_timesteps), every_seconds=0.0)
    callback.model = SimpleNamespace(num_timesteps=0)
    callback._on_training_start()
    callback._on_rollout_start()
    assert saved == []  # nothing trained yet, however long it has been
    callback.model.num_timesteps = 64
    callback._on_rollout_start()
    callback._on_rollout_start()  # same boundary again: nothing new to save
    assert saved == [64]
