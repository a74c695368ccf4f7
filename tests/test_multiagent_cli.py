"""Multi-agent envs from the CLI: independent learners and one-agent views train, save, load and evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunegym.agents.multiagent import IndependentLearners, JointActionEnv, SharedKnobEnv
from tunegym.agents.tuners import load_tuner
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.multiagent import make
from tunegym.tuning.cli import main
from tunegym.tuning.runs import RunDir

SMALL = {"grid": 8, "blocks": 2, "episode_length": 20}


def _train(tmp_path, name, *extra):
    run_dir = tmp_path / name
    code = main(["train", "--env", "tunegym/BlockSOR-v0", "--env-kwargs", json.dumps(SMALL), "--steps", "200",
                 "--seed", "3", "--run-dir", str(run_dir), "--no-progress", *extra])
    assert code == 0
    return run_dir


def test_independent_learners_train_save_load_and_evaluate_from_the_cli(tmp_path, capsys):
    run_dir = _train(tmp_path, "independent", "--agent", "chebcb")
    run, _ = RunDir(run_dir).read()
    assert run["multiagent"] == "independent" and run["completed"]
    learners = load_tuner(run_dir / "checkpoints" / "agent.pt")
    assert isinstance(learners, IndependentLearners) and sorted(learners.learners) == ["block_0", "block_1"]

    # The loaded learners act exactly like a fresh run of the same seed (training is deterministic).
    env = make("tunegym/BlockSOR-v0", **SMALL)
    again = IndependentLearners(env, "chebcb", seed=3).learn(env, 200, seed=3)
    observations, _ = env.reset(seed=101)
    for _ in range(5):
        actions = learners.predict(observations)
        assert actions == again.predict(observations)
        observations, *_ = env.step(actions)

    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--seeds", "100-101", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (trained,) = report["results"]
    assert trained["method"] == "chebcb (trained)" and len(trained["per_seed_cost"]) == 2
    assert all(0 < cost < 10_000 for cost in trained["per_seed_cost"])


def test_sb3_agent_trains_one_policy_on_the_joint_view(tmp_path, capsys):
    config = tmp_path / "ppo.json"
    config.write_text(json.dumps({"n_steps": 64, "batch_size": 64, "n_epochs": 1}))
    run_dir = _train(tmp_path, "joint", "--agent", "ppo", "--config", str(config), "--device", "cpu")
    run, _ = RunDir(run_dir).read()
    assert run["multiagent"] == "joint" and run["env_kwargs"]["multiagent_view"] == "joint"
    capsys.readouterr()
    assert main(["eval", "--run-dir", str(run_dir), "--seeds", "100", "--json"]) == 0
    (trained,) = json.loads(capsys.readouterr().out)["results"]
    assert trained["method"] == "ppo (trained)"


def test_shared_view_trains_one_bandit_for_all_knobs(tmp_path):
    run_dir = _train(tmp_path, "shared", "--agent", "ucb1", "--multiagent", "shared")
    bandit = load_tuner(run_dir / "checkpoints" / "agent.pt")
    assert bandit.n_arms == 20


@pytest.mark.parametrize("argv, pattern", [
    (["--env", "tunegym/SOR-v0", "--agent", "ucb1", "--multiagent", "joint"], "applies to PettingZoo envs"),
    (["--env", "tunegym/BlockSOR-v0", "--agent", "ppo", "--multiagent", "independent"], "online learner"),
])
def test_bad_multiagent_requests_are_one_line_errors(tmp_path, capsys, argv, pattern):
    code = main(["train", *argv, "--steps", "10", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "Traceback" not in err and pattern in err, err


def test_joint_view_of_continuous_knobs_is_a_box_and_shared_view_refuses_it():
    view = JointActionEnv(make("tunegym/BlockSOR-v0", action="continuous", **SMALL))
    assert view.action_space.shape == (2,)
    observation, _ = view.reset(seed=0)
    assert observation.shape == view.observation_space.shape
    _, reward, _, _, info = view.step(np.array([-1.0, 0.8], dtype=np.float32))  # normalised BoxKnob actions
    assert info["omegas"][1] > info["omegas"][0] and reward < 0
    with pytest.raises(ConfigError, match="discrete"):
        SharedKnobEnv(make("tunegym/BlockSOR-v0", action="continuous", **SMALL))


def test_corrupt_or_foreign_learner_file_is_a_checkpoint_error(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a tuner")
    with pytest.raises(CheckpointError):
        IndependentLearners.load(broken)
    from tunegym.agents.bandits import UCB1

    single = tmp_path / "single.pt"
    UCB1(20, {}).save(single)
    with pytest.raises(CheckpointError, match="independent-learners"):
        IndependentLearners.load(single)


def test_flat_view_enumerates_every_combination_and_round_trips_actions():
    from tunegym.envs.multiagent.views import FlatJointEnv

    view = FlatJointEnv(make("tunegym/BlockSOR-v0", **SMALL))
    assert view.action_space.n == 20 * 20
    view.reset(seed=0)
    _, _, _, _, info = view.step(3 * 20 + 17)
    assert info["omegas"] == pytest.approx([1.0 + 0.05 * 3, 1.0 + 0.05 * 17])
    assert int(view.join_actions({"block_0": 3, "block_1": 17})) == 77
    with pytest.raises(ConfigError, match="max_arms"):
        FlatJointEnv(make("tunegym/BlockSOR-v0", grid=8, blocks=3), max_arms=1000)


def test_parameter_sharing_trains_one_learner_for_all_agents_and_round_trips(tmp_path):
    run_dir = _train(tmp_path, "sharing", "--agent", "linucb", "--multiagent", "parameter-sharing")
    learners = load_tuner(run_dir / "checkpoints" / "agent.pt")
    assert learners.sharing and learners.learners["block_0"] is learners.learners["block_1"]
    env = make("tunegym/BlockSOR-v0", **SMALL)
    from tunegym.agents.multiagent import ParameterSharing

    again = ParameterSharing(env, "linucb", seed=3).learn(env, 200, seed=3)
    observations, _ = env.reset(seed=100)
    assert learners.predict(observations) == again.predict(observations)
    # The agent index is part of the context: a one-hot per agent, after the agent's own observation.
    context = again._context("block_1", observations["block_1"])
    assert context.tolist()[-2:] == [0.0, 1.0]
