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

__all__ = ["EpisodeStats", "evaluate_policy", "evaluate_parallel", "evaluate_methods", "markdown_table"]


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

    Cost per step is ``info["cost"]`` when the env reports it, else ``-reward``. A multi-agent id is run
    through its single-agent view (see :func:`tunegym.agents.deeprl.envs.make_env`).
    """
    from tunegym.agents.deeprl.envs import make_env

    seeds = [int(s) for s in seeds]
    stats = EpisodeStats(method, seeds)
    for seed in seeds:
        env = make_env(env_id, env_kwargs)
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


def evaluate_parallel(
    env_id: str,
    policy: Any,
    seeds: Iterable[int],
    **kwargs: Any,
) -> EpisodeStats:
    """:func:`evaluate_policy` for a PettingZoo env id and a per-agent policy (``predict(obs_dict) -> actions``).

    The env runs through its joint single-agent view (:class:`tunegym.envs.multiagent.views.JointActionEnv`),
    which splits the observation per agent and joins the agents' actions, so the cost and return are
    counted exactly as for one agent setting every knob.
    """
    kwargs["env_kwargs"] = {**dict(kwargs.get("env_kwargs") or {}), "multiagent_view": "joint"}
    return evaluate_policy(env_id, lambda env: _PerAgentPolicy(env, policy), seeds, **kwargs)


class _PerAgentPolicy:
    """A per-agent policy seen through a :class:`JointActionEnv`: split observations in, joint action out."""

    def __init__(self, view: Any, policy: Any) -> None:
        self.view, self.policy = view, policy

    def predict(self, observation: Any, deterministic: bool = True) -> tuple[Any, None]:
        actions = self.policy.predict(self.view.split_observation(observation), deterministic=deterministic)
        return self.view.join_actions(actions), None


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
        row = f"| {r.method} | {r.cost:.4g} | ±{half:.2g} |"
        if ref:
            row += f" {r.cost / ref:.2f}x |"
        rows.append(row)
    return "\n".join(rows)
