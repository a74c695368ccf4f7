"""The MIP deploy path end to end: ``LNSSolver`` and ``tunegym mip solve`` on files, time limits, bad models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunegym.agents.lns_solver import LNSSolver
from tunegym.envs.core.errors import CheckpointError
from tunegym.envs.mip.instances import (
    GENERATORS, InfeasibleModelError, MalformedModelError, NoIntegerVariablesError, UnboundedRelaxationError,
    load_model,
)
from tunegym.tuning.cli import main

BAD_MODELS = {
    "malformed.mps": ("NAME broken\nROWS\n this is not MPS\n", MalformedModelError),
    "infeasible.lp": ("Minimize\n obj: x\nSubject To\n c1: x >= 5\n c2: x <= 2\nGeneral\n x\nEnd\n",
                      InfeasibleModelError),
    "unbounded.lp": ("Minimize\n obj: - x\nSubject To\n c1: x >= 1\nBounds\n x >= 0\nGeneral\n x\nEnd\n",
                     UnboundedRelaxationError),
    "lp_only.lp": ("Minimize\n obj: x + y\nSubject To\n c1: x + y >= 1.5\nBounds\n x <= 3\n y <= 3\nEnd\n",
                   NoIntegerVariablesError),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_bad_models_give_typed_errors_in_python_and_exit_2_on_the_cli(tmp_path, name, capsys):
    text, error = BAD_MODELS[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(error):
        LNSSolver().solve(path, time_limit=1.0)
    out = tmp_path / "sol.json"
    assert main(["mip", "solve", str(path), "--time-limit", "1", "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


def test_time_limit_covers_the_start_and_lp_on_a_file_without_a_trivial_point(tmp_path):
    # A file has no generator point: the start is a HiGHS run, which must stay inside the limit too.
    inst = GENERATORS["facility"](np.random.default_rng(0), n_customers=120, n_facilities=60)
    path = tmp_path / "facility.mps"
    inst.to_highs().writeModel(str(path))
    sol = LNSSolver(seed=0).solve(path, time_limit=1.0)
    assert sol.wall_time < 2.0  # one HiGHS call may overrun its own limit by a little (shared machine)
    if sol.status != "no_solution":
        loaded = load_model(path, check=False)
        x = np.array([sol.values[n] for n in loaded.names()])
        assert loaded.violation(x) < 1e-6


@pytest.mark.slow
def test_solver_accepts_a_highs_model_and_returns_a_feasible_never_worsening_trace():
    inst = GENERATORS["indset"](np.random.default_rng(2), n_nodes=300)
    highs = inst.to_highs()  # the model in minimisation form: min -sum(x)
    sol = LNSSolver(seed=0).solve(highs, time_limit=5.0, max_iterations=30)
    assert sol.status in ("optimal", "improved", "feasible") and sol.iterations <= 30
    x = np.array([sol.values[f"x{j}"] if f"x{j}" in sol.values else sol.values[n]
                  for j, n in enumerate(inst.names())])
    assert inst.violation(x) < 1e-6 and inst.objective(x) == pytest.approx(sol.objective)
    assert sol.trace[-1][1] == pytest.approx(sol.objective)
    assert all(b[1] <= a[1] for a, b in zip(sol.trace, sol.trace[1:]))  # minimisation: never worse


def test_pretrained_mip_lns_is_a_real_policy_file_and_drives_the_cli(tmp_path, capsys):
    from tunegym.agents.deeprl.policy import SB3Policy
    from tunegym.agents.tuners import load_tuner

    policy = load_tuner("pretrained:mip-lns")
    assert isinstance(policy, SB3Policy) and policy.env_id == "tunegym/MIPLNS-v0"
    inst = GENERATORS["auction"](np.random.default_rng(0), n_items=40, n_bids=150)
    model, out = tmp_path / "auction.mps", tmp_path / "sol.json"
    inst.to_highs().writeModel(str(model))
    assert main(["mip", "solve", str(model), "--tuner", "pretrained:mip-lns", "--time-limit", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "status:" in printed and "objective:" in printed and "gap" in printed
    payload = json.loads(out.read_text())
    loaded = load_model(model)
    assert loaded.violation(np.array([payload["values"][n] for n in loaded.names()])) < 1e-6


def test_missing_pretrained_file_is_a_clear_error(monkeypatch, tmp_path):
    import tunegym.agents.tuners as tuners

    monkeypatch.setattr(tuners, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="mip-lns"):
        LNSSolver("pretrained:mip-lns")


def test_a_tuner_of_another_domain_is_refused_in_one_typed_line(tmp_path, capsys):
    from tunegym.envs.core.errors import TunerMismatchError

    with pytest.raises(TunerMismatchError, match="LNSSolver needs a 'mip' tuner; this is a 'sor' tuner"):
        LNSSolver("pretrained:sor-ppo")
    inst = GENERATORS["auction"](np.random.default_rng(0), n_items=40, n_bids=150)
    model = tmp_path / "auction.mps"
    inst.to_highs().writeModel(str(model))
    assert main(["solve", "mip", str(model), "--tuner", "pretrained:sor-ppo", "--time-limit", "1"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1 and "LNSSolver needs a 'mip' tuner; this is a 'sor' tuner trained on tunegym/SOR-v0" in err[0]


def test_solver_features_follow_the_tuner_file_not_fixed_settings():
    from tunegym.agents.tuner import as_tuner
    from tunegym.agents.tuners import load_tuner

    solver = LNSSolver("pretrained:mip-lns")
    expected = as_tuner(load_tuner("pretrained:mip-lns"))
    assert solver.tuner.features_config == expected.features_config
    assert solver.tuner.make_features().max_steps == 20 and solver.destroy_rate == 0.5
    assert solver.tuner.reward_config["name"] == "mip.improvement" and not solver.learn
    default = LNSSolver()
    assert default.tuner.reward_config == {"name": "mip.graded", "params": {"levels": [8.0, 4.0, 2.0, 1.0]}}
    assert default.tuner.policy.algorithm == "softmax" and default.learn


def test_mip_baselines_run_through_the_evaluation_loop():
    from tunegym.agents.baselines import baselines_for
    from tunegym.tuning.evaluation import evaluate_methods

    import gymnasium as gym

    env = gym.make("tunegym/MIPLNS-v0", max_steps=4)
    makers = baselines_for(env)
    assert {"random operator", "fixed best single operator (crossover)", "Balans Softmax, graded [8,4,2,1]",
            "per-instance oracle"} <= set(makers)
    makers.pop("per-instance oracle")  # 9 replays per instance: covered by the core's tests
    results = evaluate_methods("tunegym/MIPLNS-v0", makers, [100, 101], env_kwargs={"max_steps": 4})
    assert all(len(r.mean_cost) == 2 and np.isfinite(r.cost) for r in results)
    again = evaluate_methods("tunegym/MIPLNS-v0", makers, [100, 101], env_kwargs={"max_steps": 4})
    assert [r.returns for r in results] == [r.returns for r in again]
