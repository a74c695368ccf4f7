"""LearnedLRScheduler as a user drops it into a torch loop: what users pass that is not the README's loop.

Each test pins one fix of the robustness review: bad input gets a typed error at the call, the state is plain
data that round-trips through ``torch.load(weights_only=True)``, and the edges (steps past the budget, param
groups added mid-run, complex gradients, huge losses, chained schedulers) neither crash nor go silently wrong.
"""

from __future__ import annotations

import copy
import io
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, CosineAnnealingLR, LinearLR, SequentialLR

from tunegym.agents.lr_scheduler import LearnedLRScheduler, LRSchedulePolicy
from tunegym.envs.core.errors import CheckpointError, ConfigError

torch.set_num_threads(1)
PRETRAINED = "pretrained:lr-schedule"


def _setup(kind: str = "sgd", lr: float = 0.1, seed: int = 0, groups: tuple[float, float] | None = None):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    params = model.parameters() if groups is None else [
        {"params": model[0].parameters(), "lr": groups[0]}, {"params": model[2].parameters(), "lr": groups[1]}]
    optimizer = torch.optim.AdamW(params, lr=lr) if kind == "adamw" else torch.optim.SGD(params, lr=lr, momentum=0.9)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    return model, optimizer, x, (x[:, 0] > 0).long()


def _loop(model, optimizer, scheduler, x, y, steps: int, stepper=None) -> list[list[float]]:
    lrs = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.observe(loss)
        (stepper or scheduler).step()
        lrs.append([float(g["lr"]) for g in optimizer.param_groups])
    return lrs


def test_state_dict_loads_with_weights_only_and_the_run_continues_identically() -> None:
    """Before: the features' cached space bounds (a gymnasium Box) were in the state, so torch.load(weights_only=True)
    -- torch's default since 2.6 -- refused every LearnedLRScheduler checkpoint."""
    model, optimizer, x, y = _setup("adamw", 1e-3, groups=(1e-3, 1e-4))
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=60)
    _loop(model, optimizer, scheduler, x, y, 23)
    buffer = io.BytesIO()
    torch.save([model.state_dict(), optimizer.state_dict(), scheduler.state_dict()], buffer)
    uninterrupted = _loop(model, optimizer, scheduler, x, y, 37)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model2, optimizer2, _, _ = _setup("adamw", 1e-3, seed=5, groups=(1e-3, 1e-4))
    scheduler2 = LearnedLRScheduler(optimizer2, PRETRAINED, total_steps=60)
    model2.load_state_dict(saved[0])
    optimizer2.load_state_dict(saved[1])
    scheduler2.load_state_dict(saved[2])
    assert _loop(model2, optimizer2, scheduler2, x, y, 37) == uninterrupted
    assert scheduler2.decisions == scheduler.decisions and scheduler2.tuner.policy.arm == scheduler.tuner.policy.arm


@pytest.mark.parametrize("loss", [torch.ones(4), [0.5], "0.5", None, True, torch.tensor(1 + 1j), np.ones(3)],
                         ids=["per-sample", "list", "str", "none", "bool", "complex", "array"])
def test_observe_refuses_anything_but_one_real_loss(loss) -> None:
    """Before: a per-sample loss, a list, None or a complex tensor raised a raw ValueError/TypeError/RuntimeError
    from float(), and the string "0.5" or True were silently read as losses."""
    _, optimizer, _, _ = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20)
    with pytest.raises(ConfigError, match="one real loss value"):
        scheduler.observe(loss)
    with pytest.raises(ConfigError, match="observe_validation"):
        scheduler.observe_validation(loss)
    assert scheduler._pending_loss is None and scheduler._pending_val is None


def test_observe_accepts_every_form_of_one_loss_as_the_same_float() -> None:
    _, optimizer, _, _ = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20)
    value = torch.tensor(0.75, requires_grad=True) * 1.0
    for loss in (0.75, value, value.double(), value.half(), value.bfloat16(), value.reshape(1, 1), np.float32(0.75),
                 np.array(0.75), np.array([0.75])):  # np.array([0.75]) used to raise a raw TypeError (NumPy 2)
        scheduler.observe(loss)
        assert scheduler._pending_loss == 0.75
    scheduler.observe(1)
    assert scheduler._pending_loss == 1.0


