"""``LNSSolver``: the MIP LNS as an anytime heuristic for a user's MPS/LP file or ``highspy.Highs`` model.

A tuner picks the destroy operator each step from the same observation the env gives
(:class:`tunegym.envs.mip.env.SearchFeatures`): an SB3 policy (``predict``) such as the shipped
``pretrained:mip-lns``, or an online learner (``select(context) -> arm`` / ``update(context, arm, reward)``:
our bandits). Without one a built-in Softmax bandit over Balans's graded rewards [8, 4, 2, 1] runs (Balans's
best tuned policy). The whole run (start, LP relaxation, every sub-MIP) stays inside the wall-time limit:
this is the deploy path; the env uses node limits instead so that it is deterministic.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.mip.env import BALANS_REWARDS, DESTROY_RATES, SearchFeatures
from tunegym.envs.mip.instances import MIPInstance, load_model
from tunegym.envs.mip.lns import OPERATORS, OUTCOMES, LNSConfig, LNSProcess, NoFeasibleStartError, primal_gap

__all__ = ["LNSSolver", "LNSSolution", "SoftmaxOperatorBandit"]


class SoftmaxOperatorBandit:
    """Balans's default-style policy: Softmax over running mean rewards (temperature ``tau``)."""

    def __init__(self, n_arms: int = len(OPERATORS), tau: float = 1.0, seed: int = 0) -> None:
        self.means = np.full(n_arms, BALANS_REWARDS[0] / 2)  # optimistic start: every arm gets tried
        self.counts = np.zeros(n_arms)
        self.tau, self.rng = tau, np.random.default_rng(seed)

    def select(self, context: Any = None) -> int:
        logits = self.means / self.tau
        p = np.exp(logits - logits.max())
        return int(self.rng.choice(len(p), p=p / p.sum()))

    def update(self, context: Any, arm: int, reward: float) -> None:
        self.counts[arm] += 1
        self.means[arm] += (reward - self.means[arm]) / self.counts[arm]


@dataclass
class LNSSolution:
    """Result of :meth:`LNSSolver.solve`.

    ``status``: "improved" (LNS beat the start), "feasible" (start only), "no_solution" (no feasible point
    found in the time limit). ``primal_gap`` is against ``reference`` when given, else against the LP bound
    (None where neither is known).
    """

    status: str
    objective: float | None  # in the model's own sense (max problems positive again)
    values: dict[str, float]
    primal_gap: float | None
    iterations: int
    wall_time: float
    highs_time: float
    operator_counts: dict[str, int] = field(default_factory=dict)
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, best objective, model sense)


