"""The interleaved deploy path (issue #19): ``LNSSolver`` / ``tunegym solve mip`` run HiGHS on the full model
beside the LNS, stop as soon as the best solution is proven optimal, and read MPS, LP and highspy models."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tunegym.agents.lns_solver import LNSSolver
from tunegym.envs.mip.instances import GENERATORS, HELDOUT_GENERATORS, HeldOutFamilyDistribution, load_model
from tunegym.tuning.cli import main


def _easy_cover(tmp_path, suffix):
    inst = GENERATORS["setcover"](np.random.default_rng(0), n_rows=30, n_cols=60)
    path = tmp_path / f"cover{suffix}"
    inst.to_highs().writeModel(str(path))
    return inst, path


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_an_easy_model_stops_when_proven_optimal_not_at_the_time_limit(tmp_path, suffix):
    inst, path = _easy_cover(tmp_path, suffix)
    solver = LNSSolver()
    sol = solver.solve(path, time_limit=25.0)
    assert sol.status == "optimal" and sol.wall_time < 5.0  # HiGHS proves it in ~0.02 s; was the full 25 s
    h = inst.to_highs()
    h.run()
    assert sol.objective == pytest.approx(h.getInfo().objective_function_value)
    assert sol.dual_bound == pytest.approx(sol.objective) and sol.primal_gap == 0.0
    loaded = load_model(path)
    assert set(sol.values) == set(loaded.names())
    assert loaded.violation(np.array([sol.values[n] for n in loaded.names()])) < 1e-6


def test_a_highspy_model_with_an_objective_offset_reports_the_models_own_objective():
    inst = GENERATORS["setcover"](np.random.default_rng(1), n_rows=30, n_cols=60)
    h = inst.to_highs()
    h.changeObjectiveOffset(7.5)
    sol = LNSSolver().solve(h, time_limit=10.0)
    ref = inst.to_highs()
    ref.changeObjectiveOffset(7.5)
    ref.run()
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(ref.getInfo().objective_function_value)


def test_the_cli_writes_column_names_and_reports_optimal(tmp_path, capsys):
    _, path = _easy_cover(tmp_path, ".mps")
    out = tmp_path / "sol.json"
    started = time.perf_counter()
    assert main(["solve", "mip", str(path), "--time-limit", "25", "--out", str(out)]) == 0
    assert time.perf_counter() - started < 15.0
    printed = capsys.readouterr().out
    assert "status: optimal" in printed and "dual bound:" in printed
    payload = json.loads(out.read_text())
    assert payload["status"] == "optimal" and payload["values"] and all(k.startswith("c") for k in payload["values"])


def test_no_interleave_is_the_lns_alone():
    inst = GENERATORS["setcover"](np.random.default_rng(0), n_rows=30, n_cols=60)
    sol = LNSSolver(interleave=False).solve(inst, time_limit=0.5)
    assert sol.status in ("improved", "feasible") and sol.wall_time >= 0.4 and sol.highs_solutions == 0


def test_a_work_budget_gives_a_deterministic_interleaved_run():
    inst = HELDOUT_GENERATORS["mknap"](np.random.default_rng(3), n_items=40, n_knapsacks=3)
    first = LNSSolver(sub_time_limit=None).solve(inst, time_limit=None, work_limit=300)
    second = LNSSolver(sub_time_limit=None).solve(inst, time_limit=None, work_limit=300)
    assert first.work_trace == second.work_trace and first.objective == second.objective
    assert [r.info()["knob"] for r in first.steps] == [r.info()["knob"] for r in second.steps]
    assert first.status == "optimal" or first.work >= 300


def test_held_out_families_are_feasible_models_outside_the_training_generators():
    assert not set(HELDOUT_GENERATORS) & set(GENERATORS)
    for family, kwargs in {"mknap": dict(n_items=30, n_knapsacks=3), "gap": dict(n_agents=3, n_jobs=12),
                           "maxcut": dict(n_nodes=12)}.items():
        inst = HeldOutFamilyDistribution(family, **kwargs).sample(np.random.default_rng(0))
        h = inst.to_highs(time_limit=10.0)
        h.run()
        x = np.array(h.getSolution().col_value)
        assert inst.family == family and inst.violation(x) < 1e-6


def test_suite_scoring_integrates_gaps_over_the_budget():
    from tunegym.tuning.benches.mip_suite import score

    runs = {"a": {"trace": [(0.0, 1, 10.0), (5.0, 1, 8.0)], "objective": 8.0},
            "b": {"trace": [(2.0, 1, 9.0)], "objective": 9.0}}
    scores = score(runs, 1.0, 10.0, 0)
    assert scores["a"]["final_gap"] == 0.0 and scores["b"]["final_gap"] == pytest.approx(1 / 9)
    assert scores["a"]["integral"] == pytest.approx(0.5 * 0.2)  # gap 0.2 for 5 s of 10
    assert scores["b"]["integral"] == pytest.approx(0.2 * 1.0 + 0.8 * (1 / 9))


@pytest.mark.slow
def test_the_suite_runner_writes_claims_and_a_report_at_smoke_scale(tmp_path):
    from tunegym.tuning.benches.mip_suite import run_suite
    from tunegym.tuning.suites import get_suite

    suite = get_suite("mip-deploy-heldout")
    claims = run_suite(suite, "smoke", tmp_path, final=False)
    assert claims and all(c.suite == suite.name and c.split == "dev_test" and c.n >= 1 for c in claims)
    report = json.loads((tmp_path / "mip.json").read_text())
    assert len(report["rows"]) == 3 and {"work", "wall"} <= set(report["goals"])
    for row in report["rows"]:
        for budget in ("work", "wall"):
            for method in ("highs_default", "lns_interleaved"):
                assert 0.0 <= row[budget][method]["integral"] <= 1.0
    assert "## Goals" in (tmp_path / "mip.md").read_text()
