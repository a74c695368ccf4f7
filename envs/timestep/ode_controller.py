"""``tunegym/ODEController-v0``: choose the step-size controller of a whole ODE solve from the tolerance and the
problem's first look.

Why one decision per solve. On randomised DETEST problems (classes A–E), which *rule* and which *safety factor*
put a solve below SciPy RK45's work–precision curve depends on the tolerance: at loose tolerances the I rule with
a low safety factor (fewer rejected steps) does, at tight ones Gustafsson's PI rule does, and switching the factor
step by step (``tunegym/ODEStep-v0``'s per-attempt knob with a myopic reward) did not find either (issue 19: the
per-attempt tuner lost 5–6% to RK45 at rtol 1e-3/1e-4). So the decision here is the controller of a whole solve,
and its reward *is* the figure the user is promised: ``−log2`` of the solve's RHS evaluations over what RK45
needs for the same global error on that problem.

The process (:class:`ODEControllerRun`) starts an :class:`~tunegym.envs.timestep.process.ODEIntegration` (its
first RHS evaluation and Hairer–Nørsett–Wanner's initial step estimate, both charged to the solve, as RK45 does),
so the observation (:class:`ODEProblemFeatures`) can see ``log10 rtol``, the dimension and the initial step.
``advance({"rule", "safety"})`` then runs the whole solve with that controller held, attempt by attempt through the
same :func:`~tunegym.envs.timestep.process.controlled_attempt` as ODEStep-v0 (``rule="I"`` at safety 0.9 *is*
SciPy's RK45, step for step). Nothing here knows about Gymnasium beyond the env class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, CompositeKnob
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import register_reward
from tunegym.envs.timestep.detest import DETEST_CLASSES, DetestDistribution, DetestInstance
from tunegym.envs.timestep.ode import ODEInstance, global_error
from tunegym.envs.timestep.process import ODEIntegration, ODEProblem, check_positive_arms

__all__ = ["CONTROLLER_RULES", "CONTROLLER_SAFETIES", "ODEControllerEnv", "ODEControllerRun", "ODEProblemFeatures",
           "RK45_ATOL_RATIO", "make_ode_controller", "ode_controller_settings", "rk45_curve", "rk45_nfev_at_error",
           "run_error"]

#: The rules: ``"I"`` (SciPy's, ODEStep-v0's ``knob="safety"``) and ``"PI"`` (Gustafsson's, ``knob="pi_safety"``).
CONTROLLER_RULES = ("I", "PI")
#: The safety factors per rule (arms = rules × safeties; I at 0.9 is SciPy's RK45).
CONTROLLER_SAFETIES = (0.6, 0.7, 0.8, 0.9)
_RULE_KNOB = {"I": "safety", "PI": "pi_safety"}
#: atol = rtol · this, for RK45's curve and by default for the solve (SciPy's 1e-6 at its default rtol 1e-3)
RK45_ATOL_RATIO = 1e-3
#: errors below this are round-off: floored so that a log stays finite
ERROR_FLOOR = 1e-16
#: RK45 steps after which a curve run counts as failed (error 1): at rtol 1e-1 SciPy's RK45 can leave a DETEST
#: B1 orbit, grow without bound and crawl on (solve_ivp has no step limit); such a point is dominated anyway
RK45_MAX_STEPS = 100_000
#: The training reward's local RK45 curve: rtol · 10^(j/2) for j = 3 … -5 (capped at 0.1), around the run's rtol
REWARD_CURVE_HALF_DECADES = tuple(range(3, -6, -1))


# -- SciPy RK45's work–precision curve ----------------------------------------------------------------------
def run_error(instance: Any, y_end: Any, success: bool) -> float:
    """A run's global error at ``t_end`` (floored at :data:`ERROR_FLOOR`), or 1 for a run that failed."""
    return max(global_error(instance, y_end), ERROR_FLOOR) if success else 1.0


def rk45_curve(instance: Any, rtols: Sequence[float]) -> list[tuple[int, float]]:
    """(nfev, global error) of SciPy RK45 at each rtol (atol = rtol·1e-3): ``solve_ivp``'s own loop over
    :class:`scipy.integrate.RK45` steps, bounded by :data:`RK45_MAX_STEPS` (a failed run has error 1)."""
    from scipy.integrate import RK45

    points = []
    for rtol in rtols:
        solver = RK45(instance.rhs, 0.0, np.asarray(instance.y0, float), instance.t_end, rtol=rtol,
                      atol=rtol * RK45_ATOL_RATIO)
        steps = 0
        while solver.status == "running" and steps < RK45_MAX_STEPS:
            solver.step()
            steps += 1
        points.append((int(solver.nfev), run_error(instance, solver.y, solver.status == "finished")))
    return points


