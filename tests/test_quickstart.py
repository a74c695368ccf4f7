"""The README's main job: `tunegym quickstart` trains a tuner and reports it against the baselines."""

from __future__ import annotations

import json

from tunegym.tuning.cli import main


def test_quickstart_learned_tuner_beats_gauss_seidel_on_test_seeds(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--steps", "600", "--seeds", "tune=0,test=100-101", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "chebcb (learned)" in printed and "grid oracle" in printed
    assert f"wrote {out / 'quickstart.md'}" in printed  # says where the results went
    payload = json.loads((out / "quickstart.json").read_text())
    assert payload["test_seeds"] == [100, 101] and payload["train_seed"] == 0 and "versions" in payload
    costs = {r["method"]: r["mean_cost"] for r in payload["results"]}
    assert costs["chebcb (learned)"] < 0.3 * costs["omega=1 (Gauss-Seidel)"]
    # Within 15% of the per-instance grid oracle (measured 62.8 vs 60.2 sweeps). "oracle <= 1.05 x learned" held
    # by construction; this fails for the best constant omega (about 1.8 x the oracle on high variance) and for
    # a uniformly random arm (about 4.5 x).
    assert costs["chebcb (learned)"] <= 1.15 * costs["grid oracle"], costs
    assert "grid oracle" in (out / "quickstart.md").read_text()
    assert (out / "quickstart.png").read_bytes()[:4] == b"\x89PNG"


def test_quickstart_shows_progress_with_the_running_mean_cost(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # tqdm draws only on a terminal
    assert main(["quickstart", "--steps", "120", "--seeds", "test=100", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "120/120" in err and "mean_cost=" in err


def test_quickstart_old_flags_still_work_with_a_deprecation_line(tmp_path, capsys):
    legacy = tmp_path / "legacy.json"
    assert main(["quickstart", "--steps", "60", "--test-seeds", "1", "--seed", "2", "--json", str(legacy),
                 "--out", str(tmp_path / "qs"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("is deprecated") == 3
    payload = json.loads(legacy.read_text())
    assert payload["test_seeds"] == [100] and payload["train_seed"] == 2
