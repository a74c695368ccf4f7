"""Gymnasium environment: pick the LNS destroy operator (and destroy rate) for each step on a MIP."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.seeding import stream
from tunegym.envs.mip.instances import MIPFamilyDistribution, MIPInstance
from tunegym.envs.mip.lns import OPERATORS, OUTCOMES, LNSConfig, LNSProcess, best_known_objective

__all__ = ["MIPLNSEnv", "SearchFeatures", "DESTROY_RATES", "BALANS_REWARDS", "FEATURE_NAMES", "make_lns",
           "make_lns_rate"]

DESTROY_RATES = (0.1, 0.3, 0.5, 0.7, 0.9)
BALANS_REWARDS = (8.0, 4.0, 2.0, 1.0)  # [new best, better than current, accepted, rejected]
SHAPE_FEATURES = ("log_cols", "log_rows", "integer_share", "density")
STATE_FEATURES = ("progress", "best_gap_to_lp_bound", "current_vs_best", "incumbent_lp_disagreement",
                  "temperature", "last_destroy_rate")
FEATURE_NAMES = SHAPE_FEATURES + STATE_FEATURES + tuple(f"reward_ema_{o}" for o in OPERATORS) \
    + tuple(f"success_rate_{o}" for o in OPERATORS)


class SearchFeatures:
    """The observation of an LNS search: model shape, incumbent state and per-operator history.

    Shared by :class:`MIPLNSEnv` and the deploy path (:class:`tunegym.agents.LNSSolver`), so a policy sees
    the same features in training and in use. ``record`` after each step, ``observe`` for the vector.
    """

    def __init__(self, max_steps: int, reward_kind: str = "improvement", reward_levels=BALANS_REWARDS,
                 temperature: float = 0.05, ema: float = 0.3) -> None:
        self.max_steps, self.reward_kind, self.reward_levels = int(max_steps), reward_kind, tuple(reward_levels)
        self.temperature, self.ema = float(temperature), float(ema)
        n = len(OPERATORS)
        self.reward_avg, self.tries, self.successes = np.zeros(n), np.zeros(n), np.zeros(n)
        self.steps, self.last_rate = 0, 0.0

    def record(self, operator: str, rate: float, reward: float, outcome: str) -> None:
        k = OPERATORS.index(operator)
        self.tries[k] += 1
        self.successes[k] += outcome in ("new_best", "better")
        self.reward_avg[k] = (1 - self.ema) * self.reward_avg[k] + self.ema * reward
        self.steps += 1
        self.last_rate = rate

    def observe(self, p: LNSProcess) -> np.ndarray:
        inst = p.inst
        m = inst.matrix
        shape = [np.log10(inst.num_cols + 1) / 7, np.log10(inst.num_rows + 1) / 7, inst.integer.mean(),
                 m.nnz / max(inst.num_cols * inst.num_rows, 1)]
        best, cur, bound = p.best_objective, p.current_objective, p.lp_bound
        scale = max(abs(best), abs(bound), 1e-9)
        idx = p.int_idx
        disagree = float(np.mean(np.abs(p.current[idx] - np.round(p.lp_solution[idx])) > 0.5)) if len(idx) else 0.0
        state = [min(self.steps / self.max_steps, 1.0), (best - bound) / scale, (cur - best) / scale, disagree,
                 p.temperature / max(self.temperature, 1e-12), self.last_rate]
        top = max(self.reward_levels) if self.reward_kind == "graded" else 1.0
        hist = list(self.reward_avg / max(top, 1e-12)) + list(self.successes / np.maximum(self.tries, 1))
        obs = np.nan_to_num(np.array(shape + state + hist, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(obs, 0.0, 1.0).astype(np.float32)


class MIPLNSEnv(gym.Env):
    """Adaptive large-neighbourhood search on a MIP, solved by HiGHS: choose the destroy operator.

    ## Description
    Balans (bandit-driven adaptive LNS for MIP, coin-or ``balans``) on HiGHS. Each episode draws one MIP
    (set cover, CATS combinatorial auction, capacitated facility location, independent set; the families of
    Gasse et al. 2019) and starts from the generator's greedy feasible point (set cover: Chvátal's greedy;
