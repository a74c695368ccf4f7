"""The README's main job: `tunegym quickstart` trains a tuner and reports it against the baselines."""

from __future__ import annotations

import json

from tunegym.tuning.cli import main


def test_quickstart_learned_tuner_beats_gauss_seidel_on_test_seeds(tmp_path, capsys):
    out = tmp_path / "quickstart.json"
    assert main(["quickstart", "--steps", "600", "--test-seeds", "2", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "chebcb (learned)" in table and "grid oracle" in table
    payload = json.loads(out.read_text())
    assert payload["test_seeds"] == [100, 101] and payload["train_seed"] == 0 and "versions" in payload
    costs = {r["method"]: r["mean_cost"] for r in payload["results"]}
    assert costs["chebcb (learned)"] < 0.3 * costs["omega=1 (Gauss-Seidel)"]
    assert costs["grid oracle"] <= costs["chebcb (learned)"] * 1.05
