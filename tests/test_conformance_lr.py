"""Conformance (issue 16): every LR id passes tunegym's checker (single, native vector, PettingZoo), the domain's
baselines run through ``tuning.evaluation``, and a tuner of another domain is refused by the deployed scheduler."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.agents.baselines import DOMAIN_BASELINES, baselines_for
from tunegym.agents.lr_scheduler import LearnedLRScheduler, LRSchedulePolicy, lr_tuner
from tunegym.agents.tuner import Tuner
from tunegym.envs.core.errors import TunerMismatchError
from tunegym.envs.core.knob import ArmKnob
from tunegym.envs.multiagent import make
from tunegym.envs.testing import check_tunegym_env, check_tunegym_parallel_env, check_tunegym_vector_env

torch.set_num_threads(1)

IDS = ("tunegym/LRSchedule-v0", "tunegym/LRScheduleContinuous-v0")


@pytest.mark.parametrize("env_id", IDS)
def test_single_env_conformance(env_id: str) -> None:
    check_tunegym_env(gym.make(env_id, device="cpu"), steps=12)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_vector_env_conformance_and_batched_info_contract(env_id: str, mode: str) -> None:
    env = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", device="cpu", autoreset_mode=mode)
    check_tunegym_vector_env(env, steps=14)  # the tiny tasks end within 12 decisions: autoresets are exercised
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["cost"].tolist() == [5.0, 5.0, 5.0] and set(info["cost_unit"]) == {"optimizer_steps"}
    assert set(info["instance_id"]) == {env.unwrapped.instance.instance_id} and info["knob"].shape == (3,)
    assert np.isfinite(info["quality"]).all() and set(info["quality_name"]) == {"train_loss"}


def test_lrgroups_conformance() -> None:
    check_tunegym_parallel_env(lambda: make("tunegym/LRGroups-v0"))


@pytest.mark.parametrize("label", sorted(DOMAIN_BASELINES["lr"]))
def test_lr_baselines_run_through_the_evaluation_loop(label: str) -> None:
    from tunegym.tuning.evaluation import evaluate_policy

    env = gym.make("tunegym/LRScheduleContinuous-v0", device="cpu")
    factory = baselines_for(env)[label]
    stats = evaluate_policy("tunegym/LRScheduleContinuous-v0", factory, [0], env_kwargs={"device": "cpu"}, method=label)
    assert len(stats.returns) == 1 and np.isfinite(stats.returns[0]) and stats.mean_cost[0] > 0


def test_tuned_schedules_follow_their_curve_in_the_env() -> None:
    from tunegym.agents.lr_scheduler import tuned_cosine

    env = gym.make("tunegym/LRScheduleContinuous-v0", device="cpu", decision_interval=10)
    policy = tuned_cosine(env)
    obs, _ = env.reset(seed=0)
    task, knobs, done = env.unwrapped.instance, [], False
    while not done:
        action, _ = policy.predict(obs)
        obs, _, done, _, info = env.step(action)
        knobs.append(info["knob"])
    peak = {"sgd": -0.5, "adamw": 1.0}[task.optimizer]
    assert knobs[0] == pytest.approx(peak)
    expected = [peak + np.log10(0.5 * (1 + np.cos(np.pi * s / task.step_budget))) for s in range(0, task.step_budget, 10)]
    np.testing.assert_allclose(knobs, np.clip(expected, -3, 1), atol=1e-6)


def test_a_tuner_of_another_domain_is_refused(tmp_path) -> None:
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sor = Tuner(LRSchedulePolicy(4), domain="sor", env_id="tunegym/SOR-v0", knob=ArmKnob("omega", [1.0, 1.5]),
                features={"name": "sor.context", "params": {}, "shape": [1]})
    with pytest.raises(TunerMismatchError, match="LearnedLRScheduler needs a 'lr' tuner"):
        LearnedLRScheduler(optimizer, sor, total_steps=10)
    sor.save(tmp_path / "sor.pt")
    with pytest.raises(TunerMismatchError):
        LearnedLRScheduler(optimizer, str(tmp_path / "sor.pt"), total_steps=10)
    groups = Tuner(LRSchedulePolicy(4), domain="lr", env_id="tunegym/LRGroups-v0", knob=ArmKnob("layer_0", [0.0]),
                   features={"name": "lr.groups", "params": {"n_groups": 3}, "shape": [3, 6]})
    with pytest.raises(TunerMismatchError):
        LearnedLRScheduler(optimizer, groups, total_steps=10)


def test_a_tuner_saved_from_the_env_round_trips_into_the_scheduler(tmp_path) -> None:
    env = gym.make("tunegym/LRScheduleContinuous-v0", device="cpu", decision_interval=4)
    tuner = Tuner.from_env(LRSchedulePolicy(8, decision_interval=4, seed=1), env)
    tuner.save(tmp_path / "lr.pt")
    loaded = lr_tuner(str(tmp_path / "lr.pt"))
    assert loaded.domain == "lr" and loaded.features_config["name"] == "lr.schedule"
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = LearnedLRScheduler(optimizer, loaded, total_steps=20)
    assert scheduler.decision_interval == 4
    for _ in range(20):
        optimizer.zero_grad()
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        optimizer.step()
        scheduler.observe(loss)
        scheduler.step()
    assert len(scheduler.decisions) == 5
