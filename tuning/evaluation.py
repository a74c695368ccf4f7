"""Evaluate policies on an env over given seeds: the one loop every table in tunegym comes from.

A *policy maker* is a callable ``make(env) -> policy`` (so baselines that must be bound to an env, like
the grid oracle, fit the same mould as trained agents). Each seed resets the env with that seed, which
fixes the instance stream: every method meets the same systems on the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["EpisodeStats", "evaluate_policy", "evaluate_methods", "markdown_table"]


@dataclass
class EpisodeStats:
    """Per-seed results of one method: mean cost per env step and the total return."""

    method: str
    seeds: list[int]
    mean_cost: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return float(np.mean(self.mean_cost))

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seeds": self.seeds,
            "mean_cost": self.cost,
            "per_seed_cost": self.mean_cost,
            "per_seed_return": self.returns,
        }


def evaluate_policy(
    env_id: str,
    make_policy: Callable[[gym.Env], Any],
    seeds: Iterable[int],
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    steps: int | None = None,
    method: str = "policy",
    deterministic: bool = True,
) -> EpisodeStats:
    """Run one episode per seed (or ``steps`` steps, across episode ends) and record the cost.

    Cost per step is ``info["cost"]`` when the env reports it, else ``-reward``.
    """
    seeds = [int(s) for s in seeds]
    stats = EpisodeStats(method, seeds)
    for seed in seeds:
        env = gym.make(env_id, **dict(env_kwargs or {}))
        policy = make_policy(env)
        obs, _ = env.reset(seed=seed)
        costs, total_return, done, count = [], 0.0, False, 0
        while True:
            action, _ = policy.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, info = env.step(action)
            costs.append(float(info.get("cost", -reward)))
            total_return += float(reward)
            count += 1
            done = terminated or truncated
            if steps is None and done:
                break
            if steps is not None and count >= steps:
                break
            if done:
                obs, _ = env.reset()
        env.close()
        stats.mean_cost.append(float(np.mean(costs)))
        stats.returns.append(total_return)
    return stats


def evaluate_methods(
    env_id: str,
    makers: Mapping[str, Callable[[gym.Env], Any]],
    seeds: Iterable[int],
    **kwargs: Any,
) -> list[EpisodeStats]:
    """:func:`evaluate_policy` for each named method on the same seeds."""
    seeds = list(seeds)
    return [evaluate_policy(env_id, make, seeds, method=name, **kwargs) for name, make in makers.items()]


def markdown_table(results: list[EpisodeStats], *, reference: str | None = None, unit: str = "cost") -> str:
    """A Markdown table of mean cost per method, with the ratio to ``reference`` if given."""
    ref = next((r.cost for r in results if r.method == reference), None)
    header = f"| method | mean {unit} | 95% CI over seeds |" + (f" vs {reference} |" if ref else "")
    rule = "|---|---:|---:|" + ("---:|" if ref else "")
    rows = [header, rule]
    for r in results:
        values = np.asarray(r.mean_cost)
        half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        row = f"| {r.method} | {r.cost:.1f} | ±{half:.1f} |"
        if ref:
            row += f" {r.cost / ref:.2f}x |"
        rows.append(row)
    return "\n".join(rows)
