"""Evaluate policies on an env over given seeds: the one loop every table in tunegym comes from.

A *policy maker* is a callable ``make(env) -> policy`` (so baselines that must be bound to an env, like
the per-instance oracle, fit the same mould as trained agents). Each seed resets the env with that seed,
which fixes the instance stream: every method meets the same instances on the same seed, so results pair
up by (seed, episode) for the paired statistics of :mod:`tunegym.tuning.stats`.

Cost is read from ``info["cost"]`` and nowhere else (the core's info contract, in ``info["cost_unit"]``);
an env that does not report it is refused with a one-line error rather than silently reporting -reward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.envs.core.errors import ConfigError

__all__ = ["EpisodeStats", "evaluate_policy", "evaluate_parallel", "evaluate_methods", "markdown_table"]


@dataclass
class EpisodeStats:
    """Per-seed results of one method.

    ``mean_cost``: mean ``info["cost"]`` per env step (a sequence env's cost per system); ``episode_cost``:
    total cost per episode (mean over the seed's episodes); ``quality``: the domain's quality figure at the
    end of the seed's last episode (None where not measured); ``returns``: total reward; ``cost_unit``.
    """

    method: str
    seeds: list[int]
    mean_cost: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    episode_cost: list[float] = field(default_factory=list)
    quality: list[float | None] = field(default_factory=list)
    cost_unit: str = "cost"
    quality_name: str = "quality"
    #: the env is a sequence env (each step one instance: Learning to Relax), so cost per step is per instance
    per_instance_steps: bool = False

    @property
    def cost(self) -> float:
        return float(np.mean(self.mean_cost))

    @property
    def cost_per_episode(self) -> float:
        return float(np.mean(self.episode_cost))

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seeds": self.seeds,
            "cost_unit": self.cost_unit,
            "mean_cost": self.cost,
            "mean_episode_cost": self.cost_per_episode,
            "per_seed_cost": self.mean_cost,
            "per_seed_episode_cost": self.episode_cost,
            "per_seed_return": self.returns,
            "quality_name": self.quality_name,
            "per_seed_quality": self.quality,
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
    """Run one episode per seed (or ``steps`` steps, across episode ends) and record cost and quality.

    A multi-agent id is run through its single-agent view (see :func:`tunegym.agents.deeprl.envs.make_env`).
    Raises :class:`ConfigError` if the env's step info has no ``cost`` (the core's info contract).
    """
    from tunegym.agents.deeprl.envs import make_env

    seeds = [int(s) for s in seeds]
    stats = EpisodeStats(method, seeds)
    for seed in seeds:
        env = make_env(env_id, env_kwargs)
        policy = make_policy(env)
        obs, _ = env.reset(seed=seed)
        costs, episode_costs, total_return, count, episode = [], [], 0.0, 0, 0.0
        info: dict[str, Any] = {}
        while True:
            action, _ = policy.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, info = env.step(action)
            if "cost" not in info:
                raise ConfigError(f"{env_id} reports no info['cost'] (tunegym's info contract); cannot count its "
                                  f"cost", value=env_id)
            costs.append(float(info["cost"]))
            episode += float(info["cost"])
            total_return += float(reward)
            count += 1
            done = terminated or truncated
            if done:
                episode_costs.append(episode)
                episode = 0.0
            if (steps is None and done) or (steps is not None and count >= steps):
                break
            if done:
                obs, _ = env.reset()
        env.close()
        stats.mean_cost.append(float(np.mean(costs)))
        stats.episode_cost.append(float(np.mean(episode_costs)) if episode_costs else episode)
        stats.returns.append(total_return)
        quality = info.get("quality")
        stats.quality.append(None if quality is None else float(quality))
        stats.cost_unit = str(info.get("cost_unit", stats.cost_unit))
        stats.quality_name = str(info.get("quality_name", stats.quality_name))
        stats.per_instance_steps = bool(getattr(env.unwrapped, "sequence", False))
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


def markdown_table(results: list[EpisodeStats], *, reference: str | None = None, unit: str | None = None,
                   per: str = "auto") -> str:
    """A Markdown table of mean cost per method (and final quality), with the ratio to ``reference`` if given.

    ``per="step"`` reports cost per env step (a sequence env's cost per system), ``"episode"`` total cost
    per episode; ``"auto"`` picks per step for sequence envs (each step solves one instance) and per episode
    otherwise.
    ``unit`` defaults to the env's ``cost_unit``.
    """
    if per == "auto":
        per = "step" if results and all(r.per_instance_steps for r in results) else "episode"
    values_of = (lambda r: np.asarray(r.mean_cost)) if per == "step" else (lambda r: np.asarray(r.episode_cost))
    unit = unit or (results[0].cost_unit if results else "cost")
    ref_row = next((r for r in results if r.method == reference), None)
    ref = float(np.mean(values_of(ref_row))) if ref_row is not None else None
    has_quality = any(q is not None for r in results for q in r.quality)
    quality_name = results[0].quality_name if results else "quality"
    header = f"| method | {unit} per {per} | 95% CI over seeds |" + (f" final {quality_name} (median) |" if has_quality
                                                                    else "") + (f" vs {reference} |" if ref else "")
    rule = "|---|---:|---:|" + ("---:|" if has_quality else "") + ("---:|" if ref else "")
    rows = [header, rule]
    for r in results:
        values = values_of(r)
        mean = float(np.mean(values))
        half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        row = f"| {r.method} | {mean:.4g} | ±{half:.2g} |"
        if has_quality:
            finite = [q for q in r.quality if q is not None]
            row += f" {np.median(finite):.3g} |" if finite else " – |"
        if ref:
            row += f" {mean / ref:.2f}x |"
        rows.append(row)
    return "\n".join(rows)

