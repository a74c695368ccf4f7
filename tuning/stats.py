"""Statistics for comparing methods over runs: IQM, stratified bootstrap CIs, probability of improvement,
performance profiles (Agarwal et al., "Deep RL at the edge of the statistical precipice", NeurIPS 2021), and
paired claims of one method against a baseline: per-instance ratios, their IQM with a stratified bootstrap
CI, a Wilcoxon signed-rank test, Holm's correction across a report (Holm 1979) and a win/tie/loss verdict.

Ours rather than rliable's because rliable does not install beside pandas 3. Scores are arrays of shape
``[runs]`` or ``[runs, tasks]``; lower is better where a direction matters (costs), as everywhere in tunegym.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _scipy_stats

from tunegym.envs.core.errors import ConfigError

__all__ = [
    "iqm",
    "stratified_bootstrap_ci",
    "probability_of_improvement",
    "performance_profile",
    "VERDICTS",
    "Claim",
    "paired_ratios",
    "paired_claim",
    "bootstrap_within_strata",
    "wilcoxon_p_value",
    "holm",
    "verdict",
    "finalize_claims",
    "claims_to_json",
    "claims_from_json",
    "claims_to_markdown",
]


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean after dropping ``floor(n/4)`` scores from each end (pooled over tasks),
    the definition rliable uses (``scipy.stats.trim_mean(x, 0.25)``)."""
    values = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    n = values.size
    if n == 0:
        raise ValueError("iqm of no scores")
    cut = n // 4
    return float(values[cut:n - cut].mean())


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic=iqm,
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of ``statistic`` from resampling runs with replacement *within each task* (column)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    rng = np.random.default_rng(seed)
    runs, tasks = arr.shape
    stats = np.empty(reps)
    for r in range(reps):
        idx = rng.integers(0, runs, size=(runs, tasks))
        stats[r] = statistic(np.take_along_axis(arr, idx, axis=0))
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X < Y) for costs (X better), ties counting one half, averaged over tasks (Mann–Whitney U / mn)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    probabilities = []
    for task in range(a.shape[1]):
        xa, yb = a[:, task][:, None], b[:, task][None, :]
        probabilities.append(float(np.mean((xa < yb) + 0.5 * (xa == yb))))
    return float(np.mean(probabilities))


