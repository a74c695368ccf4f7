"""The native vector form of LRSchedule-v0 (issue 9): gym.make_vec entry point, per-run autoreset and partial reset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.lr.env import LRScheduleVectorEnv
from tunegym.envs.lr.tasks import TrainingTask
from tunegym.envs.lr.trainer import BatchedTrainer

torch.set_num_threads(1)

# SGD at base LR 10: arm 8 (x10) explodes within a few steps, arm 0 (x0.001) trains quietly.
HOT = TrainingTask(family="mlp", dataset="blobs", width=16, optimizer="sgd", step_budget=30, base_lr=10.0, n_samples=128, data_seed=1, init_seed=2)


def _vec(**kwargs) -> LRScheduleVectorEnv:
    tunegym.envs.register_all()
    return gym.make_vec("tunegym/LRSchedule-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        device="cpu", decision_interval=5, divergence_penalty=7.0, **kwargs)


def test_make_vec_builds_the_vmapped_env_with_next_step_autoreset():
    env = _vec()
    assert isinstance(env, LRScheduleVectorEnv) and env.num_envs == 3
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = env.reset(seed=3)
    assert obs.shape == (3, 9) and env.observation_space.contains(obs)
    assert list(info["run"]) == [0, 1, 2]
    continuous = gym.make_vec("tunegym/LRScheduleContinuous-v0", num_envs=2, vectorization_mode="vector_entry_point", device="cpu")
    assert continuous.single_action_space.shape == (1,)


def test_diverged_run_resets_alone_on_the_next_step_while_others_go_on():
    env = _vec()
    env.reset(seed=0, options={"instance": HOT})
    actions = np.array([8, 0, 0])
    for _ in range(6):
        obs, reward, terminated, truncated, info = env.step(actions)
        if terminated[0]:
            break
    assert terminated[0] and reward[0] == -7.0 and info["diverged"][0]
    assert not terminated[1:].any() and not truncated.any()
    steps_before = info["optimizer_steps"].copy()
    obs, reward, terminated, _, info = env.step(actions)
    # Sub-env 0 was reset (its action ignored): first observation, reward 0, not terminated; the others moved on.
    assert reward[0] == 0.0 and not terminated[0] and not info["diverged"][0]
    assert obs[0, 0] == 0.0 and info["optimizer_steps"][0] == 0
    np.testing.assert_array_equal(info["optimizer_steps"][1:], steps_before[1:] + 5)
    assert env.process.trainer.run_ids[0] == 3 and info["run"][0] == 3  # a fresh run of the same task
    # Played out, the quiet runs finish (terminated, -val loss) and reset next step; sub-env 0 diverges again.
    ended = np.zeros(3, dtype=bool)
    for _ in range(8):
        obs, reward, terminated, _, info = env.step(actions)
        ended |= terminated
    assert ended.all()


def test_restarted_run_equals_a_fresh_run():
    task = TrainingTask(family="mlp", dataset="blobs", width=16, optimizer="adamw", step_budget=40, n_samples=128, data_seed=3, init_seed=4)
    batch = BatchedTrainer(task, 2, device="cpu")
    for _ in range(7):
        batch.step(np.array([3e-3, 1e-3]))
    batch.restart_runs(np.array([True, False]), [5])
    fresh = BatchedTrainer(task, 1, device="cpu", runs=[5])
    for _ in range(6):
        losses, grads = batch.step(np.array([2e-3, 1e-3]))
        loss, grad = fresh.step(np.array([2e-3]))
        assert losses[0] == pytest.approx(loss[0], rel=1e-4, abs=1e-6)
        assert grads[0] == pytest.approx(grad[0], rel=1e-4, abs=1e-6)
    assert batch.run_steps.tolist() == [6, 13]


def test_same_seed_same_vector_trajectory():
    def play() -> list:
        env = _vec()
        env.reset(seed=5)
        out = []
        for t in range(15):
            obs, reward, terminated, _, _ = env.step(np.array([t % 9, 4, 8]))
            out.append((obs.tolist(), reward.tolist(), terminated.tolist()))
        return out

    assert play() == play()


def test_disabled_mode_waits_for_a_partial_reset_mask():
    env = _vec(autoreset_mode="disabled")
    assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    env.reset(seed=0, options={"instance": HOT})
    for _ in range(4):
        _, _, terminated, _, info = env.step(np.array([8, 0, 0]))
        if terminated[0]:
            break
    assert terminated[0] and not terminated[1:].any()
    _, reward, terminated, _, _ = env.step(np.array([8, 0, 0]))
    assert terminated[0] and reward[0] == 0.0  # stays ended until reset
    obs, _ = env.reset(options={"reset_mask": np.array([True, False, False])})
    assert obs[0, 0] == 0.0 and obs[1, 0] > 0.0
    _, _, terminated, _, info = env.step(np.array([0, 0, 0]))
    assert not terminated[0] and info["optimizer_steps"][0] == 5
    with pytest.raises(ConfigError):
        env.reset(options={"reset_mask": np.array([True, False])})


def test_same_step_mode_reports_the_final_observation():
    env = _vec(autoreset_mode="same_step")
    env.reset(seed=0, options={"instance": HOT})
    for _ in range(6):
        obs, reward, terminated, _, info = env.step(np.array([8, 0, 0]))
        if terminated[0]:
            break
    assert terminated[0] and info["_final_obs"][0] and not info["_final_obs"][1]
    assert info["final_obs"][0, 0] > 0.0 and obs[0, 0] == 0.0  # reset in the same step


def test_bad_vector_inputs_raise_typed_errors():
    with pytest.raises(ConfigError):
        LRScheduleVectorEnv(2, autoreset_mode="sometimes")
    env = _vec()
    with pytest.raises(ActionError):
        env.step(np.zeros(3, dtype=np.int64))  # before reset
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step(np.zeros(2, dtype=np.int64))