class LNSSolver:
    """Anytime LNS on HiGHS driven by ``tuner`` (None: built-in Softmax bandit; a path or
    ``"pretrained:mip-lns"``: loaded with :func:`tunegym.agents.tuners.load_tuner`)."""

    #: share of the time limit the HiGHS start and the LP relaxation may use at most
    START_SHARE, LP_SHARE = 0.5, 0.2

    def __init__(self, tuner: Any = None, destroy_rate: float = 0.5, sub_nodes: int = 200,
                 acceptance: str = "hill_climbing", seed: int = 0, reward: str = "graded",
                 start_nodes: int = 50, sub_time_limit: float | None = 1.0,
                 reward_levels: tuple[float, ...] = BALANS_REWARDS) -> None:
        if isinstance(tuner, (str, Path)):
            tuner = self.load_tuner(tuner)
        if reward not in ("graded", "improvement"):
            raise ConfigError(f"unknown reward {reward!r}", value=reward)
        self.tuner = tuner if tuner is not None else SoftmaxOperatorBandit(seed=seed)
        if len(reward_levels) != 4:
            raise ConfigError("reward_levels needs 4 values [new best, better, accepted, rejected]",
                              value=reward_levels)
        self.destroy_rate, self.seed, self.reward = float(destroy_rate), int(seed), reward
        self.reward_levels = tuple(float(v) for v in reward_levels)
        self.sub_nodes, self.acceptance, self.start_nodes = int(sub_nodes), acceptance, int(start_nodes)
        # Wall-clock cap per sub-MIP on top of the node limit: HiGHS's root (cuts, heuristics) is not bounded
        # by nodes, and one slow sub-MIP from a poor incumbent would eat the whole budget.
        self.sub_time_limit = sub_time_limit

    @staticmethod
    def load_tuner(path: str | Path) -> Any:
        """A tuner file or ``"pretrained:NAME"``; :class:`CheckpointError` if missing or not a tuner."""
        from tunegym.agents.tuners import load_tuner

        return load_tuner(path)

    def _choose(self, observation: np.ndarray) -> tuple[int, str, float]:
        """(action index, operator, destroy rate) from the tuner."""
        if hasattr(self.tuner, "predict") and not hasattr(self.tuner, "select"):
            action = int(np.asarray(self.tuner.predict(observation, deterministic=True)[0]).reshape(-1)[0])
        else:
            action = int(self.tuner.select(observation))
        if action >= len(OPERATORS):  # an operator x rate policy (MIPLNSRate-v0)
            return action, OPERATORS[(action // len(DESTROY_RATES)) % len(OPERATORS)], \
                DESTROY_RATES[action % len(DESTROY_RATES)]
        return action, OPERATORS[action], self.destroy_rate

    def solve(self, model: str | Path | Any, time_limit: float = 10.0, max_iterations: int | None = None,
              reference: float | None = None) -> LNSSolution:
        """Improve ``model`` (path, ``highspy.Highs`` or :class:`MIPInstance`) for ``time_limit`` seconds.

        Raises the loader's typed errors (malformed file, no integer variables) and
        :class:`InfeasibleModelError` / :class:`UnboundedRelaxationError` when HiGHS proves them; a model
        with no feasible point found in time gives status "no_solution".
        """
        if not np.isfinite(time_limit) or time_limit <= 0:
            raise ConfigError(f"time_limit must be positive, got {time_limit}", value=time_limit)
        t0 = time.perf_counter()
        left = lambda: time_limit - (time.perf_counter() - t0)  # noqa: E731
        # No LP check at load time: it is not bounded in time; the start run proves infeasibility/unboundedness.
        inst = model if isinstance(model, MIPInstance) else load_model(model, check=False)
        config = LNSConfig(sub_nodes=self.sub_nodes, acceptance=self.acceptance, start="auto",
                           start_nodes=self.start_nodes, start_time_limit=max(self.START_SHARE * left(), 1e-3),
                           lp_time_limit=self.LP_SHARE * time_limit)
        try:
            proc = LNSProcess(inst, np.random.default_rng(self.seed), config,
                              reference=None if reference is None else inst.objective_sign * reference)
        except NoFeasibleStartError:
            return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0)
        features = SearchFeatures(max_steps=100, reward_kind=self.reward)
        trace = [(time.perf_counter() - t0, inst.objective_sign * proc.best_objective)]
        counts = dict.fromkeys(OPERATORS, 0)
        improved, it = False, 0
        while left() > 0 and (max_iterations is None or it < max_iterations):
            observation = features.observe(proc)  # first call solves the LP relaxation within lp_time_limit
            action, operator, rate = self._choose(observation)
            before = proc.best_objective
            cap = left() if self.sub_time_limit is None else min(left(), self.sub_time_limit)
            res = proc.step(operator, rate, time_limit=max(cap, 1e-3))
            reward = self.reward_levels[OUTCOMES.index(res.outcome)] if self.reward == "graded" else \
                (before - proc.best_objective) / max(abs(before), 1e-9)
            if hasattr(self.tuner, "update"):
                self.tuner.update(observation, action, reward)
            features.record(operator, rate, reward, res.outcome)
            counts[operator] += 1
            improved |= res.outcome in ("new_best", "better")
            if res.outcome == "new_best":
                trace.append((time.perf_counter() - t0, inst.objective_sign * proc.best_objective))
            it += 1
        best = proc.best_objective
        if proc.reference is not None:
            gap = primal_gap(best, proc.reference)
        elif np.isfinite(proc.lp_bound):
            gap = primal_gap(best, proc.lp_bound)
        else:
            gap = None
        return LNSSolution("improved" if improved else "feasible", inst.objective_sign * best,
                           dict(zip(inst.names(), (float(v) + 0.0 for v in proc.best))), gap, it,
                           time.perf_counter() - t0, proc.highs_time, counts, trace)

    @staticmethod
    def write_solution(solution: LNSSolution, path: str | Path) -> None:
        """Column names -> values as JSON (with objective and status), written atomically."""
        from tunegym.agents.tuner_io import atomic_write_bytes

        payload = {"status": solution.status, "objective": solution.objective,
                   "primal_gap": solution.primal_gap, "values": solution.values}
        atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
