"""LearnedLRScheduler in the training loops users write: every common optimizer, parameter groups, tensor lrs, the
ways a loss is fed (or not), torch's other schedulers around it, and resuming.

Each test pins behaviour a robustness review found or checked: whatever the loop does, the scheduler either runs
with finite, non-negative learning rates or refuses at the call with a typed error that says what to do; it never
crashes inside torch or sets a NaN/inf/negative LR. (``tests/test_robustness_lr.py`` covers the input checks of
``observe``, ``total_steps`` and ``decision_interval``, ChainedScheduler and a warmup before it, and
``weights_only`` state loading; this file does not repeat them.)
"""

from __future__ import annotations

import copy
import io
import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import ConstantLR, LinearLR, SequentialLR
from torch.optim.swa_utils import SWALR, AveragedModel

from tunegym.agents.lr_scheduler import (
    CONTEXT_NAMES, DivergenceGuard, LearnedLRScheduler, ProbeScheduleTuner, is_adaptive_optimizer,
)
from tunegym.envs.core.errors import CheckpointError, ConfigError

torch.set_num_threads(1)
PRETRAINED = "pretrained:lr-schedule"
X = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
Y = torch.randn(32, 1, generator=torch.Generator().manual_seed(1))

OPTIMIZERS = {
    "adamw": lambda params, lr: torch.optim.AdamW(params, lr=lr),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr),
    "sgd-momentum": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    "sgd-nesterov": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "rmsprop": lambda params, lr: torch.optim.RMSprop(params, lr=lr),
    "adagrad": lambda params, lr: torch.optim.Adagrad(params, lr=lr),
}


def _model(dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 1).to(dtype)


def _step(model: nn.Module, optimizer, scheduler, *, loss_as=None, observe=True, stepper=None,
          scheduler_first: bool = False) -> list[float]:
    """One iteration of a user's loop; returns the group lrs after it."""
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(X.to(model.weight.dtype)), Y.to(model.weight.dtype))
    loss.backward()
    if not scheduler_first:
        optimizer.step()
    if observe:
        scheduler.observe(loss if loss_as is None else loss_as(loss))
    (stepper or scheduler).step()
    if scheduler_first:
        optimizer.step()
    return [float(group["lr"]) for group in optimizer.param_groups]


def _run(model, optimizer, scheduler, steps: int, **kwargs) -> np.ndarray:
    return np.array([_step(model, optimizer, scheduler, **kwargs) for _ in range(steps)])


def _forced(pick: int) -> ProbeScheduleTuner:
    """A guarded probe tuner (default arm 0: cosine at the user's LR) whose bandit picks ``pick`` everywhere."""
    arms = [("cosine", 0.0), ("constant", 0.5)]
    theta = np.zeros((2, 1 + len(CONTEXT_NAMES)))
    theta[pick, 0] = 1.0
    return ProbeScheduleTuner(arms, theta, np.ones(2), default_arms=(0, 0), decision_interval=5, probe_decisions=2,
                              probe_log10=0.0, guard=DivergenceGuard(2.0, 0.5))


# ---- optimizers, groups, dtypes ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_common_optimizer_schedules_its_groups_with_finite_lrs_and_a_zero_lr_group_stays_zero(name, dtype):
    model = _model(dtype)
    lr = 0.05 if name.startswith("sgd") else 2e-3
    optimizer = OPTIMIZERS[name]([{"params": [model.weight], "lr": lr}, {"params": [model.bias], "lr": 0.0}], lr)
    optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(3, dtype=dtype))], "lr": lr / 4})
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    assert scheduler.tuner.policy.adaptive == (name not in ("sgd", "sgd-momentum", "sgd-nesterov"))
    assert scheduler.get_last_lr() == [lr, 0.0, lr / 4]  # the run starts at the user's lrs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs = _run(model, optimizer, scheduler, 40)
    assert np.isfinite(lrs).all() and (lrs >= 0).all()
    assert (lrs[:, 1] == 0.0).all()  # a frozen group stays frozen
    np.testing.assert_allclose(lrs[:, 2] / lrs[:, 0], 0.25, rtol=1e-12)  # the others keep their ratio
    assert scheduler.get_last_lr() == list(lrs[-1]) and all(type(v) is float for v in scheduler.get_last_lr())
    assert len(scheduler.decisions) == 1 + 39 // scheduler.decision_interval


