"""``tunegym bench lr`` smoke run: every method reports on test tasks and the learned policy is a loadable tuner."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from tunegym.agents.lr_scheduler import LRSchedulePolicy
from tunegym.tuning.benches.lr import SCHEDULES, run, schedule_factors

torch.set_num_threads(1)


def test_schedules_start_and_end_where_named() -> None:
    for name in SCHEDULES:
        factors = schedule_factors(name, 100)
        assert factors.shape == (100,) and np.all(factors >= 0) and factors.max() <= 1.0 + 1e-9
    assert schedule_factors("cosine", 100)[0] == 1.0 and schedule_factors("linear", 100)[-1] < 0.02
    assert schedule_factors("wsd", 100)[0] < 1.0 and schedule_factors("wsd", 100)[50] == 1.0


def test_bench_lr_smoke_writes_every_method(tmp_path: Path) -> None:
    args = argparse.Namespace(out=str(tmp_path), tune_seeds=2, test_seeds=2, generations=1, population=4,
                              tasks_per_generation=1, save_policy=None, seed=0, smoke=True)
    assert run(args) == 0
    payload = json.loads((tmp_path / "lr.json").read_text())
    for split in ("seen", "unseen"):
        methods = payload["results"][split]
        assert {"learned", *SCHEDULES} <= set(methods)
        assert all(np.isfinite(m["iqm_val_loss"]) for m in methods.values())
    assert set(payload["tune_seeds"]).isdisjoint(payload["test_seeds"])
    policy = LRSchedulePolicy.load(tmp_path / "lr-schedule.pt")
    assert -3.0 <= policy.act(np.zeros(9, dtype=np.float32)) <= 1.0
