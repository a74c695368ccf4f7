"""The LNS process: destroy operators, sub-MIPs solved by HiGHS under node limits, acceptance, metrics.

:class:`LNSProcess` is the core :class:`~tunegym.envs.core.process.Process` of the MIP domain: usable without
Gymnasium (``tunegym/MIPLNS-v0``, ``MIPLNSRate-v0`` and ``LNSOperatorRate-v0`` wrap it, ``LNSSolver`` drives
it). ``start(instance)`` sets up the search from the instance's start point; each ``advance({"operator": ...,
"destroy_rate": ...})`` is one destroy-and-repair step and returns a :class:`StepRecord` whose cost is the
sub-MIP's branch-and-bound nodes (LP iterations beside it in ``extra``) and whose quality is the primal gap
of the best solution against the reference objective.

Inside a step every limit is a deterministic HiGHS count (``mip_max_nodes``, ``simplex_iteration_limit``),
threads=1 and a fixed HiGHS seed, and the LNS's own draws (which integers to free, random objectives, SA
acceptance) come from a generator seeded by the instance's id (``instance_seed(instance, "lns")``), so one
instance gives one trajectory for the same decisions whatever else was seeded. Wall-time caps exist only for
the deploy path (``time_limit=`` of :meth:`LNSProcess.advance`, ``start_time_limit``/``lp_time_limit``);
an env never sets them. The sub-MIP is the full model on one reused ``Highs`` object with the kept integers
fixed by bounds and the incumbent passed with ``setSolution`` (DESIGN §3.4: bound changes cost what a
rebuild does, and the warm start halves the time).

What this module must not do: know about observations or rewards (``tunegym.envs.mip.env``), or read the
wall clock to decide anything when no time limit was given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ActionError, ConfigError, InstanceError
from tunegym.envs.core.extras import require
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.instance_stream import instance_seed
from tunegym.envs.mip.instances import (
    INF, InfeasibleModelError, MIPInstance, infeasible_or_unbounded, lp_relaxation, run_highs,
)

highspy = require("highspy", "mip", "the MIP environments (tunegym/MIPLNS-v0, LNSSolver)")

__all__ = ["OPERATORS", "OUTCOMES", "LNSConfig", "LNSProcess", "NoFeasibleStartError", "best_known_objective",
           "primal_gap"]

OPERATORS = ("mutation", "rins", "rens", "dins", "local_branching", "proximity", "random_objective",
             "crossover", "constraint")
OUTCOMES = ("new_best", "better", "accepted", "rejected")


def primal_gap(value: float | None, reference: float | None) -> float:
    """Berthold's primal gap in [0, 1]: 1 without a solution or with opposite signs."""
    if value is None or reference is None:
        return 1.0
    if abs(value - reference) < 1e-9:
        return 0.0
    if value * reference < 0:
        return 1.0
    return min(1.0, abs(value - reference) / max(abs(value), abs(reference)))


class NoFeasibleStartError(InstanceError):
    """The start (HiGHS on the full model within its limits) found no feasible point and the model has no
    trivial one."""


_BEST_KNOWN: dict[tuple[str, int], float | None] = {}


def best_known_objective(inst: MIPInstance, max_nodes: int = 20000) -> float | None:
    """Objective of a longer HiGHS run (node-limited, deterministic), cached per instance id."""
    key = (inst.instance_id, max_nodes)
    if key not in _BEST_KNOWN:
        h = inst.to_highs(mip_max_nodes=max_nodes)
        run_highs(h)
        x = np.array(h.getSolution().col_value)
        _BEST_KNOWN[key] = inst.objective(x) if len(x) and inst.violation(x) < 1e-6 else None
    return _BEST_KNOWN[key]


