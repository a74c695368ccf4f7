"""`tunegym bench timestep` runs end to end (smoke sizes) and reports what the time-step report relies on: the
per-instance η controller with its μ rule and dominance flag, and the PI-gain ODE controller with its tune-side
variant choice and its distance to PI's front."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tunegym.tuning.benches.timestep import COMMIT_MUS, gap_to_front
from tunegym.tuning.cli import main


def test_gap_to_front_interpolates_log_log():
    front = [(100.0, -4.0), (1000.0, -6.0)]
    assert gap_to_front(front, 100.0, -4.5) == pytest.approx(-0.5)
    assert gap_to_front(front, 10 ** 2.5, -5.0) == pytest.approx(0.0)
    assert gap_to_front(front, 1000.0, -5.0) == pytest.approx(1.0)


@pytest.mark.slow
def test_smoke_bench_reports_both_learned_controllers(tmp_path):
    assert main(["bench", "timestep", "--smoke", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "timestep.json").read_text())
    assert (tmp_path / "timestep.md").exists() and (tmp_path / "timestep_pareto.png").exists()
    tb = result["three_body"]
    # every choice follows its stated rule on tune data (a random or test-peeking choice breaks one of these)
    objective = tb["tune_objective"]
    assert tb["best_fixed_on_tune_seeds"] == min(objective, key=objective.get)
    controller = tb["per_instance_controller"]
    tune = {float(mu): summary["mean_evaluations"] for mu, summary in controller["tune"].items()}
    assert sorted(tune) == sorted(COMMIT_MUS)
    fits = [mu for mu, evaluations in tune.items() if evaluations <= controller["reference_evaluations"]]
    assert controller["mu"] == (max(fits) if fits else min(COMMIT_MUS))
    learned, fixed = tb["methods"][controller["name"]], tb["methods"][tb["best_fixed_on_tune_seeds"]]
    dominates = (learned["mean_evaluations"] <= fixed["mean_evaluations"]
                 and learned["median_log10_error"] <= fixed["median_log10_error"]
                 and (learned["mean_evaluations"] < fixed["mean_evaluations"]
                      or learned["median_log10_error"] < fixed["median_log10_error"]))
    assert controller["dominates_best_fixed"] == dominates
    ode = result["ode"]
    (rtol, comparison), = ode["learned_vs_pi"].items()
    assert np.isfinite(comparison["gap_to_pi_front"])
    variants = ode["learned_variants_on_tune"][rtol]
    assert variants["knob"] == "pi_safety"
    assert variants["chosen"] == min(variants["variants"], key=lambda v: v["tune_gap_to_pi_front"])
    assert any("pi_safety" in name for name in ode["methods"])


def test_three_body_paired_claims_come_from_the_shipped_runs(capsys, benchmark_script):
    """The README's three-body verdict is computed, not typed in: a loss on force evaluations, a tie on error."""
    module = benchmark_script("timestep_three_body_paired")
    module.main()
    out = capsys.readouterr().out
    assert "95 instances" in out
    rows = [line for line in out.splitlines() if "force_evaluations" in line or "abs_energy_error" in line]
    assert "**loss**" in rows[0] and "**tie**" in rows[1]