def rk45_nfev_at_error(curve: Sequence[tuple[int, float]], error: float) -> float:
    """RK45's RHS evaluations for ``error`` on its curve ``curve``: the non-dominated points, ``log nfev``
    interpolated linearly in ``log error``; beyond the least accurate point, its nfev, and beyond the most accurate
    point, *its* nfev too (no credit for an error RK45's curve never reaches: there both runs sit at round-off, and
    extrapolating the curve's last, nearly flat segment once gave RK45 10^40 evaluations and overflowed)."""
    envelope: list[tuple[int, float]] = []
    for nfev, err in sorted(curve):
        if not envelope or err < envelope[-1][1]:
            envelope.append((nfev, err))
    log_err = np.log([e for _, e in envelope])
    log_nfev = np.log([n for n, _ in envelope])
    x = math.log(max(error, ERROR_FLOOR))
    if x >= log_err[0]:
        return float(math.exp(log_nfev[0]))
    if x <= log_err[-1]:
        return float(math.exp(log_nfev[-1]))
    return float(math.exp(np.interp(x, log_err[::-1], log_nfev[::-1])))


# -- the process ------------------------------------------------------------------------------------------------
class ODEControllerRun(Process):
    """One ODE solve whose step-size controller (rule and safety factor) is chosen once, before the first step.

    ``start`` builds the :class:`ODEIntegration` (SciPy's first RHS evaluation and initial step estimate);
    ``advance({"rule": "I"|"PI", "safety": s})`` (or :meth:`solve`, which can watch each attempt) runs it to the
    end with that controller. The record's ``cost`` is the solve's RHS evaluations (initial ones included),
    ``quality`` its global error at ``t_end`` (an instance with a reference solution), and with ``rk45_reference``
    its extra ``rk45_rhs_evaluations`` is what RK45 needs for the same error (:func:`rk45_nfev_at_error` over
    :data:`REWARD_CURVE_HALF_DECADES`; training only: it costs nine RK45 solves).
    """

    cost_unit = "rhs_evaluations"
    quality_name = "error"

    def __init__(self, *, rtol: float = 1e-6, atol: float | None = None, max_attempts: int = 100_000,
                 stiffness_detection: bool = True, rk45_reference: bool = True) -> None:
        self.integration = ODEIntegration(method="RK45", rtol=rtol, atol=atol, knob="safety",
                                          max_attempts=max_attempts, stiffness_detection=stiffness_detection)
        self.rk45_reference = bool(rk45_reference)
        self.instance: Any = None
        self.decided = False

    def start(self, instance: ODEInstance | DetestInstance | ODEProblem,
              rng: np.random.Generator | None = None) -> None:
        self.instance = instance
        self.integration.start(instance)
        self.decided = False

    @property
    def done(self) -> bool:
        return self.instance is None or self.decided

    @property
    def solver(self) -> Any:
        """The running Dormand–Prince pair (``t``, ``y``, counters)."""
        return self.integration.solver

    def advance(self, knob_value: Any) -> StepRecord:
        return self.solve(knob_value)

    def solve(self, knob_value: Any,
              observe: Callable[[ODEIntegration, StepRecord, float, np.ndarray], None] | None = None) -> StepRecord:
        """Run the whole solve with the controller ``knob_value`` held; ``observe(integration, record, t_before,
        y_before)`` sees every attempt (the deployed ``solve_ivp`` keeps its accepted steps and dense output)."""
        if self.done:
            raise ConfigError("start() a problem before advancing; this solve has ended")
        rule, safety = _controller(knob_value)
        run = self.integration
        run.knob = _RULE_KNOB[rule]
        record = None
        while not run.done:
            if observe is None:
                record = run.advance(safety)
                continue
            t_before, y_before = run.solver.t, run.solver.y.copy()  # only a watcher needs the step's start
            record = run.advance(safety)
            observe(run, record, t_before, y_before)
        self.decided = True
        solver = run.solver
        status = record.status if record is not None else run.status
        error = record.extra["global_error"] if record is not None else None
        rk45 = None
        if self.rk45_reference and error is not None and not isinstance(self.instance, ODEProblem):
            rtols = [min(run.run_rtol * 10.0 ** (j / 2), 0.1) for j in REWARD_CURVE_HALF_DECADES]
            rk45 = rk45_nfev_at_error(rk45_curve(self.instance, sorted(set(rtols), reverse=True)), error)
        return self.record(
            solver.rhs_evaluations, {"rule": rule, "safety": safety}, quality=error, status=status, terminated=True,
            truncated=status == "max_attempts", rhs_evaluations=int(solver.rhs_evaluations),
            total_rhs_evaluations=int(solver.rhs_evaluations),
            accepted=int(solver.accepted), rejected=int(solver.rejected), global_error=error,
            rk45_rhs_evaluations=rk45, rtol=float(run.run_rtol), rule=rule, safety=float(safety))