def test_the_user_lr_of_a_run_whose_groups_are_all_at_zero_is_unknown_and_nothing_moves() -> None:
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    assert scheduler.tuner.policy.log10_base_lr is None  # read as the neutral LR, not log10(0) = -inf
    assert (_run(model, optimizer, scheduler, 30) == 0.0).all()


@pytest.mark.parametrize("make", [lambda: torch.tensor(1e-3), lambda: torch.tensor(1e-3, dtype=torch.float64),
                                  lambda: torch.tensor([1e-3])], ids=["0-d", "float64", "shape-1"])
@pytest.mark.parametrize("name", ["adam", "adamw", "sgd-momentum", "rmsprop", "adagrad"])
def test_a_tensor_lr_stays_the_same_tensor_and_is_scheduled_in_place(name, make) -> None:
    model = _model()
    optimizer = OPTIMIZERS[name](model.parameters(), make())
    lr_tensor = optimizer.param_groups[0]["lr"]
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    lrs = _run(model, optimizer, scheduler, 30)
    assert optimizer.param_groups[0]["lr"] is lr_tensor  # filled in place, as torch's own schedulers do
    assert np.isfinite(lrs).all() and (lrs > 0).all() and len(set(lrs[:, 0])) > 1
    assert isinstance(scheduler.get_last_lr()[0], torch.Tensor)


@pytest.mark.parametrize("lr, match", [
    (torch.tensor(1), "int64 lr tensor"),  # every scheduled lr would truncate to 0 (0.25 -> 0)
    (torch.tensor(1e-3, requires_grad=True), "requires grad"),  # torch's in-place fill raised deep inside
    (torch.tensor([1e-3, 1e-3]), "shape \\(2,\\)"),
    (1e308, "overflows"),  # 10x the lr is inf
    (torch.tensor(6e4, dtype=torch.float16), "overflows"),  # inf in float16
])
def test_an_lr_the_scheduler_cannot_scale_is_refused_at_construction(lr, match) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0]["lr"] = lr
    with pytest.raises(ConfigError, match=match) as caught:
        LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    assert "param group 0" in str(caught.value)
    optimizer.param_groups[0]["lr"] = 1e300  # large but representable at 10x: accepted
    assert math.isfinite(LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30).get_last_lr()[0])


@pytest.mark.parametrize("lr", [math.nan, -0.1, math.inf, 1e308, torch.tensor(2)],
                         ids=["nan", "negative", "inf", "overflow", "int"])
def test_a_param_group_added_with_a_bad_lr_is_refused_at_the_next_step_and_none_joins(lr) -> None:
    """Before: add_param_group (which checks nothing) with lr=nan/-0.1/inf made the scheduler set that lr silently."""
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    _run(model, optimizer, scheduler, 5)
    optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(2))], "lr": 1e-4})
    optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(2))], "lr": lr})
    with pytest.raises(ConfigError, match="param group 2"):
        scheduler.step()
    assert len(scheduler.base_lrs) == 1 and scheduler.steps_taken == 5  # nothing joined, nothing counted
    optimizer.param_groups.pop()
    lrs = _run(model, optimizer, scheduler, 20)
    assert np.isfinite(lrs).all() and (lrs > 0).all() and len(scheduler.base_lrs) == 2


# ---- step() and the loss ------------------------------------------------------------------------------------

