"""Learning-rate env (issue 9): vmapped training equals single runs, determinism, divergence, instances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunegym.envs.core.errors import ActionError, ConfigError, InstanceError
from tunegym.envs.lr.env import LRScheduleEnv, LRScheduleVectorEnv
from tunegym.envs.lr.tasks import TrainingTask, standard_distribution, unseen_distribution
from tunegym.envs.lr.trainer import BatchedTrainer, PlainRun

torch.set_num_threads(1)

SMALL_TASKS = [
    TrainingTask("mlp", "blobs", width=16, optimizer="sgd", n_samples=128, step_budget=20),
    TrainingTask("mlp", "digits", width=16, depth=2, optimizer="adamw", weight_decay=0.01, n_samples=256, step_budget=20),
    TrainingTask("cnn", "digits", width=4, optimizer="sgd", n_samples=128, batch_size=16, step_budget=20),
    TrainingTask("char", "charseq", width=16, optimizer="adamw", n_samples=256, step_budget=20),
]


@pytest.mark.parametrize("task", SMALL_TASKS, ids=lambda t: f"{t.family}-{t.dataset}-{t.optimizer}")
def test_vmapped_batch_equals_plain_torch_runs(task: TrainingTask) -> None:
    """Each run of the vmapped batch trains as run r of the task would with autograd and torch.optim."""
    multipliers = np.array([0.3, 1.0, 2.0])
    batched = BatchedTrainer(task, 3, device="cpu")
    plains = [PlainRun(task, run=r) for r in range(3)]
    optimizers = [plain.optimizer(task.lr * multipliers[r]) for r, plain in enumerate(plains)]
    for _ in range(12):
        losses, grad_norms = batched.step(task.lr * multipliers)
        for r, (plain, optimizer) in enumerate(zip(plains, optimizers)):
            x, y = plain.next_batch()
            optimizer.zero_grad()
            loss = plain.loss(plain.model(x), y)
            loss.backward()
            grad_norm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in plain.model.parameters())))
            optimizer.step()
            assert losses[r] == pytest.approx(float(loss.detach()), rel=1e-4, abs=1e-6)
            assert grad_norms[r] == pytest.approx(grad_norm, rel=1e-4, abs=1e-6)
    val_losses, val_accs = batched.evaluate()
    for r, plain in enumerate(plains):
        for stacked, param in zip(batched.params, plain.model.parameters()):
            torch.testing.assert_close(stacked[r], param.detach(), rtol=1e-4, atol=1e-5)
        assert val_losses[r] == pytest.approx(plain.evaluate()[0], rel=1e-4)
        assert val_accs[r] == pytest.approx(plain.evaluate()[1])


def test_group_grad_norms_split_the_gradient_norm_by_layer() -> None:
    task = SMALL_TASKS[1]
    batched = BatchedTrainer(task, 2, device="cpu")
    _, grad_norms = batched.step(np.full(2, task.lr))
    assert batched.group_grad_norms.shape == (2, task.depth + 1)
    np.testing.assert_allclose(np.sqrt((batched.group_grad_norms**2).sum(1)), grad_norms, rtol=1e-5)


def _rollout(env: LRScheduleEnv, seed: int, actions: list[int]) -> list:
    obs, info = env.reset(seed=seed)
    out = [(obs.tolist(), info)]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs.tolist(), reward, terminated, info))
        if terminated:
            obs, info = env.reset()
            out.append((obs.tolist(), info))
    return out


def test_same_seed_gives_same_trajectory() -> None:
    actions = [int(a) for a in np.random.default_rng(3).integers(0, 9, 30)]
    first = _rollout(LRScheduleEnv(device="cpu", reward="shaped"), 11, actions)
    second = _rollout(LRScheduleEnv(device="cpu", reward="shaped"), 11, actions)
    assert first == second
    other = _rollout(LRScheduleEnv(device="cpu", reward="shaped"), 12, actions)
    assert first != other


def test_exploding_loss_is_a_terminal_state_with_penalty() -> None:
    task = TrainingTask("mlp", "blobs", width=16, optimizer="sgd", base_lr=5.0, n_samples=128, step_budget=40)
    env = LRScheduleEnv(device="cpu", divergence_penalty=7.5)
    env.reset(options={"instance": task})
    terminated, steps = False, 0
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(8)  # 10x a base LR that is already far too large
        steps += 1
        assert env.observation_space.contains(obs)
    assert info["diverged"] is True and info["status"] == "diverged"
    assert reward == -7.5
    assert info["optimizer_steps"] < task.step_budget
    assert info["val_loss"] is None  # None, never NaN
    with pytest.raises(ConfigError):
        env.step(0)


def test_reset_options_instance_is_the_task_trained() -> None:
    task = TrainingTask("mlp", "wine", width=24, optimizer="adamw", n_samples=178, step_budget=15)
    env = LRScheduleEnv(device="cpu", decision_interval=5)
    obs, info = env.reset(seed=0, options={"instance": task})
    assert info["instance_id"] == task.instance_id
    assert env.unwrapped.instance is task
    rewards = []
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(6)
        rewards.append(reward)
    assert len(rewards) == 3 and info["optimizer_steps"] == 15
    assert info["cost"] == 5 and info["cost_unit"] == "optimizer_steps" and info["knob"] == env.config.log10_arms[6]
    assert info["quality_name"] == "val_loss" and info["quality"] == info["val_loss"]
    trainer = BatchedTrainer(task, 1, device="cpu")
    for _ in range(15):
        trainer.step(np.array([task.lr * 10 ** env.config.log10_arms[6]]))
    assert rewards[-1] == pytest.approx(-trainer.evaluate()[0][0], rel=1e-6)
    with pytest.raises(ConfigError):
        env.reset(options={"instance": "not a task"})


def test_vector_env_runs_equal_single_env_runs() -> None:
    task = TrainingTask("mlp", "blobs", width=16, optimizer="sgd", n_samples=128, step_budget=20)
    vec = LRScheduleVectorEnv(3, device="cpu", action="continuous", autoreset_mode="disabled")
    single = LRScheduleEnv(device="cpu", action="continuous")
    vec.reset(options={"instance": task})
    single.reset(options={"instance": task})
    done = np.zeros(3, dtype=bool)
    while not done.all():
        actions = np.array([[-0.5], [0.0], [-1.0]], dtype=np.float32)
        v_obs, v_rewards, done, _, v_info = vec.step(actions)
        s_obs, s_reward, s_done, _, s_info = single.step(actions[0])
        np.testing.assert_allclose(v_obs[0], s_obs, rtol=1e-4, atol=1e-5)
        assert v_rewards[0] == pytest.approx(s_reward, rel=1e-4, abs=1e-6)
        assert bool(done[0]) == s_done
    assert vec.observation_space.contains(v_obs)
    with pytest.raises(ActionError):
        vec.step(actions)
    with pytest.raises(ConfigError):
        vec.reset(options={"reset_mask": np.array([1, 0, 1])})  # a mask must be bool


def test_invalid_actions_and_tasks_raise_typed_errors() -> None:
    env = LRScheduleEnv(device="cpu")
    env.reset(seed=0)
    for bad in (9, -1, float("nan"), 1.5):
        with pytest.raises(ActionError):
            env.step(bad)
    with pytest.raises(InstanceError):
        TrainingTask("cnn", "blobs")
    with pytest.raises(ConfigError):
        LRScheduleEnv(reward="dense")


def test_distributions_draw_every_family_with_stable_ids() -> None:
    rng = np.random.default_rng(0)
    tasks = [standard_distribution().sample(rng) for _ in range(30)]
    assert {t.family for t in tasks} == {"mlp", "cnn", "char"}
    again = [standard_distribution().sample(np.random.default_rng(0)) for _ in range(1)]
    assert again[0].instance_id == tasks[0].instance_id
    unseen = unseen_distribution().sample(np.random.default_rng(1))
    assert unseen.dataset in ("wine", "breast_cancer")