def _controller(value: Any) -> tuple[str, float]:
    try:
        rule, safety = str(value["rule"]), float(value["safety"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"a controller is {{'rule': 'I' or 'PI', 'safety': s}}, got {value!r}", value=value) from exc
    if rule not in _RULE_KNOB or not (math.isfinite(safety) and safety > 0):
        raise ConfigError(f"rule must be one of {CONTROLLER_RULES} and safety positive, got {value!r}", value=value)
    return rule, safety


@register_reward("ode.controller")
def ode_controller(record: StepRecord, failure_penalty: float = 4.0) -> float:
    """ODEController-v0's reward: ``−log2(RHS evaluations / RK45's RHS evaluations at the same global error)``
    (0 = on RK45's curve, +1 = half its work); without an RK45 reference ``−log2(RHS evaluations / 1000)``. A solve
    that does not finish (step underflow, stiffness, ``max_attempts``) gets ``−failure_penalty`` (16× the work)."""
    extra = record.extra
    if record.status != "finished":
        return -float(failure_penalty)
    reference = extra.get("rk45_rhs_evaluations") or 1000.0
    return -math.log2(max(float(extra["rhs_evaluations"]), 1.0) / float(reference))


# -- the observation ------------------------------------------------------------------------------------------
#: ``log10 rtol`` and ``log10`` dimension are held inside what ODEController-v0 trains on (rtol 1e-10…1e-3, DETEST's
#: 1…51 equations), so a user's rtol of 1e-1 or 1e-12, or a system of 10,000 equations, is decided as at the nearest
#: trained value instead of by a polynomial extrapolated beyond its data
TRAINED_LOG10_RTOL, TRAINED_LOG10_DIM = (-10.0, -3.0), (0.0, math.log10(51))


class ODEProblemFeatures(Features):
    """``ode.problem``: what a solve knows before its first step: ``log10 rtol`` (held in [-10, -3]), ``log10`` of
    the dimension (held in [0, log10 51]) and ``log10(h0 / t_end)`` of SciPy's initial step estimate (clipped to
    [-16, 0]); see :data:`TRAINED_LOG10_RTOL`. The space's bounds are wider (they scale the bandit's features)."""

    name = "ode.problem"

    def __init__(self) -> None:
        self.space = spaces.Box(np.array([-14.0, 0.0, -16.0], dtype=np.float32),
                                np.array([-1.0, 4.0, 0.0], dtype=np.float32), dtype=np.float32)

    def observe(self, process: ODEControllerRun) -> np.ndarray:
        run = process.integration
        t_end = process.instance.t_end
        log_rtol = min(max(math.log10(run.run_rtol), TRAINED_LOG10_RTOL[0]), TRAINED_LOG10_RTOL[1])
        log_dim = min(max(math.log10(run.solver.y.size), TRAINED_LOG10_DIM[0]), TRAINED_LOG10_DIM[1])
        return np.array([log_rtol, log_dim, math.log10(max(run.h / t_end, 1e-16))], dtype=np.float64)


register_features(ODEProblemFeatures.name, "tunegym.envs.timestep.ode_controller:ODEProblemFeatures")


# -- settings and env -------------------------------------------------------------------------------------------
def ode_controller_settings(*, rtol: float = 1e-3, atol: float | None = None,
                            rules: Sequence[str] = CONTROLLER_RULES, safeties: Sequence[float] = CONTROLLER_SAFETIES,
                            max_attempts: int = 100_000, stiffness_detection: bool = True,
                            rk45_reference: bool = True, failure_penalty: float = 4.0) -> SimpleNamespace:
    """ODEController-v0's process, knob (``CompositeKnob`` of ``rule`` × ``safety``, rule-major), features and reward
    for these keyword arguments. ``rtol`` is the solve's unless the instance carries its own (DETEST draws with an
    ``rtol_range``); atol = rtol·1e-3 unless given."""
    bad = [r for r in rules if r not in CONTROLLER_RULES]
    if bad or not rules:
        raise ConfigError(f"rules must be a non-empty subset of {CONTROLLER_RULES}, got {rules!r}", value=rules)
    values = check_positive_arms(safeties, "safeties")
    if not (isinstance(failure_penalty, (int, float)) and math.isfinite(failure_penalty) and failure_penalty >= 0):
        raise ConfigError(f"failure_penalty must be a non-negative number, got {failure_penalty!r}",
                          value=failure_penalty)
    process = ODEControllerRun(rtol=rtol, atol=atol, max_attempts=max_attempts,
                               stiffness_detection=stiffness_detection, rk45_reference=rk45_reference)
    knob = CompositeKnob("controller", [ArmKnob("rule", list(rules)), ArmKnob("safety", list(values))])
    return SimpleNamespace(process=process, knob=knob, features=ODEProblemFeatures(), reward="ode.controller",
                           reward_params={"failure_penalty": float(failure_penalty)})


class ODEControllerEnv(ProcessEnv):
    """One decision per ODE solve: the step-size controller (rule × safety factor) of Dormand–Prince 5(4).

    ## Description
    :class:`ODEControllerRun`: ``reset`` takes SciPy's first RHS evaluation and initial step estimate on the
    instance; ``step(arm)`` solves it to ``t_end`` with the chosen controller held. Cost: RHS evaluations.
    Quality: global error at ``t_end`` against DOP853 at rtol 1e-13 (DETEST) or the instance's reference.

    ## Action Space
    ``Discrete(len(rules) · len(safeties))``: a ``CompositeKnob`` of ``rule`` (``"I"``: SciPy's rule, ``"PI"``:
    Gustafsson's) and ``safety`` (default :data:`CONTROLLER_SAFETIES`), rule-major. ``{"rule": "I", "safety":
    0.9}`` is SciPy's RK45 exactly.

    ## Observation Space
    ``Box(3,)`` float32 (features ``ode.problem``): ``log10 rtol`` (held in [-10, -3]), ``log10`` dimension (held in
    [0, log10 51]), ``log10(h0 / t_end)``: outside the trained range a solve is decided as at its nearest end.

    ## Rewards
    ``ode.controller``: ``−log2(RHS evaluations / RK45's RHS evaluations at the same global error)`` on that
    problem (RK45 run at nine half-decade tolerances around the solve's); ``−failure_penalty`` (4) for a solve
    that does not finish.

    ## Info
    The core contract (``cost`` = RHS evaluations, ``knob`` = ``{"rule", "safety"}``, ``quality`` = global error)
    and ``rhs_evaluations``, ``accepted``, ``rejected``, ``global_error``, ``rk45_rhs_evaluations``, ``rtol``,
    ``status`` (``finished``, ``step_underflow``, ``stiff``, ``max_attempts``).

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream (DETEST classes A–E, rtol log-uniform in ``rtol_range``);
    ``reset(options={"instance": inst})`` solves ``inst``.

    ## Episode End
    Terminates after the one action (truncated if the solve hit ``max_attempts``).

    ## Arguments
    ``distribution``, ``rtol`` (1e-3; an instance's own rtol wins), ``atol`` (rtol·1e-3), ``rules``, ``safeties``,
    ``max_attempts`` (100,000), ``stiffness_detection`` (True), ``rk45_reference`` (True), ``failure_penalty`` (4).

    ## Version History
    - v0 (issue 19): initial release.
    """

    domain = "timestep"
    default_knob_value = {"rule": "I", "safety": 0.9}  # SciPy's RK45

    def __init__(self, distribution: SequenceDistribution | None = None, **kwargs: Any) -> None:
        settings = ode_controller_settings(**kwargs)
        if distribution is None:
            distribution = DetestDistribution(DETEST_CLASSES, (1e-10, 1e-3))
        super().__init__(settings.process, distribution, settings.knob, settings.features, reward=settings.reward,
                         reward_params=settings.reward_params, instance_type=(ODEInstance, DetestInstance))

    @property
    def solver(self) -> Any:
        """The running Dormand–Prince pair."""
        return self.process.solver


def make_ode_controller(families: Sequence[str] | None = None, rtol_range: Sequence[float] | None = (1e-10, 1e-3),
                        **env_kwargs: Any) -> ODEControllerEnv:
    """``tunegym/ODEController-v0``: randomised DETEST problems of ``families`` (classes, default A–E), each with a
    log-uniform rtol in ``rtol_range`` (None: the env's ``rtol``)."""
    classes = DETEST_CLASSES if families is None else tuple(families)
    return ODEControllerEnv(DetestDistribution(classes, None if rtol_range is None else tuple(rtol_range)),
                            **env_kwargs)