@pytest.mark.parametrize("argument", [3, 0.5, torch.tensor(0.3), np.float64(1.2)])
def test_step_with_an_epoch_or_a_metric_is_refused_and_says_to_call_observe(argument) -> None:
    """Before: step(epoch) and ReduceLROnPlateau's step(val_loss) were silently ignored (the metric was dropped)."""
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    _run(model, optimizer, scheduler, 3)
    with pytest.raises(ConfigError, match="observe"):
        scheduler.step(argument)
    assert scheduler.steps_taken == 3


def test_step_zero_at_the_start_sets_the_lrs_again_and_counts_nothing() -> None:
    """What SequentialLR of older torch calls on the scheduler that starts at its milestone."""
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    optimizer.param_groups[0]["lr"] = 0.02  # a warmup before it set its own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: lr_scheduler.step() before optimizer.step()
        scheduler.step(0)
    assert optimizer.param_groups[0]["lr"] == 0.1 and scheduler.steps_taken == 0 and len(scheduler.decisions) == 1
    _run(model, optimizer, scheduler, 2)
    with pytest.raises(ConfigError, match="no epoch"):
        scheduler.step(0)


def test_scheduler_step_before_optimizer_step_gives_torchs_warning_once_and_a_finite_schedule() -> None:
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lrs = _run(model, optimizer, scheduler, 30, scheduler_first=True)
    assert sum("before `optimizer.step()`" in str(w.message) for w in caught) == 1
    assert np.isfinite(lrs).all() and (lrs > 0).all() and scheduler.steps_taken == 30


def test_every_form_of_the_loss_gives_the_same_schedule() -> None:
    """A tensor with grad (what the loop has), detached 0-d, a (1,) tensor, a Python float: the same decisions."""
    forms = [None, lambda loss: loss.detach(), lambda loss: loss.reshape(1), lambda loss: loss.item(),
             lambda loss: loss.double(), lambda loss: np.float32(loss.item())]
    runs = []
    for loss_as in forms:
        model = _model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
        runs.append(_run(model, optimizer, scheduler, 40, loss_as=loss_as)[:, 0])
    for run in runs[1:]:
        np.testing.assert_allclose(run, runs[0], rtol=1e-12)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_losses_in_a_whole_loop_keep_the_lrs_finite_and_positive(bad) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=60)
    with pytest.warns(RuntimeWarning, match="non-finite train loss"):
        lrs = _run(model, optimizer, scheduler, 60, loss_as=lambda loss: torch.tensor(bad))
    assert np.isfinite(lrs).all() and (lrs > 0).all()
    assert sum(e["event"] == "non_finite_loss" for e in scheduler.events) == 60
    with pytest.raises(ConfigError, match="one real loss"):
        scheduler.observe(None)


