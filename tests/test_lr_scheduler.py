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


def _train(model, optimizer, scheduler, x, y, steps: int, loss_fn=nn.functional.cross_entropy) -> list[list[float]]:
    lrs = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
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
    probe = scheduler.tuner.policy
    assert probe.arm == 1 and lrs[12] == pytest.approx(1e-2, rel=0.1) and lrs[-1] < 0.1 * lrs[12]  # cosine decays
    state = scheduler.state_dict()
    again = LearnedLRScheduler(torch.optim.AdamW(model.parameters(), lr=1e-2), str(tmp_path / "probe.pt"), total_steps=40)
    again.load_state_dict(state)
    assert again.tuner.policy.arm == 1 and again.tuner.policy.decisions == probe.decisions
    sgd_scheduler = LearnedLRScheduler(torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path / "probe.pt"), total_steps=40)
    assert sgd_scheduler.tuner.policy.adaptive is False


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


# ---- the divergence guard of ProbeScheduleTuner -------------------------------------------------------------

def _guarded_tuner(arms, guard, *, default: int = 0, pick: int = 1, interval: int = 10):
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES, ProbeScheduleTuner

    theta = np.zeros((len(arms), 1 + len(CONTEXT_NAMES)))
    theta[pick, 0] = 1.0  # the bandit picks arm `pick` whatever the context
    return ProbeScheduleTuner(arms, theta, np.ones(len(arms)), default_arms=(default, default), decision_interval=interval,
                              probe_decisions=2, guard=guard)


def _obs(progress: float, log10_loss: float) -> np.ndarray:
    obs = np.zeros(9, dtype=np.float32)
    obs[[0, 1, 2, 3, 4, 5]] = [progress, log10_loss, 0.1, -0.05, -0.5, 0.2]  # a run that trains: some noise
    return obs


def test_guard_ramps_up_then_reverts_to_the_default_after_a_loss_blow_up() -> None:
    from tunegym.agents.lr_scheduler import DivergenceGuard

    tuner = _guarded_tuner([("step", -0.5), ("constant", 0.5)], DivergenceGuard(loss_factor=2.0, ramp_log10=0.5))
    tuner.reset(adaptive=False)
    losses = [0.0, -0.5, -1.0, -0.9, -0.5, -2.0, -2.0, -2.0, -2.0, -2.0]  # x2.5 above the switch loss at decision 4
    values = [tuner.act(_obs(d / 10, loss)) for d, loss in enumerate(losses)]
    assert values[:2] == [-0.5, -0.5]  # probe: the default arm (step at 10^-0.5)
    assert values[2] == pytest.approx(0.0) and values[3] == pytest.approx(0.5)  # ramp: half a decade per decision
    assert tuner.guard_fired and tuner.arm == 1
    # From decision 4 on: the default arm's own schedule (step decay: x0.1 at 50 %, x0.01 at 75 %), for good.
    np.testing.assert_allclose(values[4:], [-0.5, -1.5, -1.5, -1.5, -2.5, -2.5])


def test_guard_does_not_fire_on_a_normal_run_and_matches_the_planned_table() -> None:
    from tunegym.agents.lr_scheduler import DivergenceGuard

    tuner = _guarded_tuner([("step", -0.5), ("linear", 0.5)], DivergenceGuard(loss_factor=2.0, ramp_log10=0.5))
    tuner.reset(adaptive=False)
    steps = 100
    values = [tuner.act(_obs(np.float32(d * 10 / steps), -0.1 * d)) for d in range(10)]
    assert not tuner.guard_fired
    np.testing.assert_allclose(np.repeat(values, 10), tuner.planned_log10(1, steps))
    assert values[2] == pytest.approx(0.0)  # ramped, then the arm's own linear decay
    # Without a guard the same tuner jumps to the arm at once, and the table says so too.
    tuner.guard = None
    tuner.reset(adaptive=False)
    unguarded = [tuner.act(_obs(np.float32(d * 10 / steps), -0.1 * d)) for d in range(10)]
    assert unguarded[2] == pytest.approx(0.5)
    np.testing.assert_allclose(np.repeat(unguarded, 10), tuner.planned_log10(1, steps))


def test_guard_state_round_trips_mid_run() -> None:
    from tunegym.agents.lr_scheduler import DivergenceGuard

    arms = [("step", -0.5), ("constant", 0.5)]
    losses = [0.0, -0.5, -1.0, -0.9, -0.5, -2.0, -2.0, -2.0]
    for cut in (3, 5):  # before and after the guard fires
        tuner = _guarded_tuner(arms, DivergenceGuard(2.0, 0.5))
        tuner.reset()
        head = [tuner.act(_obs(d / 8, loss)) for d, loss in enumerate(losses[:cut])]
        state = copy.deepcopy(tuner.state_dict())
        tail = [tuner.act(_obs((cut + d) / 8, loss)) for d, loss in enumerate(losses[cut:])]
        other = _guarded_tuner(arms, DivergenceGuard(2.0, 0.5))
        other.load_state_dict(state)
        assert [other.act(_obs((cut + d) / 8, loss)) for d, loss in enumerate(losses[cut:])] == tail
        assert other.guard_fired == tuner.guard_fired and len(head) == cut