@dataclass(frozen=True)
class LNSConfig:
    """Limits and acceptance of the search (all counts; wall-clock caps only for the deploy path)."""

    start: str = "auto"  # "trivial": the generator's feasible point; "highs": HiGHS on the full model;
    # "auto": trivial where the generator has one, else HiGHS
    start_nodes: int = 1  # node limit of the HiGHS start
    # Wall-clock caps (seconds) for the deploy path and benchmarks; None inside the env (determinism).
    start_time_limit: float | None = None  # the HiGHS start run
    lp_time_limit: float | None = None  # the LP relaxation RINS/RENS/DINS need (computed on first use)
    sub_nodes: int = 50  # per sub-MIP
    sub_iterations: int = 20000  # simplex iterations per sub-MIP
    acceptance: str = "hill_climbing"  # or "simulated_annealing"
    temperature: float = 0.05  # SA: relative to |incumbent objective|
    cooling: float = 0.95
    feasibility_tol: float = 1e-6
    destroy_rate: float = 0.3  # the rate of a decision that names only the operator

    def __post_init__(self) -> None:
        if self.start not in ("auto", "trivial", "highs"):
            raise ConfigError(f"unknown start {self.start!r}", value=self.start)
        if self.acceptance not in ("hill_climbing", "simulated_annealing"):
            raise ConfigError(f"unknown acceptance {self.acceptance!r}", value=self.acceptance)
        if not (math.isfinite(self.destroy_rate) and 0 < self.destroy_rate <= 1):
            raise ConfigError(f"destroy_rate must be in (0, 1], got {self.destroy_rate!r}", value=self.destroy_rate)
        if int(self.sub_nodes) < 1 or int(self.start_nodes) < 1:
            raise ConfigError(f"node limits must be >= 1, got sub_nodes={self.sub_nodes}, "
                              f"start_nodes={self.start_nodes}", value=(self.sub_nodes, self.start_nodes))


_UNSET: Any = object()