auction and independent set: greedy packing; facility location: all facilities open, customers assigned
greedily) or, for a model without one, a 1-node HiGHS run. Each step the chosen
    operator frees a share of the integer variables, the rest are fixed to the current solution by bounds, and
    the sub-MIP is solved by HiGHS (threads=1, fixed seed, ``sub_nodes`` node limit, warm start by
    ``setSolution``); the result is accepted by hill climbing (or simulated annealing). Cost unit: sub-MIP
    branch-and-bound nodes and simplex iterations (deterministic); wall time is kept in ``env.process``.

    ## Action Space
    ``action="operator"``: ``Discrete(9)``, index into ``OPERATORS`` (mutation, rins, rens, dins,
    local_branching, proximity, random_objective, crossover, constraint) at ``destroy_rate``.
    ``action="operator_rate"``: ``Discrete(9 * 5)``, ``a = operator * 5 + rate`` with rates ``DESTROY_RATES``.
    An index outside the space raises :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(0, 1, (28,))`` named by ``FEATURE_NAMES``: model shape (log sizes, integer share, density), state
    (episode progress, relative gap of the best solution to the LP bound, current vs best, share of integers
    where the incumbent differs from the rounded LP solution, SA temperature, last destroy rate), and per
    operator an exponential moving average of its reward and its success rate. Clipped into the box.

    ## Rewards
    ``reward="improvement"``: improvement of the best objective divided by ``max(|reference|, |best|)``
    (the decrease of the primal gap, up to normalisation). ``reward="graded"``: Balans's levels indexed
    [new best, better than current, accepted, rejected], ``reward_levels`` (default ``[8, 4, 2, 1]``).

    ## Info
    ``operator``, ``destroy_rate``, ``outcome``, ``nodes``, ``lp_iterations``, ``freed``, ``objective``,
    ``best_objective``, ``candidate_objective`` (None if the sub-MIP found nothing), ``reference`` (best known
    objective, from a cached 20k-node HiGHS run; None if it found none), ``primal_gap``, ``primal_integral``
    (sum of gaps over steps), ``instance_id``. Objectives are in minimisation form.

    ## Starting State
    ``reset(seed)`` draws the instance from ``stream(seed, "instances")`` and the operators' randomness from
    ``stream(seed, "env")``; ``reset(options={"instance": MIPInstance})`` uses that instance.

    ## Episode End
    Never terminates; truncates after ``max_steps`` LNS steps (default 20).

    ## Arguments
    ``families`` (default all four), ``sizes`` (per family generator kwargs; default tiny ones, e.g. set cover
    60x120 — realistic sizes are ``instances.REALISTIC``: set cover 500x1000, auction 200x1000, facility
    100x100, independent set 1500 nodes), ``action``, ``destroy_rate`` (0.3), ``reward``, ``reward_levels``,
    ``max_steps``, ``sub_nodes`` (50), ``acceptance`` ("hill_climbing" | "simulated_annealing"), ``start``.

    ## Version History
    - v0: initial release. Changed before any release (2026-11-25): auction instances follow Gasse et al.'s
      CATS generator (substitutable bids, dummy XOR items), starts are greedy points, the LP relaxation is
      computed on first use; trajectories differ from earlier v0 commits.
    """

    metadata = {"render_modes": []}

    def __init__(self, families=("setcover", "auction", "facility", "indset"), sizes: dict | None = None,
                 action: str = "operator", destroy_rate: float = 0.3, reward: str = "improvement",
                 reward_levels=BALANS_REWARDS, max_steps: int = 20, sub_nodes: int = 50,
                 acceptance: str = "hill_climbing", start: str = "auto", ema: float = 0.3) -> None:
        if action not in ("operator", "operator_rate"):
            raise ConfigError(f"unknown action kind {action!r}", value=action)
        if reward not in ("improvement", "graded"):
            raise ConfigError(f"unknown reward {reward!r}", value=reward)
        if len(reward_levels) != 4:
            raise ConfigError("reward_levels needs 4 values [new best, better, accepted, rejected]",
                              value=reward_levels)
        if not 0 < destroy_rate <= 1:
            raise ConfigError(f"destroy_rate must be in (0, 1], got {destroy_rate}", value=destroy_rate)
        self.distribution = MIPFamilyDistribution(families, sizes)
        self.action_kind, self.destroy_rate, self.reward_kind = action, float(destroy_rate), reward
        self.reward_levels = tuple(float(v) for v in reward_levels)
        self.max_steps, self.ema = int(max_steps), float(ema)
        self.config = LNSConfig(sub_nodes=sub_nodes, acceptance=acceptance, start=start)
        n_ops = len(OPERATORS)
        self.action_space = spaces.Discrete(n_ops if action == "operator" else n_ops * len(DESTROY_RATES))
        self.observation_space = spaces.Box(0.0, 1.0, (len(FEATURE_NAMES),), dtype=np.float32)
        self.process: LNSProcess | None = None
        self.instance: MIPInstance | None = None
        self._instance_rng = None

    def decode(self, action: Any) -> tuple[str, float]:
        """(operator, destroy rate) of an action."""
        try:
            a = int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
        except (TypeError, ValueError) as exc:
            raise ActionError(f"action {action!r} is not an integer", value=action) from exc
        if not self.action_space.contains(np.int64(a)):
            raise ActionError(f"action {a} outside {self.action_space}", value=action)
        if self.action_kind == "operator":
            return OPERATORS[a], self.destroy_rate
        return OPERATORS[a // len(DESTROY_RATES)], DESTROY_RATES[a % len(DESTROY_RATES)]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or self._instance_rng is None:
            self._instance_rng = stream(seed, "instances")
            self._env_rng = stream(seed, "env")
        options = options or {}
        inst = options.get("instance")
        if inst is None:
            inst = self.distribution.sample(self._instance_rng)
        elif not isinstance(inst, MIPInstance):
            raise ConfigError(f"options['instance'] must be a MIPInstance, got {type(inst).__name__}", value=inst)
        self.instance = inst
        self.reference = best_known_objective(inst)
        self.process = LNSProcess(inst, self._env_rng, self.config, reference=self.reference)
        self.features = SearchFeatures(self.max_steps, self.reward_kind, self.reward_levels,
                                       self.config.temperature, self.ema)
        return self._observation(), self._info(None)

    def step(self, action: Any):
        if self.process is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        operator, rate = self.decode(action)
        p = self.process
        before = p.best_objective
        result = p.step(operator, rate)
        if self.reward_kind == "graded":
            reward = self.reward_levels[OUTCOMES.index(result.outcome)]
        else:
            scale = max(abs(self.reference) if self.reference is not None else 0.0, abs(before), 1e-9)
            reward = (before - p.best_objective) / scale
        self.features.record(operator, rate, reward, result.outcome)
        truncated = self.features.steps >= self.max_steps
        return self._observation(), float(reward), False, truncated, self._info(result)

    def _observation(self) -> np.ndarray:
        return self.features.observe(self.process)

    def _info(self, result) -> dict[str, Any]:
        p = self.process
        info = {"instance_id": self.instance.instance_id, "objective": p.current_objective,
                "best_objective": p.best_objective, "reference": self.reference, "primal_gap": p.gap(),
                "primal_integral": p.integral}
        if result is not None:
            info.update(operator=result.operator, destroy_rate=result.destroy_rate, outcome=result.outcome,
                        nodes=result.nodes, lp_iterations=result.lp_iterations, freed=result.freed,
                        candidate_objective=result.candidate_objective)
        return info


def make_lns(**kwargs) -> MIPLNSEnv:
    return MIPLNSEnv(**kwargs)


def make_lns_rate(**kwargs) -> MIPLNSEnv:
    kwargs.setdefault("action", "operator_rate")
    return MIPLNSEnv(**kwargs)
