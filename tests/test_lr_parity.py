"""Parity (issue 16): the deployed LearnedLRScheduler in a plain torch loop and an env rollout with the same tuner,
on the env's own task (same instance, same run 0), make the same LR decisions and take the same optimizer steps.

The env trains with the vmapped batch trainer (a batch of one run); the plain loop trains the same model, initial
weights, data split and minibatch order (:class:`PlainRun`) with ``torch.optim``. Their losses agree to float
rounding, the observations (built by the same registered features) to 1e-4, and the knob values exactly.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.agents.lr_scheduler import (
    CONTEXT_NAMES, DivergenceGuard, LearnedLRScheduler, ProbeScheduleTuner, is_adaptive_optimizer, lr_tuner,
)
from tunegym.agents.tuner import Tuner
from tunegym.envs.lr.env import LRScheduleConfig
from tunegym.envs.lr.trainer import PlainRun

torch.set_num_threads(1)
VAL_EVERY = LRScheduleConfig().val_every  # the env's validation cadence (decisions)


def _env_rollout(tuner: Tuner, env_id: str, task) -> tuple[list[float], list[float], list[np.ndarray], int]:
    """Knob values, applied LRs, observations at each decision, and the optimizer steps of an env rollout."""
    env = gym.make(env_id, device="cpu", **tuner.env_kwargs)
    policy = tuner.policy
    if isinstance(policy, ProbeScheduleTuner):  # the optimizer kind and the user's LR, as LearnedLRScheduler reads them
        policy.reset(adaptive=is_adaptive_optimizer(task.optimizer), base_lr=task.lr)
    obs, _ = env.reset(seed=12345, options={"instance": task})
    knobs, lrs, observations, steps, done = [], [], [], 0, False
    while not done:
        observations.append(obs)
        action, value = tuner.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        assert info["knob"] == value and info["cost_unit"] == "optimizer_steps"
        knobs.append(info["knob"])
        lrs.append(info["lr"])
        steps += int(info["cost"])
        done = terminated or truncated
    env.close()
    return knobs, lrs, observations, steps


def _plain_loop(tuner: Tuner, task) -> tuple[list[float], list[float], list[np.ndarray], int]:
    """The same through LearnedLRScheduler in a plain torch loop on run 0 of the task."""
    plain = PlainRun(task, run=0)
    optimizer = plain.optimizer()
    scheduler = LearnedLRScheduler(optimizer, tuner, total_steps=task.step_budget)
    lrs = [optimizer.param_groups[0]["lr"]]
    observations = [scheduler.features.observation(None)]
    steps = 0
    for _ in range(task.step_budget):
        x, y = plain.next_batch()
        optimizer.zero_grad()
        loss = plain.loss(plain.model(x), y)
        loss.backward()
        optimizer.step()
        steps += 1
        scheduler.observe(loss)
        window_end = steps % scheduler.decision_interval == 0 or steps == task.step_budget
        if window_end and (-(-steps // scheduler.decision_interval) % VAL_EVERY == 0 or steps == task.step_budget):
            scheduler.observe_validation(plain.evaluate()[0])  # on the env's cadence, so every feature compares
        before = len(scheduler.decisions)
        scheduler.step()
        if len(scheduler.decisions) > before:  # a decision point: the observation it was made on, the LR it set
            observations.append(scheduler.features.observation(None))
            lrs.append(optimizer.param_groups[0]["lr"])
    assert scheduler.steps_taken == steps
    return list(scheduler.decisions), lrs, observations, steps


def _forced_tuner(arm: int, default: int) -> ProbeScheduleTuner:
    """A guarded probe tuner whose bandit picks ``arm`` everywhere (it leaves the default: ramp and guard act)."""
    arms = [("step", -0.5), ("cosine", 1.0), ("linear", 0.0)]
    theta = np.zeros((len(arms), 1 + len(CONTEXT_NAMES)))
    theta[arm, 0] = 1.0
    return ProbeScheduleTuner(arms, theta, np.ones(len(arms)), default_arms=(default, default), decision_interval=7,
                              probe_decisions=2, guard=DivergenceGuard(2.0, 0.5))


def _tasks(env_id: str, seeds: range) -> list:
    env = gym.make(env_id, device="cpu")
    tasks = []
    for seed in seeds:
        env.reset(seed=seed)
        tasks.append(env.unwrapped.instance)  # the env's own tasks (tiny_distribution draws)
    env.close()
    return tasks


def _user_rate_tasks() -> list:
    """Tasks of the user-rate suite's unseen families at the user's own LR: a regression (diabetes, MSE) and a
    label-noise classification (spirals), short budgets."""
    from dataclasses import replace

    from tunegym.envs.core.seeding import stream
    from tunegym.envs.lr.tasks import user_rate_family

    out = []
    for name, seed in (("diabetes", 3), ("spirals", 5)):
        task = user_rate_family(name, step_budget=(45, 60), n_samples=256).sample(stream(seed, "parity"))
        out.append(replace(task, base_lr=3e-3, optimizer="adamw" if name == "diabetes" else "sgd", label_noise=0.1))
    return out


TASKS = _tasks("tunegym/LRScheduleContinuous-v0", range(4)) + _user_rate_tasks()


@pytest.mark.parametrize("policy", ["pretrained:lr-schedule", "forced-cosine", "forced-linear"])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: f"{t.dataset}-{t.optimizer}-{t.step_budget}")
def test_scheduler_in_a_plain_loop_makes_the_env_rollouts_decisions(policy, task) -> None:
    source = "pretrained:lr-schedule" if policy.startswith("pretrained") else _forced_tuner(
        {"forced-cosine": 1, "forced-linear": 2}[policy], 0)
    tuner = lr_tuner(source)  # the same Tuner for both (each driver copies its stateful policy)
    env_knobs, env_lrs, env_obs, env_steps = _env_rollout(lr_tuner(tuner), tuner.env_id, task)
    loop_knobs, loop_lrs, loop_obs, loop_steps = _plain_loop(tuner, task)
    decisions = -(-task.step_budget // tuner.env_kwargs["decision_interval"])
    assert len(env_knobs) == len(loop_knobs) == decisions
    assert loop_knobs == env_knobs  # the same knob values, exactly
    np.testing.assert_allclose(loop_lrs, env_lrs, rtol=1e-12)  # base LR x 10**knob in both
    assert loop_steps == env_steps == task.step_budget  # the same optimizer-step count
    np.testing.assert_allclose(np.array(loop_obs), np.array(env_obs), rtol=1e-4, atol=1e-4)


def test_a_rollout_that_leaves_the_default_ramps_the_same_way_in_both() -> None:
    task = next(t for t in TASKS if t.step_budget > 40)
    tuner = lr_tuner(_forced_tuner(1, 0))
    env_knobs = _env_rollout(lr_tuner(tuner), tuner.env_id, task)[0]
    loop_knobs = _plain_loop(tuner, task)[0]
    assert loop_knobs == env_knobs
    assert env_knobs[:2] == [-0.5, -0.5] and env_knobs[2] == pytest.approx(0.0)  # probe on the default, then the ramp