@pytest.mark.parametrize("total_steps", [0, -1, 2.5, "100", None, True, math.inf, math.nan])
def test_bad_total_steps_is_a_config_error(total_steps) -> None:
    """Before: "100"/None raised a raw TypeError, inf/nan an OverflowError/ValueError, 2.5 silently became 2."""
    _, optimizer, _, _ = _setup()
    with pytest.raises(ConfigError, match="total_steps"):
        LearnedLRScheduler(optimizer, PRETRAINED, total_steps=total_steps)


@pytest.mark.parametrize("interval", [0, -3, 2.5, "5", True])
def test_bad_decision_interval_is_a_config_error(interval) -> None:
    """Before: 0 silently fell back to the tuner's interval, -3 was kept (decisions every 3 steps), 2.5 became 2."""
    _, optimizer, _, _ = _setup()
    with pytest.raises(ConfigError, match="decision_interval"):
        LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20, decision_interval=interval)


def test_whole_number_counts_of_any_type_are_accepted() -> None:
    _, optimizer, _, _ = _setup()
    for total in (100.0, np.int64(40), torch.tensor(50)):
        scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=total, decision_interval=np.int64(4))
        assert scheduler.total_steps == int(total) and scheduler.decision_interval == 4


def test_constructor_refuses_a_non_optimizer_a_non_finite_lr_and_last_epoch() -> None:
    """Before: a model or None as optimizer raised AttributeError; last_epoch=5 either raised torch's KeyError or,
    with initial_lr set, silently restarted the learned schedule from step 0."""
    model, optimizer, _, _ = _setup()
    for bad in (model, None):
        with pytest.raises(ConfigError, match="torch.optim.Optimizer"):
            LearnedLRScheduler(bad, PRETRAINED, total_steps=20)
    with pytest.raises(ConfigError, match="param group 0"):
        LearnedLRScheduler(torch.optim.SGD(model.parameters(), lr=math.nan), PRETRAINED, total_steps=20)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    with pytest.raises(ConfigError, match="load_state_dict"):
        LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20, last_epoch=5)


def test_load_state_dict_refuses_a_foreign_state_before_changing_anything() -> None:
    """Before: {} or another scheduler's state raised a raw KeyError, a state of two param groups loaded and crashed
    later inside torch's step, a state of another tuner kind loaded silently out of sync, and a broken tuner state
    raised KeyError after the tuner had been half-loaded."""
    model, optimizer, x, y = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=60)
    _loop(model, optimizer, scheduler, x, y, 25)
    good = scheduler.state_dict()
    two_groups = LearnedLRScheduler(_setup(groups=(0.1, 0.01))[1], PRETRAINED, total_steps=60).state_dict()
    mlp = LearnedLRScheduler(_setup()[1], LRSchedulePolicy(4, decision_interval=4), total_steps=60).state_dict()
    broken = copy.deepcopy(good)
    broken["tuner_state"] = {"adaptive": True, "decisions": 99}  # half a tuner state
    foreign = [{}, None, CosineAnnealingLR(_setup()[1], 10).state_dict(), two_groups, mlp, broken]
    for state in foreign:
        with pytest.raises(CheckpointError):
            scheduler.load_state_dict(state)
    with pytest.raises(CheckpointError, match="run state"):
        LearnedLRScheduler(_setup()[1], LRSchedulePolicy(4, decision_interval=4), total_steps=60).load_state_dict(good)
    assert scheduler.state_dict() == good  # nothing changed, the tuner's run state included


