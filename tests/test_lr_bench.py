"""``tunegym bench lr`` (issue 9): every method reports on test tasks, and the bandit's tuner is a loadable file
whose in-env behaviour is the arm table it was trained on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tunegym.agents.lr_scheduler import ProbeScheduleTuner, load_schedule_tuner
from tunegym.envs.lr.tasks import TrainingTask
from tunegym.tuning.benches.lr import (
    LEARNED_ARMS, SCHEDULES, _untrained_tuner, run, run_lr_curves, run_tuner, schedule_factors,
)

torch.set_num_threads(1)


def test_schedules_start_and_end_where_named() -> None:
    for name in SCHEDULES:
        factors = schedule_factors(name, 100)
        assert factors.shape == (100,) and np.all(factors >= 0) and factors.max() <= 1.0 + 1e-9
    assert schedule_factors("cosine", 100)[0] == 1.0 and schedule_factors("linear", 100)[-1] < 0.02
    assert schedule_factors("wsd", 100)[0] < 1.0 and schedule_factors("wsd", 100)[50] == 1.0


def test_tuner_in_the_env_reproduces_its_planned_arm() -> None:
    """The bench trains each arm as a planned LR curve in a batch; the tuner playing it in LRSchedule-v0 must agree."""
    task = TrainingTask(family="mlp", dataset="blobs", width=16, optimizer="adamw", step_budget=60, n_samples=128, data_seed=5, init_seed=6)
    tuner = _untrained_tuner()
    arm = LEARNED_ARMS.index(("cosine", 0.5))
    loss, _, probe_obs = run_lr_curves(task, np.stack([tuner.planned_log10(arm, 60)]), 0, probe_lane=0)
    tuner.bandit.targets[arm, 0] = 1.0  # untrained: identity Gram, so theta[arm, 0] = 1  # make the tuner pick that arm whatever the context
    tuner.counts[:] = 1
    env_loss, _ = run_tuner(task, tuner)
    assert tuner.arm == arm
    assert env_loss == pytest.approx(loss[0], rel=1e-3)
    # the probe lane's observations, decision by decision, up to the choice (what the tuner sees in the env)
    assert len(probe_obs) == tuner.probe_decisions + 1 and probe_obs[0][0] == 0.0
    from tunegym.tuning.benches.lr import probe_context

    context = probe_context(tuner, task, probe_obs)
    assert context[0] == 1.0 and context[2] == pytest.approx(np.log10(task.lr))  # AdamW at the task's LR


@pytest.mark.parametrize("pick", [("step", 1.0), ("cosine", 0.5)])
def test_tuner_with_a_default_probes_with_it_and_keeps_it_seamlessly(pick) -> None:
    """With a default arm the probe is the default's own schedule, and keeping the default *is* that schedule."""
    task = TrainingTask(family="mlp", dataset="blobs", width=16, optimizer="adamw", step_budget=60, n_samples=128, data_seed=5, init_seed=6)
    tuner = _untrained_tuner()
    default = LEARNED_ARMS.index(("step", 1.0))
    tuner.default_arms = (default, default)
    arm = LEARNED_ARMS.index(pick)
    planned = tuner.planned_log10(arm, 60, adaptive=True)
    assert np.all(planned[:20] == 1.0)  # the probe follows step at its peak
    if arm == default:
        np.testing.assert_allclose(planned, 1.0 + np.log10(schedule_factors("step", 60)[::10].repeat(10)))
    loss, _, _ = run_lr_curves(task, planned[None, :], 0)
    tuner.bandit.targets[arm, 0] = 1.0  # untrained: identity Gram, so theta[arm, 0] = 1
    tuner.counts[:] = 1
    env_loss, _ = run_tuner(task, tuner)
    assert tuner.arm == arm and env_loss == pytest.approx(loss[0], rel=1e-3)
    assert tuner.guard is not None and not tuner.guard_fired  # the table holds while the guard's loss check stays quiet


def test_guarded_tuner_in_the_env_reproduces_its_ramped_planned_arm() -> None:
    """An arm far above the default is ramped up; the ramp is open-loop, so the planned table includes it."""
    task = TrainingTask(family="mlp", dataset="blobs", width=16, optimizer="sgd", step_budget=60, n_samples=128, data_seed=5, init_seed=6)
    tuner = _untrained_tuner()
    default = LEARNED_ARMS.index(("step", -1.0))
    tuner.default_arms = (default, default)
    arm = LEARNED_ARMS.index(("cosine", 0.5))
    planned = tuner.planned_log10(arm, 60)
    assert np.all(planned[:20] == -1.0) and np.all(planned[20:30] == -0.5) and np.all(planned[30:40] == 0.0)  # ramp
    loss, _, _ = run_lr_curves(task, planned[None, :], 0)
    tuner.bandit.targets[arm, 0] = 1.0  # untrained: identity Gram, so theta[arm, 0] = 1
    tuner.counts[:] = 1
    env_loss, _ = run_tuner(task, tuner)
    assert tuner.arm == arm and not tuner.guard_fired and env_loss == pytest.approx(loss[0], rel=1e-3)


@pytest.mark.slow
def test_bench_lr_smoke_writes_every_method_and_a_loadable_tuner(tmp_path: Path) -> None:
    args = argparse.Namespace(out=str(tmp_path), seeds="tune=0-1,test=100-101", runs=1, rounds=60,
                              save_policy=str(tmp_path / "shipped.pt"), seed=0, smoke=True)
    assert run(args) == 0
    payload = json.loads((tmp_path / "lr.json").read_text())
    for split in ("seen", "unseen"):
        methods = payload["results"][split]
        assert {"learned", *SCHEDULES} <= set(methods)
        assert all(np.isfinite(m["iqm_val_loss"]) for m in methods.values())
        assert set(payload["tuned"]["cosine"]["log10_peak"]) == {"sgd", "adamw"}
    assert set(payload["seed_split"]["tune"]).isdisjoint(payload["seed_split"]["test"])
    card = json.loads((tmp_path / "shipped.json").read_text())
    assert card["kind"] == "lr-schedule-bandit" and "--save-policy" in card["made_by"][0]
    from tunegym.agents.tuners import load_tuner

    assert isinstance(load_tuner(tmp_path / "shipped.pt"), ProbeScheduleTuner)
    tuner = load_schedule_tuner(tmp_path / "lr-schedule.pt")
    assert isinstance(tuner, ProbeScheduleTuner) and tuner.counts.sum() == 60
    tuner.reset(adaptive=True)
    values = [tuner.act(np.full(9, 0.1, dtype=np.float32)) for _ in range(5)]
    assert values[0] == tuner.arm_log10(tuner.default_arms[1], 0.1, 0.0)  # the probe follows the default arm
    assert all(-3.0 <= v <= 1.0 for v in values) and tuner.arm is not None
