"""Paired claims: ratios, stratified bootstrap CIs, Wilcoxon p, Holm's correction and verdicts.

Expected values are computed by hand in the comments, not by re-running the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunegym.envs.core.errors import ConfigError
from tunegym.tuning.stats import (
    Claim,
    bootstrap_within_strata,
    claims_from_json,
    claims_to_json,
    claims_to_markdown,
    finalize_claims,
    holm,
    iqm,
    paired_claim,
    paired_ratios,
    verdict,
    wilcoxon_p_value,
)

CLAIM_FIELDS = {
    "domain", "suite", "suite_version", "split", "method", "baseline", "metric", "lower_is_better", "n",
    "ratio", "ci_low", "ci_high", "p_value", "verdict",
}


def noisy_pairs(factor: float, n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Baseline costs spread over two orders of magnitude; the method is ``factor`` times them, ±5% noise."""
    rng = np.random.default_rng(seed)
    baseline = np.exp(rng.uniform(0.0, np.log(100.0), n))
    method = baseline * factor * np.exp(rng.normal(0.0, 0.05, n))
    return method, baseline


def make_claim(ratio: float, ci_low: float, ci_high: float, p_value: float, lower_is_better: bool = True) -> Claim:
    return Claim(domain="sor", suite="s", suite_version=1, split="dev_test", method="m", baseline="b",
                 metric="cost", lower_is_better=lower_is_better, n=10, ratio=ratio, ci_low=ci_low,
                 ci_high=ci_high, p_value=p_value, verdict="tie")


# --- paired_ratios ---------------------------------------------------------------------------------------

def test_paired_ratios_divide_instance_by_instance_after_the_shift():
    assert paired_ratios([2.0, 3.0], [4.0, 3.0]).tolist() == [0.5, 1.0]
    # (0 + 1) / (3 + 1) = 0.25 and (1 + 1) / (1 + 1) = 1: a shift makes a zero gap comparable.
    assert paired_ratios([0.0, 1.0], [3.0, 1.0], shift=1.0).tolist() == [0.25, 1.0]


@pytest.mark.parametrize(
    "method, baseline, shift, message",
    [
        ([1.0, 2.0], [1.0], 0.0, "equal lengths"),
        ([1.0, float("nan")], [1.0, 2.0], 0.0, "NaN"),
        ([1.0, 2.0], [0.0, 2.0], 0.0, "positive after shift"),
        ([1.0, -0.5], [1.0, 2.0], 0.5, "positive after shift"),
        ([], [], 0.0, "empty"),
    ],
)
def test_paired_ratios_reject_values_a_ratio_cannot_describe(method, baseline, shift, message):
    with pytest.raises(ConfigError, match=message):
        paired_ratios(method, baseline, shift)


# --- verdicts on data -----------------------------------------------------------------------------------

def test_method_ten_percent_cheaper_on_100_noisy_instances_is_a_win():
    method, baseline = noisy_pairs(0.9)
    claim = paired_claim(method, baseline, n_boot=1000)
    assert claim.n == 100
    assert claim.ratio == pytest.approx(0.9, abs=0.02)
    assert claim.ci_high < 1.0
    assert claim.p_value < 1e-6
    assert claim.prob_improvement > 0.95
    assert claim.verdict == "win"


def test_identical_results_are_a_tie_with_p_one():
    _, baseline = noisy_pairs(1.0)
    claim = paired_claim(baseline, baseline.copy(), n_boot=200)
    assert claim.ratio == 1.0 and (claim.ci_low, claim.ci_high) == (1.0, 1.0)
    assert claim.p_value == 1.0
    assert claim.prob_improvement == 0.5
    assert claim.verdict == "tie"


def test_method_ten_percent_costlier_is_a_loss():
    method, baseline = noisy_pairs(1.1, seed=3)
    claim = paired_claim(method, baseline, n_boot=1000)
    assert claim.ci_low > 1.0 and claim.p_value < 1e-6
    assert claim.verdict == "loss"


def test_higher_is_better_flips_the_direction_of_a_win():
    method, baseline = noisy_pairs(1.1, seed=4)  # 10% more reward
    claim = paired_claim(method, baseline, lower_is_better=False, n_boot=500, metric="return")
    assert claim.verdict == "win" and claim.prob_improvement > 0.95


