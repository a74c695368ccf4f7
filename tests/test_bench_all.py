"""`tunegym bench all`: one command for every domain's suite, its summary, resume, final-test ledger and bands."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from tunegym.tuning.benches import all as bench_all
from tunegym.tuning.cli import main
from tunegym.tuning.stats import Claim, finalize_claims, paired_claim
from tunegym.tuning.suites import SUITES, Ledger, Suite

SUMMARY_FIELDS = {"domain", "suite", "suite_version", "split", "method", "baseline", "metric", "lower_is_better",
                  "n", "ratio", "ci_low", "ci_high", "p_value", "verdict"}


@pytest.fixture(scope="module")
def sor_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_all")
    code = main(["bench", "all", "--scale", "smoke", "--out", str(out), "--domain", "sor"])
    return code, out


@pytest.mark.slow  # one SOR smoke run: about 12 s on an idle core
def test_sor_smoke_writes_summary_report_and_plot_inside_its_bands(sor_smoke):
    code, out = sor_smoke
    assert code == 0  # every SOR smoke claim lies inside the committed bands
    summary = json.loads((out / "summary.json").read_text())
    assert {c["domain"] for c in summary} == {"sor"} and len(summary) == 4
    for claim in summary:
        assert SUMMARY_FIELDS <= set(claim)
        assert claim["split"] == "dev_test" and claim["suite"] == "sor-setting-a" and claim["n"] == 10
        assert claim["ci_low"] <= claim["ratio"] <= claim["ci_high"]
    verdicts = {(c["method"], c["baseline"]): c["verdict"] for c in summary}
    assert verdicts[("spectral", "best_fixed")] == "win" and verdicts[("spectral", "chebcb")] == "win"
    report = (out / "sor" / "sor.md").read_text()
    for needle in ("tunegym bench all --scale smoke", "commit `", "scale `smoke`", " s · ", "Holm"):
        assert needle in report, needle
    assert (out / "sor" / "sor_sweeps.png").read_bytes()[:4] == b"\x89PNG"
    payload = json.loads((out / "sor" / "sor.json").read_text())
    families = payload["per_sequence"]
    assert set(families) == {"high", "low"} and len(families["high"]["spectral"]) == 5
    assert payload["config"]["test_seeds"] == [100, 101, 102, 103, 104]  # dev-test, never final-test
    assert not (out / "final_test_ledger.jsonl").exists()


@pytest.mark.slow
def test_tune_phase_sees_exactly_the_systems_it_names(sor_smoke):
    # best_fixed is the argmin of the arm costs measured on the tune systems, and the learners saw the same.
    _, out = sor_smoke
    tune = json.loads((out / "sor" / "sor.json").read_text())["tune"]
    for family in ("high", "low"):
        costs = tune[family]["arm_costs"]
        assert tune[family]["best_arm"] == int(np.argmin(costs)) and len(costs) == 20


@pytest.mark.slow  # one SOR smoke run
def test_a_random_spectral_agent_leaves_the_bands(tmp_path, monkeypatch, capsys):
    # The regression guard can fail: replace the spectral agent by a uniformly random arm and the smoke run
    # exits 1 with one line per violated band.
    import tunegym.agents.registry as registry

    real = registry.make_agent

    class RandomArm:
        def __init__(self, env):
            self.rng, self.n = np.random.default_rng(0), int(env.action_space.n)

        def learn(self, env, total_timesteps, **kwargs):
            return self

        def predict(self, obs, deterministic=True):
            return int(self.rng.integers(self.n)), None

    monkeypatch.setattr(registry, "make_agent",
                        lambda name, env, *a, **k: RandomArm(env) if name == "spectral" else real(name, env, *a, **k))
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path), "--domain", "sor"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("band violation")]
    assert len(lines) == 4 and all("outside band" in line for line in lines)


# ---- the registry: missing, failing and fake runners ------------------------------------------------------

def _fake_suite(name="fake-suite", bands=None):
    return Suite.from_dict({
        "name": name, "version": 3, "domain": "fake", "description": "a test suite",
        "instances": {"distribution": "tunegym.envs.sor.instances:ShiftedLaplacianDistribution"},
        "tune_seeds": [0, 1], "dev_test_seeds": [10, 11], "final_test_seeds": [20, 21], "methods": ["m", "b"],
        "scale": {"smoke": {}, "full": {}}, "bands": bands or {},
    })


def _claims(suite, ratio, split):
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 60, 12)
    claim = paired_claim(base * ratio, base, method_name="m", baseline_name="b", metric="cost", domain="fake",
                         suite=suite.name, suite_version=suite.version, split=split)
    return finalize_claims([claim])


@pytest.fixture
def fake_domain(monkeypatch):
    """Register domain ``fake`` with a runner module recording its calls; yields (suite, calls, set_ratio)."""
    suite = _fake_suite(bands={"m/b/cost": (0.7, 0.9)})
    monkeypatch.setitem(SUITES, suite.name, suite)
    monkeypatch.setitem(bench_all.DOMAIN_SUITES, "fake", suite.name)
    calls, state = [], {"ratio": 0.8}
    module = types.ModuleType("tunegym_fake_runner")

    def run_suite(suite_, scale, out_dir, *, final):
        calls.append((scale, final))
        seeds = suite_.seeds("final_test" if final else "dev_test", scale, final=final)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.md").write_text(f"seeds {seeds}\n" + bench_all.ledger_markdown(out_dir.parent))
        return _claims(suite_, state["ratio"], "final_test" if final else "dev_test")

    module.run_suite = run_suite
    monkeypatch.setitem(sys.modules, "tunegym_fake_runner", module)
    monkeypatch.setattr(bench_all, "DOMAIN_RUNNERS", {"fake": "tunegym_fake_runner:run_suite",
                                                      "later": "tunegym.tuning.benches.no_such_runner:run_suite"})
    return suite, calls, state


def test_a_missing_runner_is_not_available_and_the_others_still_run(tmp_path, fake_domain, capsys):
    suite, calls, _ = fake_domain
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path)]) == 0
    assert "later: not available" in capsys.readouterr().err
    assert calls == [("smoke", False)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [c["domain"] for c in summary] == ["fake"]
    assert "| later | not available" in (tmp_path / "summary.md").read_text()


def test_a_claim_outside_its_band_fails_the_smoke_run_with_one_line(tmp_path, fake_domain, capsys):
    _, _, state = fake_domain
    state["ratio"] = 0.5
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path), "--domain", "fake"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("band violation")]
    assert err == ["band violation: fake: m/b/cost: ratio 0.5 outside band [0.7, 0.9] of fake-suite@v3"]
    # Full scale is not checked against the smoke bands.
    assert main(["bench", "all", "--scale", "full", "--out", str(tmp_path / "full"), "--domain", "fake"]) == 0


def test_resume_reuses_a_finished_domain_only_at_the_same_scale_and_split(tmp_path, fake_domain):
    _, calls, _ = fake_domain
    argv = ["bench", "all", "--scale", "full", "--out", str(tmp_path), "--domain", "fake"]
    assert main(argv) == 0 and main(argv + ["--resume"]) == 0
    assert calls == [("full", False)]  # the second run reused DIR/fake/claims.json
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path), "--domain", "fake", "--resume"]) == 0
    assert calls == [("full", False), ("smoke", False)]
    (tmp_path / "fake" / "claims.json").write_text("{torn")  # a killed writer's leftovers are not trusted
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path), "--domain", "fake", "--resume"]) == 0
    assert len(calls) == 3


def test_final_reads_final_test_only_on_purpose_and_logs_each_use(tmp_path, fake_domain):
    suite, calls, _ = fake_domain
    argv = ["bench", "all", "--scale", "full", "--out", str(tmp_path), "--domain", "fake"]
    assert main(argv) == 0
    assert Ledger(tmp_path).entries() == [] and "seeds (10, 11)" in (tmp_path / "fake" / "report.md").read_text()
    assert main(argv + ["--final"]) == 0 and main(argv + ["--final"]) == 0
    entries = Ledger(tmp_path).entries()
    assert [(e.suite, e.version, e.methods) for e in entries] == [(suite.name, 3, ("m", "b"))] * 2
    assert all(len(e.commit) >= 7 and e.date for e in entries)
    report = (tmp_path / "fake" / "report.md").read_text()
    assert "seeds (20, 21)" in report and report.count("fake-suite@v3") == 2  # the report prints the ledger
    assert "Final-test ledger" in (tmp_path / "summary.md").read_text()
    assert {c["split"] for c in json.loads((tmp_path / "summary.json").read_text())} == {"final_test"}
    assert calls[-1] == ("full", True)


def test_a_failing_runner_is_reported_and_fails_the_run(tmp_path, fake_domain, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("solver exploded")

    sys.modules["tunegym_fake_runner"].run_suite = boom
    assert main(["bench", "all", "--scale", "smoke", "--out", str(tmp_path)]) == 1
    assert "fake: FAILED: RuntimeError: solver exploded" in capsys.readouterr().err
    assert "| fake | failed: RuntimeError: solver exploded" in (tmp_path / "summary.md").read_text()


def test_unknown_domain_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "all", "--out", str(tmp_path), "--domain", "nope"]) == 2
    assert "unknown domain" in capsys.readouterr().err


def test_hpo_runner_makes_paired_claims_against_random_search(tmp_path, monkeypatch):
    import tunegym.tuning.benches.hpo as hpo

    scores = {"task-a": {"random": [1.0, 2.0, 3.0], "tpe": [0.5, 1.0, 1.5]},
              "task-b": {"random": [-1.0, 0.0, 1.0], "tpe": [-2.0, -1.0, 0.0]}}

    def fake_suite(scale, out, methods=(), runs=None, **kwargs):
        return {"scores": {t: {m: scores[t][m] for m in ("random", "tpe")} for t in scores}, "lower_is_better": True}

    monkeypatch.setattr(hpo, "run_hpo_suite", fake_suite)
    monkeypatch.setattr(bench_all, "HPO_SMOKE_METHODS", ("random", "tpe"))
    claims = bench_all.run_hpo_runner(None, "smoke", tmp_path, final=False)
    (claim,) = claims
    assert isinstance(claim, Claim) and (claim.method, claim.baseline, claim.n) == ("tpe", "random", 6)
    assert claim.shift == 3.0 and claim.ratio < 1.0  # scores reach -2: shifted to be positive, published
    assert "tpe" in (tmp_path / "claims.md").read_text()
    with pytest.raises(Exception, match="no final-test split"):
        bench_all.run_hpo_runner(None, "smoke", tmp_path, final=True)


def test_reports_name_the_commit_a_run_started_at(tmp_path, fake_domain, monkeypatch):
    """A long run must not label its results with whatever HEAD is when it ends."""
    import tunegym.tuning.suites as suites

    suite, _, _ = fake_domain
    commits = iter(["a" * 40, "b" * 40, "c" * 40, "d" * 40])
    monkeypatch.setattr(suites, "git_commit", lambda cwd=None: next(commits))
    headers = []

    def run_suite(suite_, scale, out_dir, *, final):
        headers.append(bench_all.report_header(suite_, scale, 1.0, final=final)["commit"])
        return _claims(suite_, 0.8, "dev_test")

    sys.modules["tunegym_fake_runner"].run_suite = run_suite
    assert main(["bench", "all", "--scale", "full", "--out", str(tmp_path), "--domain", "fake"]) == 0
    assert headers == ["a" * 40]
    assert f"commit `{'a' * 12}`" in (tmp_path / "summary.md").read_text()