def performance_profile(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of (run, task) scores at or below each threshold (a cost profile: higher curve is better)."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    return np.array([float(np.mean(values <= t)) for t in np.asarray(thresholds, dtype=np.float64)])


# ---------------------------------------------------------------------------------------------------------
# Paired claims: "method M beats baseline B on suite S", with the evidence a reviewer asks for.
#
# Each instance (a problem, a seed) is solved by both M and B, so the per-instance ratio M/B removes the
# instance's own difficulty from the comparison. The headline number is the IQM of those ratios; its CI comes
# from a stratified bootstrap that resamples instances within each problem family (Agarwal et al. 2021); the
# paired test is Wilcoxon's signed-rank test on the log ratios; p-values are Holm-corrected (Holm 1979)
# across the claims of one report. A *win* needs both the CI and the corrected test to agree.
# ---------------------------------------------------------------------------------------------------------

VERDICTS = ("win", "tie", "loss")

_BOOTSTRAP_CHUNK = 256  # bootstrap replicates drawn per batch: bounds memory at chunk × n floats


@dataclasses.dataclass(frozen=True)
class Claim:
    """One paired comparison of ``method`` against ``baseline`` on a suite split, as published.

    ``ratio`` is the IQM of the per-instance ratios ``(method + shift) / (baseline + shift)`` of ``metric``;
    ``ci_low``/``ci_high`` its stratified bootstrap CI; ``p_value`` the two-sided Wilcoxon signed-rank p of
    the log ratios, raw as :func:`paired_claim` returns it and Holm-adjusted across a report once
    :func:`finalize_claims` has run. ``prob_improvement`` is the fraction of instances on which the method
    did better (ties count one half). ``verdict`` is one of :data:`VERDICTS` (see :func:`verdict`).
    """

    domain: str
    suite: str
    suite_version: int
    split: str
    method: str
    baseline: str
    metric: str
    lower_is_better: bool
    n: int
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str
    shift: float = 0.0
    prob_improvement: float = 0.5

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ConfigError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}", value=self.verdict)

    @property
    def key(self) -> str:
        """``method/baseline/metric``: how a suite's regression bands name this claim."""
        return f"{self.method}/{self.baseline}/{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields, in declaration order."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Claim":
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError` (a foreign or newer file)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"claim has unknown fields {unknown}", value=unknown)
        return cls(**dict(data))


def paired_ratios(method: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray,
                  shift: float = 0.0) -> np.ndarray:
    """Per-instance ``(method + shift) / (baseline + shift)``.

    ``shift`` makes a metric that can be zero (a primal gap, a regret) comparable as a ratio; it is part of
    the claim and is published with it. Mismatched lengths, NaN, and values that are not positive after the
    shift raise :class:`ConfigError`, because a ratio of such values is meaningless rather than merely noisy.
    """
    a = np.asarray(method, dtype=np.float64).reshape(-1)
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ConfigError(f"paired values need equal lengths, got {a.size} (method) and {b.size} (baseline)",
                          value=(a.size, b.size))
    if a.size == 0:
        raise ConfigError("paired values are empty", value=0)
    if not math.isfinite(shift):
        raise ConfigError(f"shift must be finite, got {shift!r}", value=shift)
    for label, values in (("method", a), ("baseline", b)):
        for bad, mask in (("NaN", np.isnan(values)), ("inf", np.isinf(values))):
            if mask.any():
                where = np.flatnonzero(mask)[:10].tolist()
                raise ConfigError(f"{label} values contain {bad} at instances {where}", value=where)
        shifted = values + shift
        if (shifted <= 0).any():
            raise ConfigError(
                f"{label} values must be positive after shift={shift}; smallest is {float(shifted.min())} "
                "(pass a shift that makes the metric positive)",
                value=float(shifted.min()),
            )
    return (a + shift) / (b + shift)


def _iqm_rows(matrix: np.ndarray) -> np.ndarray:
    """:func:`iqm` of each row of a 2-D array, vectorised for the bootstrap."""
    n = matrix.shape[1]
    cut = n // 4
    return np.sort(matrix, axis=1)[:, cut:n - cut].mean(axis=1)


def _strata_indices(n: int, strata: Sequence[Hashable] | np.ndarray | None) -> list[np.ndarray]:
    """Instance indices of each stratum (one stratum holding everything when ``strata`` is None)."""
    if strata is None:
        return [np.arange(n)]
    labels = list(np.asarray(strata, dtype=object).reshape(-1))
    if len(labels) != n:
        raise ConfigError(f"strata must label every instance: {len(labels)} labels for {n} instances",
                          value=len(labels))
    groups: dict[Hashable, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return [np.asarray(indices) for indices in groups.values()]


def bootstrap_within_strata(
    values: Sequence[float] | np.ndarray,
    strata: Sequence[Hashable] | np.ndarray | None = None,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of the IQM of ``values``, resampling instances with replacement *within each stratum*.

    Stratifying (Agarwal et al. 2021) keeps every replicate's mix of problem families equal to the suite's,
    so the interval reflects noise between instances of a family and not a random reweighting of families.
    Unlike :func:`stratified_bootstrap_ci`, strata may differ in size.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ConfigError("bootstrap of no values", value=0)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}", value=n_boot)
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}", value=confidence)
    groups = _strata_indices(x.size, strata)
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for start in range(0, n_boot, _BOOTSTRAP_CHUNK):
        reps = min(_BOOTSTRAP_CHUNK, n_boot - start)
        picks = [group[rng.integers(0, group.size, size=(reps, group.size))] for group in groups]
        replicates[start:start + reps] = _iqm_rows(x[np.concatenate(picks, axis=1)])
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(replicates, tail)), float(np.quantile(replicates, 1.0 - tail))


def wilcoxon_p_value(log_ratios: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of SciPy's Wilcoxon signed-rank test that the log ratios are centred on zero.

    Always a number in [0, 1]: all-zero differences (identical results) give 1.0 rather than SciPy's NaN or
    warning, since there is no evidence of any difference.
    """
    d = np.asarray(log_ratios, dtype=np.float64).reshape(-1)
    if not np.any(d != 0.0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(_scipy_stats.wilcoxon(d, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else min(max(p, 0.0), 1.0)


def _paired_prob_improvement(ratios: np.ndarray, lower_is_better: bool) -> float:
    """Fraction of instances on which the method did better than the baseline, ties counting one half."""
    better = ratios < 1.0 if lower_is_better else ratios > 1.0
    return float(np.mean(better + 0.5 * (ratios == 1.0)))


def verdict(claim: Claim, lower_is_better: bool | None = None, *, alpha: float = 0.05) -> str:
    """``"win"``, ``"tie"`` or ``"loss"`` for a claim, from its CI and its (Holm-adjusted) p-value.

    A *win* needs the CI of the paired ratio to exclude 1 in the method's favour AND ``p_value < alpha``;
    a CI that contains 1, or ``p_value >= alpha``, is a *tie*; a CI that excludes 1 against the method with
    ``p_value < alpha`` is a *loss*. Requiring both guards against a CI made narrow by a lucky bootstrap and
    against a significant test whose effect the IQM does not show. ``lower_is_better`` defaults to the
    claim's own direction.
    """
    lower = claim.lower_is_better if lower_is_better is None else lower_is_better
    significant = claim.p_value < alpha
    favours_method = claim.ci_high < 1.0 if lower else claim.ci_low > 1.0
    favours_baseline = claim.ci_low > 1.0 if lower else claim.ci_high < 1.0
    if significant and favours_method:
        return "win"
    if significant and favours_baseline:
        return "loss"
    return "tie"


def paired_claim(
    method: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    lower_is_better: bool = True,
    strata: Sequence[Hashable] | np.ndarray | None = None,
    shift: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    method_name: str = "method",
    baseline_name: str = "baseline",
    metric: str = "cost",
    domain: str = "",
    suite: str = "",
    suite_version: int = 0,
    split: str = "dev_test",
) -> Claim:
    """The paired claim "``method`` against ``baseline``" from per-instance results in matching order.

    ``ratio`` is the IQM of :func:`paired_ratios`; ``ci_low``/``ci_high`` the ``1 - alpha`` stratified
    bootstrap CI of that same IQM (:func:`bootstrap_within_strata`, resampling within ``strata``, e.g. the
    problem family of each instance), widened to contain ``ratio`` in the rare skewed case where the
    percentile interval would not, so a report never shows a ratio outside its own CI. ``p_value`` is the raw
    Wilcoxon p (:func:`wilcoxon_p_value`) and ``verdict`` is judged on it, which is final for a report of one
    claim; pass all claims of a report through :func:`finalize_claims` to Holm-correct them together.
    """
    ratios = paired_ratios(method, baseline, shift)
    ratio = iqm(ratios)
    ci_low, ci_high = bootstrap_within_strata(ratios, strata, n_boot=n_boot, confidence=1.0 - alpha, seed=seed)
    claim = Claim(
        domain=domain,
        suite=suite,
        suite_version=int(suite_version),
        split=split,
        method=method_name,
        baseline=baseline_name,
        metric=metric,
        lower_is_better=bool(lower_is_better),
        n=int(ratios.size),
        ratio=ratio,
        ci_low=min(ci_low, ratio),
        ci_high=max(ci_high, ratio),
        p_value=wilcoxon_p_value(np.log(ratios)),
        verdict="tie",
        shift=float(shift),
        prob_improvement=_paired_prob_improvement(ratios, lower_is_better),
    )
    return dataclasses.replace(claim, verdict=verdict(claim, alpha=alpha))


def holm(p_values: Sequence[float] | np.ndarray) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values (Holm 1979), in the input order.

    Sorted ascending, the i-th smallest (1-based) becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``: monotone
    in the raw p and capped at 1. Comparing adjusted values with ``alpha`` controls the family-wise error
    rate of the whole report at ``alpha`` without assuming independence between claims.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if p.size == 0:
        return []
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ConfigError(f"p-values must lie in [0, 1], got {p.tolist()}", value=p.tolist())
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()


def finalize_claims(claims: Sequence[Claim], *, alpha: float = 0.05) -> list[Claim]:
    """The claims of one report with Holm-adjusted ``p_value`` and the verdicts judged on them.

    Give it the raw claims from :func:`paired_claim`, once: adjusting already-adjusted p-values would
    over-correct.
    """
    adjusted = holm([claim.p_value for claim in claims])
    finalized = []
    for claim, p in zip(claims, adjusted):
        corrected = dataclasses.replace(claim, p_value=p)
        finalized.append(dataclasses.replace(corrected, verdict=verdict(corrected, alpha=alpha)))
    return finalized


def claims_to_json(claims: Sequence[Claim], *, indent: int | None = 2) -> str:
    """A JSON array of the claims' fields (:meth:`Claim.to_dict`)."""
    return json.dumps([claim.to_dict() for claim in claims], indent=indent)


def claims_from_json(text: str) -> list[Claim]:
    """Inverse of :func:`claims_to_json`."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ConfigError("a claims file holds a JSON array of claims", value=type(data).__name__)
    return [Claim.from_dict(item) for item in data]


def claims_to_markdown(claims: Sequence[Claim]) -> str:
    """A Markdown table of the claims, one row each, for reports (give it :func:`finalize_claims` output:
    the p column is headed as Holm-adjusted)."""
    lines = [
        "| suite | split | method | baseline | metric | n | ratio (IQM) | CI | Holm p | P(improve) | verdict |",
        "|---|---|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for c in claims:
        direction = "↓" if c.lower_is_better else "↑"
        shift = f" (+{c.shift:g})" if c.shift else ""
        lines.append(
            f"| {c.suite} v{c.suite_version} | {c.split} | {c.method} | {c.baseline} | {c.metric}{shift} {direction} "
            f"| {c.n} | {c.ratio:.3f} | [{c.ci_low:.3f}, {c.ci_high:.3f}] | {c.p_value:.3g} "
            f"| {c.prob_improvement:.2f} | **{c.verdict}** |"
        )
    return "\n".join(lines) + "\n"