def test_pure_noise_is_a_tie():
    method, baseline = noisy_pairs(1.0, n=30, seed=5)
    claim = paired_claim(method, baseline, n_boot=1000)
    assert claim.ci_low <= 1.0 <= claim.ci_high
    assert claim.verdict == "tie"


@pytest.mark.parametrize("factor, seed", [(0.9, 0), (1.0, 1), (1.2, 2), (0.97, 7)])
def test_ci_contains_the_reported_ratio(factor, seed):
    method, baseline = noisy_pairs(factor, n=40, seed=seed)
    claim = paired_claim(method, baseline, n_boot=500, seed=seed)
    assert claim.ci_low <= claim.ratio <= claim.ci_high
    assert claim.ratio == pytest.approx(iqm(method / baseline))


def test_claim_is_reproducible_from_its_seed():
    method, baseline = noisy_pairs(0.95, n=50)
    assert paired_claim(method, baseline, seed=11, n_boot=300) == paired_claim(method, baseline, seed=11, n_boot=300)


# --- bootstrap ------------------------------------------------------------------------------------------

def test_stratified_bootstrap_resamples_within_strata():
    # Family A: 8 instances at ratio 0.5; family B: 8 at 1.0. Resampling within families keeps 8 + 8 in every
    # replicate, so every replicate's IQM is that of the data: drop 4 from each end of
    # [0.5]*8 + [1.0]*8, leaving [0.5]*4 + [1.0]*4, mean 0.75. The CI collapses to a point.
    ratios = np.array([0.5] * 8 + [1.0] * 8)
    families = ["A"] * 8 + ["B"] * 8
    assert iqm(ratios) == 0.75
    assert bootstrap_within_strata(ratios, families, n_boot=500) == (0.75, 0.75)
    # Pooled resampling mixes the families at random proportions, so the IQM moves.
    low, high = bootstrap_within_strata(ratios, None, n_boot=500)
    assert low < 0.75 < high


def test_strata_of_unequal_size_keep_their_counts_in_every_replicate():
    # 3 instances of family A at 0.5, 9 of family B spread over [0.9, 1.1]. n = 12, the IQM drops 3 from each
    # end: the 3 A values always go (they are the lowest), so every replicate is an IQM of B draws only, which
    # lies within B's range [0.9, 1.1]; a pooled bootstrap can draw 4+ A values, pulling the IQM below 0.9.
    ratios = np.array([0.5] * 3 + list(np.linspace(0.9, 1.1, 9)))
    families = ["A"] * 3 + ["B"] * 9
    low, high = bootstrap_within_strata(ratios, families, n_boot=2000, confidence=0.999)
    assert 0.9 <= low and high <= 1.1
    pooled_low, _ = bootstrap_within_strata(ratios, None, n_boot=2000, confidence=0.999)
    assert pooled_low < 0.9


def test_strata_must_label_every_instance():
    with pytest.raises(ConfigError, match="label every instance"):
        bootstrap_within_strata([1.0, 2.0, 3.0], ["A", "B"])


def test_paired_claim_passes_strata_to_the_bootstrap():
    method = np.array([0.5] * 8 + [1.0] * 8)
    claim = paired_claim(method, np.ones(16), strata=["A"] * 8 + ["B"] * 8, n_boot=300)
    assert (claim.ratio, claim.ci_low, claim.ci_high) == (0.75, 0.75, 0.75)


# --- Wilcoxon -------------------------------------------------------------------------------------------

def test_wilcoxon_of_all_zero_differences_is_one_not_nan():
    assert wilcoxon_p_value(np.zeros(7)) == 1.0


