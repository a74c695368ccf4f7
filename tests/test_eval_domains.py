"""``tunegym eval`` on a run of each domain prints the learned policy beside that domain's baselines, in the
domain's cost unit (read from the info contract, never from -reward)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CASES = [
    # env id, env kwargs, --baselines, the domain's own baseline that must be printed, cost unit
    ("tunegym/SOR-v0", {}, "all", "Young ω*", "sor_sweeps"),
    ("tunegym/ODEStep-v0", {}, "all", "PI controller", "rhs_evaluations"),
    ("tunegym/LRSchedule-v0", {}, "constant,cosine", "tuned cosine", "optimizer_steps"),
    ("tunegym/MIPLNS-v0", {"max_steps": 3}, "random,single,softmax", "random operator", "sub_mip_nodes"),
]


@pytest.mark.slow
@pytest.mark.parametrize("env_id,env_kwargs,baselines,expected,unit", CASES, ids=[c[0] for c in CASES])
def test_eval_prints_the_domains_baselines_in_its_cost_unit(tmp_path, env_id, env_kwargs, baselines, expected, unit):
    cli = [sys.executable, "-m", "tunegym.tuning.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    train = subprocess.run(cli + ["train", "--env", env_id, "--agent", "ucb1", "--steps", "30", "--out", str(run),
                                  "--env-kwargs", json.dumps(env_kwargs)],
                           env=env, capture_output=True, text=True, timeout=900)
    assert train.returncode == 0, train.stderr
    evaluation = subprocess.run(cli + ["eval", "--run", str(run), "--seeds", "100-101", "--max-steps", "4",
                                       "--baselines", baselines, "--json"],
                                env=env, capture_output=True, text=True, timeout=900)
    assert evaluation.returncode == 0, evaluation.stderr
    report = json.loads(evaluation.stdout)
    methods = [r["method"] for r in report["results"]]
    assert methods[0] == "ucb1 (trained)"
    assert any(expected.lower() in m.lower() for m in methods), methods
    assert len(methods) >= 3  # the learned policy and at least two baselines
    assert {r["cost_unit"] for r in report["results"]} == {unit}
