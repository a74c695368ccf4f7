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

Interleaving (``interleave=True``, the default of the deploy path): HiGHS runs on the full model (threads=1)
for the whole budget and the LNS runs *inside HiGHS's* ``cbMipInterrupt`` callbacks, so only one of them
computes at any moment (equal threads to HiGHS alone). HiGHS gets ``highs_share`` of the budget, the LNS the
rest; HiGHS's improving solutions become the LNS's incumbent (``cbMipImprovingSolution``), the LNS's are
handed to HiGHS (``cbMipUserSolution``) so it prunes with them, and the run stops as soon as the best
solution is within HiGHS's ``mip_rel_gap`` (1e-4) of the dual bound (HiGHS's, or the root LP's): status
``"optimal"``. ``work_limit`` (branch-and-bound nodes over every HiGHS run, the root counted as one) with
``time_limit=None`` makes the same schedule deterministic (benchmarks). ``interleave=False`` gives the
LNS alone (a HiGHS start run, then sub-MIPs until the time limit).
"""

from __future__ import annotations

import json
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner import Tuner, as_tuner
from tunegym.envs.core.errors import ConfigError, InstanceError, TunerMismatchError
from tunegym.envs.core.features import clip_observation
from tunegym.envs.core.knob import ArmKnob, CompositeKnob
from tunegym.envs.core.process import StepRecord
from tunegym.envs.mip.env import BALANS_REWARDS, DEFAULT_DESTROY_RATE, FEATURE_NAMES, lns_knob
from tunegym.envs.mip.instances import (
    InfeasibleModelError, MIPInstance, infeasible_or_unbounded, load_model, reset_thread_scheduler, run_highs,
)
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


def _real(value: Any) -> bool:
    """Whether ``value`` is a real number and not a bool (``True`` is no time limit or node count)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _whole(value: Any) -> bool:
    """Whether ``value`` is a finite real without a fraction (``1e4`` included), not a bool."""
    return _real(value) and bool(np.isfinite(value)) and int(value) == value


def _check_limits(time_limit: Any, max_iterations: Any, work_limit: Any, reference: Any) -> None:
    """One :class:`ConfigError` line for a budget :meth:`LNSSolver.solve` cannot honour (a string, a bool, NaN, a
    non-positive or infinite time, a negative count), before any work: it would fail deep inside numpy or
    HiGHS, or never end."""
    if time_limit is None:
        if max_iterations is None and work_limit is None:
            raise ConfigError("give time_limit, work_limit or max_iterations", value=None)
    elif not _real(time_limit) or not np.isfinite(time_limit) or time_limit <= 0:
        raise ConfigError(f"time_limit must be a positive, finite number of seconds, got {time_limit!r}",
                          value=time_limit)
    if work_limit is not None and (not _whole(work_limit) or work_limit < 1):
        raise ConfigError(f"work_limit must be a positive node count, got {work_limit!r}", value=work_limit)
    if max_iterations is not None and (not _whole(max_iterations) or max_iterations < 0):
        raise ConfigError(f"max_iterations must be a count >= 0, got {max_iterations!r}", value=max_iterations)
    if reference is not None and (not _real(reference) or not np.isfinite(reference)):
        raise ConfigError(f"reference must be a finite objective value, got {reference!r}", value=reference)


def _check_settings(seed: Any, sub_nodes: Any, start_nodes: Any, sub_time_limit: Any, acceptance: Any) -> None:
    """One :class:`ConfigError` line for a constructor setting :class:`LNSSolver` cannot use, at construction: a
    negative seed failed deep inside numpy (``--seed -1`` on the command line), the others inside the first
    ``solve``."""
    if not _whole(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}", value=seed)
    for label, value in (("sub_nodes", sub_nodes), ("start_nodes", start_nodes)):
        if not _whole(value) or value < 1:
            raise ConfigError(f"{label} must be a node count >= 1, got {value!r}", value=value)
    if sub_time_limit is not None and (not _real(sub_time_limit) or not sub_time_limit > 0
                                       or np.isnan(sub_time_limit)):
        raise ConfigError(f"sub_time_limit must be None or a positive number of seconds, got {sub_time_limit!r}",
                          value=sub_time_limit)
    if acceptance not in ("hill_climbing", "simulated_annealing"):
        raise ConfigError(f"acceptance must be 'hill_climbing' or 'simulated_annealing', got {acceptance!r}",
                          value=acceptance)


