"""``LNSSolver``: the MIP LNS as an anytime heuristic for a user's MPS/LP file or ``highspy.Highs`` model.

A tuner picks the destroy operator each step (anything with ``select(context) -> arm`` and
``update(context, arm, reward)``: our bandits, a loaded tuner file); without one a built-in Softmax bandit
over Balans's graded rewards [8, 4, 2, 1] runs (Balans's best tuned policy). The run stops at the wall-time
limit (this is the deploy path; the env uses node limits instead).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.mip.env import BALANS_REWARDS
from tunegym.envs.mip.instances import MIPInstance, load_model
from tunegym.envs.mip.lns import OPERATORS, OUTCOMES, LNSConfig, LNSProcess, primal_gap

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
    status: str  # "improved", "feasible" (start only), "no_solution"
    objective: float | None  # in the model's own sense (max problems positive again)
    values: dict[str, float]
    primal_gap: float | None  # against ``reference`` when given, else against the LP bound
    iterations: int
    wall_time: float
    highs_time: float
    operator_counts: dict[str, int] = field(default_factory=dict)


class LNSSolver:
    """Anytime LNS on HiGHS driven by ``tuner`` (None: built-in Softmax bandit)."""

    def __init__(self, tuner: Any = None, destroy_rate: float = 0.5, sub_nodes: int = 200,
                 acceptance: str = "hill_climbing", seed: int = 0) -> None:
        if isinstance(tuner, (str, Path)):
            tuner = self.load_tuner(tuner)
        self.tuner = tuner if tuner is not None else SoftmaxOperatorBandit(seed=seed)
        self.destroy_rate, self.seed = destroy_rate, seed
        self.config = LNSConfig(sub_nodes=sub_nodes, acceptance=acceptance, start="highs", start_nodes=50)

    @staticmethod
    def load_tuner(path: str | Path) -> Any:
        if str(path) == "pretrained:mip-lns":
            return SoftmaxOperatorBandit()  # no trained policy ships yet: the Balans-style default
        from tunegym.agents.bandits.base import Bandit

        try:
            return Bandit.load(path)
        except Exception as exc:  # noqa: BLE001 - reported as a typed error with the path
            raise CheckpointError(f"cannot load an operator tuner from {path}: {exc}", value=str(path)) from exc

    def solve(self, model: str | Path | Any, time_limit: float = 10.0, max_iterations: int | None = None,
              reference: float | None = None) -> LNSSolution:
        if time_limit <= 0:
            raise ConfigError(f"time_limit must be positive, got {time_limit}", value=time_limit)
        t0 = time.perf_counter()
        inst = model if isinstance(model, MIPInstance) else load_model(model)
        try:
            proc = LNSProcess(inst, np.random.default_rng(self.seed), self.config,
                              reference=None if reference is None else inst.objective_sign * reference)
        except Exception as exc:  # no feasible start within the start limit
            from tunegym.envs.core.errors import InstanceError
            if isinstance(exc, InstanceError) and "no feasible start" in str(exc):
                return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0)
            raise
        counts = dict.fromkeys(OPERATORS, 0)
        improved, it = False, 0
        while time.perf_counter() - t0 < time_limit and (max_iterations is None or it < max_iterations):
            context = np.array([proc.gap() if reference is not None else 0.0, it / 100.0])
            arm = int(self.tuner.select(context)) % len(OPERATORS)
            res = proc.step(OPERATORS[arm], self.destroy_rate)
            self.tuner.update(context, arm, BALANS_REWARDS[OUTCOMES.index(res.outcome)])
            counts[OPERATORS[arm]] += 1
            improved |= res.outcome in ("new_best", "better")
            it += 1
        best = proc.best_objective
        gap = primal_gap(best, proc.reference) if proc.reference is not None else \
            primal_gap(best, proc.lp_bound)
        return LNSSolution("improved" if improved else "feasible", inst.objective_sign * best,
                           dict(zip(inst.names(), (float(v) + 0.0 for v in proc.best))), gap, it,
                           time.perf_counter() - t0, proc.highs_time, counts)

    @staticmethod
    def write_solution(solution: LNSSolution, path: str | Path) -> None:
        """Column names -> values as JSON (with objective and status), written atomically."""
        from tunegym.agents.tuner_io import atomic_write_bytes

        payload = {"status": solution.status, "objective": solution.objective,
                   "primal_gap": solution.primal_gap, "values": solution.values}
        atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
