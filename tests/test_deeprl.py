"""Deep RL agents on SB3: configs, action-space checks, checkpoints, deployed policies, tuner-file safety."""

from __future__ import annotations

import os
import random

import gymnasium as gym
import numpy as np
import pytest
import torch

from tunegym.agents.baselines import FixedOmega
from tunegym.agents.config import build_config
from tunegym.agents.deeprl import CONFIGS, DeepRLAgent, SB3Policy
from tunegym.agents.registry import agent_names, make_agent
from tunegym.agents.tuner_io import save_tuner_file
from tunegym.agents.tuners import load_tuner
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.tuning.evaluation import evaluate_policy

FAST_PPO = {"n_steps": 256, "batch_size": 64, "n_epochs": 4, "gamma": 0.0, "learning_rate": 1e-3}


def test_sb3_agents_are_registered():
    assert {"ppo", "a2c", "dqn", "sac"} <= set(agent_names())


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_default_search_space_names_config_fields_and_builds_configs(algo):
    config_type = CONFIGS[algo]
    space = config_type.default_search_space()
    assert space, algo
    rng = random.Random(0)
    sample = {}
    for name, spec in space.items():
        assert name in config_type.__dataclass_fields__
        assert spec["type"] in ("float", "int", "categorical")
        if spec["type"] == "categorical":
            sample[name] = rng.choice(spec["choices"])
        else:
            assert spec["low"] < spec["high"] and isinstance(spec["log"], bool)
            sample[name] = spec["low"] if spec["type"] == "float" else int(spec["low"])
    build_config(config_type, sample)


class _RandomArm:
    """A uniformly random arm: what a test of a learner must tell apart from a learner."""

    def __init__(self, env, seed=0):
        self.rng, self.n = np.random.default_rng(seed), int(env.action_space.n)

    def predict(self, obs, deterministic=True):
        return int(self.rng.integers(self.n)), None


def _best_fixed_omega_on_tune_seed(seed=0, steps=30):
    """The arm with the lowest mean sweeps on the tune seed's systems (never a test seed)."""
    arms = gym.make("tunegym/SOR-v0").unwrapped.knob.arms
    costs = [evaluate_policy("tunegym/SOR-v0", lambda e, w=w: FixedOmega(e, w), [seed], steps=steps).cost
             for w in arms]
    return float(arms[int(np.argmin(costs))])


def test_ppo_trained_briefly_closes_the_gap_to_the_best_fixed_omega_chosen_on_tune_seeds():
    # Beating omega=1 proved nothing: a uniformly random arm (about 262 sweeps) beats Gauss-Seidel (about 556).
    # Here PPO must close 90% of the gap between a random arm and the best fixed omega chosen on the tune seed
    # (measured: best fixed about 101, random about 262, PPO after 2048 steps about 109, bound about 117; the
    # per-seed spread of these 5-seed means is about 3 sweeps).
    env = gym.make("tunegym/SOR-v0")
    agent = make_agent("ppo", env, FAST_PPO, seed=0, device="cpu")
    agent.learn(env, total_timesteps=2048)
    test_seeds = [100, 101, 102, 103, 104]
    best = _best_fixed_omega_on_tune_seed(0)
    learned = evaluate_policy("tunegym/SOR-v0", lambda e: agent, test_seeds, steps=30).cost
    fixed = evaluate_policy("tunegym/SOR-v0", lambda e: FixedOmega(e, best), test_seeds, steps=30).cost
    random_arm = evaluate_policy("tunegym/SOR-v0", _RandomArm, test_seeds, steps=30).cost
    bound = fixed + 0.1 * (random_arm - fixed)
    assert random_arm > bound  # the test can fail: a random policy does
    assert learned <= bound, (learned, fixed, random_arm)
    agent.close()


def test_dqn_on_a_continuous_knob_is_a_config_error_naming_the_fix():
    env = gym.make("tunegym/SOR-v0", action="continuous")
    with pytest.raises(ConfigError, match=r"DQN.*Box.*\"action\": \"discrete\""):
        make_agent("dqn", env, {}, seed=0, device="cpu")


def test_sac_on_a_discrete_knob_is_a_config_error_naming_the_fix():
    env = gym.make("tunegym/SOR-v0")
    with pytest.raises(ConfigError, match=r"SAC.*Discrete.*\"action\": \"continuous\""):
        make_agent("sac", env, {}, seed=0, device="cpu")