def _diverging_setup():
    torch.manual_seed(0)
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1))
    y = x @ torch.randn(8, 1, generator=torch.Generator().manual_seed(2))
    model = nn.Linear(8, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1), x, y


def _final_loss(tuner, steps: int = 120) -> tuple[float, list[float], LearnedLRScheduler]:
    model, optimizer, x, y = _diverging_setup()
    scheduler = LearnedLRScheduler(optimizer, tuner, total_steps=steps)
    lrs = [group[0] for group in _train(model, optimizer, scheduler, x, y, steps, loss_fn=nn.functional.mse_loss)]
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x), y)), lrs, scheduler


def test_guard_saves_a_real_torch_run_that_diverges_at_the_high_lr() -> None:
    """Full-batch least squares: stable at LR 0.1 and 0.32, divergent at 1.0 (10x the base LR)."""
    from tunegym.agents.lr_scheduler import DivergenceGuard

    arms = [("constant", 0.0), ("constant", 1.0), ("constant", 0.5)]
    unguarded_loss, _, _ = _final_loss(_guarded_tuner(arms, None))
    assert not np.isfinite(unguarded_loss) or unguarded_loss > 1e6
    loss, lrs, scheduler = _final_loss(_guarded_tuner(arms, DivergenceGuard(2.0, 0.5)))
    assert scheduler.tuner.policy.guard_fired and loss < 1e-3
    assert lrs[-1] == pytest.approx(0.1)  # back on the default arm (constant 10^0 x the base LR 0.1)
    assert max(lrs) == pytest.approx(1.0)  # it did try the chosen arm's LR, after the ramp step at 0.32
    # A switch to an LR that trains fine (10^0.5) never trips it.
    loss, lrs, scheduler = _final_loss(_guarded_tuner(arms, DivergenceGuard(2.0, 0.5), pick=2))
    assert scheduler.tuner.policy.arm == 2 and not scheduler.tuner.policy.guard_fired and loss < 1e-3
    assert lrs[-1] == pytest.approx(0.1 * 10**0.5)


def test_tuner_files_without_guard_metadata_still_load(tmp_path: Path) -> None:
    from tunegym.agents.lr_scheduler import BANDIT_KIND, DivergenceGuard, ProbeScheduleTuner
    from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file

    tuner = _guarded_tuner([("step", -0.5), ("constant", 0.5)], DivergenceGuard(3.0, None))
    tuner.save(tmp_path / "new.pt")
    loaded = ProbeScheduleTuner.load(tmp_path / "new.pt")
    assert loaded.guard == DivergenceGuard(3.0, None)
    _, metadata, arrays = load_tuner_file(tmp_path / "new.pt")
    metadata.pop("guard")  # what a file written before the guard existed holds
    save_tuner_file(tmp_path / "old.pt", BANDIT_KIND, metadata, arrays)
    old = ProbeScheduleTuner.load(tmp_path / "old.pt")
    assert old.guard is None and old.default_arms == (0, 0)
    old.reset()
    old.load_state_dict({"adaptive": False, "decisions": 3, "arm": 1, "choice_progress": 0.2})  # an old scheduler state
    assert old.act(_obs(0.3, 5.0)) == pytest.approx(0.5) and not old.guard_fired  # no guard: follows its arm


def test_guard_reads_a_window_without_finite_losses_as_a_blow_up_and_a_solved_run_as_fine() -> None:
    from tunegym.agents.lr_scheduler import DivergenceGuard
    from tunegym.envs.lr.features import ScheduleFeatures

    tuner = _guarded_tuner([("step", -0.5), ("constant", 0.5)], DivergenceGuard(2.0, 0.5))
    tuner.reset()
    for d, loss in enumerate([0.0, -0.5, -1.0]):
        tuner.act(_obs(d / 10, loss))
    features = ScheduleFeatures(total_steps=100)
    features.record(None, features.window_record([0.1, 0.12], [1.0, 1.1], 0.0))
    # weights went NaN in a plain loop
    features.record(None, features.window_record(np.full(10, np.nan), np.full(10, np.inf), 0.0))
    assert tuner.guard_trips(features.observation(None))
    solved = ScheduleFeatures(total_steps=100)
    # loss exactly 0: log10 loss reads 0, gradients vanished
    solved.record(None, solved.window_record(np.zeros(10), np.zeros(10), 0.0))
    assert not tuner.guard_trips(solved.observation(None))