def test_param_group_added_mid_run_joins_the_schedule_and_a_removed_one_is_refused() -> None:
    """Before: add_param_group after construction crashed the next step() with torch's raw zip() ValueError."""
    model, optimizer, x, y = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=60)
    _loop(model, optimizer, scheduler, x, y, 15)
    head = nn.Linear(2, 2)
    optimizer.add_param_group({"params": head.parameters(), "lr": 0.05})
    lrs = np.array(_loop(model, optimizer, scheduler, x, y, 40))
    np.testing.assert_allclose(lrs[:, 1] / lrs[:, 0], 0.5, rtol=1e-12)  # the new group keeps its ratio
    assert lrs[-1, 0] != lrs[0, 0] and scheduler.get_last_lr() == list(lrs[-1])
    optimizer.param_groups.pop()
    with pytest.raises(ConfigError, match="param groups"):
        scheduler.step()


def test_steps_past_total_steps_keep_the_last_lr_warn_once_and_collect_nothing() -> None:
    """Before: no word, and every step past the budget grew two lists (and every state_dict) without bound."""
    model, optimizer, x, y = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=25)
    _loop(model, optimizer, scheduler, x, y, 25)
    with pytest.warns(RuntimeWarning, match="more than total_steps=25") as caught:
        lrs = _loop(model, optimizer, scheduler, x, y, 200)
    assert sum("total_steps" in str(w.message) for w in caught) == 1
    assert len({tuple(lr) for lr in lrs}) == 1 and len(scheduler._losses) < scheduler.decision_interval
    assert scheduler.steps_taken == 225


def test_complex_parameters_count_the_imaginary_part_of_their_gradient() -> None:
    """Before: .float() on a complex gradient dropped its imaginary part (with torch's "discards the imaginary
    part" warning), so the gradient-norm feature was wrong."""
    weights = nn.Parameter(torch.tensor([3.0 + 4.0j, 0.0 + 1.0j]))
    optimizer = torch.optim.Adam([weights], lr=1e-2)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20)
    weights.grad = torch.tensor([1.0 + 2.0j, 0.0 - 2.0j])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scheduler._grad_norm() == pytest.approx(3.0)


def test_losses_near_the_float_limit_raise_no_numpy_overflow_warnings() -> None:
    """Before: a loss of 1e300 (finite) made NumPy warn 'overflow encountered in square' from inside the features."""
    model, optimizer, x, y = _setup()
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(40):
            scheduler.observe(1e300)
            optimizer.step()
            scheduler.step()
    assert np.isfinite(scheduler.decisions).all()


def test_chained_scheduler_override_is_warned_and_sequential_warmup_works() -> None:
    """ChainedScheduler([warmup, learned]) silently dropped the warmup (the learned LR is absolute): now a warning
    says so once and names SequentialLR, under which the warmup runs first and nothing is warned."""
    model, optimizer, x, y = _setup("adamw", 1e-3)
    chained = ChainedScheduler([LinearLR(optimizer, 0.1, total_iters=10),
                                learned := LearnedLRScheduler(optimizer, PRETRAINED, total_steps=50)])
    with pytest.warns(RuntimeWarning, match="SequentialLR") as caught:
        _loop(model, optimizer, learned, x, y, 20, stepper=chained)
    assert sum("changed outside" in str(w.message) for w in caught) == 1
    model, optimizer, x, y = _setup("adamw", 1e-3)
    warmup = LinearLR(optimizer, 0.1, total_iters=10)
    learned = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    sequential = SequentialLR(optimizer, [warmup, learned], milestones=[10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs = np.array(_loop(model, optimizer, learned, x, y, 50, stepper=sequential))[:, 0]
    assert lrs[0] == pytest.approx(1.9e-4) and lrs[9] == pytest.approx(1e-3 * 10 ** learned.decisions[0])
    assert learned.steps_taken == 40


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_tiny_budgets_and_tensor_lrs_run_without_error(kind) -> None:
    """Budgets of 1, 2, below and not a multiple of the decision interval, and an lr given as a tensor."""
    for total in (1, 2, 7, 13):
        model, optimizer, x, y = _setup(kind, 1e-3)
        scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=total)
        assert np.isfinite(_loop(model, optimizer, scheduler, x, y, total)).all()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=torch.tensor(1e-3))
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    lrs = _loop(model, optimizer, scheduler, torch.randn(8, 4), torch.zeros(8, dtype=torch.long), 30)
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor) and np.isfinite(lrs).all()