class LNSProcess(Process):
    """Adaptive LNS around an incumbent on one MIP, one destroy-and-repair step per decision.

    ``reference``: the objective the primal gap is measured against: ``"best_known"`` (a cached, node-limited
    HiGHS run of ``reference_nodes`` nodes, what the envs use), a number (minimisation form), or None (no
    gap: quality is None). ``start(instance, rng=None, reference=...)`` may override it per run.
    The decision (knob value) is ``{"operator": name, "destroy_rate": share}`` or just the operator's name
    (then at ``config.destroy_rate``).

    Counters after each step (plain attributes): ``steps``, ``nodes``, ``lp_iterations``, ``highs_time``
    (wall seconds inside HiGHS), ``integral`` (sum of primal gaps over steps).
    """

    cost_unit = "sub_mip_nodes"
    quality_name = "primal_gap"

    def __init__(self, config: LNSConfig = LNSConfig(), *, reference: str | float | None = "best_known",
                 reference_nodes: int = 20000) -> None:
        if isinstance(reference, str) and reference != "best_known":
            raise ConfigError(f"reference must be 'best_known', a number or None, got {reference!r}",
                              value=reference)
        self.config, self.reference_kind, self.reference_nodes = config, reference, int(reference_nodes)
        self.instance: MIPInstance | None = None
        self.reference: float | None = None
        self.highs: Any = None

    # --- start ---------------------------------------------------------------------------------------
    def start(self, instance: MIPInstance, rng: np.random.Generator | None = None, *,
              reference: Any = _UNSET, start_point: np.ndarray | None = None) -> None:
        """Set up a search on ``instance`` from its start point.

        The LNS draws come from ``instance_seed(instance, "lns")`` unless ``rng`` is given (deploy-time
        variation only). ``start_point`` (deploy path only: an incumbent found by a full-model HiGHS run)
        replaces the configured start. Raises :class:`InfeasibleModelError`, :class:`UnboundedRelaxationError`
        or :class:`NoFeasibleStartError` when the start run proves or finds them.
        """
        if not isinstance(instance, MIPInstance):
            raise ConfigError(f"LNSProcess needs a MIPInstance, got {type(instance).__name__}", value=instance)
        config = self.config
        self.close()
        self.instance = inst = instance
        self.rng = rng if rng is not None else np.random.default_rng(instance_seed(instance, "lns"))
        kind = self.reference_kind if reference is _UNSET else reference
        self.reference = best_known_objective(inst, self.reference_nodes) if kind == "best_known" else \
            (None if kind is None else float(kind))
        self.highs = inst.to_highs(mip_max_nodes=int(config.sub_nodes),
                                   simplex_iteration_limit=int(config.sub_iterations))
        self.int_idx = np.flatnonzero(inst.integer).astype(np.int32)
        self._all_cols = np.arange(inst.num_cols, dtype=np.int32)
        self._csr = inst.matrix.tocsr()
        self.binary = inst.integer & (inst.col_lower == 0) & (inst.col_upper == 1)
        self._lp: tuple[np.ndarray | None, float] | None = None  # computed on first use (see lp_solution)
        self.start_bound = -INF  # the HiGHS start run's dual bound (minimisation form, no constant); -inf without one
        self.highs_time = 0.0
        self.nodes = self.lp_iterations = self.steps = 0
        if start_point is not None:
            x = np.asarray(start_point, dtype=float).copy()
            x[inst.integer] = np.round(x[inst.integer])
            self.current, self.best = x, x.copy()
        else:
            self.current, self.best = self._start()
        self.previous = self.current.copy()  # second solution for crossover
        self.temperature = config.temperature
        self.integral = 0.0  # primal integral in steps (sum of gaps)

    @property
    def inst(self) -> MIPInstance:
        """The instance being searched (older name of :attr:`instance`)."""
        return self.instance

    @property
    def done(self) -> bool:
        return False  # an anytime search: its driver decides when to stop (a horizon, a time limit)

    def close(self) -> None:
        self.highs = None

    # --- LP relaxation (lazy: only RINS/RENS/DINS and the observation need it) ----------------------
    def _relaxation(self, time_limit: float | None = None) -> tuple[np.ndarray | None, float]:
        """Solve the LP relaxation once, within ``lp_time_limit`` and ``time_limit`` (the tighter)."""
        if self._lp is None:
            limits = [v for v in (self.config.lp_time_limit, time_limit) if v is not None]
            t = time.perf_counter()
            self._lp = lp_relaxation(self.instance, min(limits) if limits else None)
            self.highs_time += time.perf_counter() - t
        return self._lp

    def relaxation(self, time_limit: float | None = None) -> tuple[np.ndarray | None, float]:
        """The LP relaxation ``(point or None, value or -inf)``, solved on first use within ``lp_time_limit`` and
        ``time_limit``: the deploy path calls it with the time it has left, so that the first observation (which
        reads the LP bound) cannot overrun a wall-clock limit. The envs never call it."""
        return self._relaxation(time_limit)

    @property
    def lp_solution(self) -> np.ndarray:
        """LP-relaxation point; the incumbent where the LP was not solved within ``lp_time_limit``."""
        x, _ = self._relaxation()
        return self.current if x is None else x

    @property
    def lp_bound(self) -> float:
        """LP-relaxation value (a lower bound); ``-inf`` where the LP was not solved in time."""
        return self._relaxation()[1]

    @property
    def known_bound(self) -> float:
        """The best lower bound known so far without solving anything (the LP relaxation's where it was solved, the
        HiGHS start run's); ``-inf`` where neither is known. The deploy path's optimality test reads it."""
        lp = -INF if self._lp is None else self._lp[1]
        return float(max(lp, self.start_bound))

    def _start(self) -> tuple[np.ndarray, np.ndarray]:
        inst = self.instance
        if self.config.start != "highs" and inst.feasible_point is not None:
            x = inst.feasible_point.astype(float).copy()
            return x, x.copy()
        limits: dict[str, Any] = {"mip_max_nodes": int(self.config.start_nodes)}
        if self.config.start_time_limit is not None:
            limits["time_limit"] = max(float(self.config.start_time_limit), 1e-3)
        h = inst.to_highs(**limits)
        t = time.perf_counter()
        run_highs(h)
        self.highs_time += time.perf_counter() - t
        info = h.getInfo()
        self.nodes += int(max(info.mip_node_count, 0))
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            raise InfeasibleModelError(f"{inst.name}: the model is infeasible", value=inst.name)
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            x = np.array(h.getSolution().col_value) if h.getSolution().value_valid else np.zeros(0)
            has_point = len(x) == inst.num_cols and inst.violation(x) <= self.config.feasibility_tol
            raise infeasible_or_unbounded(inst, has_point=has_point, time_limit=self.config.start_time_limit,
                                          max_nodes=self.config.start_nodes)
        if info.mip_dual_bound is not None and np.isfinite(info.mip_dual_bound):
            self.start_bound = float(info.mip_dual_bound)
        x = np.array(h.getSolution().col_value)
        if len(x) != inst.num_cols or inst.violation(x) > self.config.feasibility_tol:
            if inst.feasible_point is None:
                raise NoFeasibleStartError(f"{inst.name}: no feasible start within {self.config.start_nodes} "
                                           f"nodes / {self.config.start_time_limit} s", value=inst.name)
            x = inst.feasible_point.astype(float).copy()
        x[inst.integer] = np.round(x[inst.integer])
        return x, x.copy()

    def adopt(self, x: np.ndarray) -> bool:
        """Take ``x`` (a feasible point found elsewhere, e.g. by a full-model HiGHS run) as the incumbent when
        it is better than the best; True if it was. The deploy path only: the envs never call it."""
        x = np.asarray(x, dtype=float).copy()
        if len(x) != self.instance.num_cols:
            return False
        x[self.instance.integer] = np.round(x[self.instance.integer])
        if self.instance.violation(x) > self.config.feasibility_tol or \
                self.instance.objective(x) >= self.best_objective - 1e-9:
            return False
        self.previous, self.current, self.best = self.current, x, x.copy()
        return True

    @property
    def current_objective(self) -> float:
        return self.instance.objective(self.current)

    @property
    def best_objective(self) -> float:
        return self.instance.objective(self.best)

    def gap(self) -> float | None:
        """Primal gap of the best solution against the reference (None without one)."""
        return None if self.reference is None else primal_gap(self.best_objective, self.reference)

    # --- destroy operators: which integers are freed (and extra rows / objective) --------------------
    def _sample(self, pool: np.ndarray, count: int, prefer: np.ndarray | None = None) -> np.ndarray:
        count = int(min(max(count, 1), len(pool)))
        if prefer is not None and len(prefer):
            first = self.rng.permutation(prefer)[:count]
            rest = np.setdiff1d(pool, first)
            return np.concatenate([first, self.rng.choice(rest, count - len(first), replace=False)]) \
                if count > len(first) else first
        return self.rng.choice(pool, count, replace=False)

    def _freed(self, operator: str, rate: float) -> np.ndarray:
        idx, inc = self.int_idx, self.current
        lp = self.lp_solution if operator in ("rins", "rens", "dins") else None
        k = int(round(rate * len(idx)))
        if operator in ("mutation", "random_objective", "proximity", "local_branching"):
            return self._sample(idx, k)
        if operator == "rins":
            return self._sample(idx, k, idx[np.abs(inc[idx] - lp[idx]) > 0.5])
        if operator == "rens":
            return self._sample(idx, k, idx[np.abs(lp[idx] - np.round(lp[idx])) > 1e-6])
        if operator == "dins":
            return self._sample(idx, k, idx[np.abs(inc[idx] - lp[idx]) >= 0.5])
        if operator == "crossover":
            return self._sample(idx, k, idx[np.abs(inc[idx] - self.previous[idx]) > 0.5])
        if operator == "constraint":
            A = self._csr
            chosen: set[int] = set()
            is_int = self.instance.integer
            for row in self.rng.permutation(self.instance.num_rows):
                cols = A.indices[A.indptr[row]:A.indptr[row + 1]]
                chosen.update(int(c) for c in cols if is_int[c])
                if len(chosen) >= k:
                    break
            freed = np.array(sorted(chosen), dtype=np.int64)
            return freed[:max(k, 1)] if len(freed) else self._sample(idx, k)
        raise ActionError(f"unknown LNS operator {operator!r}; known: {OPERATORS}", value=operator)

    # --- one step -------------------------------------------------------------------------------------
    def decision(self, knob_value: Any) -> tuple[str, float]:
        """``(operator, destroy rate)`` of a knob value (a dict or an operator name); ActionError if invalid."""
        if isinstance(knob_value, Mapping):
            operator = knob_value.get("operator")
            rate = knob_value.get("destroy_rate", self.config.destroy_rate)
        else:
            operator, rate = knob_value, self.config.destroy_rate
        if operator not in OPERATORS:
            raise ActionError(f"unknown LNS operator {operator!r}; known: {OPERATORS}", value=operator)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ActionError(f"destroy_rate must be a number in (0, 1], got {rate!r}", value=rate) from None
        if not math.isfinite(rate) or not 0 < rate <= 1:
            raise ActionError(f"destroy_rate must be in (0, 1], got {rate!r}", value=rate)
        return str(operator), rate

    def advance(self, knob_value: Any, *, time_limit: float | None = None) -> StepRecord:
        """One destroy-and-repair step with ``knob_value`` = ``{"operator", "destroy_rate"}`` (or an operator).

        ``time_limit`` (seconds) caps the sub-MIP on top of its node limit: the deploy path only; the envs
        never pass one, so their trajectories are deterministic. Cost: the sub-MIP's nodes.
        """
        if self.instance is None or self.highs is None:
            raise ConfigError("start() an instance before advancing the LNS")
        operator, destroy_rate = self.decision(knob_value)
        t0 = time.perf_counter()
        inst, h, inc = self.instance, self.highs, self.current
        if operator in ("rins", "rens", "dins"):
            self._relaxation(time_limit)  # first use: solve the LP within this step's time
        freed = self._freed(operator, destroy_rate)
        keep = inst.integer.copy()
        keep[freed] = False
        lower, upper = inst.col_lower.copy(), inst.col_upper.copy()
        lower[keep] = upper[keep] = inc[keep]
        if operator == "rens":  # freed integers limited to floor/ceil of their LP value (and the incumbent)
            lp = self.lp_solution[freed]
            lower[freed] = np.maximum(lower[freed], np.minimum(np.floor(lp), inc[freed]))
            upper[freed] = np.minimum(upper[freed], np.maximum(np.ceil(lp), inc[freed]))
        if operator == "dins":
            lp = self.lp_solution[freed]
            lower[freed] = np.maximum(lower[freed], np.minimum(np.floor(lp - abs(1)), inc[freed]))
            upper[freed] = np.minimum(upper[freed], np.maximum(np.ceil(lp + 1), inc[freed]))
        all_cols = self._all_cols
        api_start = time.perf_counter()  # HiGHS API calls count as HiGHS time
        h.changeColsBounds(inst.num_cols, all_cols, lower, upper)
        api_time = time.perf_counter() - api_start
        extra_row = False
        objective = inst.cost
        bin_idx = np.flatnonzero(self.binary[freed] if len(freed) else []).astype(np.int32)
        bin_cols = freed[bin_idx].astype(np.int32) if len(bin_idx) else np.zeros(0, np.int32)
        if operator == "local_branching" and len(bin_cols):
            # sum_{x_j=1}(1-x_j) + sum_{x_j=0} x_j <= k  with k = a tenth of the freed binaries (at least 2)
            ones = inc[bin_cols] > 0.5
            coef = np.where(ones, -1.0, 1.0)
            k = max(2.0, round(0.1 * len(bin_cols)))
            h.addRow(-INF, k - ones.sum(), len(bin_cols), bin_cols, coef)
            extra_row = True
        elif operator == "proximity" and len(bin_cols):
            # minimise Hamming distance to the incumbent subject to a strictly better true objective
            objective = np.zeros(inst.num_cols)
            objective[bin_cols] = np.where(inc[bin_cols] > 0.5, -1.0, 1.0)
            nz = np.flatnonzero(inst.cost).astype(np.int32)
            delta = max(1e-4 * abs(self.current_objective), 1e-6)
            h.addRow(-INF, self.current_objective - delta, len(nz), nz, inst.cost[nz])
            extra_row = True
        elif operator == "random_objective":
            objective = self.rng.uniform(-1, 1, inst.num_cols) * np.abs(inst.cost).mean()
        if objective is not inst.cost:
            h.changeColsCost(inst.num_cols, all_cols, objective)
        t = time.perf_counter()
        h.setOptionValue("time_limit", INF if time_limit is None else max(float(time_limit), 1e-3))
        h.setSolution(inst.num_cols, all_cols, inc.astype(float))
        run_highs(h)
        info = h.getInfo()
        nodes, iters = int(max(info.mip_node_count, 0)), int(max(info.simplex_iteration_count, 0))
        cand = np.array(h.getSolution().col_value) if h.getSolution().value_valid else None
        if extra_row:
            h.deleteRows(1, np.array([inst.num_rows], np.int32))
        if objective is not inst.cost:
            h.changeColsCost(inst.num_cols, all_cols, inst.cost)
        h.changeColsBounds(inst.num_cols, all_cols, inst.col_lower, inst.col_upper)
        h.clearSolver()
        highs_time = api_time + time.perf_counter() - t
        cand_obj = None
        if cand is not None and len(cand) == inst.num_cols:
            cand[inst.integer] = np.round(cand[inst.integer])
            if inst.violation(cand) <= self.config.feasibility_tol:
                cand_obj = inst.objective(cand)
            else:
                cand = None
        else:
            cand = None
        cur_obj, best_obj = self.current_objective, self.best_objective
        outcome = "rejected"
        if cand is not None and cand_obj is not None:
            if cand_obj < best_obj - 1e-9:
                outcome = "new_best"
            elif cand_obj < cur_obj - 1e-9:
                outcome = "better"
            elif (self.config.acceptance == "simulated_annealing" and cand_obj > cur_obj + 1e-9 and
                  self.rng.random() < np.exp(-(cand_obj - cur_obj) /
                                             max(self.temperature * max(abs(cur_obj), 1.0), 1e-12))):
                outcome = "accepted"
        if outcome != "rejected":
            self.previous = self.current
            self.current = cand
            if outcome == "new_best":
                self.best = cand.copy()
        self.temperature *= self.config.cooling
        self.nodes += nodes
        self.lp_iterations += iters
        self.highs_time += highs_time
        self.steps += 1
        gap = self.gap()
        self.integral += 0.0 if gap is None else gap
        knob = {"operator": operator, "destroy_rate": float(destroy_rate)}
        return self.record(
            nodes, knob, quality=gap, wall_time=time.perf_counter() - t0,
            operator=operator, destroy_rate=float(destroy_rate), outcome=outcome, nodes=nodes, lp_iterations=iters,
            freed=int(len(freed)), objective=self.current_objective, best_before=float(best_obj),
            best_objective=self.best_objective, candidate_objective=cand_obj, reference=self.reference,
            primal_gap=gap, primal_integral=None if gap is None else self.integral, step=self.steps,
        )
