"""LRGroups-v0 (issue 11): one agent per layer of one training run, on the LRSchedule-v0 trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunegym.envs.core.errors import ActionError
from tunegym.envs.lr.env import LRScheduleEnv
from tunegym.envs.lr.tasks import TrainingTask
from tunegym.envs.multiagent import make
from tunegym.envs.multiagent.lr import GROUP_ARMS

torch.set_num_threads(1)

TASK = TrainingTask(family="mlp", dataset="blobs", width=16, depth=2, optimizer="adamw", step_budget=40, n_samples=256, data_seed=2, init_seed=3)


def _final(env, actions: dict) -> tuple[float, list[float]]:
    env.reset(options={"instance": TASK})
    rewards = []
    while env.agents:
        _, reward, _, _, infos = env.step(actions)
        rewards.append(reward["layer_0"])
    return infos["layer_0"]["val_loss"], rewards


def test_equal_layer_lrs_reproduce_the_single_agent_env():
    env = make("tunegym/LRGroups-v0")
    assert env.possible_agents == ["layer_0", "layer_1", "layer_2"]
    arm = GROUP_ARMS.index(-0.5)
    val_loss, _ = _final(env, {a: arm for a in env.possible_agents})
    single = LRScheduleEnv(device="cpu", action="continuous", decision_interval=10, val_every=10**6)
    single.reset(options={"instance": TASK})
    done = False
    while not done:
        _, _, done, _, info = single.step(single.knob.encode(-0.5))
    assert val_loss == pytest.approx(info["val_loss"], rel=1e-5)


def test_per_layer_lrs_change_the_run_and_reward_is_shared():
    env = make("tunegym/LRGroups-v0")
    uniform, _ = _final(env, {a: GROUP_ARMS.index(0.0) for a in env.possible_agents})
    frozen_head, rewards = _final(env, {"layer_0": GROUP_ARMS.index(0.0), "layer_1": GROUP_ARMS.index(0.0),
                                        "layer_2": GROUP_ARMS.index(-1.5)})
    assert frozen_head != pytest.approx(uniform, rel=1e-3)
    assert len(rewards) == 4 and np.isfinite(rewards).all()


def test_replayed_task_gives_the_same_trajectory_whatever_the_seed():
    env = make("tunegym/LRGroups-v0")
    actions = {"layer_0": 3, "layer_1": 1, "layer_2": 4}

    def play(seed: int) -> list:
        obs, _ = env.reset(seed=seed, options={"instance": TASK})
        trace = [{a: o.tolist() for a, o in obs.items()}]
        while env.agents:
            obs, rewards, _, _, infos = env.step(actions)
            trace.append(({a: o.tolist() for a, o in obs.items()}, rewards, infos["layer_0"]))
        return trace

    first = play(0)
    assert first == play(123)
    assert first[-1][2]["cost_unit"] == "optimizer_steps" and first[-1][2]["knob"] == [0.0, -1.0, 0.5]
    assert sum(step[2]["cost"] for step in first[1:]) == TASK.step_budget


def test_bad_actions_are_typed_errors():
    env = make("tunegym/LRGroups-v0")
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step({"layer_0": 0, "layer_1": 0})
    with pytest.raises(ActionError):
        env.step({"layer_0": 0, "layer_1": 0, "layer_2": len(GROUP_ARMS)})