@pytest.mark.parametrize("config,pattern", [
    ({"n_step": 64}, r"unknown config key.*n_step.*choices"),
    ({"n_steps": "many"}, r"n_steps.*integer"),
    ({"vec_env": "threads"}, r"vec_env.*dummy"),
])
def test_bad_config_is_a_config_error(config, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_agent("ppo", gym.make("tunegym/SOR-v0"), config, seed=0, device="cpu")


def test_dqn_checkpoint_restores_replay_buffer_optimizer_and_counters(tmp_path):
    env = gym.make("tunegym/SOR-v0")
    agent = make_agent("dqn", env, {"learning_starts": 50, "buffer_size": 1000, "train_freq": 1}, seed=3, device="cpu")
    agent.learn(env, total_timesteps=300)
    path = tmp_path / "dqn.pt"
    agent.save(path)
    restored = DeepRLAgent.load(path, device="cpu")
    assert restored.num_timesteps == agent.num_timesteps == 300
    assert restored.model._n_updates == agent.model._n_updates > 0
    old, new = agent.model.replay_buffer, restored.model.replay_buffer
    assert new.pos == old.pos == 300
    np.testing.assert_array_equal(new.observations[:300], old.observations[:300])
    np.testing.assert_array_equal(new.actions[:300], old.actions[:300])
    old_opt, new_opt = agent.model.policy.optimizer.state_dict(), restored.model.policy.optimizer.state_dict()
    for key, state in old_opt["state"].items():
        torch.testing.assert_close(new_opt["state"][key]["exp_avg"], state["exp_avg"])
    obs = np.linspace(-0.15, 0.45, 7, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_array_equal(restored.predict(obs)[0], agent.predict(obs)[0])
    restored.learn_until(400)
    assert restored.num_timesteps == 400
    agent.close()
    restored.close()


@pytest.mark.slow
def test_ppo_with_two_subprocess_workers_trains(tmp_path):
    agent = make_agent("ppo", "tunegym/SOR-v0", {**FAST_PPO, "n_steps": 32, "n_envs": 2, "vec_env": "subproc"},
                       seed=0, device="cpu")
    try:
        agent.learn(total_timesteps=128)
        assert agent.num_timesteps == 128 and agent.n_envs == 2
    finally:
        agent.close()


def test_deployed_policy_predicts_like_the_agent_and_records_provenance(tmp_path):
    env = gym.make("tunegym/SOR-v0", action="continuous")
    agent = make_agent("sac", env, {"learning_starts": 20, "policy_net_arch": [16, 16], "buffer_size": 500},
                       seed=1, device="cpu")
    agent.learn(env, total_timesteps=60)
    path = tmp_path / "sac-policy.pt"
    agent.export_policy(path)
    policy = load_tuner(path)
    assert isinstance(policy, SB3Policy)
    assert policy.metadata["env_id"] == "tunegym/SOR-v0"
    assert policy.metadata["env_kwargs"] == {"action": "continuous"}
    assert policy.metadata["algo"] == "sac" and "versions" in policy.metadata
    obs = np.linspace(-0.15, 0.45, 5, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(policy.predict(obs)[0], agent.predict(obs)[0])
    agent.close()


class _RunsCodeOnLoad:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tuner_file_carrying_a_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "tunegym-tuner", "format_version": 1, "kind": "sb3-policy", "metadata_json": "{}",
                "tensors": {}, "payload": _RunsCodeOnLoad(str(marker))}, path)
    with pytest.raises(CheckpointError, match="carries code"):
        load_tuner(path)
    assert not marker.exists()


def test_unknown_tuner_kind_and_pretrained_name_are_refused(tmp_path):
    path = tmp_path / "mystery.pt"
    save_tuner_file(path, "mystery", {}, {"w": np.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unknown kind 'mystery'.*sb3-policy"):
        load_tuner(path)
    with pytest.raises(CheckpointError, match="no pretrained tuner 'nope'"):
        load_tuner("pretrained:nope")


def test_pretrained_sor_ppo_is_near_the_per_instance_oracle_where_constants_and_random_are_not():
    # "< 0.5 x Gauss-Seidel" passed for a uniformly random arm (0.47 x). Measured on these seeds: oracle about
    # 55.3 sweeps, pretrained sor-ppo about 58.5 (1.06 x), the best fixed omega chosen on tune seed 0 about
    # 100 (1.8 x), a random arm about 262 (4.7 x); the bound 1.12 x fails both of those.
    from tunegym.agents.baselines import GridOracle

    policy = load_tuner("pretrained:sor-ppo")
    assert isinstance(policy, SB3Policy) and policy.env_id == "tunegym/SOR-v0"
    seeds = [100, 101, 102, 103, 104]
    oracle = evaluate_policy("tunegym/SOR-v0", GridOracle, seeds, steps=30).cost
    learned = evaluate_policy("tunegym/SOR-v0", lambda e: policy, seeds, steps=30).cost
    best = _best_fixed_omega_on_tune_seed(0)
    constant = evaluate_policy("tunegym/SOR-v0", lambda e: FixedOmega(e, best), seeds, steps=30).cost
    random_arm = evaluate_policy("tunegym/SOR-v0", _RandomArm, seeds, steps=30).cost
    assert min(constant, random_arm) > 1.12 * oracle  # the test can fail: a constant knob and a random policy do
    assert learned <= 1.12 * oracle, (learned, oracle)


def test_missing_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        make_agent("ppo", gym.make("tunegym/SOR-v0"), {}, seed=0, device="cuda")


def test_a2c_checkpoint_resumes_to_the_requested_step_count(tmp_path):
    env = gym.make("tunegym/SOR-v0")
    agent = make_agent("a2c", env, {"n_steps": 8}, seed=5, device="cpu")
    agent.learn(env, total_timesteps=64)
    agent.save(tmp_path / "a2c.pt")
    restored = DeepRLAgent.load(tmp_path / "a2c.pt", device="cpu")
    assert restored.model._n_updates == agent.model._n_updates == 8
    restored.learn_until(128)
    assert restored.num_timesteps == 128 and restored.model._n_updates == 16
    agent.close()
    restored.close()


def test_training_outside_tunegym_train_leaves_no_folders_in_the_temp_dir(tmp_path, monkeypatch):
    # SB3 makes an empty SB3-<date> folder per learn() when it builds its own logger; a sweep left thousands
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    agent = make_agent("ppo", "tunegym/SOR-v0", {**FAST_PPO, "n_steps": 32, "batch_size": 32, "n_epochs": 1},
                       seed=0, device="cpu")
    try:
        agent.learn(total_timesteps=64)
        agent.learn_until(96)
    finally:
        agent.close()
    assert agent.num_timesteps == 96
    assert list(tmp_path.iterdir()) == []