def test_a_loop_that_never_calls_observe_is_warned_once_and_keeps_the_default_schedule() -> None:
    """Before: without observe() the probe tuner chose an arm from an observation without any loss (on this loop,
    10x the user's LR) and its divergence guard could never fire."""
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = LearnedLRScheduler(optimizer, _forced(1), total_steps=60)  # would leave the default
    with pytest.warns(RuntimeWarning, match="no train loss observed") as caught:
        lrs = _run(model, optimizer, scheduler, 60, observe=False)
    assert sum("no train loss" in str(w.message) for w in caught) == 1
    assert scheduler.events == [{"step": 5, "event": "no_loss"}]
    policy = scheduler.tuner.policy
    assert policy.arm == 0 and not scheduler.reverted and (lrs <= 1e-3 * (1 + 1e-12)).all()  # cosine at the user's LR
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    observed = LearnedLRScheduler(optimizer, _forced(1), total_steps=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs = _run(model, optimizer, observed, 60)
    assert observed.tuner.policy.arm == 1 and lrs.max() > 1e-3  # observing, it leaves the default as before


# ---- torch's other schedulers ---------------------------------------------------------------------------------

def test_sequential_lr_starting_with_the_learned_scheduler_follows_its_plain_schedule() -> None:
    """Before: SequentialLR re-runs its first scheduler's initial step, which counted as an optimizer step (a window
    entry and a step of progress): the learned schedule ran one step early."""
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    plain = _run(model, optimizer, LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40), 39)[:, 0]
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    learned = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    sequential = SequentialLR(optimizer, [learned, ConstantLR(optimizer, factor=0.1, total_iters=100)], milestones=[40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs = _run(model, optimizer, learned, 45, stepper=sequential)[:, 0]
    np.testing.assert_array_equal(lrs[:39], plain)
    assert learned.steps_taken == 39 and np.allclose(lrs[39:], 1e-4)  # then the cooldown's own LR


def test_a_warmup_then_learned_sequential_lr_resumes_from_its_state_dict() -> None:
    def build(seed: int):
        model = _model(seed=seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        learned = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=30)
        sequential = SequentialLR(optimizer, [LinearLR(optimizer, 0.1, total_iters=5), learned], milestones=[5])
        return model, optimizer, learned, sequential

    model, optimizer, learned, sequential = build(0)
    _run(model, optimizer, learned, 17, stepper=sequential)
    buffer = io.BytesIO()
    torch.save([model.state_dict(), optimizer.state_dict(), sequential.state_dict()], buffer)
    uninterrupted = _run(model, optimizer, learned, 18, stepper=sequential)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model2, optimizer2, learned2, sequential2 = build(7)
    model2.load_state_dict(saved[0])
    optimizer2.load_state_dict(saved[1])
    sequential2.load_state_dict(saved[2])
    np.testing.assert_array_equal(_run(model2, optimizer2, learned2, 18, stepper=sequential2), uninterrupted)
    assert learned2.steps_taken == learned.steps_taken == 30


def test_swalr_takes_over_from_the_learned_scheduler_at_swa_start() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    learned = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20)
    swa = SWALR(optimizer, swa_lr=0.01, anneal_epochs=3)
    averaged = AveragedModel(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = _run(model, optimizer, learned, 20)
        after = []
        for _ in range(10):
            after.append(_step(model, optimizer, swa, observe=False))
            averaged.update_parameters(model)
    assert np.isfinite(before).all() and (before > 0).all()
    assert np.allclose(np.array(after)[3:], 0.01)


# ---- budgets ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("total_steps", [1, 3.0, np.int32(2), torch.tensor(4)])
def test_stepping_far_past_a_tiny_budget_keeps_the_last_lr_and_warns_once(total_steps) -> None:
    model = _model()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.01)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=total_steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lrs = _run(model, optimizer, scheduler, 300)
    assert sum("more than total_steps" in str(w.message) for w in caught) == 1
    assert np.isfinite(lrs).all() and len(set(lrs[int(total_steps):, 0])) == 1 and scheduler.steps_taken == 300


# ---- state ---------------------------------------------------------------------------------------------------

def test_a_state_saved_with_tensor_lrs_resumes_on_a_fresh_float_lr_optimizer_without_turning_lrs_into_tensors() -> None:
    """Before: the state's tensor initial lrs made get_lr() return tensors, which replaced the fresh optimizer's float
    lr (torch fills only an lr that is already a tensor)."""
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=torch.tensor(0.05, dtype=torch.float64))
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    _run(model, optimizer, scheduler, 13)
    saved = [copy.deepcopy(model.state_dict()), scheduler.state_dict()]
    assert isinstance(saved[1]["base_lrs"][0], torch.Tensor)
    uninterrupted = _run(model, optimizer, scheduler, 27)
    model2 = _model(seed=3)
    model2.load_state_dict(saved[0])
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=0.05)  # plain SGD: no optimizer state but the lr
    scheduler2 = LearnedLRScheduler(optimizer2, PRETRAINED, total_steps=40)
    scheduler2.load_state_dict(saved[1])
    optimizer2.param_groups[0]["lr"] = float(saved[1]["_last_lr"][0])  # what the optimizer's own state would restore
    resumed = _run(model2, optimizer2, scheduler2, 27)
    assert type(optimizer2.param_groups[0]["lr"]) is float and all(type(v) is float for v in scheduler2.get_last_lr())
    np.testing.assert_allclose(resumed[:, 0], uninterrupted[:, 0], rtol=1e-9)


