"""The time-step processes, their observations and their rewards: what every time-step env and tuner drives.

- :class:`ThreeBodyIntegration`: a Hermite N-body run advanced one ``action_interval`` per decision with the η
  the decision gives (``tunegym/ThreeBody-v0``, ``ThreeBodyContinuous-v0``, ``StepSizeTuner.integrate``). Cost:
  force evaluations; quality: ``|ΔE/E0|``.
- :class:`CommittedEtaRun`: a coarse pilot run at ``start``, then one decision, a constant (β, η) for the whole
  horizon from t=0 (``tunegym/ThreeBodyCommit-v0``). Cost: pilot plus main-run force evaluations.
- :class:`ODEIntegration`: an embedded Runge–Kutta pair, one attempted step per decision with the controller knob
  (safety gain, PI gain or raw factor; optionally also the pair) (``tunegym/ODEStep-v0``, ``StepOrder-v0``,
  ``StepSizeTuner.solve_ivp``). Cost: RHS evaluations; quality: the attempt's scaled error estimate, and at the
  end of a finished run the global error against the reference.

Observations are :class:`~tunegym.envs.core.features.Features` registered by name (``three_body.paper``,
``three_body.lagrangian``, ``three_body.pilot``, ``ode.controller``) and rewards are registered pure functions of
the step record (``three_body.energy``, ``three_body.local``, ``three_body.lagrangian``, ``three_body.commit``,
``ode.step``), so an env and a deployed tuner compute both the same way. Processes here must not import
Gymnasium's env machinery or know about episodes beyond their own end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.instances import content_id
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import register_reward
from tunegym.envs.timestep.instances import NBodyInstance
from tunegym.envs.timestep.nbody import HermiteState
from tunegym.envs.timestep.ode import (
    METHODS,
    PROBLEMS,
    EmbeddedRungeKutta,
    ODEInstance,
    global_error,
    switch_method,
)

__all__ = [
    "DEFAULT_FACTORS", "DEFAULT_SAFETIES", "KNOBS", "PI_KI_SCALE", "PI_KP_SCALE",
    "CommittedEtaRun", "ODEIntegration", "ODEProblem", "ThreeBodyIntegration",
    "ThreeBodyPaperFeatures", "ThreeBodyLagrangianFeatures", "PilotFeatures", "ODEControllerFeatures",
    "ODEToleranceFeatures",
    "PIMemory", "constant_eta_run", "constant_eta_state", "controlled_attempt",
    "energy_reward", "lagrangian_reward", "local_reward",
]

_FLOOR = 1e-20
_ERROR_FLOOR = 1e-16


# =============================================================================================================
# Three-body: one η per action interval
# =============================================================================================================
class ThreeBodyIntegration(Process):
    """A Hermite integration of one N-body system, advanced ``action_interval`` time units per decision.

    ``advance(eta)`` integrates the next interval with ``dt = η · τ`` (:class:`~tunegym.envs.timestep.nbody.
    HermiteState`). The record's cost is this interval's force evaluations (the run's very first evaluation is
    in ``total_force_evaluations``, not in any step's cost); quality is ``|ΔE/E0|`` of the run so far. A close
    encounter, a step limit, a non-finite state or ``|ΔE/E0| > energy_limit`` ends the run (``terminated``,
    status ``close_encounter``/``max_steps``/``diverged``/``energy_limit``).
    """

    cost_unit = "force_evaluations"
    quality_name = "abs_energy_error"

    def __init__(self, *, action_interval: float = 0.1, energy_limit: float = 0.1,
                 max_steps_per_action: int = 200_000) -> None:
        for name, value in (("action_interval", action_interval), ("energy_limit", energy_limit)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive, got {value!r}", value=value)
        if int(max_steps_per_action) < 1:
            raise ConfigError(f"max_steps_per_action must be >= 1, got {max_steps_per_action!r}",
                              value=max_steps_per_action)
        self.action_interval, self.energy_limit = float(action_interval), float(energy_limit)
        self.max_steps_per_action = int(max_steps_per_action)
        self.instance: NBodyInstance | None = None
        self.state: HermiteState | None = None
        self.status = "ok"

    def start(self, instance: NBodyInstance, rng: np.random.Generator | None = None) -> None:
        self.instance = instance
        self.state = HermiteState(instance.masses, instance.positions, instance.velocities, G=instance.G)
        self.status = "ok"
        self.last_eta: float | None = None
        self.last_change = 0.0
        self.last_evaluations = 0
        self.actions = 0

    @property
    def done(self) -> bool:
        return self.state is None or self.status != "ok"

    def advance(self, knob_value: float) -> StepRecord:
        if self.done:
            raise ConfigError("start() a system before advancing; this run has ended")
        eta, state = float(knob_value), self.state
        before_error, before_evals = state.energy_error, state.force_evaluations
        status, steps = state.advance(self.action_interval, eta, self.max_steps_per_action)
        energy_error = state.energy_error
        if not math.isfinite(energy_error):  # unreachable in practice: the kernel stops on non-finite states
            energy_error, status = 1.0, "diverged"
        if status == "ok" and abs(energy_error) > self.energy_limit:
            status = "energy_limit"
        self.status = status
        self.last_change = abs(energy_error - before_error)
        self.last_evaluations = state.force_evaluations - before_evals
        self.last_eta = eta
        self.actions += 1
        return self.record(
            self.last_evaluations, eta, quality=abs(energy_error), status=status, terminated=status != "ok",
            force_evaluations=int(self.last_evaluations), total_force_evaluations=int(state.force_evaluations),
            steps=int(steps), eta=eta, energy_error=float(energy_error), error_change=float(self.last_change),
            time=float(state.time))


def energy_reward(energy_error: float, eta: float, *, energy_weight: float = 3000.0,
                  energy_reference: float = 1e-10, step_weight: float = 4.0) -> float:
    """Reward of one action (after arXiv 2502.12809's shape; ours, with configurable weights)::

        r = -energy_weight · log10(|ΔE| / energy_reference) / max(|log10 |ΔE||, 1)³ + step_weight / |log10 η|

    ``|ΔE|`` is the relative energy error of the whole run so far. The first term rewards errors below
    ``energy_reference`` and punishes larger ones steeply as they approach 1; the second pays for large steps.
    """
    err = max(abs(energy_error), _FLOOR)
    log_err = math.log10(err)
    return (-energy_weight * (log_err - math.log10(energy_reference)) / max(abs(log_err), 1.0) ** 3
            + step_weight / max(abs(math.log10(eta)), 1e-3))


def local_reward(error_change: float, force_evaluations: int, *, local_target: float = 1e-13,
                 cost_weight: float = 1.0, local_error_weight: float = 3.0) -> float:
    """``r = -cost_weight · log10(1 + force_evaluations) - local_error_weight · max(0, log10(|δE| / local_target))``.

    ``δE`` is the change of the relative energy error over this action: the best myopic choice is the largest
    η whose own error stays under ``local_target`` (tolerance-per-step control, as adaptive ODE solvers do).
    """
    excess = max(0.0, math.log10(max(error_change, _FLOOR) / local_target))
    return -cost_weight * math.log10(1.0 + force_evaluations) - local_error_weight * excess


def lagrangian_reward(error_change: float, force_evaluations: int, *, lagrange_multiplier: float = 1e14) -> float:
    """``r = -log10(force_evaluations + λ · |δE|)``: per interval, the term of the Lagrangian
    ``Σ n_i + λ Σ |δE_i|``. With ``n ≈ work/η`` and ``|δE| ≈ c·η⁴`` its best η is ``(work / (4 λ c))^(1/5)``,
    which depends on the interval only through ``c / work`` (what ``three_body.lagrangian`` features report)."""
    return -math.log10(max(force_evaluations + lagrange_multiplier * abs(error_change), 1.0))


def _failed(record: StepRecord) -> bool:
    return record.status != "ok"


@register_reward("three_body.energy")
def three_body_energy(record: StepRecord, energy_weight: float = 3000.0, energy_reference: float = 1e-10,
                      step_weight: float = 4.0, failure_penalty: float = 5000.0) -> float:
    """:func:`energy_reward` of the step; ``-failure_penalty`` for a run that failed at this step."""
    if _failed(record):
        return -float(failure_penalty)
    return energy_reward(record.extra["energy_error"], record.extra["eta"], energy_weight=energy_weight,
                         energy_reference=energy_reference, step_weight=step_weight)


@register_reward("three_body.local")
def three_body_local(record: StepRecord, local_target: float = 1e-13, cost_weight: float = 1.0,
                     local_error_weight: float = 3.0, failure_penalty: float = 5000.0) -> float:
    """:func:`local_reward` of the step; ``-failure_penalty`` for a run that failed at this step."""
    if _failed(record):
        return -float(failure_penalty)
    return local_reward(record.extra["error_change"], record.extra["force_evaluations"], local_target=local_target,
                        cost_weight=cost_weight, local_error_weight=local_error_weight)


@register_reward("three_body.lagrangian")
def three_body_lagrangian(record: StepRecord, lagrange_multiplier: float = 1e14,
                          failure_penalty: float = 5000.0) -> float:
    """:func:`lagrangian_reward` of the step; ``-failure_penalty`` for a run that failed at this step."""
    if _failed(record):
        return -float(failure_penalty)
    return lagrangian_reward(record.extra["error_change"], record.extra["force_evaluations"],
                             lagrange_multiplier=lagrange_multiplier)


#: What each of the 13 paper observation values is (all log10, clipped into the declared box).
OBSERVATION_NAMES = (
    "log10_distance_12", "log10_distance_13", "log10_distance_23",
    "log10_relative_speed_12", "log10_relative_speed_13", "log10_relative_speed_23",
    "log10_speed_1", "log10_speed_2", "log10_speed_3",
    "log10_timestep_criterion", "log10_energy_error", "log10_energy_error_change", "log10_previous_eta",
)
#: The two lagrangian observation values: ``work = n·η`` and ``error_per_work = |δE| / (n · η⁵)`` of the last action.
LAGRANGIAN_OBSERVATION_NAMES = ("log10_work", "log10_error_per_work")
_PAPER_LOW = np.array([-8.0] * 9 + [-12.0, -20.0, -20.0, -4.0], dtype=np.float32)
_PAPER_HIGH = np.array([4.0] * 9 + [4.0, 2.0, 2.0, -1.0], dtype=np.float32)
_LAGRANGIAN_LOW = np.array([-3.0, -8.0], dtype=np.float32)
_LAGRANGIAN_HIGH = np.array([5.0, 14.0], dtype=np.float32)


class ThreeBodyPaperFeatures(Features):
    """ThreeBody-v0's 13 values (:data:`OBSERVATION_NAMES`): pair distances, pair relative speeds, body speeds
    (centre-of-mass frame), the step criterion, ``|ΔE/E0|``, its change over the last action and the previous η
    (``initial_eta`` before the first action), all log10; the η entry's box is ``[eta_low, eta_high]``."""

    name = "three_body.paper"

    def __init__(self, eta_low: float = 1e-4, eta_high: float = 1e-1, initial_eta: float | None = None) -> None:
        self.eta_low, self.eta_high = float(eta_low), float(eta_high)
        self.initial_eta = self.eta_low if initial_eta is None else float(initial_eta)
        low, high = _PAPER_LOW.copy(), _PAPER_HIGH.copy()
        low[-1], high[-1] = math.log10(self.eta_low), math.log10(self.eta_high)
        self.space = spaces.Box(low, high, dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"eta_low": self.eta_low, "eta_high": self.eta_high, "initial_eta": self.initial_eta}

    def observe(self, process: ThreeBodyIntegration) -> np.ndarray:
        s = process.state
        x, v = s.positions, s.velocities
        n = x.shape[0]
        pairs = [(0, 1), (0, 2), (1, 2)] if n == 3 else [(i, j) for i in range(n) for j in range(i + 1, n)][:3]
        pairs = (pairs + pairs[-1:] * 3)[:3]
        distances = [np.linalg.norm(x[j] - x[i]) for i, j in pairs]
        rel_speeds = [np.linalg.norm(v[j] - v[i]) for i, j in pairs]
        m = s.masses[:, None]
        vcom = (m * v).sum(0) / m.sum()
        speeds = list(np.linalg.norm(v - vcom, axis=1)[:3]) + [0.0] * max(0, 3 - n)
        criterion = min(min(d / r if r > 0 else np.inf, math.sqrt(d**3 / (s.G * (s.masses[i] + s.masses[j]))))
                        for (i, j), d, r in zip(pairs, distances, rel_speeds))
        previous_eta = self.initial_eta if process.last_eta is None else process.last_eta
        raw = np.array(distances + rel_speeds + speeds[:3] + [criterion, abs(s.energy_error), process.last_change,
                                                              previous_eta], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.maximum(np.nan_to_num(raw, nan=_FLOOR, posinf=1e30), _FLOOR))


class ThreeBodyLagrangianFeatures(Features):
    """``observation="lagrangian"``: ``log10(n·η)`` and ``log10(|δE| / (n·η⁵))`` of the last action
    (:data:`LAGRANGIAN_OBSERVATION_NAMES`; the centre of the box before the first action)."""

    name = "three_body.lagrangian"

    def __init__(self) -> None:
        self.space = spaces.Box(_LAGRANGIAN_LOW.copy(), _LAGRANGIAN_HIGH.copy(), dtype=np.float32)

    def observe(self, process: ThreeBodyIntegration) -> np.ndarray:
        if process.last_evaluations == 0 or process.last_eta is None:
            return (_LAGRANGIAN_LOW + _LAGRANGIAN_HIGH).astype(np.float64) / 2.0
        eta, n = process.last_eta, float(process.last_evaluations)
        return np.array([math.log10(n * eta), math.log10(max(process.last_change, _FLOOR) / (n * eta**5))])


register_features(ThreeBodyPaperFeatures.name, "tunegym.envs.timestep.process:ThreeBodyPaperFeatures")
register_features(ThreeBodyLagrangianFeatures.name, "tunegym.envs.timestep.process:ThreeBodyLagrangianFeatures")


# =============================================================================================================
# Three-body: one committed (β, η) per instance after a pilot
# =============================================================================================================
def constant_eta_state(instance: NBodyInstance, eta: float, intervals: int, action_interval: float = 0.1,
                       max_steps_per_action: int = 200_000, criterion_exponent: float = 0.0) -> tuple[HermiteState, str]:
    """``instance`` integrated at a constant ``eta`` (and criterion exponent β, see
    :func:`~tunegym.envs.timestep.nbody.simulate`) for ``intervals`` chunks of ``action_interval`` (the same
    chunking as ThreeBody-v0, so the counts match a fixed-η rollout): the final state and its status."""
    state = HermiteState(instance.masses, instance.positions, instance.velocities, G=instance.G)
    status = "ok"
    for _ in range(intervals):
        status, _ = state.advance(action_interval, eta, max_steps_per_action, criterion_exponent=criterion_exponent)
        if status != "ok":
            break
    return state, status


def _run_summary(state: HermiteState, status: str) -> tuple[int, float, str]:
    error = abs(state.energy_error)
    if not math.isfinite(error):
        error, status = 1.0, "diverged"
    return int(state.force_evaluations), float(error), status


@lru_cache(maxsize=8192)
def constant_eta_run(instance: NBodyInstance, eta: float, intervals: int, action_interval: float = 0.1,
                     max_steps_per_action: int = 200_000, criterion_exponent: float = 0.0) -> tuple[int, float, str]:
    """Force evaluations, final |ΔE/E0| and status of :func:`constant_eta_state`. Deterministic, so results are
    cached (instances hash by content id)."""
    return _run_summary(*constant_eta_state(instance, eta, intervals, action_interval, max_steps_per_action,
                                            criterion_exponent))


class CommittedEtaRun(Process):
    """A pilot run at ``probe_eta`` over the horizon (at ``start``), then one decision: the constant
    ``{"criterion_exponent": β, "eta": η}`` of the main run, integrated from t=0 over ``horizon`` intervals.

    The record's cost is pilot plus main-run force evaluations; quality is the main run's ``|ΔE/E0|`` (a run that
    ends above ``energy_limit`` has status ``energy_limit``). Runs are cached per (instance, settings); with
    ``keep_state=True`` (deployment) the main run's final :class:`HermiteState` is kept in :attr:`state`.
    """

    cost_unit = "force_evaluations"
    quality_name = "abs_energy_error"

    def __init__(self, *, probe_eta: float = float(np.logspace(-4, -1, 10)[8]), horizon: int = 300,
                 action_interval: float = 0.1, energy_limit: float = 0.1, max_steps_per_action: int = 200_000,
                 keep_state: bool = False) -> None:
        for name, value in (("probe_eta", probe_eta), ("action_interval", action_interval),
                            ("energy_limit", energy_limit)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}", value=value)
        if int(horizon) != horizon or int(horizon) < 1 or int(max_steps_per_action) < 1:
            raise ConfigError(f"horizon and max_steps_per_action must be integers >= 1, got {horizon!r}, "
                              f"{max_steps_per_action!r}", value=(horizon, max_steps_per_action))
        self.probe_eta, self.horizon = float(probe_eta), int(horizon)
        self.action_interval, self.energy_limit = float(action_interval), float(energy_limit)
        self.max_steps_per_action, self.keep_state = int(max_steps_per_action), bool(keep_state)
        self.instance: NBodyInstance | None = None
        self.pilot: tuple[int, float, str] | None = None
        self.result: StepRecord | None = None
        self.state: HermiteState | None = None

    def start(self, instance: NBodyInstance, rng: np.random.Generator | None = None) -> None:
        self.instance, self.result, self.state = instance, None, None
        self.pilot = constant_eta_run(instance, self.probe_eta, self.horizon, self.action_interval,
                                      self.max_steps_per_action)

    @property
    def done(self) -> bool:
        return self.result is not None

    def advance(self, knob_value: Mapping[str, float]) -> StepRecord:
        if self.pilot is None or self.done:
            raise ConfigError("start() a system before advancing; one decision per run")
        eta, beta = float(knob_value["eta"]), float(knob_value.get("criterion_exponent", 0.0))
        args = (self.instance, eta, self.horizon, self.action_interval, self.max_steps_per_action, beta)
        if self.keep_state:
            self.state, status = constant_eta_state(*args)
            evals, error, status = _run_summary(self.state, status)
        else:
            evals, error, status = constant_eta_run(*args)
        if status == "ok" and error > self.energy_limit:
            status = "energy_limit"
        total = evals + self.pilot[0]
        self.result = self.record(
            total, {"criterion_exponent": beta, "eta": eta}, quality=error, status=status, terminated=True,
            force_evaluations=int(total), pilot_evaluations=int(self.pilot[0]), eta=eta, criterion_exponent=beta,
            energy_error=error)
        return self.result


@register_reward("three_body.commit")
def three_body_commit(record: StepRecord, error_weight: float = 3.5e4) -> float:
    """``-(pilot + main evaluations) / error_weight - log10(max(|ΔE/E0|, 1e-16) / 1e-16)``; a failed run counts
    with ``|ΔE| = 1`` (never positive, so optimistic bandits try every arm)."""
    scored = record.quality if record.status == "ok" and record.quality is not None else 1.0
    return -float(record.cost) / error_weight - math.log10(min(max(scored, _ERROR_FLOOR), 1.0) / _ERROR_FLOOR)


#: The pilot observation: force evaluations / 1e4, log10 of its |ΔE/E0| (clipped to [-16, 0]), log10 evaluations.
COMMIT_OBSERVATION_NAMES = ("pilot_evaluations_1e4", "log10_pilot_energy_error", "log10_pilot_evaluations")
_PILOT_LOW = np.array([0.0, -16.0, 2.0], dtype=np.float32)
_PILOT_HIGH = np.array([4.0, 0.0, 6.0], dtype=np.float32)


class PilotFeatures(Features):
    """ThreeBodyCommit-v0's observation (:data:`COMMIT_OBSERVATION_NAMES`) of the pilot run."""

    name = "three_body.pilot"

    def __init__(self) -> None:
        self.space = spaces.Box(_PILOT_LOW.copy(), _PILOT_HIGH.copy(), dtype=np.float32)

    def observe(self, process: CommittedEtaRun) -> np.ndarray:
        evals, error, _ = process.pilot if process.pilot is not None else (1, 1.0, "ok")
        return np.array([evals / 1e4, math.log10(min(max(error, _ERROR_FLOOR), 1.0)), math.log10(evals)])


register_features(PilotFeatures.name, "tunegym.envs.timestep.process:PilotFeatures")


# =============================================================================================================
# ODEs: one attempted step per decision
# =============================================================================================================
#: Step-size factors of the discrete action space for ``knob="factor"`` (``h_next = factor · h``).
DEFAULT_FACTORS = (0.2, 0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0, 4.0)
#: Safety factors of the I controller for ``knob="safety"`` and of the PI controller for ``knob="pi_safety"``.
DEFAULT_SAFETIES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.2)
#: The PI rule's gains (``kI = 0.3/k``, ``kP = 0.4/k``), as in :class:`~tunegym.envs.timestep.ode.PIController`.
PI_KI_SCALE, PI_KP_SCALE = 0.3, 0.4
#: The controller knobs of ODEStep-v0.
KNOBS = ("safety", "pi_safety", "factor")


def controlled_attempt(solver: EmbeddedRungeKutta, knob: str, knob_value: float, h: float, last_error: float,
                       last_accepted: bool, t_end: float, *, previous_error: float = 1.0,
                       first: bool = False, after_rejection: bool = False) -> tuple[float, float, bool, float, str]:
    """One attempt of ``solver`` with the step the knob sets; returns ``(h, factor, accepted, error, status)``.

    ``knob="safety"``: ``h · clip(knob_value · err^(-1/k), 0.2, 10)`` (``≤ 1`` after a rejection), ``k = q + 1``
    (the ``first`` attempt takes the initial step estimate itself, as SciPy does);
    ``knob="pi_safety"``: Gustafsson's PI rule of :class:`~tunegym.envs.timestep.ode.PIController` with
    ``knob_value`` as its safety factor, ``h · clip(knob_value · err^(-0.3/k) · (previous_error / err)^(0.4/k),
    0.2, 10)`` (the I rule, capped at 1, after a rejection; ``err`` floored at 1e-10 as there), where
    ``previous_error`` is the error of the accepted step before the last one (:class:`PIMemory` keeps it); the
    ``first`` attempt of a run takes the initial step estimate ``h`` itself, as
    :func:`~tunegym.envs.timestep.ode.integrate` does, so a constant ``knob_value = 0.9`` *is* the PI baseline;
    ``knob="factor"``: ``h · knob_value``. For both safety knobs, as in SciPy, the step does not grow after an
    accepted attempt that followed a rejection (``after_rejection``: factor ≤ 1), and the step is clipped to the
    rest of the interval when it is attempted, so that the next factor scales the clipped step: ``knob="safety"``
    at 0.9 is SciPy's RK45 step for step. A step under ``1e-14 t_end`` is not attempted (``"step_underflow"``).
    """
    k = solver.error_estimator_order + 1
    if knob == "safety":
        err = last_error
        if first:
            factor = 1.0
        else:
            factor = 10.0 if err == 0 else knob_value * err ** (-1.0 / k) if math.isfinite(err) else 0.2
            factor = min(max(factor, 0.2), 10.0 if last_accepted and not after_rejection else 1.0)
    elif knob == "pi_safety":
        err = max(last_error, 1e-10)
        if first:
            factor = 1.0
        elif not math.isfinite(err):
            factor = 0.2
        elif not last_accepted:
            factor = min(max(knob_value * err ** (-1.0 / k), 0.2), 1.0)
        else:
            factor = knob_value * err ** (-PI_KI_SCALE / k) * (previous_error / err) ** (PI_KP_SCALE / k)
            factor = min(max(factor, 0.2), 1.0 if after_rejection else 10.0)
    else:
        factor = knob_value
    h = min(h * factor, t_end - solver.t)
    if h < 1e-14 * t_end:
        return h, factor, False, math.inf, "step_underflow"
    accepted, err = solver.attempt(h)
    return h, factor, accepted, err, "ok"


class PIMemory:
    """What the ``pi_safety`` knob remembers between attempts: the error of the last accepted step, updated
    exactly when :class:`~tunegym.envs.timestep.ode.PIController` updates its own (after the factor that used it)."""

    def __init__(self) -> None:
        self.previous_error = 1.0

    def after_factor(self, last_error: float, last_accepted: bool, first: bool) -> None:
        """Call after :func:`controlled_attempt` with the error/acceptance it was given."""
        if not first and last_accepted and math.isfinite(last_error):
            self.previous_error = max(last_error, 1e-10)


@dataclass(frozen=True, eq=False)
class ODEProblem:
    """A user's initial-value problem ``y' = rhs(t, y)`` on ``[0, t_end]`` (what ``StepSizeTuner.solve_ivp``
    integrates; shift time so that it starts at 0). ``family`` names a training family for the observation's
    one-hot, or None. Its id hashes ``y0``, ``t_end`` and ``family`` (the function is the caller's)."""

    rhs: Callable[[float, np.ndarray], np.ndarray]
    y0: tuple[float, ...]
    t_end: float
    family: str | None = None

    def __post_init__(self) -> None:
        y0 = np.asarray(self.y0, dtype=np.float64).reshape(-1)
        if y0.size == 0 or not np.all(np.isfinite(y0)):
            raise InstanceError(f"y0 must be a non-empty finite vector, got {self.y0!r}", value=self.y0)
        if not (math.isfinite(self.t_end) and self.t_end > 0):
            raise InstanceError(f"t_end must be finite and positive, got {self.t_end!r}", value=self.t_end)
        if self.family is not None and self.family not in PROBLEMS:
            raise ConfigError(f"problem_family must be one of {PROBLEMS} or None, got {self.family!r}",
                              value=self.family)
        object.__setattr__(self, "y0", tuple(float(v) for v in y0))

    @property
    def id(self) -> str:
        return content_id("ode-user", np.asarray(self.y0), t_end=self.t_end, family=self.family)


class ODEIntegration(Process):
    """An embedded Runge–Kutta integration, one attempted step per decision.

    The controller knob (``knob``: ``"safety"``, ``"pi_safety"`` or ``"factor"``, see :func:`controlled_attempt`)
    sets the step; a knob value that is a mapping may also name the pair for this attempt (``{"method": "RK23",
    "safety": 0.9}``: :func:`~tunegym.envs.timestep.ode.switch_method`, no RHS evaluation). The first step size
    is the Hairer–Nørsett–Wanner estimate. The run ends at ``t_end`` (status ``finished``, global error against
    the reference for an :class:`~tunegym.envs.timestep.ode.ODEInstance`), on ``step_underflow`` (terminated) or
    after ``max_attempts`` (``truncated``).
    """

    cost_unit = "rhs_evaluations"
    quality_name = "error"

    def __init__(self, *, method: str = "RK45", rtol: float = 1e-6, atol: float | None = None,
                 knob: str = "safety", max_attempts: int = 400, stiffness_detection: bool = False) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; choices: {sorted(METHODS)}", value=method)
        if knob not in KNOBS:
            raise ConfigError(f"knob must be one of {KNOBS}, got {knob!r}", value=knob)
        if not (rtol > 0 and int(max_attempts) >= 1):
            raise ConfigError("rtol must be positive and max_attempts >= 1", value=(rtol, max_attempts))
        self.method, self.rtol = method, float(rtol)
        # atol: a number, or one per component (as SciPy's; checked against y0's size when a run starts)
        value = np.asarray(self.rtol * 1e-3 if atol is None else atol, dtype=np.float64)
        if value.ndim > 1 or value.size == 0 or not np.all(np.isfinite(value)) or np.any(value <= 0):
            raise ConfigError(f"atol must be positive (a number or one per component), got {atol!r}", value=atol)
        self.atol = float(value) if value.ndim == 0 else value
        self.knob, self.max_attempts = knob, int(max_attempts)
        self.stiffness_detection = bool(stiffness_detection)
        self.instance: ODEInstance | ODEProblem | None = None
        self.solver: EmbeddedRungeKutta | None = None
        self.status = "ok"

    def start(self, instance: ODEInstance | ODEProblem, rng: np.random.Generator | None = None) -> None:
        self.instance = instance
        # An instance that carries its own tolerance (a DETEST draw with ``rtol_range``) is integrated at it, with
        # this process's atol/rtol ratio; otherwise at the process's own.
        own = getattr(instance, "rtol", None)
        self.run_rtol = self.rtol if own is None else float(own)
        self.run_atol = self.atol if own is None else self.atol * self.run_rtol / self.rtol
        self.solver = METHODS[self.method](instance.rhs, 0.0, instance.y0, instance.t_end, rtol=self.run_rtol,
                                           atol=self.run_atol)
        self.stiff_steps = self.nonstiff_steps = 0
        self.stiffness_detected = False
        self.current_method = self.method
        self.h = self.solver.initial_step()
        self.errors = [1.0, 1.0]
        self.accepted = True
        self.after_rejection = False  # the last attempt was accepted and the one before it rejected
        self.attempts = 0
        self.memory = PIMemory()
        self.status = "ok"

    @property
    def done(self) -> bool:
        return self.solver is None or self.status != "ok"

    def advance(self, knob_value: Any) -> StepRecord:
        if self.done:
            raise ConfigError("start() a problem before advancing; this integration has ended")
        value = knob_value
        if isinstance(knob_value, Mapping):
            if knob_value.get("method") is not None:
                self.solver = switch_method(self.solver, knob_value["method"])
                self.current_method = knob_value["method"]
            value = knob_value[self.knob]
        solver, t_end = self.solver, self.instance.t_end
        h_previous, before, first = self.h, solver.rhs_evaluations, self.attempts == 0
        self.h, factor, accepted, err, status = controlled_attempt(
            solver, self.knob, float(value), self.h, self.errors[1], self.accepted, t_end,
            previous_error=self.memory.previous_error, first=first, after_rejection=self.after_rejection)
        self.memory.after_factor(self.errors[1], self.accepted, first)
        self.attempts += 1
        self.errors = [self.errors[1], err]
        self.after_rejection = accepted and not self.accepted and not first
        self.accepted = accepted
        spent = solver.rhs_evaluations - before
        terminated = truncated = False
        final_error = None
        if status != "ok":
            terminated = True
        elif solver.finished:
            if not isinstance(self.instance, ODEProblem):  # a user's problem has no reference solution
                final_error = global_error(self.instance, solver.y)
            terminated, status = True, "finished"
        elif self.attempts >= self.max_attempts:
            truncated, status = True, "max_attempts"
        elif self._stiff(accepted):
            terminated, status = True, "stiff"
        self.status = status
        error_norm = float(err) if math.isfinite(err) else None
        return self.record(
            spent, knob_value, quality=final_error if status == "finished" else error_norm, status=status,
            terminated=terminated, truncated=truncated, rhs_evaluations=int(spent),
            total_rhs_evaluations=int(solver.rhs_evaluations), accepted=bool(accepted), error_norm=error_norm,
            h=float(self.h), h_previous=float(h_previous), factor=float(factor), t=float(solver.t),
            method=self.current_method, global_error=final_error, rtol=float(self.run_rtol))

    #: Hairer's test (DOPRI5): a step with ``h·|λ| > 3.25`` sits on the pair's stability boundary; 15 such
    #: accepted steps in a row (6 steps under it reset the count) mean the problem is stiff there.
    STIFF_H_LAMBDA, STIFF_STEPS, NONSTIFF_STEPS = 3.25, 15, 6
    #: a stiff run whose current step needs more than this many further steps to reach ``t_end`` stops: an
    #: implicit method does such a problem in a few hundred steps
    STIFF_REMAINING_STEPS = 10_000

    def _stiff(self, accepted: bool) -> bool:
        """With ``stiffness_detection``: True when the run is stiff (Hairer's test above) *and* the steps it
        takes now would need more than :data:`STIFF_REMAINING_STEPS` further steps (or more than the attempts left)
        to reach ``t_end`` (a mildly stiff problem that finishes soon, such as DETEST C4 at loose tolerances, goes
        on)."""
        if not (self.stiffness_detection and accepted):
            return False
        h_lambda = getattr(self.solver, "h_lambda", math.nan)
        if not math.isfinite(h_lambda):
            return False
        if h_lambda > self.STIFF_H_LAMBDA:
            self.stiff_steps, self.nonstiff_steps = self.stiff_steps + 1, 0
        else:
            self.nonstiff_steps += 1
            if self.nonstiff_steps >= self.NONSTIFF_STEPS:
                self.stiff_steps = 0
        if self.stiff_steps < self.STIFF_STEPS:
            return False
        self.stiffness_detected = True
        remaining = (self.instance.t_end - self.solver.t) / max(self.h, 1e-300)
        return remaining > min(self.max_attempts - self.attempts, self.STIFF_REMAINING_STEPS)


@register_reward("ode.step")
def ode_step(record: StepRecord, reward_scale: float = 100.0, rejection_penalty: float = 3.0,
             error_weight: float = 10.0, target_error: float | None = 1e-6, failure_penalty: float = 50.0) -> float:
    """ODEStep-v0's reward of one attempt: ``-rhs_evaluations / reward_scale`` plus ``log2(h / h_previous)`` if
    accepted or ``-rejection_penalty`` if not; at the end ``-error_weight · max(0, log10(global_error /
    target_error))`` (``target_error=None``: the episode's rtol), or ``-failure_penalty`` for a step-size underflow
    or a stiff stop."""
    extra = record.extra
    if target_error is None:  # trained for all tolerances: the episode's own
        target_error = extra["rtol"]
    reward = -float(record.cost) / reward_scale
    if extra["accepted"]:
        reward += math.log2(max(extra["h"], 1e-300) / extra["h_previous"])
    else:
        reward -= rejection_penalty
    if record.status not in ("ok", "finished", "max_attempts"):
        reward -= failure_penalty
    elif record.status == "finished" and extra.get("global_error") is not None:
        reward -= error_weight * max(0.0, math.log10(max(extra["global_error"], 1e-300) / target_error))
    return reward


class ODEControllerFeatures(Features):
    """ODEStep-v0's observation: ``log10`` of the last error norm and of the one before (clipped to [-10, 4]),
    whether the last attempt was accepted, ``log10(h / t_end)`` (clipped to [-16, 0]), the progress ``t / t_end``
    and a one-hot of the problem family (zeros for a user's problem); with ``method_flag``, one more value:
    1 if the pair now running is RK45 (StepOrder-v0)."""

    name = "ode.controller"

    def __init__(self, method_flag: bool = False) -> None:
        self.method_flag = bool(method_flag)
        low = [-10.0, -10.0, 0.0, -16.0, 0.0] + [0.0] * len(PROBLEMS) + [0.0] * self.method_flag
        high = [4.0, 4.0, 1.0, 0.0, 1.0] + [1.0] * len(PROBLEMS) + [1.0] * self.method_flag
        self.space = spaces.Box(np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {"method_flag": self.method_flag} if self.method_flag else {}

    def observe(self, process: ODEIntegration) -> np.ndarray:
        solver, t_end = process.solver, process.instance.t_end
        family = getattr(process.instance, "family", None)
        logs = [math.log10(e) if 0 < e < math.inf else (4.0 if e == math.inf else -10.0) for e in process.errors]
        onehot = [1.0 if family == name else 0.0 for name in PROBLEMS]
        values = [logs[1], logs[0], float(process.accepted), math.log10(max(process.h / t_end, 1e-16)),
                  solver.t / t_end] + onehot
        if self.method_flag:
            values.append(1.0 if process.current_method == "RK45" else 0.0)
        return np.array(values, dtype=np.float64)


register_features(ODEControllerFeatures.name, "tunegym.envs.timestep.process:ODEControllerFeatures")


class ODEToleranceFeatures(Features):
    """``features="controller_tol"`` (one controller for all tolerances, any problem): ``log10`` of the last error
    norm and of the one before (clipped to [-10, 4]), whether the last attempt was accepted, ``log10(h / t_end)``
    (clipped to [-16, 0]), the progress ``t / t_end`` and ``log10 rtol`` of the run (clipped to [-14, -1]); no
    problem-family one-hot (a user's problem is none of the training families)."""

    name = "ode.controller_tol"

    def __init__(self) -> None:
        low = np.array([-10.0, -10.0, 0.0, -16.0, 0.0, -14.0], dtype=np.float32)
        high = np.array([4.0, 4.0, 1.0, 0.0, 1.0, -1.0], dtype=np.float32)
        self.space = spaces.Box(low, high, dtype=np.float32)

    def observe(self, process: ODEIntegration) -> np.ndarray:
        solver, t_end = process.solver, process.instance.t_end
        logs = [math.log10(e) if 0 < e < math.inf else (4.0 if e == math.inf else -10.0) for e in process.errors]
        return np.array([logs[1], logs[0], float(process.accepted), math.log10(max(process.h / t_end, 1e-16)),
                         solver.t / t_end, math.log10(process.run_rtol)], dtype=np.float64)


register_features(ODEToleranceFeatures.name, "tunegym.envs.timestep.process:ODEToleranceFeatures")


def check_positive_arms(arms: Sequence[float], name: str = "arms") -> tuple[float, ...]:
    """``arms`` as a tuple of positive finite floats; :class:`ConfigError` otherwise."""
    values = np.asarray(arms, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ConfigError(f"{name} must be a non-empty list of positive floats, got {arms!r}", value=arms)
    return tuple(float(v) for v in values)
