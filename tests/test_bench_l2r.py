"""`tunegym bench learning-to-relax` writes its results with provenance, and the oracles bound every method."""

from __future__ import annotations

import json

import pytest

from tunegym.tuning.cli import main


def test_setting_a_bench_writes_schema_and_spectral_beats_the_best_constant_in_hindsight(tmp_path, capsys):
    out = tmp_path / "l2r"
    code = main(["bench", "learning-to-relax", "--variance", "low", "--length", "200", "--seeds", "3",
                 "--methods", "omega=1,best_fixed,chebcb,spectral,young,oracle,oracle_fine", "--out", str(out)])
    assert code == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["seeds"] == [3] and payload["config"]["variance"] == "low" and "numpy" in payload["versions"]
    methods = payload["methods"]
    assert set(methods) == {"omega=1", "best_fixed", "chebcb", "spectral", "young", "oracle", "oracle_fine"}
    for entry in methods.values():
        assert entry["ci95"][0] <= entry["mean_iterations"] <= entry["ci95"][1]
        assert len(entry["per_seed"]) == 1
    means = {name: entry["mean_iterations"] for name, entry in methods.items()}
    # "The oracle is a lower bound" held by construction. Instead: the online spectral agent, exploration
    # included, beats the best constant omega *in hindsight* by 7% (measured: 53.9 vs 62.3 sweeps, so every
    # constant knob fails this, and a uniformly random arm, about 130, fails it twice over), and Young's rule
    # lands within 5% of the fine per-instance optimum (measured 42.5 vs 41.8; a wrong omega* formula fails).
    assert means["spectral"] < 0.93 * means["best_fixed"], means
    assert means["young"] <= 1.05 * means["oracle_fine"], means
    assert (out / "results.md").read_text().count("|") > 20 and (out / "cumulative.png").stat().st_size > 1000


def test_heat_bench_runs_and_unknown_method_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "heat"
    assert main(["bench", "learning-to-relax", "--setting", "heat", "--length", "25", "--seeds", "0",
                 "--methods", "omega=1,chebcb,oracle", "--out", str(out)]) == 0
    methods = json.loads((out / "results.json").read_text())["methods"]
    assert methods["oracle"]["mean_iterations"] <= methods["omega=1"]["mean_iterations"]
    capsys.readouterr()
    assert main(["bench", "learning-to-relax", "--methods", "nope", "--out", str(out)]) == 2
    assert "unknown method" in capsys.readouterr().err


@pytest.mark.parametrize("length", ["0", "-5"])
def test_bench_rejects_a_bad_length(tmp_path, length):
    assert main(["bench", "learning-to-relax", "--length", length, "--out", str(tmp_path)]) == 2
