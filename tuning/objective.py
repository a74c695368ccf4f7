"""The HPO objective: train an agent with a config on tune seeds, score it on validation instances.

A trial trains ``agent`` on ``env_id`` for ``budget`` env steps per tune seed (the trial's tune seeds come
from :meth:`SeedSplit.trial_seeds`), reporting the validation score at ``rungs`` budget fractions so that
Optuna's pruners (successive halving, Hyperband) can stop it early. The score is the mean cost per env step
(``info["cost"]``, else ``-reward``) over ``eval_steps`` deterministic steps on a validation seed derived
from the tune seed; lower is better. Test seeds are reached only through :meth:`final_score`, inside the
split's final-evaluation guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunegym.envs.core.extras import require
from tunegym.tuning.seeds import SeedSplit

__all__ = ["Objective"]


@dataclass(frozen=True)
class Objective:
    """What a trial optimises. Picklable, so worker processes can run it."""

    env_id: str
    agent: str
    budget: int
    split: SeedSplit = field(default_factory=SeedSplit)
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seeds_per_trial: int = 1
    eval_steps: int = 200
    rungs: int = 3
    device: str = "cpu"

    def __call__(self, trial: Any, config: Mapping[str, Any], run_seed: int = 0, *, budget: int | None = None,
                 number: int | None = None) -> float:
        """Train and validate; report at each rung; raise ``optuna.TrialPruned`` when the pruner says so.

        ``budget`` (a multi-fidelity method's choice, default ``self.budget``) is this trial's training steps;
        ``number`` (default ``trial.number``) picks its tune seeds, so that an ask/tell method's proposal keeps
        its seeds when a resumed run evaluates it under a new trial number.
        """
        optuna = require("optuna", "hpo", "tunegym tune (the HPO harness)")

        budget = self.budget if budget is None else int(budget)
        number = trial.number if number is None else int(number)
        seeds = self.split.trial_seeds(number, self.seeds_per_trial, run_seed)
        self.split.check(seeds)
        agents = [self._build(config, seed) for seed in seeds]
        score = float("nan")
        for rung in range(1, self.rungs + 1):
            target = int(round(budget * rung / self.rungs))
            scores = []
            for (agent, env, done), seed in zip(agents, seeds):
                self._train(agent, env, target - done[0])
                done[0] = target
                scores.append(self.validate(agent, SeedSplit.derived(seed, "validation")))
            score = float(np.mean(scores))
            trial.report(score, target)
            trial.set_user_attr("steps", target * len(seeds))
            if rung < self.rungs and trial.should_prune():
                raise optuna.TrialPruned()
        return score

    def _build(self, config: Mapping[str, Any], seed: int) -> tuple[Any, Any, list[int]]:
        from tunegym.agents.registry import make_agent

        env = self._make_env()
        env.reset(seed=SeedSplit.derived(seed, "env"))
        agent = make_agent(self.agent, env, dict(config), seed=SeedSplit.derived(seed, "agent"), device=self.device)
        return agent, env, [0]

    def _make_env(self) -> Any:
        """The env as ``tunegym train`` builds it (:func:`~tunegym.agents.deeprl.envs.make_env`): a user's
        ``module:Env-v0`` id imports its module (in worker processes too), an unknown id or a kwarg the env
        rejects is a one-line :class:`ConfigError`, a PettingZoo id gives its joint single-agent view."""
        from tunegym.agents.deeprl.envs import make_env

        return make_env(self.env_id, self.env_kwargs)

    @staticmethod
    def _train(agent: Any, env: Any, steps: int) -> None:
        if steps <= 0:
            return
        if hasattr(agent, "learn_until"):  # SB3 agents keep their own env and step counter
            agent.learn_until(agent.num_timesteps + steps)
        else:
            agent.learn(env, total_timesteps=steps)

    def validate(self, agent: Any, seed: int) -> float:
        """Mean cost per step of ``agent`` (deterministic) over ``eval_steps`` steps from ``seed``."""
        self.split.check([seed])
        env = self._make_env()
        obs, _ = env.reset(seed=seed)
        costs = []
        for _ in range(self.eval_steps):
            action, _ = agent.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            costs.append(float(info.get("cost", -reward)))
            if terminated or truncated:
                obs, _ = env.reset()
        env.close()
        return float(np.mean(costs))

    def final_score(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Train with ``config`` on the first tune seed, then score on every test seed (the only use of them)."""
        train_seed = self.split.tune[0]
        agent, env, _ = self._build(config, train_seed)
        self._train(agent, env, self.budget)
        with self.split.final_evaluation() as test_seeds:
            per_seed = [self.validate(agent, seed) for seed in test_seeds]
        return {"test_score": float(np.mean(per_seed)), "per_test_seed": per_seed, "train_seed": train_seed}
