"""``LNSSolver``: the MIP LNS as an anytime heuristic for a user's MPS/LP file or ``highspy.Highs`` model.

The solver holds a :class:`~tunegym.agents.tuner.Tuner` and drives the env's own process
(:class:`~tunegym.envs.mip.lns.LNSProcess`) with it: the observation is rebuilt by ``Tuner.make_features()``
(the :class:`~tunegym.envs.mip.env.SearchFeatures` the policy was trained with: same ``max_steps``, same
reward averages), the decision is decoded by the tuner's knob, and an online policy (a bandit) learns from
``Tuner.reward(record)`` (the env's named reward). So a deployed tuner and an env rollout on the same instance
make identical decisions under node limits (``tests/test_mip_parity.py``). A tuner of another domain or
observation layout is refused at construction with one :class:`TunerMismatchError` line.

Without a tuner a Softmax bandit (``tunegym.agents.bandits.Softmax``) over Balans's graded rewards
[8, 4, 2, 1] runs (Balans's best tuned policy). With a wall-time limit the whole run (start, LP relaxation,
every sub-MIP) stays inside it: the deploy path; ``time_limit=None`` with ``max_iterations`` and
``sub_time_limit=None`` gives the env's deterministic, node-limited search.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner import Tuner, as_tuner
from tunegym.envs.core.errors import ConfigError, TunerMismatchError
from tunegym.envs.core.knob import ArmKnob, CompositeKnob
from tunegym.envs.core.process import StepRecord
from tunegym.envs.mip.env import BALANS_REWARDS, DEFAULT_DESTROY_RATE, FEATURE_NAMES, lns_knob
from tunegym.envs.mip.instances import MIPInstance, load_model
from tunegym.envs.mip.lns import OPERATORS, LNSConfig, LNSProcess, NoFeasibleStartError, primal_gap

__all__ = ["LNSSolver", "LNSSolution", "lns_tuner", "MIP_ENV_IDS"]

MIP_ENV_IDS = ("tunegym/MIPLNS-v0", "tunegym/MIPLNSRate-v0")
#: the destroy rate of an operator-only policy whose file does not say it (the deploy default)
DEPLOY_DESTROY_RATE = 0.5


def lns_tuner(policy: Any, *, action: str = "operator", reward: str = "graded",
              reward_levels: Sequence[float] = BALANS_REWARDS, destroy_rate: float = DEPLOY_DESTROY_RATE,
              **env_kwargs: Any) -> Tuner:
    """``policy`` as a tuner of ``tunegym/MIPLNS-v0`` (``action="operator"``) or ``MIPLNSRate-v0`` with these
    env settings (reward, levels, destroy rate, ``max_steps``...), for policies that record no env (a bandit
    made in code, the benches' baselines)."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401  (registers the ids)

    env_id = MIP_ENV_IDS[0] if action == "operator" else MIP_ENV_IDS[1]
    kwargs = dict(env_kwargs, reward=reward, reward_levels=list(reward_levels))
    if action == "operator":
        kwargs["destroy_rate"] = float(destroy_rate)
    env = gym.make(env_id, **kwargs)
    try:
        return Tuner.from_env(policy, env, provenance={"made_by": "tunegym.agents.lns_solver.lns_tuner"})
    finally:
        env.close()


@dataclass
class LNSSolution:
    """Result of :meth:`LNSSolver.solve`.

    ``status``: "improved" (LNS beat the start), "feasible" (start only), "no_solution" (no feasible point
    found in the time limit). ``primal_gap`` is against ``reference`` when given, else against the LP bound
    (None where neither is known). ``steps`` are the process's step records and ``observations`` what the
    tuner saw before each step (for parity checks and analysis).
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
    steps: list[StepRecord] = field(default_factory=list)
    observations: list[np.ndarray] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        """Sub-MIP nodes over all steps (the env's cost)."""
        return int(sum(record.cost for record in self.steps))


class LNSSolver:
    """Anytime LNS on HiGHS driven by ``tuner``.

    ``tuner``: None (Balans's Softmax bandit over graded rewards, seeded by ``seed``), a :class:`Tuner`, a
    path or ``"pretrained:mip-lns"`` (loaded with :func:`tunegym.agents.tuners.load_tuner` and converted by
    :func:`~tunegym.agents.tuner.as_tuner`), or a loaded policy that records its env. ``destroy_rate``: the
    rate of an operator-only tuner (default: the rate it was trained at). ``learn``: whether an online tuner
    keeps learning during the search (default: yes for bandits).
    """

    #: share of the time limit the HiGHS start and the LP relaxation may use at most
    START_SHARE, LP_SHARE = 0.5, 0.2

    def __init__(self, tuner: Any = None, destroy_rate: float | None = None, sub_nodes: int = 200,
                 acceptance: str = "hill_climbing", seed: int = 0, start_nodes: int = 50,
                 sub_time_limit: float | None = 1.0, learn: bool | None = None) -> None:
        if isinstance(tuner, (str, Path)):
            tuner = self.load_tuner(tuner)
        if tuner is None:
            from tunegym.agents.bandits import Softmax

            tuner = lns_tuner(Softmax(len(OPERATORS), seed=seed), reward="graded")
        self.tuner = self._as_lns_tuner(tuner)
        self.knob = self.tuner.knob
        if destroy_rate is None:
            destroy_rate = self.tuner.env_kwargs.get("destroy_rate", DEFAULT_DESTROY_RATE)  # as in training
        if not 0 < float(destroy_rate) <= 1:
            raise ConfigError(f"destroy_rate must be in (0, 1], got {destroy_rate}", value=destroy_rate)
        self.destroy_rate, self.seed = float(destroy_rate), int(seed)
        self.learn = self.tuner.online if learn is None else bool(learn)
        self.sub_nodes, self.acceptance, self.start_nodes = int(sub_nodes), acceptance, int(start_nodes)
        # Wall-clock cap per sub-MIP on top of the node limit: HiGHS's root (cuts, heuristics) is not bounded
        # by nodes, and one slow sub-MIP from a poor incumbent would eat the whole budget.
        self.sub_time_limit = sub_time_limit

    @staticmethod
    def load_tuner(path: str | Path) -> Any:
        """A tuner file or ``"pretrained:NAME"``; :class:`CheckpointError` if missing or not a tuner."""
        from tunegym.agents.tuners import load_tuner

        return load_tuner(path)

    @staticmethod
    def _as_lns_tuner(policy: Any) -> Tuner:
        """``policy`` as a tuner of an LNS env, or one :class:`TunerMismatchError` line saying why not."""
        from tunegym.agents.bandits import Bandit

        if isinstance(policy, Bandit) and not getattr(policy, "env_id", None):
            # A bandit file records no env; its arm count and context say which LNS knob it was made for.
            kinds = {len(OPERATORS): "operator", lns_knob("operator_rate").space.n: "operator_rate"}
            if policy.n_arms not in kinds or policy.context_dim not in (0, len(FEATURE_NAMES)):
                raise TunerMismatchError(
                    f"LNSSolver needs a bandit over {sorted(kinds)} LNS arms with no context or the "
                    f"{len(FEATURE_NAMES)} search features; this is a {policy.algorithm!r} bandit with "
                    f"{policy.n_arms} arms and context of size {policy.context_dim}", value=policy.n_arms)
            policy = lns_tuner(policy, action=kinds[policy.n_arms], reward="improvement")
        tuner = as_tuner(policy)
        tuner.expect("mip", adapter="LNSSolver", observation_shape=(len(FEATURE_NAMES),))
        knob = tuner.knob
        fits = (isinstance(knob, ArmKnob) and knob == lns_knob("operator")) or \
            (isinstance(knob, CompositeKnob) and knob == lns_knob("operator_rate"))
        if not fits:
            raise TunerMismatchError(f"LNSSolver needs a tuner whose knob is the LNS operator (or operator x rate); "
                                     f"this is a 'mip' tuner trained on {tuner.env_id} with knob {knob!r}",
                                     value=knob.to_dict())
        return tuner

    def solve(self, model: str | Path | Any, time_limit: float | None = 10.0, max_iterations: int | None = None,
              reference: float | None = None) -> LNSSolution:
        """Improve ``model`` (path, ``highspy.Highs`` or :class:`MIPInstance`) for ``time_limit`` seconds.

        ``time_limit=None`` (with ``max_iterations``) sets no wall-clock limit anywhere except the per-sub-MIP
        ``sub_time_limit``; with ``sub_time_limit=None`` too the run is the env's deterministic search.
        ``reference`` (model sense) is the objective the gaps (and the improvement reward) are measured against.
        Raises the loader's typed errors (malformed file, no integer variables) and
        :class:`InfeasibleModelError` / :class:`UnboundedRelaxationError` when HiGHS proves them; a model
        with no feasible point found in time gives status "no_solution".
        """
        if time_limit is None:
            if max_iterations is None:
                raise ConfigError("give time_limit or max_iterations (or both)", value=None)
        elif not np.isfinite(time_limit) or time_limit <= 0:
            raise ConfigError(f"time_limit must be positive, got {time_limit}", value=time_limit)
        t0 = time.perf_counter()

        def left() -> float:
            return np.inf if time_limit is None else time_limit - (time.perf_counter() - t0)

        # No LP check at load time: it is not bounded in time; the start run proves infeasibility/unboundedness.
        inst = model if isinstance(model, MIPInstance) else load_model(model, check=False)
        config = LNSConfig(sub_nodes=self.sub_nodes, acceptance=self.acceptance, start="auto",
                           start_nodes=self.start_nodes, destroy_rate=self.destroy_rate,
                           start_time_limit=None if time_limit is None else max(self.START_SHARE * left(), 1e-3),
                           lp_time_limit=None if time_limit is None else self.LP_SHARE * time_limit)
        proc = LNSProcess(config, reference=None)
        try:
            proc.start(inst, reference=None if reference is None else inst.objective_sign * reference)
        except NoFeasibleStartError:
            return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0)
        features = self.tuner.make_features()
        features.reset(proc)
        trace = [(time.perf_counter() - t0, inst.objective_sign * proc.best_objective)]
        counts = dict.fromkeys(OPERATORS, 0)
        records: list[StepRecord] = []
        observations: list[np.ndarray] = []
        improved, it = False, 0
        while left() > 0 and (max_iterations is None or it < max_iterations):
            observation = features.observation(proc)  # first call solves the LP relaxation within lp_time_limit
            action, value = self.tuner.act(observation, learn=self.learn)
            caps = [c for c in (left(), self.sub_time_limit) if c is not None and np.isfinite(c)]
            record = proc.advance(value, time_limit=max(min(caps), 1e-3) if caps else None)
            if self.learn:
                self.tuner.learn_from(observation, action, record)
            features.record(proc, record)
            observations.append(observation)
            records.append(record)
            outcome = record.extra["outcome"]
            counts[record.extra["operator"]] += 1
            improved |= outcome in ("new_best", "better")
            if outcome == "new_best":
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
                           time.perf_counter() - t0, proc.highs_time, counts, trace, records, observations)

    @staticmethod
    def write_solution(solution: LNSSolution, path: str | Path) -> None:
        """Column names -> values as JSON (with objective and status), written atomically."""
        from tunegym.agents.tuner_io import atomic_write_bytes

        payload = {"status": solution.status, "objective": solution.objective,
                   "primal_gap": solution.primal_gap, "values": solution.values}
        atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
