"""Gymnasium environments: pick the LNS destroy operator (and destroy rate) for each step on a MIP.

``MIPLNSEnv`` is a :class:`~tunegym.envs.core.env.ProcessEnv` over :class:`~tunegym.envs.mip.lns.LNSProcess`.
Its observation is :class:`SearchFeatures` (registered as ``"mip.search"``) and its rewards are the named
functions ``"mip.improvement"`` and ``"mip.graded"`` of a step record; ``LNSSolver`` rebuilds both from a
tuner file, so a deployed tuner sees exactly what it was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.knob import ArmKnob, CompositeKnob, Knob
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import make_reward, register_reward
from tunegym.envs.mip.instances import MIPFamilyDistribution, MIPInstance
from tunegym.envs.mip.lns import OPERATORS, OUTCOMES, LNSConfig, LNSProcess

__all__ = ["MIPLNSEnv", "SearchFeatures", "DESTROY_RATES", "DEFAULT_DESTROY_RATE", "BALANS_REWARDS", "FEATURE_NAMES",
           "REWARD_NAMES", "lns_knob", "make_lns", "make_lns_rate", "improvement_reward", "graded_reward"]

DESTROY_RATES = (0.1, 0.3, 0.5, 0.7, 0.9)
DEFAULT_DESTROY_RATE = 0.3  # MIPLNS-v0's rate for every operator unless destroy_rate= says otherwise
BALANS_REWARDS = (8.0, 4.0, 2.0, 1.0)  # [new best, better than current, accepted, rejected]
SHAPE_FEATURES = ("log_cols", "log_rows", "integer_share", "density")
STATE_FEATURES = ("progress", "best_gap_to_lp_bound", "current_vs_best", "incumbent_lp_disagreement",
                  "temperature", "last_destroy_rate")
FEATURE_NAMES = SHAPE_FEATURES + STATE_FEATURES + tuple(f"reward_ema_{o}" for o in OPERATORS) \
    + tuple(f"success_rate_{o}" for o in OPERATORS)
#: the env's ``reward=`` argument -> the registered reward name
REWARD_NAMES = {"improvement": "mip.improvement", "graded": "mip.graded"}


# ---- rewards: pure functions of a step record ------------------------------------------------------------
@register_reward("mip.improvement")
def improvement_reward(record: StepRecord) -> float:
    """Decrease of the best objective, divided by ``max(|reference|, |best before|)`` (the primal gap's
    decrease up to normalisation; without a reference, relative to the best before the step)."""
    extra = record.extra
    before, after, reference = float(extra["best_before"]), float(extra["best_objective"]), extra.get("reference")
    scale = max(abs(float(reference)) if reference is not None else 0.0, abs(before), 1e-9)
    return (before - after) / scale


@register_reward("mip.graded")
def graded_reward(record: StepRecord, levels: Sequence[float] = BALANS_REWARDS) -> float:
    """Balans's reward levels indexed by the step's outcome [new best, better than current, accepted, rejected]."""
    levels = tuple(float(v) for v in levels)
    if len(levels) != len(OUTCOMES) or not all(math.isfinite(v) for v in levels):
        raise ConfigError(f"levels needs {len(OUTCOMES)} finite values {list(OUTCOMES)}, got {levels!r}",
                          value=levels)
    return levels[OUTCOMES.index(record.extra["outcome"])]


def _reward_name(reward: str) -> str:
    name = REWARD_NAMES.get(reward, reward)
    if name not in REWARD_NAMES.values():
        raise ConfigError(f"unknown reward {reward!r}; choices: {sorted(REWARD_NAMES)}", value=reward)
    return name


# ---- features --------------------------------------------------------------------------------------------
class SearchFeatures(Features):
    """The observation of an LNS search: model shape, incumbent state and per-operator reward history.

    Shared by :class:`MIPLNSEnv` and the deploy path (:class:`tunegym.agents.LNSSolver`, which rebuilds it from
    the tuner file's ``features`` config), so a policy sees the same features in training and in use. The
    reward averages are of the env's reward (``reward``/``reward_params``: a registered name and its
    parameters, computed from each step record); ``max_steps`` scales the progress feature.
    """

    name = "mip.search"

    def __init__(self, max_steps: int = 20, reward: str = "mip.improvement",
                 reward_params: Mapping[str, Any] | None = None, temperature: float = 0.05, ema: float = 0.3) -> None:
        if int(max_steps) < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps!r}", value=max_steps)
        self.max_steps, self.reward = int(max_steps), _reward_name(reward)
        self.reward_params = {k: list(v) if isinstance(v, (tuple, list)) else v
                              for k, v in dict(reward_params or {}).items()}
        self._reward = make_reward(self.reward, self.reward_params)
        self.temperature, self.ema = float(temperature), float(ema)
        levels = self.reward_params.get("levels", BALANS_REWARDS)
        self._top = max(float(v) for v in levels) if self.reward == "mip.graded" else 1.0
        self.space = spaces.Box(0.0, 1.0, (len(FEATURE_NAMES),), dtype=np.float32)
        self.reset(None)  # type: ignore[arg-type]

    def params(self) -> dict[str, Any]:
        return {"max_steps": self.max_steps, "reward": self.reward, "reward_params": dict(self.reward_params),
                "temperature": self.temperature, "ema": self.ema}

    def reset(self, process: Process) -> None:
        n = len(OPERATORS)
        self.reward_avg, self.tries, self.successes = np.zeros(n), np.zeros(n), np.zeros(n)
        self.steps, self.last_rate = 0, 0.0

    def record(self, process: Process, record: StepRecord) -> None:
        k = OPERATORS.index(record.extra["operator"])
        reward = float(self._reward(record))
        self.tries[k] += 1
        self.successes[k] += record.extra["outcome"] in ("new_best", "better")
        self.reward_avg[k] = (1 - self.ema) * self.reward_avg[k] + self.ema * reward
        self.steps += 1
        self.last_rate = float(record.extra["destroy_rate"])

    def observe(self, process: Process) -> np.ndarray:
        p: LNSProcess = process  # type: ignore[assignment]
        inst = p.instance
        m = inst.matrix
        shape = [np.log10(inst.num_cols + 1) / 7, np.log10(inst.num_rows + 1) / 7, inst.integer.mean(),
                 m.nnz / max(inst.num_cols * inst.num_rows, 1)]
        best, cur, bound = p.best_objective, p.current_objective, p.lp_bound
        scale = max(abs(best), abs(bound), 1e-9)
        idx = p.int_idx
        disagree = float(np.mean(np.abs(p.current[idx] - np.round(p.lp_solution[idx])) > 0.5)) if len(idx) else 0.0
        state = [min(self.steps / self.max_steps, 1.0), (best - bound) / scale, (cur - best) / scale, disagree,
                 p.temperature / max(self.temperature, 1e-12), self.last_rate]
        hist = list(self.reward_avg / max(self._top, 1e-12)) + list(self.successes / np.maximum(self.tries, 1))
        obs = np.nan_to_num(np.array(shape + state + hist, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(obs, 0.0, 1.0)


register_features(SearchFeatures.name, "tunegym.envs.mip.env:SearchFeatures")


def lns_knob(action: str = "operator") -> Knob:
    """The LNS decision as a knob: the operator (``"operator"``) or operator × destroy rate (``"operator_rate"``,
    flat index ``operator * 5 + rate``)."""
    operator = ArmKnob("operator", OPERATORS)
    if action == "operator":
        return operator
    if action == "operator_rate":
        return CompositeKnob("lns", [operator, ArmKnob("destroy_rate", DESTROY_RATES)])
    raise ConfigError(f"unknown action kind {action!r}; choices: 'operator', 'operator_rate'", value=action)


class MIPLNSEnv(ProcessEnv):
    """Adaptive large-neighbourhood search on a MIP, solved by HiGHS: choose the destroy operator.

    ## Description
    Balans (bandit-driven adaptive LNS for MIP, coin-or ``balans``) on HiGHS. Each episode draws one MIP
    (set cover, CATS combinatorial auction, capacitated facility location, independent set; the families of
    Gasse et al. 2019) and starts from the generator's greedy feasible point (set cover: Chvátal's greedy;
    auction and independent set: greedy packing; facility location: all facilities open, customers assigned
    greedily) or, for a model without one, a 1-node HiGHS run. Each step the chosen
    operator frees a share of the integer variables, the rest are fixed to the current solution by bounds, and
    the sub-MIP is solved by HiGHS (threads=1, fixed seed, ``sub_nodes`` node limit, warm start by
    ``setSolution``); the result is accepted by hill climbing (or simulated annealing). The process is
    :class:`~tunegym.envs.mip.lns.LNSProcess`; wall time is kept out of ``info`` (``env.unwrapped.last_record``).

    ## Action Space
    ``action="operator"``: ``Discrete(9)``, index into ``OPERATORS`` (mutation, rins, rens, dins,
    local_branching, proximity, random_objective, crossover, constraint) at ``destroy_rate``.
    ``action="operator_rate"``: ``Discrete(9 * 5)``, ``a = operator * 5 + rate`` with rates ``DESTROY_RATES``
    (the core ``CompositeKnob``, last part fastest). An index outside the space raises
    :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(0, 1, (28,))`` named by ``FEATURE_NAMES`` (:class:`SearchFeatures`, ``"mip.search"``): model shape
    (log sizes, integer share, density), state (episode progress ``step / max_steps``, relative gap of the best
    solution to the LP bound, current vs best, share of integers where the incumbent differs from the rounded
    LP solution, SA temperature, last destroy rate), and per operator an exponential moving average of its
    reward and its success rate. Clipped into the box.

    ## Rewards
    ``reward="improvement"`` (``"mip.improvement"``): improvement of the best objective divided by
    ``max(|reference|, |best before|)`` (the decrease of the primal gap, up to normalisation).
    ``reward="graded"`` (``"mip.graded"``): Balans's levels indexed [new best, better than current, accepted,
    rejected], ``reward_levels`` (default ``[8, 4, 2, 1]``). Both are named pure functions of the step record.

    ## Info
    The core contract: ``cost`` = sub-MIP branch-and-bound nodes (``cost_unit="sub_mip_nodes"``), ``knob`` =
    ``{"operator", "destroy_rate"}`` applied, ``instance_id``, ``quality`` = ``primal_gap`` (against the best
    known objective: a cached 20k-node HiGHS run; None if it found none), ``status``; and ``operator``,
    ``destroy_rate``, ``outcome``, ``nodes``, ``lp_iterations``, ``freed``, ``objective``, ``best_before``,
    ``best_objective``, ``candidate_objective`` (None if the sub-MIP found nothing), ``reference``,
    ``primal_integral`` (sum of gaps over steps), ``step``. Objectives are in minimisation form. ``reset``'s
    info: ``instance_id``, ``reference``, ``objective``, ``best_objective``, ``primal_gap``.

    ## Starting State
    ``reset(seed)`` draws the instance from ``stream(seed, "instances")``; the LNS's own draws come from the
    instance (``instance_seed(instance, "lns")``), so ``reset(options={"instance": MIPInstance})`` replays that
    instance's search exactly for the same actions, whatever the seed.

    ## Episode End
    Never terminates; truncated after ``max_steps`` LNS steps (default 20).

    ## Arguments
    ``families`` (default all four), ``sizes`` (per family generator kwargs; default tiny ones, e.g. set cover
    60x120 — realistic sizes are ``instances.REALISTIC``: set cover 500x1000, auction 200x1000, facility
    100x100, independent set 1500 nodes), ``action``, ``destroy_rate`` (0.3, for ``action="operator"``),
    ``reward``, ``reward_levels``, ``max_steps``, ``sub_nodes`` (50), ``acceptance`` ("hill_climbing" |
    "simulated_annealing"), ``start``, ``ema`` (of the reward-history features).

    ## Version History
    - v0: initial release. Changed before any release (2026-11-25): auction instances follow Gasse et al.'s
      CATS generator (substitutable bids, dummy XOR items), starts are greedy points, the LP relaxation is
      computed on first use; trajectories differ from earlier v0 commits. Changed before any release
      (2026-12-01): built on the shared process core; the LNS draws come from the instance id (not the reset
      seed), so trajectories differ from earlier commits; ``info`` follows the core contract (``cost`` =
      sub-MIP nodes, ``knob``, ``quality`` = primal gap).
    """

    domain = "mip"
    default_knob_value: Any = "mutation"

    def __init__(self, families: Sequence[str] = ("setcover", "auction", "facility", "indset"),
                 sizes: dict | None = None, action: str = "operator",
                 destroy_rate: float = DEFAULT_DESTROY_RATE, reward: str = "improvement",
                 reward_levels: Sequence[float] = BALANS_REWARDS, max_steps: int = 20,
                 sub_nodes: int = 50, acceptance: str = "hill_climbing", start: str = "auto",
                 ema: float = 0.3) -> None:
        reward_name = _reward_name(reward)
        if len(reward_levels) != len(OUTCOMES):
            raise ConfigError("reward_levels needs 4 values [new best, better, accepted, rejected]",
                              value=reward_levels)
        if not 0 < destroy_rate <= 1:
            raise ConfigError(f"destroy_rate must be in (0, 1], got {destroy_rate}", value=destroy_rate)
        knob = lns_knob(action)
        self.action_kind, self.destroy_rate = action, float(destroy_rate)
        self.reward_kind, self.reward_levels = reward, tuple(float(v) for v in reward_levels)
        self.max_steps, self.ema = int(max_steps), float(ema)
        self.config = LNSConfig(sub_nodes=sub_nodes, acceptance=acceptance, start=start,
                                destroy_rate=self.destroy_rate)
        reward_params = {"levels": list(self.reward_levels)} if reward_name == "mip.graded" else {}
        features = SearchFeatures(self.max_steps, reward_name, reward_params, self.config.temperature, self.ema)
        super().__init__(LNSProcess(self.config), MIPFamilyDistribution(families, sizes), knob, features,
                         reward=reward_name, reward_params=reward_params, horizon=self.max_steps,
                         instance_type=MIPInstance)
        if action == "operator_rate":
            self.default_knob_value = {"operator": "mutation", "destroy_rate": 0.5}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = super().reset(seed=seed, options=options)
        p = self.process
        info.update(reference=p.reference, objective=p.current_objective, best_objective=p.best_objective,
                    primal_gap=p.gap())
        return observation, info


def make_lns(**kwargs: Any) -> MIPLNSEnv:
    """``tunegym/MIPLNS-v0``: the destroy operator at a fixed destroy rate."""
    return MIPLNSEnv(**kwargs)


def make_lns_rate(**kwargs: Any) -> MIPLNSEnv:
    """``tunegym/MIPLNSRate-v0``: operator × destroy rate (9 × 5 arms)."""
    kwargs.setdefault("action", "operator_rate")
    return MIPLNSEnv(**kwargs)
