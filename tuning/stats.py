"""Statistics for comparing methods over runs: IQM, stratified bootstrap CIs, probability of improvement,
performance profiles (Agarwal et al., "Deep RL at the edge of the statistical precipice", NeurIPS 2021).

Ours rather than rliable's because rliable does not install beside pandas 3. Scores are arrays of shape
``[runs]`` or ``[runs, tasks]``; lower is better where a direction matters (costs), as everywhere in tunegym.
"""

from __future__ import annotations

import numpy as np

__all__ = ["iqm", "stratified_bootstrap_ci", "probability_of_improvement", "performance_profile"]


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
