"""Suites: disjoint seed splits, the final-test guard, the registry, regression bands and the ledger."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tunegym.envs.core.errors import CheckpointError, ConfigError, SeedLeakError
from tunegym.tuning.seeds import SeedSplit
from tunegym.tuning.stats import Claim
from tunegym.tuning.suites import (
    LEDGER_FILENAME,
    SUITES,
    Ledger,
    Suite,
    check_bands,
    get_suite,
    git_commit,
    register_suite,
)


def spec(**overrides) -> dict:
    base = {
        "name": "toy-suite",
        "version": 2,
        "domain": "sor",
        "description": "a toy suite for tests",
        "instances": {"distribution": "tunegym.envs.sor.instances:ShiftedLaplacianDistribution",
                      "params": {"grid": 4}, "families": {"high": {"variance": "high"}, "low": {"variance": "low"}}},
        "tune_seeds": range(0, 4),
        "dev_test_seeds": range(10, 20),
        "final_test_seeds": range(100, 130),
        "methods": ("fixed", "learned"),
        "scale": {"smoke": {"tune": 1, "dev_test": 3, "final_test": 5, "length": 8},
                  "full": {"length": 100}},
        "bands": {"learned/fixed/cost": (0.7, 0.95)},
    }
    base.update(overrides)
    return base


def claim(ratio: float, *, suite: str = "toy-suite", version: int = 2, method: str = "learned") -> Claim:
    return Claim(domain="sor", suite=suite, suite_version=version, split="dev_test", method=method,
                 baseline="fixed", metric="cost", lower_is_better=True, n=5, ratio=ratio, ci_low=ratio - 0.05,
                 ci_high=ratio + 0.05, p_value=0.01, verdict="win")


# --- construction ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"dev_test_seeds": range(3, 8)}, "tune and dev_test seeds overlap: \\[3\\]"),
        ({"final_test_seeds": [19, 200]}, "dev_test and final_test seeds overlap: \\[19\\]"),
        ({"final_test_seeds": [0]}, "tune and final_test seeds overlap"),
        ({"tune_seeds": []}, "tune seeds are empty"),
        ({"tune_seeds": [1, 1]}, "repeat"),
        ({"version": 0}, "version"),
        ({"name": "Bad Name"}, "slug"),
        ({"scale": {"smoke": {}}}, "missing \\['full'\\]"),
        ({"scale": {"smoke": {"dev_test": 11}, "full": {}}}, "dev_test seeds"),
        ({"bands": {"a/b/c": (1.2, 0.8)}}, "band"),
        ({"instances": {"distribution": "no-colon"}}, "module:Class"),
        ({"methods": ()}, "methods"),
        ({"colour": "blue"}, "unknown keys"),
    ],
)
def test_malformed_specs_are_refused_with_the_cause(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Suite.from_dict(spec(**overrides))


def test_seed_lists_accept_ranges_lists_and_strings():
    suite = Suite.from_dict(spec(tune_seeds="0-3", dev_test_seeds=[10, 11, 12], final_test_seeds=range(100, 105)))
    assert suite.tune_seeds == (0, 1, 2, 3)
    assert suite.dev_test_seeds == (10, 11, 12)
    assert suite.final_test_seeds == (100, 101, 102, 103, 104)


# --- seeds and the final-test guard ---------------------------------------------------------------------

def test_scale_picks_the_first_seeds_of_each_split():
    suite = Suite.from_dict(spec())
    assert suite.seeds("tune", "smoke") == (0,)
    assert suite.seeds("dev_test", "smoke") == (10, 11, 12)
    assert suite.seeds("dev_test", "full") == tuple(range(10, 20))  # full names no count: all of them
    assert suite.seeds("final_test", "smoke", final=True) == tuple(range(100, 105))
    assert suite.size("length", "smoke") == 8 and suite.size("length") == 100


def test_final_test_seeds_need_final_true():
    suite = Suite.from_dict(spec())
    with pytest.raises(SeedLeakError, match="final=True"):
        suite.seeds("final_test")
    with pytest.raises(SeedLeakError):
        suite.seed_split(test_split="final_test")
    assert suite.seed_split("smoke") == SeedSplit(tune=(0,), test=(10, 11, 12))
    assert suite.seed_split("smoke", test_split="final_test", final=True).test == tuple(range(100, 105))


def test_unknown_split_scale_or_size_is_a_config_error():
    suite = Suite.from_dict(spec())
    for call in (lambda: suite.seeds("train"), lambda: suite.seeds("tune", "huge"),
                 lambda: suite.size("budget", "smoke")):
        with pytest.raises(ConfigError):
            call()


def test_suite_round_trips_through_json():
    suite = Suite.from_dict(spec())
    assert Suite.from_dict(json.loads(json.dumps(suite.to_dict()))) == suite


# --- registry and the SOR example -----------------------------------------------------------------------

def test_sor_setting_a_is_registered_with_disjoint_splits_and_enough_final_instances():
    suite = get_suite("sor-setting-a", version=1)
    assert suite.domain == "sor" and suite.key == "sor-setting-a@v1"
    assert suite.seeds("tune") == tuple(range(0, 10))
    assert suite.seeds("dev_test") == tuple(range(100, 150))
    final = suite.seeds("final_test", final=True)
    assert final == tuple(range(1000, 1200)) and len(final) >= 100
    assert len(suite.seeds("dev_test", "smoke")) < len(suite.seeds("dev_test", "full"))
    assert set(suite.families()) == {"high", "low"}


def test_sor_setting_a_builds_its_two_shifted_laplacian_families():
    from tunegym.envs.sor.instances import ShiftedLaplacianDistribution

    distributions = get_suite("sor-setting-a").make_distributions()
    assert {name: type(d) for name, d in distributions.items()} == {
        "high": ShiftedLaplacianDistribution, "low": ShiftedLaplacianDistribution}
    assert distributions["high"].beta == (0.5, 1.5) and distributions["low"].beta == (2.0, 6.0)


def test_registry_refuses_a_second_suite_of_the_same_name_and_unknown_names():
    with pytest.raises(ConfigError, match="already registered"):
        register_suite(spec(name="sor-setting-a", version=9))
    with pytest.raises(ConfigError, match="unknown suite"):
        get_suite("no-such-suite")
    with pytest.raises(ConfigError, match="version 1, not 2"):
        get_suite("sor-setting-a", version=2)
    assert "sor-setting-a" in SUITES


# --- regression bands -----------------------------------------------------------------------------------

def test_check_bands_flags_ratios_outside_the_committed_band():
    suite = Suite.from_dict(spec())
    assert check_bands([claim(0.8)], suite) == []
    assert check_bands([claim(0.7)], suite) == []  # the band is closed
    [violation] = check_bands([claim(0.99)], suite)
    assert "learned/fixed/cost" in violation and "0.99" in violation and "toy-suite@v2" in violation


def test_check_bands_flags_a_missing_claim_and_a_claim_of_another_version():
    suite = Suite.from_dict(spec())
    assert len(check_bands([claim(0.8, method="other")], suite)) == 1  # the banded claim is missing
    violations = check_bands([claim(0.8), claim(0.8, version=1)], suite)
    assert len(violations) == 1 and "@v1" in violations[0]
    assert check_bands([claim(0.8), claim(5.0, suite="elsewhere")], suite) == []


# --- final-test ledger ----------------------------------------------------------------------------------

def test_ledger_records_each_final_test_use(tmp_path):
    ledger = Ledger(tmp_path)
    suite = Suite.from_dict(spec())
    assert ledger.entries() == []
    ledger.record(suite, ["fixed", "learned"], commit="a" * 40, date="2025-01-01T00:00:00+00:00",
                  claims=[claim(0.8)])
    ledger.record(get_suite("sor-setting-a"), ["young"], commit="b" * 40, date="2025-01-02T00:00:00+00:00")
    lines = (tmp_path / LEDGER_FILENAME).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["suite"] == "toy-suite"
    first, second = ledger.entries()
    assert (first.suite, first.version, first.methods, first.commit) == ("toy-suite", 2, ("fixed", "learned"), "a" * 40)
    assert first.claims[0]["ratio"] == 0.8
    assert [e.suite for e in ledger.uses("sor-setting-a")] == ["sor-setting-a"]
    assert ledger.uses("toy-suite", 1) == [] and len(ledger.uses("toy-suite", 2)) == 1
    table = ledger.markdown().splitlines()
    assert len(table) == 4 and "toy-suite@v2" in table[2] and "`aaaaaaaaaaaa`" in table[2]


def test_ledger_defaults_commit_to_git_head_and_date_to_now(tmp_path):
    entry = Ledger(tmp_path).record(Suite.from_dict(spec()), ["learned"])
    assert entry.commit == git_commit()
    assert entry.date.startswith("20") and entry.date.endswith("+00:00")


def test_git_commit_is_head_inside_git_and_unknown_outside(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                          cwd=tmp_path.parent)
    assert git_commit(tmp_path) == (head.stdout.strip() if head.returncode == 0 else "unknown")
    assert git_commit(tmp_path / "missing") == "unknown"


def test_concurrent_records_lose_no_line(tmp_path):
    ledger = Ledger(tmp_path)
    suite = Suite.from_dict(spec())

    def write(worker: int) -> None:
        for i in range(20):
            ledger.record(suite, [f"w{worker}-{i}"], commit="c" * 40, date="2025-01-01")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.methods[0] for e in ledger.entries()) == sorted(f"w{w}-{i}" for w in range(4) for i in range(20))


def test_a_torn_line_is_reported_not_skipped_and_later_records_stay_readable(tmp_path):
    ledger = Ledger(tmp_path)
    suite = Suite.from_dict(spec())
    ledger.record(suite, ["a"], commit="c" * 40, date="d")
    with open(tmp_path / LEDGER_FILENAME, "ab") as handle:
        handle.write(b'{"suite": "toy-su')  # a crash mid-write
    ledger.record(suite, ["b"], commit="c" * 40, date="d")
    lines = (tmp_path / LEDGER_FILENAME).read_text().splitlines()
    assert json.loads(lines[-1])["methods"] == ["b"]
    with pytest.raises(CheckpointError, match=f"{LEDGER_FILENAME}:2"):
        ledger.entries()