def test_wilcoxon_exact_p_by_hand():
    # Five positive differences with distinct ranks: W- = 0, and of the 2^5 = 32 equally likely sign patterns
    # exactly one gives W- = 0 and one W+ = 0, so the exact two-sided p = 2/32 = 0.0625.
    assert wilcoxon_p_value([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(0.0625)
    # Six: 2/64 = 0.03125.
    assert wilcoxon_p_value([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == pytest.approx(0.03125)


def test_five_instances_all_better_cannot_reach_a_win():
    # The smallest possible two-sided Wilcoxon p on 5 pairs is 0.0625 (above): never significant, so a tie
    # however consistent the effect; small suites cannot make claims.
    claim = paired_claim([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 10.0], n_boot=200)
    assert claim.ratio == 0.5 and claim.ci_high == 0.5
    assert claim.verdict == "tie"


# --- Holm -----------------------------------------------------------------------------------------------

def test_holm_by_hand():
    # Sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> raised to 0.06 to stay monotone.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_holm_caps_at_one_and_keeps_order():
    # 0.2 * 4 = 0.8; 0.3 * 3 = 0.9; 0.5 * 2 = 1.0; 0.6 * 1 = 0.6 -> 1.0 (monotone, capped).
    assert holm([0.6, 0.2, 0.5, 0.3]) == pytest.approx([1.0, 0.8, 1.0, 0.9])
    assert holm([0.04]) == [0.04]
    assert holm([]) == []


def test_holm_rejects_values_that_are_not_p_values():
    with pytest.raises(ConfigError):
        holm([0.1, float("nan")])
    with pytest.raises(ConfigError):
        holm([1.5])


# --- verdict rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "ci, p, lower_is_better, expected",
    [
        ((0.8, 0.95), 0.01, True, "win"),
        ((0.8, 0.95), 0.05, True, "tie"),  # significant CI, but p not below 0.05
        ((0.8, 1.05), 0.001, True, "tie"),  # CI contains 1
        ((1.05, 1.2), 0.01, True, "loss"),
        ((1.05, 1.2), 0.01, False, "win"),
        ((0.8, 0.95), 0.01, False, "loss"),
        ((1.0, 1.1), 0.01, True, "tie"),  # CI touching 1 does not exclude it
    ],
)
def test_verdict_needs_both_the_ci_and_the_test(ci, p, lower_is_better, expected):
    claim = make_claim(ratio=sum(ci) / 2, ci_low=ci[0], ci_high=ci[1], p_value=p, lower_is_better=lower_is_better)
    assert verdict(claim) == expected
    # An explicit direction overrides the claim's own.
    flipped = {"win": "loss", "loss": "win", "tie": "tie"}[expected]
    assert verdict(claim, not lower_is_better) == flipped


def test_finalize_applies_holm_across_the_report_and_rejudges():
    # Raw p 0.01, 0.04, 0.03 with CIs all favouring the method: alone each is a win; after Holm they are
    # 0.03, 0.06, 0.06, so only the first remains a win.
    claims = [make_claim(0.9, 0.85, 0.95, p) for p in (0.01, 0.04, 0.03)]
    claims = [Claim(**{**c.to_dict(), "method": name, "verdict": verdict(c)}) for c, name in zip(claims, "xyz")]
    assert [c.verdict for c in claims] == ["win", "win", "win"]
    final = finalize_claims(claims)
    assert [c.p_value for c in final] == pytest.approx([0.03, 0.06, 0.06])
    assert [c.verdict for c in final] == ["win", "tie", "tie"]
    assert [c.method for c in final] == ["x", "y", "z"]


# --- serialisation --------------------------------------------------------------------------------------

def test_claim_json_has_exactly_the_published_fields():
    method, baseline = noisy_pairs(0.9, n=20)
    claim = paired_claim(method, baseline, n_boot=100, domain="sor", suite="sor-setting-a", suite_version=1,
                         method_name="learned", baseline_name="fixed-omega", metric="iterations")
    data = json.loads(claims_to_json([claim]))[0]
    assert set(data) - {"shift", "prob_improvement"} == CLAIM_FIELDS
    assert data["suite"] == "sor-setting-a" and data["method"] == "learned" and data["n"] == 20
    assert claims_from_json(claims_to_json([claim])) == [claim]
    assert claim.key == "learned/fixed-omega/iterations"


def test_claim_refuses_unknown_fields_and_verdicts():
    with pytest.raises(ConfigError, match="unknown fields"):
        Claim.from_dict({**make_claim(1.0, 1.0, 1.0, 1.0).to_dict(), "extra": 1})
    with pytest.raises(ConfigError, match="verdict"):
        Claim(**{**make_claim(1.0, 1.0, 1.0, 1.0).to_dict(), "verdict": "maybe"})


def test_markdown_table_has_a_row_per_claim():
    claims = [make_claim(0.9, 0.85, 0.95, 0.01), make_claim(1.0, 0.9, 1.1, 0.5)]
    table = claims_to_markdown(claims)
    lines = table.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("| suite |")
    assert "[0.850, 0.950]" in lines[2] and "**tie**" in lines[2]