def test_the_scheduler_object_pickles_and_deep_copies_and_the_copy_continues_the_run() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=40)
    _run(model, optimizer, scheduler, 12)
    copies = [pickle.loads(pickle.dumps((model, optimizer, scheduler))), copy.deepcopy((model, optimizer, scheduler))]
    buffer = io.BytesIO()
    torch.save((model, optimizer, scheduler), buffer)
    buffer.seek(0)
    copies.append(torch.load(buffer, weights_only=False))
    original = _run(model, optimizer, scheduler, 28)
    for model2, optimizer2, scheduler2 in copies:
        assert scheduler2.optimizer is optimizer2
        np.testing.assert_array_equal(_run(model2, optimizer2, scheduler2, 28), original)


def test_a_state_of_a_tuner_with_other_arms_is_refused_before_anything_changes() -> None:
    """Before: a pretrained tuner's state (arm 11 of 18) loaded into a scheduler whose tuner has 2 arms, and the next
    decision crashed with IndexError deep inside; an index in range would silently have played another schedule."""
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    pretrained = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=60)
    _run(model, optimizer, pretrained, 35)
    state = pretrained.state_dict()
    other = LearnedLRScheduler(torch.optim.AdamW(_model().parameters(), lr=1e-3), _forced(1), total_steps=60)
    before = other.state_dict()
    with pytest.raises(CheckpointError, match="other arms"):
        other.load_state_dict(state)
    old_format = copy.deepcopy(state)  # saved before the arms were kept: the index is checked
    del old_format["tuner_arms"]
    old_format["tuner_state"]["arm"] = 7
    with pytest.raises(CheckpointError, match="arm 7"):
        other.load_state_dict(old_format)
    corrupt = copy.deepcopy(state)
    corrupt["base_lrs"] = [math.nan]
    with pytest.raises(CheckpointError, match="initial lrs"):
        pretrained.load_state_dict(corrupt)
    assert other.state_dict() == before and other.tuner.policy.arm is None
    assert pretrained.state_dict() == state


# ---- gradients ------------------------------------------------------------------------------------------------

def test_a_large_finite_gradient_norm_does_not_read_as_inf() -> None:
    """Before: the float32 sum of squares overflowed for entries above ~1e19: the feature read inf (and was dropped)."""
    model = _model()
    scheduler = LearnedLRScheduler(torch.optim.SGD(model.parameters(), lr=0.1), PRETRAINED, total_steps=30)
    model.weight.grad = torch.full_like(model.weight, 1e25)
    model.bias.grad = torch.zeros_like(model.bias)
    assert scheduler._grad_norm() == pytest.approx(2e25, rel=1e-6)
    model.bias.grad = torch.tensor([math.inf])
    assert scheduler._grad_norm() == math.inf  # a real inf stays one


@pytest.mark.parametrize("name", ["sgd", "adagrad", "sparseadam"])
def test_sparse_embedding_gradients_are_read(name) -> None:
    torch.manual_seed(0)
    embedding = nn.Embedding(10, 3, sparse=True)
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1),
            "sparseadam": lambda p: torch.optim.SparseAdam(list(p), lr=1e-3)}[name]
    optimizer = make(embedding.parameters())
    assert is_adaptive_optimizer(optimizer) == (name != "sgd")
    scheduler = LearnedLRScheduler(optimizer, PRETRAINED, total_steps=20)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse invariant checks")  # torch's Adagrad, not the scheduler
        for _ in range(20):
            optimizer.zero_grad()
            loss = embedding(torch.tensor([1, 2, 3])).pow(2).sum()
            loss.backward()
            optimizer.step()
            scheduler.observe(loss)
            scheduler.step()
    assert 0.0 < scheduler._grad_norm() < math.inf and math.isfinite(scheduler.get_last_lr()[0])
