"""``tunegym bench mip``: a smoke run writes a scored report, and separate runs merge onto one reference."""

from __future__ import annotations

import json

import pytest

from tunegym.envs.core.errors import ConfigError
from tunegym.tuning.cli import main


def _bench(out, methods):
    assert main(["bench", "mip", "--smoke", "--families", "setcover", "--methods", methods, "--out", str(out)]) == 0
    return json.loads((out / "mip.json").read_text())


@pytest.mark.slow
def test_smoke_runs_merge_onto_one_reference(tmp_path):
    first = _bench(tmp_path / "a", "highs_default,random_operator")
    second = _bench(tmp_path / "b", "ours_ucb1")
    for report in (first, second):
        for runs in report["results"]["setcover"].values():
            assert all(0.0 <= r["final_gap"] <= 1.0 and r["primal_integral"] >= 0.0 for r in runs)
    assert main(["bench", "mip", "--merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")]) == 0
    merged = json.loads((tmp_path / "m" / "mip.json").read_text())
    methods = merged["results"]["setcover"]
    assert sorted(methods) == ["highs_default", "ours_ucb1", "random_operator"]
    best = min(v for runs in methods.values() for r in runs for _, v in r["trace"])
    assert all(r["reference"] == best for runs in methods.values() for r in runs)
    assert (tmp_path / "m" / "mip.md").read_text().count("| setcover |") == 3


def test_merge_refuses_unreadable_input(tmp_path):
    from tunegym.tuning.benches.mip import merge

    with pytest.raises(ConfigError, match="cannot read"):
        merge([str(tmp_path / "missing")], tmp_path / "out")
