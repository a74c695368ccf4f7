"""The user example (issue #19): a user's own model and loop at their own LR, the shipped LearnedLRScheduler beside
``CosineAnnealingLR``; and the shipped tuner is the one the LR suite's documented command made."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lr_scheduler.py"


def test_example_trains_the_users_model_at_the_users_lr_beside_cosine():
    spec = importlib.util.spec_from_file_location("lr_scheduler_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = EXAMPLE.read_text()
    assert "CosineAnnealingLR(optimizer" in text and 'LearnedLRScheduler(optimizer, "pretrained:lr-schedule"' in text
    for argv in (["--steps", "80"], ["--steps", "60", "--optimizer", "sgd", "--lr", "0.01"]):
        learned, cosine = module.main(argv)
        assert math.isfinite(learned) and math.isfinite(cosine)
        assert learned < 1.0  # the regressor learned something (the target's variance is about 1)


def test_shipped_lr_schedule_is_the_bandit_tuner_made_by_bench_lr():
    import json

    from tunegym.agents.lr_scheduler import ProbeScheduleTuner
    from tunegym.agents.tuners import load_tuner, pretrained_path

    tuner = load_tuner("pretrained:lr-schedule")
    assert isinstance(tuner, ProbeScheduleTuner) and tuner.counts.sum() > 0
    assert tuner.guard is not None and tuner.default_arms is not None  # shipped with its divergence guard
    card = json.loads(pretrained_path("lr-schedule").with_suffix(".json").read_text())
    assert card["kind"] == "lr-schedule-bandit"
    assert card["made_by"][0].startswith("tunegym bench lr ") and "--save-policy agents/pretrained/lr-schedule.pt" in card["made_by"][0]
    assert "--suite lr-user-rate --scale full" in card["made_by"][0]  # the user-rate suite (issue #19)
    assert {"learned_over_best_on_tune_iqm_ratio", "ci", "worst_task_ratio", "goal_met"} <= set(card["evaluation"])
    assert tuner.arms[tuner.default_arms[0]][1] == 0.0 == tuner.arms[tuner.default_arms[1]][1]  # the user's LR itself
