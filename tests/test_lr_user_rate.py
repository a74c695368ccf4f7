"""Issue #19: the deployed LR scheduler works relative to the user's learning rate; the user-rate tasks (regression,
label noise, bundled diabetes data, the user's LR over three decades) and the LR suite's runner."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from tunegym.agents.lr_scheduler import (
    CONTEXT_NAMES, DivergenceGuard, LearnedLRScheduler, ProbeScheduleTuner,
)
from tunegym.envs.core.seeding import stream
from tunegym.envs.lr.env import LRScheduleEnv
from tunegym.envs.lr.schedules import schedule_factor
from tunegym.envs.lr.tasks import (
    UNSEEN_FAMILIES, USER_LR_RANGE, TrainingTask, load_task_data, tiny_distribution, user_rate_family,
    user_rate_train_distribution,
)
from tunegym.envs.lr.trainer import PlainRun

torch.set_num_threads(1)


# ---- tasks -------------------------------------------------------------------------------------------------------

def test_diabetes_is_bundled_and_read_without_scikit_learn() -> None:
    code = ("import sys; from tunegym.envs.lr.tasks import TrainingTask, load_task_data; "
            "d = load_task_data(TrainingTask('mlp', 'diabetes', n_samples=442)); "
            "print(tuple(d.x_train.shape), tuple(d.x_val.shape), d.n_classes, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["(331,", "10)", "(111,", "10)", "1", "False"]


def test_regression_tasks_train_with_mse_on_standardised_targets_and_report_no_accuracy() -> None:
    for dataset in ("diabetes", "teacher", "friedman"):
        task = TrainingTask("mlp", dataset, n_samples=256, step_budget=20, base_lr=1e-2, optimizer="adamw")
        data = load_task_data(task)
        assert task.loss == "mse" and data.n_classes == 1 and data.y_train.dtype == torch.float32
        assert abs(float(data.y_train.mean())) < 1e-5 and float(data.y_train.std()) == pytest.approx(1.0, rel=0.01)
    env = LRScheduleEnv(device="cpu")
    env.reset(options={"instance": task})
    done = False
    while not done:
        _, _, done, _, info = env.step(6)  # multiplier 1: the user's LR
    assert info["val_loss"] is not None and info["val_accuracy"] is None and info["lr"] == pytest.approx(1e-2)
    plain = PlainRun(task)
    loss, acc = plain.evaluate()
    assert np.isfinite(loss) and np.isnan(acc)


def test_label_noise_changes_training_labels_only_and_tasks_without_it_keep_their_ids() -> None:
    clean = TrainingTask("mlp", "spirals", n_samples=400, data_seed=3)
    noisy = replace(clean, label_noise=0.2)
    a, b = load_task_data(clean), load_task_data(noisy)
    assert torch.equal(a.y_val, b.y_val) and torch.equal(a.x_train, b.x_train)
    flipped = float((a.y_train != b.y_train).float().mean())
    assert 0.08 < flipped < 0.22  # 20 % relabelled at random, a third of them to their own class
    assert clean.instance_id != noisy.instance_id
    assert "label_noise" not in str(clean.instance_id) and clean.instance_id == replace(noisy, label_noise=0.0).instance_id


def test_user_rate_distributions_draw_the_users_lr_over_three_decades_and_keep_unseen_families_out() -> None:
    train = user_rate_train_distribution()
    tasks = [train.sample(stream(s, "instances")) for s in range(60)]
    lrs = np.array([t.lr for t in tasks])
    assert lrs.min() >= USER_LR_RANGE[0] and lrs.max() <= USER_LR_RANGE[1] and np.log10(lrs.max() / lrs.min()) > 2.5
    assert {t.optimizer for t in tasks} == {"sgd", "adamw"} and {t.loss for t in tasks} == {"ce", "mse"}
    assert {t.label_noise for t in tasks} == {0.0, 0.1, 0.2}
    unseen = {dataset for _, dataset in UNSEEN_FAMILIES.values()}
    assert not unseen & {t.dataset for t in tasks} and {"breast_cancer", "diabetes"} <= unseen
    for name in UNSEEN_FAMILIES:
        assert user_rate_family(name).sample(stream(0, "x")).dataset == UNSEEN_FAMILIES[name][1]
    # distributions that set neither option draw what they drew before: no base LR, no label noise
    old = tiny_distribution().sample(stream(0, "instances"))
    assert old.base_lr is None and old.label_noise == 0.0


# ---- the scheduler at the user's LR ------------------------------------------------------------------------------

def _model_and_optimizer(kind: str, lr: float, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    groups = [{"params": model[0].parameters(), "lr": lr}, {"params": model[2].parameters(), "lr": lr / 10}]
    optimizer = torch.optim.AdamW(groups) if kind == "adamw" else torch.optim.SGD(groups, momentum=0.9)
    x = torch.randn(256, 6, generator=torch.Generator().manual_seed(seed))
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).long() + (x[:, 2] > 1).long()
    return model, optimizer, x, y


def _loop(model, optimizer, scheduler, x, y, steps: int, nan_from: int | None = None) -> list[list[float]]:
    lrs = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[step % 8 * 32:(step % 8 + 1) * 32]), y[step % 8 * 32:(step % 8 + 1) * 32])
        loss.backward()
        optimizer.step()
        scheduler.observe(loss if nan_from is None or step < nan_from else torch.tensor(float("nan")))
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    return lrs


@pytest.mark.parametrize("kind", ["adamw", "sgd"])
@pytest.mark.parametrize("lr", [1e-4, 3e-3, 1e-1])
def test_shipped_scheduler_starts_at_the_users_lr_and_probes_with_cosine_at_it(kind, lr) -> None:
    """The issue: at AdamW lr=3e-3 the old tuner started at 0.03. Now the first LR is the user's, whatever its scale,
    and the probe follows the default arm (cosine/linear at multiplier 1), piecewise per decision."""
    model, optimizer, x, y = _model_and_optimizer(kind, lr)
    scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=200)
    policy = scheduler.tuner.policy
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
    assert policy.log10_base_lr == pytest.approx(np.log10(lr)) and policy.adaptive == (kind == "adamw")
    family, peak = policy.arms[policy._default_for(policy.adaptive)]
    assert peak == 0.0 and family in ("cosine", "linear")
    lrs = np.array(_loop(model, optimizer, scheduler, x, y, 200))
    np.testing.assert_allclose(lrs[:, 1] / lrs[:, 0], 0.1, rtol=1e-9)  # the groups keep their ratio
    k = policy.decision_interval
    probe_steps = policy.probe_decisions * k
    expected = [lr * float(schedule_factor(family, np.float32((s + 1) // k * k / 200))) for s in range(probe_steps - 1)]
    np.testing.assert_allclose(lrs[: probe_steps - 1, 0], expected, rtol=1e-5)
    assert policy.chosen_context is not None and len(policy.chosen_context) == len(CONTEXT_NAMES)


def _forced(pick: int, guard: DivergenceGuard | None = DivergenceGuard(2.0, 0.5)) -> ProbeScheduleTuner:
    arms = [("cosine", 0.0), ("constant", 0.5)]
    theta = np.zeros((2, 1 + len(CONTEXT_NAMES)))
    theta[pick, 0] = 1.0
    return ProbeScheduleTuner(arms, theta, np.ones(2), default_arms=(0, 0), decision_interval=5, probe_decisions=2,
                              probe_log10=0.0, guard=guard)


def test_non_finite_losses_are_reported_and_revert_to_the_default_schedule() -> None:
    model, optimizer, x, y = _model_and_optimizer("adamw", 1e-3)
    scheduler = LearnedLRScheduler(optimizer, _forced(1), total_steps=60)
    with pytest.warns(RuntimeWarning, match="non-finite train loss"):
        lrs = _loop(model, optimizer, scheduler, x, y, 60, nan_from=20)
    kinds = [e["event"] for e in scheduler.events]
    assert kinds.count("non_finite_loss") == 40 and kinds.count("reverted") == 1 and scheduler.reverted
    revert = next(e for e in scheduler.events if e["event"] == "reverted")
    assert revert["step"] == 25  # the first decision that saw a window without a finite loss
    assert lrs[21][0] == pytest.approx(1e-3 * 10**0.5)  # the chosen arm (constant at 10^0.5)...
    assert lrs[-2][0] == pytest.approx(1e-3 * float(schedule_factor("cosine", np.float32(55 / 60))), rel=1e-6)  # ...then cosine at 1x
    # a tuner that stays on its default also reports, once with a warning, and never reverts
    model, optimizer, x, y = _model_and_optimizer("sgd", 1e-2)
    quiet = LearnedLRScheduler(optimizer, _forced(0), total_steps=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _loop(model, optimizer, quiet, x, y, 30, nan_from=10)
    assert sum("non-finite" in str(w.message) for w in caught) == 1 and not quiet.reverted


def test_state_dict_round_trips_mid_run_with_several_param_groups() -> None:
    for cut in (7, 45):  # inside the probe and after the choice
        model, optimizer, x, y = _model_and_optimizer("adamw", 2e-3)
        scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=120)
        _loop(model, optimizer, scheduler, x, y, cut)
        saved = [copy.deepcopy(o.state_dict()) for o in (model, optimizer, scheduler)]
        torch.save(saved[2], "/dev/null")  # plain data
        uninterrupted = _loop(model, optimizer, scheduler, x, y, 120 - cut)
        model2, optimizer2, _, _ = _model_and_optimizer("adamw", 2e-3, seed=9)
        scheduler2 = LearnedLRScheduler(optimizer2, "pretrained:lr-schedule", total_steps=120)
        model2.load_state_dict(saved[0])
        optimizer2.load_state_dict(saved[1])
        scheduler2.load_state_dict(saved[2])
        resumed = _loop(model2, optimizer2, scheduler2, x, y, 120 - cut)
        np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-12)
        assert scheduler2.tuner.policy.arm == scheduler.tuner.policy.arm


# ---- the suite -------------------------------------------------------------------------------------------------

def test_lr_suite_smoke_runs_and_returns_claims(tmp_path) -> None:
    from tunegym.agents.tuners import load_tuner
    from tunegym.tuning.benches.lr_suite import ARMS, run_suite
    from tunegym.tuning.suites import get_suite

    suite = get_suite("lr-user-rate")
    claims = run_suite(suite, "smoke", tmp_path, log=lambda *_: None)
    payload = json.loads((tmp_path / "lr_suite.json").read_text())
    assert {c.baseline for c in claims} >= {"best_per_task", f"best_on_tune_{payload['tune']['best_on_tune']}"}
    assert all(c.n == len(payload["config"]["families"]) == 5 and c.suite == "lr-user-rate" for c in claims)
    assert (tmp_path / "lr_suite.md").read_text().count("## Goal") == 1
    tuner = load_tuner(tmp_path / "lr-schedule.pt")
    assert isinstance(tuner, ProbeScheduleTuner) and tuner.arms == [tuple(a) for a in ARMS]
    assert ARMS[tuner.default_arms[0]][1] == 0.0 and tuner.guard is not None
    # the tune tasks never come from an unseen family
    assert not {r["task"]["dataset"] for r in payload["tune"]["tune_runs"]} & {"breast_cancer", "diabetes", "spirals", "friedman", "charseq"}
    with pytest.raises(Exception):
        suite.seeds("final_test", "smoke")