def _closed(best: float, dual: float, offset: float, rel_gap: float, abs_gap: float) -> bool:
    """HiGHS's optimality test on the objective as the model states it: the best value (minimisation form, without
    the constant ``offset``) within ``abs_gap`` of the dual bound, or within ``rel_gap`` of it relative to the
    objective *with* the constant, as HiGHS measures its gap on the user's own file (measured without it, a constant
    that cancels most of the objective let a gap of several percent of the objective as printed pass as 1e-4)."""
    if not (np.isfinite(best) and np.isfinite(dual)):
        return False
    diff = best - dual
    return diff <= abs_gap or diff <= rel_gap * max(abs(best + offset), 1e-9)


@dataclass
class LNSSolution:
    """Result of :meth:`LNSSolver.solve`.

    ``status``: "optimal" (the best solution is proven optimal within HiGHS's ``mip_rel_gap``), "improved"
    (LNS beat the start), "feasible" (start only), "no_solution" (no feasible point found in the time limit).
    ``message`` says in one line why the run ended. ``primal_gap`` is against ``reference`` when given, else
    against the dual bound (HiGHS's on the full model, or the LP bound; None where neither is known; 0 for a
    solution proven optimal), both taken with the objective's constant as printed. ``dual_bound`` is in the
    model's own sense: the bound that gap is measured against (the LNS alone: the HiGHS start run's or the LP
    relaxation's, whichever is tighter, as far as they were solved within the limit). ``steps`` are
    the process's step records and ``observations`` what the tuner saw before each step (for parity checks and
    analysis).
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
    dual_bound: float | None = None
    work: int = 0  # branch-and-bound nodes over every HiGHS run (full model and sub-MIPs, a root counted as 1)
    work_trace: list[tuple[int, float]] = field(default_factory=list)  # (work, best objective, model sense)
    highs_solutions: int = 0  # improving solutions the full-model HiGHS found (interleaved runs)
    message: str = ""  # why the run ended (proof, which limit), one line

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

    #: share of the budget the full-model HiGHS gets in an interleaved run (the LNS gets the rest)
    HIGHS_SHARE = 0.5
    #: share of a wall-time budget (or of a work budget) HiGHS runs alone first: an easy model closes at once
    WARMUP_SHARE = 0.05
    #: HiGHS's default relative and absolute gap tolerances (the optimality test)
    MIP_REL_GAP, MIP_ABS_GAP = 1e-4, 1e-6
    #: LNS steps per node of a work budget at most (deterministic interleaved runs): a sub-MIP that presolve solves
    #: costs 0 nodes, so without a cap a node budget alone need never end (the published max-cut runs took up to
    #: 11.7 steps per node on the final test and 19.7 on dev-test; the cap is well above both)
    MAX_STEPS_PER_WORK = 50

    def __init__(self, tuner: Any = None, destroy_rate: float | None = None, sub_nodes: int = 200,
                 acceptance: str = "hill_climbing", seed: int = 0, start_nodes: int = 50,
                 sub_time_limit: float | None = 1.0, learn: bool | None = None, interleave: bool = True,
                 highs_share: float | None = None) -> None:
        _check_settings(seed, sub_nodes, start_nodes, sub_time_limit, acceptance)
        if isinstance(tuner, (str, Path)):
            tuner = self.load_tuner(tuner)
        if tuner is None:
            from tunegym.agents.bandits import Softmax

            tuner = lns_tuner(Softmax(len(OPERATORS), seed=int(seed)), reward="graded")
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
        self.interleave = bool(interleave)
        self.highs_share = self.HIGHS_SHARE if highs_share is None else float(highs_share)
        if not 0 < self.highs_share < 1:
            raise ConfigError(f"highs_share must be in (0, 1), got {highs_share}", value=highs_share)
        self._warm_features()

    def _warm_features(self) -> None:
        """Load the observation's compiled kernel now: its first call in a process costs 0.4 s with numba's cache
        and seconds without, which would otherwise be spent inside the first ``solve``'s time limit."""
        features = self.tuner.make_features()
        low, high = features.bounds()
        clip_observation(np.zeros_like(low), low, high)

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
              reference: float | None = None, work_limit: int | None = None) -> LNSSolution:
        """Improve ``model`` (path, ``highspy.Highs`` or :class:`MIPInstance`) for ``time_limit`` seconds.

        ``time_limit=None`` (with ``max_iterations``) sets no wall-clock limit anywhere except the per-sub-MIP
        ``sub_time_limit``; with ``sub_time_limit=None`` too the run is the env's deterministic search.
        ``reference`` (model sense) is the objective the gaps (and the improvement reward) are measured against.
        Raises :class:`ConfigError` for a budget it cannot honour (checked first), the loader's typed errors
        (malformed file; unsupported: semi-continuous columns, a quadratic objective; no integer variables) and
        :class:`InfeasibleModelError` / :class:`UnboundedRelaxationError` when HiGHS proves them (also for a model
        with feasible points whose objective is unbounded; where HiGHS's presolve finds "infeasible or unbounded", a
        zero-objective run tells which); a model with no feasible point found in time gives status "no_solution".
        Reading the model counts against ``time_limit``. The user's ``highspy.Highs`` is read, never changed; a
        user's own HiGHS runs in the same thread before or after do not disturb the solver's single-threaded ones
        (nor it theirs: :func:`~tunegym.envs.mip.instances.run_highs`).
        """
        _check_limits(time_limit, max_iterations, work_limit, reference)
        try:
            return self._solve(model, time_limit, max_iterations, reference, work_limit)
        finally:
            reset_thread_scheduler()  # the user's own HiGHS runs after this one get their own thread count again

    def _solve(self, model: Any, time_limit: float | None, max_iterations: int | None, reference: float | None,
               work_limit: int | None) -> LNSSolution:
        t0 = time.perf_counter()
        if self.interleave and (time_limit is not None or work_limit is not None):
            inst = model if isinstance(model, MIPInstance) else load_model(model, check=False)
            return self._solve_interleaved(inst, time_limit, work_limit, max_iterations, reference, t0)

        def left() -> float:
            return np.inf if time_limit is None else time_limit - (time.perf_counter() - t0)

        # No LP check at load time: it is not bounded in time; the start run proves infeasibility/unboundedness.
        inst = model if isinstance(model, MIPInstance) else load_model(model, check=False)
        sign, offset = inst.objective_sign, inst.offset
        if time_limit is not None and left() <= 0:
            return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0,
                               message=f"the time limit of {time_limit:g} s was spent reading the model")
        config = LNSConfig(sub_nodes=self.sub_nodes, acceptance=self.acceptance, start="auto",
                           start_nodes=self.start_nodes, destroy_rate=self.destroy_rate,
                           start_time_limit=None if time_limit is None else max(self.START_SHARE * left(), 1e-3),
                           lp_time_limit=None if time_limit is None else self.LP_SHARE * time_limit)
        proc = LNSProcess(config, reference=None)
        try:
            proc.start(inst, reference=None if reference is None else sign * reference - offset)
        except NoFeasibleStartError as exc:
            return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0, message=str(exc))
        features = self.tuner.make_features()
        features.reset(proc)
        trace = [(time.perf_counter() - t0, inst.objective_sign * (proc.best_objective + inst.offset))]
        counts = dict.fromkeys(OPERATORS, 0)
        records: list[StepRecord] = []
        observations: list[np.ndarray] = []
        improved, it = False, 0
        spent = max(int(proc.nodes), 1)  # work as work_limit counts it: nodes, each HiGHS run's root counted as one

        def more() -> bool:
            """Within every limit given (a work limit alone would otherwise never end this loop)."""
            return left() > 0 and (max_iterations is None or it < max_iterations) and \
                (work_limit is None or spent < work_limit)

        while more():
            if time_limit is not None:
                proc.relaxation(left())  # first call: the LP relaxation, within lp_time_limit and the time left
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
            spent += max(int(record.cost), 1)
            improved |= outcome in ("new_best", "better")
            if outcome == "new_best":
                trace.append((time.perf_counter() - t0, inst.objective_sign * (proc.best_objective + inst.offset)))
            it += 1
        best = proc.best_objective
        bound = proc.known_bound  # never proc.lp_bound here: that would solve the LP, unbounded in time, past the limit
        if proc.reference is not None:
            gap = primal_gap(best + offset, proc.reference + offset)
        elif np.isfinite(bound):
            gap = primal_gap(best + offset, bound + offset)
        else:
            gap = None
        if max_iterations is not None and it >= max_iterations:
            why = f"max_iterations ({it} LNS iterations)"
        elif work_limit is not None and spent >= work_limit:
            why = f"the work limit of {work_limit} nodes"
        else:
            why = f"the time limit of {time_limit:g} s"
        message = f"stopped at {why}; the LNS alone (interleave=False) proves no optimality"
        return LNSSolution("improved" if improved else "feasible", sign * (best + offset),
                           dict(zip(inst.names(), (float(v) + 0.0 for v in proc.best))), gap, it,
                           time.perf_counter() - t0, proc.highs_time, counts, trace, records, observations,
                           dual_bound=sign * (bound + offset) if np.isfinite(bound) else None,
                           work=int(proc.nodes), message=message)

    def _solve_interleaved(self, inst: MIPInstance, time_limit: float | None, work_limit: int | None,
                           max_iterations: int | None, reference: float | None, t0: float) -> LNSSolution:
        """HiGHS on the full model for the whole budget, the LNS inside its interrupt callbacks (see the module
        docstring). Budget clock: wall seconds (``time_limit``) or nodes (``work_limit``, deterministic when
        ``time_limit`` is None: every limit is then a count)."""
        import highspy

        deterministic = time_limit is None
        share = self.highs_share
        config = LNSConfig(sub_nodes=self.sub_nodes, acceptance=self.acceptance, start="auto",
                           start_nodes=self.start_nodes, destroy_rate=self.destroy_rate,
                           lp_time_limit=None if deterministic else self.LP_SHARE * time_limit)
        proc = LNSProcess(config, reference=None)
        sign, offset = inst.objective_sign, inst.offset
        ref = None if reference is None else sign * reference - offset  # minimisation form, no offset
        if not deterministic and time.perf_counter() - t0 >= time_limit:
            return LNSSolution("no_solution", None, {}, None, 0, time.perf_counter() - t0, 0.0,
                               message=f"the time limit of {time_limit:g} s was spent reading the model")
        # HiGHS's own clock starts at run(): it gets what is left after reading the model, not the whole limit. The
        # full model carries the objective's constant, so that HiGHS's own optimality test (its relative gap) is the
        # one it applies to the user's file; its bounds are read back without the constant (``- offset``).
        full = inst.to_highs(with_offset=True) if deterministic else \
            inst.to_highs(with_offset=True, time_limit=max(float(time_limit) - (time.perf_counter() - t0), 1e-3))
        st: dict[str, Any] = dict(started=False, pending=None, best=np.inf, best_x=None, dual=-np.inf,
                                  highs_nodes=0, lns_time=0.0, optimal=False, passed=np.inf, error=None,
                                  highs_solutions=0, improved=False, it=0, exhausted=False, credit=0.0,
                                  highs_seen=0.0, ratio=(1 - share) / share,
                                  burst_start=None, highs_improved_at=0.0)
        trace: list[tuple[float, float]] = []
        work_trace: list[tuple[int, float]] = []
        records: list[StepRecord] = []
        observations: list[np.ndarray] = []
        counts = dict.fromkeys(OPERATORS, 0)
        features = self.tuner.make_features()
        warm_work = 0 if work_limit is None else self.WARMUP_SHARE * work_limit
        warm_time = 0.0 if deterministic else self.WARMUP_SHARE * time_limit

        def elapsed() -> float:
            return time.perf_counter() - t0

        def work() -> int:
            return int(max(st["highs_nodes"], 1) + (proc.nodes if st["started"] else 0))

        def out_of_budget() -> bool:
            if work_limit is not None and work() >= work_limit:
                return True
            return time_limit is not None and elapsed() >= time_limit

        def closed() -> bool:
            return _closed(st["best"], st["dual"], offset, self.MIP_REL_GAP, self.MIP_ABS_GAP)

        def new_best(x: np.ndarray, value: float) -> bool:
            if value < st["best"] - 1e-9:
                st["best"], st["best_x"] = value, np.asarray(x, dtype=float).copy()
                trace.append((elapsed(), sign * (value + offset)))
                work_trace.append((work(), sign * (value + offset)))
                return True
            return False

        def highs_used() -> float:
            return float(st["highs_nodes"]) if deterministic else elapsed() - lns_used()

        def lns_used() -> float:
            if deterministic:
                return float(proc.nodes if st["started"] else 0)
            running = 0.0 if st["burst_start"] is None else time.perf_counter() - st["burst_start"]
            return st["lns_time"] + running

        def lns_allowance() -> float:
            """What the LNS may use now (seconds or nodes): ``ratio`` x what HiGHS used since the last look while
            stalled (no new incumbent of its own for ``WARMUP_SHARE`` of the budget), minus what the LNS
            overspent. ``ratio`` starts at ``(1 - share) / share`` and halves after every burst without a new
            best from the LNS (down to a ninth of it), so on a model the LNS cannot improve (an easy one, already
            optimal) HiGHS gets nearly all the time, and HiGHS is never slowed while it is finding solutions."""
            used = highs_used()
            stall = warm_work if deterministic else warm_time
            if used - st["highs_improved_at"] >= stall:  # HiGHS alone while it keeps improving its incumbent
                st["credit"] += st["ratio"] * (used - max(st["highs_seen"], st["highs_improved_at"] + stall))
            st["highs_seen"] = used
            return st["credit"]

        def lns_burst() -> None:
            start = st["burst_start"] = time.perf_counter()
            used_before, found = lns_used(), False
            try:
                if not st["started"]:
                    point = st["best_x"] if st["best_x"] is not None else inst.feasible_point
                    if point is None:
                        return
                    proc.start(inst, reference=ref, start_point=point)
                    features.reset(proc)
                    st["started"] = True
                while lns_allowance() > 0 and not out_of_budget() and not st["optimal"]:
                    if max_iterations is not None and st["it"] >= max_iterations:
                        break
                    if deterministic and st["it"] >= self.MAX_STEPS_PER_WORK * work_limit:
                        break  # HiGHS alone finishes the node budget
                    if st["best_x"] is not None and st["best"] < proc.best_objective - 1e-9:
                        proc.adopt(st["best_x"])  # HiGHS found a better point since the last burst
                    if not deterministic:
                        proc.relaxation(time_limit - elapsed())  # first call: the LP, within the time left
                    observation = features.observation(proc)  # first call: the LP relaxation
                    if np.isfinite(proc.lp_bound):
                        st["dual"] = max(st["dual"], proc.lp_bound)
                    action, value = self.tuner.act(observation, learn=self.learn)
                    caps = [c for c in (None if deterministic else time_limit - elapsed(), self.sub_time_limit)
                            if c is not None and np.isfinite(c)]
                    record = proc.advance(value, time_limit=max(min(caps), 1e-3) if caps and not deterministic
                                          else None)
                    if self.learn:
                        self.tuner.learn_from(observation, action, record)
                    features.record(proc, record)
                    observations.append(observation)
                    records.append(record)
                    counts[record.extra["operator"]] += 1
                    st["it"] += 1
                    if record.extra["outcome"] in ("new_best", "better"):
                        st["improved"] = True
                    found |= record.extra["outcome"] == "new_best" and proc.best_objective < st["best"] - 1e-9
                    new_best(proc.best, proc.best_objective)
                    if closed():
                        st["optimal"] = True
                    st["credit"] -= lns_used() - used_before
                    used_before = lns_used()
            finally:
                st["lns_time"] += time.perf_counter() - start
                st["burst_start"] = None
                full_ratio = (1 - share) / share
                st["ratio"] = full_ratio if found else max(st["ratio"] / 2, full_ratio / 9)

        def guarded(fn):
            def callback(event):
                if st["error"] is not None:
                    event.data_in.user_interrupt = True
                    return
                try:
                    fn(event)
                except BaseException as exc:  # noqa: BLE001 - re-raised after HiGHS returns
                    st["error"] = exc
                    event.data_in.user_interrupt = True
            return callback

        def on_interrupt(event) -> None:
            out = event.data_out
            st["highs_nodes"] = max(st["highs_nodes"], int(out.mip_node_count))
            if np.isfinite(out.mip_dual_bound):
                st["dual"] = max(st["dual"], float(out.mip_dual_bound) - offset)
            if closed():
                st["optimal"] = True
            if not st["optimal"] and not out_of_budget() and lns_allowance() > 0:
                lns_burst()
            if st["optimal"] or out_of_budget():
                st["exhausted"] = out_of_budget()
                event.data_in.user_interrupt = True

        def on_improving(event) -> None:
            x = np.asarray(event.data_out.mip_solution, dtype=float)
            if len(x) != inst.num_cols:
                return
            st["highs_solutions"] += 1
            rounded = x.copy()
            rounded[inst.integer] = np.round(rounded[inst.integer])
            point = rounded if inst.violation(rounded) <= config.feasibility_tol else x
            if new_best(point, inst.objective(point)):
                st["highs_improved_at"] = highs_used()
            if closed():
                st["optimal"] = True

        def on_user_solution(event) -> None:
            highs_best = event.data_out.mip_primal_bound - offset
            if st["started"] and proc.best_objective < min(st["passed"], highs_best) - 1e-9:
                event.data_in.setSolution(np.asarray(proc.best, dtype=float))
                st["passed"] = proc.best_objective

        full.cbMipInterrupt.subscribe(guarded(on_interrupt))
        full.cbMipImprovingSolution.subscribe(guarded(on_improving))
        full.cbMipUserSolution.subscribe(guarded(on_user_solution))
        if inst.feasible_point is not None:  # a generator's greedy point: both searches start from it
            new_best(inst.feasible_point, inst.objective(inst.feasible_point))
            full.setSolution(inst.num_cols, np.arange(inst.num_cols, dtype=np.int32),
                             np.asarray(inst.feasible_point, dtype=float))
        if deterministic:
            full.setOptionValue("mip_max_nodes", int(work_limit))
        run_start = time.perf_counter()
        run_status = run_highs(full)
        highs_wall = time.perf_counter() - run_start - st["lns_time"]
        if st["error"] is not None:
            raise st["error"]
        status = full.getModelStatus()
        info = full.getInfo()
        st["highs_nodes"] = max(st["highs_nodes"], int(max(info.mip_node_count, 0)))
        if run_status == highspy.HighsStatus.kError and status == highspy.HighsModelStatus.kNotset:
            raise InstanceError(f"{inst.name}: HiGHS refused to solve the model (run status error, no model status)",
                                value=inst.name)
        if status == highspy.HighsModelStatus.kInfeasible and st["best_x"] is None:
            raise InfeasibleModelError(f"{inst.name}: the model is infeasible", value=inst.name)
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            # With a feasible point in hand the model itself is unbounded: no best solution exists to report. Without
            # one, presolve's "unbounded or infeasible" may be an infeasible model: the zero-objective model tells.
            left = None if deterministic else max(time_limit - elapsed(), 1e-3)
            raise infeasible_or_unbounded(inst, has_point=st["best_x"] is not None, time_limit=left,
                                          max_nodes=work_limit)
        if info.mip_dual_bound is not None and np.isfinite(info.mip_dual_bound):
            st["dual"] = max(st["dual"], float(info.mip_dual_bound) - offset)
        solution = full.getSolution()
        if solution.value_valid:
            x = np.array(solution.col_value)
            if len(x) == inst.num_cols and inst.violation(x) <= config.feasibility_tol:
                new_best(x, inst.objective(x))
        if status == highspy.HighsModelStatus.kOptimal or closed():
            st["optimal"] = True
        wall = elapsed()
        if st["optimal"]:
            message = f"proven optimal (within HiGHS's mip_rel_gap {self.MIP_REL_GAP:g} of the dual bound)"
        elif st["exhausted"] or status in (highspy.HighsModelStatus.kTimeLimit,
                                           highspy.HighsModelStatus.kSolutionLimit):
            limits = ([] if time_limit is None else [f"{time_limit:g} s"]) + \
                ([] if work_limit is None else [f"{work_limit} nodes"])
            message = f"stopped at the limit ({' / '.join(limits)}) before a proof of optimality"
        else:
            message = f"HiGHS ended with {full.modelStatusToString(status)}"
        if st["best_x"] is None:
            return LNSSolution("no_solution", None, {}, None, st["it"], wall,
                               highs_wall + (proc.highs_time if st["started"] else 0.0), counts, trace, records,
                               observations, None, work(), work_trace, st["highs_solutions"],
                               message=f"no feasible point found: {message}")
        best = st["best"]
        dual = st["dual"] if np.isfinite(st["dual"]) else None
        if ref is not None:
            gap = primal_gap(best + offset, ref + offset)  # the constant included, as the objective is printed
        elif st["optimal"]:
            gap = 0.0
        else:
            gap = None if dual is None else primal_gap(best + offset, dual + offset)
        status_text = "optimal" if st["optimal"] else ("improved" if len(trace) > 1 else "feasible")
        return LNSSolution(status_text, sign * (best + offset),
                           dict(zip(inst.names(), (float(v) + 0.0 for v in st["best_x"]))), gap, st["it"], wall,
                           highs_wall + (proc.highs_time if st["started"] else 0.0), counts, trace, records,
                           observations, None if dual is None else sign * (dual + offset), work(), work_trace,
                           st["highs_solutions"], message)

    @staticmethod
    def write_solution(solution: LNSSolution, path: str | Path) -> None:
        """Column names -> values as JSON (with status, message and objective), written atomically."""
        from tunegym.agents.tuner_io import atomic_write_bytes

        payload = {"status": solution.status, "message": solution.message, "objective": solution.objective,
                   "dual_bound": solution.dual_bound, "primal_gap": solution.primal_gap, "values": solution.values}
        atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
