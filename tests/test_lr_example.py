"""The example that trains a model outside the env's task distribution with LearnedLRScheduler runs (issue 9)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lr_scheduler.py"


def test_example_trains_an_out_of_distribution_regressor_with_the_shipped_scheduler():
    spec = importlib.util.spec_from_file_location("lr_scheduler_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    learned, cosine = module.main(["--steps", "80"])
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
