"""LearnedLRScheduler (issue 9): a real torch LRScheduler in a plain loop, state_dict round trip, tuner files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tunegym.agents.lr_scheduler import LearnedLRScheduler, LRSchedulePolicy
from tunegym.envs.core.errors import CheckpointError
from tunegym.envs.lr.env import LRScheduleEnv
from tunegym.envs.lr.tasks import TrainingTask

torch.set_num_threads(1)


def _two_group_setup(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters(), "lr": 0.02}], momentum=0.9
    )
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(seed))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return model, optimizer, x, y


def _train(model, optimizer, scheduler, x, y, steps: int) -> list[list[float]]:
    lrs = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.observe(loss)
        scheduler.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])
    return lrs


def test_scheduler_is_a_torch_lrscheduler_that_drives_two_param_groups() -> None:
    model, optimizer, x, y = _two_group_setup()
    policy = LRSchedulePolicy(8, decision_interval=4, seed=1)
    scheduler = LearnedLRScheduler(optimizer, policy, total_steps=40)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    lrs = np.array(_train(model, optimizer, scheduler, x, y, 40))
    # Both groups follow one multiplier, so their ratio stays that of the initial LRs.
    np.testing.assert_allclose(lrs[:, 1] / lrs[:, 0], 0.2, rtol=1e-9)
    # The LR changes only at decision points: lrs[i] is set by the step() after optimizer step i + 1.
    changes = np.flatnonzero(np.abs(np.diff(lrs[:, 0])) > 0) + 1
    assert len(changes) > 0 and all((index + 1) % 4 == 0 for index in changes)
    assert scheduler.get_last_lr() == [g["lr"] for g in optimizer.param_groups]
    assert scheduler.features.grad_norms or scheduler.features.previous_mean is not None


def test_state_dict_round_trip_continues_the_same_schedule() -> None:
    policy = LRSchedulePolicy(8, decision_interval=3, seed=2)
    model, optimizer, x, y = _two_group_setup()
    scheduler = LearnedLRScheduler(optimizer, policy, total_steps=30)
    _train(model, optimizer, scheduler, x, y, 10)
    saved_model, saved_opt, saved_sched = (
        copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()), copy.deepcopy(scheduler.state_dict())
    )
    uninterrupted = _train(model, optimizer, scheduler, x, y, 20)

    model2, optimizer2, _, _ = _two_group_setup(seed=5)
    scheduler2 = LearnedLRScheduler(optimizer2, policy, total_steps=30)
    model2.load_state_dict(saved_model)
    optimizer2.load_state_dict(saved_opt)
    scheduler2.load_state_dict(saved_sched)
    resumed = _train(model2, optimizer2, scheduler2, x, y, 20)
    np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-12)
    assert torch.save(scheduler2.state_dict(), Path("/dev/null")) is None  # plain data, picklable


def test_policy_file_round_trips_and_corrupt_files_raise(tmp_path: Path) -> None:
    policy = LRSchedulePolicy(8, decision_interval=5, seed=3)
    path = tmp_path / "policy.pt"
    policy.save(path, provenance={"note": "test"})
    loaded = LRSchedulePolicy.load(path)
    obs = np.linspace(0.1, 0.9, 9).astype(np.float32)
    assert loaded.act(obs) == pytest.approx(policy.act(obs))
    model, optimizer, x, y = _two_group_setup()
    scheduler = LearnedLRScheduler(optimizer, str(path), total_steps=10)
    assert scheduler.decision_interval == 5

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CheckpointError):
        LRSchedulePolicy.load(corrupt)
    with pytest.raises(CheckpointError):
        LearnedLRScheduler(optimizer, str(corrupt), total_steps=10)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a tuner at all")
    with pytest.raises(CheckpointError):
        LRSchedulePolicy.load(garbage)


def test_policy_acts_in_the_continuous_env() -> None:
    policy = LRSchedulePolicy(8, decision_interval=5, seed=4)
    env = LRScheduleEnv(device="cpu", action="continuous", decision_interval=5)
    obs, _ = env.reset(options={"instance": TrainingTask("mlp", "blobs", width=16, n_samples=128, step_budget=20)})
    terminated = False
    while not terminated:
        action, _ = policy.predict(obs)
        obs, reward, terminated, _, info = env.step(action)
    assert info["optimizer_steps"] == 20 and reward < 0


def test_probe_tuner_probes_then_follows_one_arm_and_round_trips(tmp_path) -> None:
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES, ProbeScheduleTuner, is_adaptive_optimizer

    arms = [("constant", -1.0), ("cosine", 0.0)]
    theta = np.zeros((2, 1 + len(CONTEXT_NAMES)))
    theta[1, 1] = 1.0  # arm 1 wins for Adam-like optimizers (context[0] = 1 scales to +1), arm 0 for SGD
    tuner = ProbeScheduleTuner(arms, theta, np.ones(2), decision_interval=5, probe_decisions=2, probe_log10=-1.5)
    tuner.save(tmp_path / "probe.pt")
    model = nn.Linear(4, 2)
    adam = torch.optim.AdamW(model.parameters(), lr=1e-2)
    assert is_adaptive_optimizer(adam) and not is_adaptive_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    scheduler = LearnedLRScheduler(adam, str(tmp_path / "probe.pt"), total_steps=40)
    lrs = []
    for _ in range(40):
        adam.zero_grad()
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        adam.step()
        scheduler.observe(loss)
        scheduler.step()
        lrs.append(adam.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(1e-2 * 10**-1.5)  # probe
    assert scheduler.tuner.arm == 1 and lrs[12] == pytest.approx(1e-2, rel=0.1) and lrs[-1] < 0.1 * lrs[12]  # cosine decays
    state = scheduler.state_dict()
    again = LearnedLRScheduler(torch.optim.AdamW(model.parameters(), lr=1e-2), str(tmp_path / "probe.pt"), total_steps=40)
    again.load_state_dict(state)
    assert again.tuner.arm == 1 and again.tuner.decisions == scheduler.tuner.decisions
    sgd_scheduler = LearnedLRScheduler(torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path / "probe.pt"), total_steps=40)
    assert sgd_scheduler.tuner.adaptive is False


def test_conservative_probe_tuner_keeps_the_baseline_arm_where_it_is_unsure() -> None:
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES, ProbeScheduleTuner

    dim = 1 + len(CONTEXT_NAMES)
    theta = np.zeros((2, dim))
    theta[1, 0] = 0.2  # arm 1 looks a little better than the default arm 0 everywhere
    sure = ProbeScheduleTuner([("step", 0.0), ("cosine", 0.5)], theta, np.ones(2), gram_inv=np.stack([np.eye(dim) * 1e-4] * 2),
                              default_arms=(0, 0), pessimism=3.0)
    unsure = ProbeScheduleTuner([("step", 0.0), ("cosine", 0.5)], theta, np.ones(2), gram_inv=np.stack([np.eye(dim)] * 2),
                                default_arms=(0, 0), pessimism=3.0)
    context = np.zeros(dim - 1)
    assert sure.choose(context) == 1 and unsure.choose(context) == 0
    unsure.pessimism = 0.0
    assert unsure.choose(context) == 1  # greedy
