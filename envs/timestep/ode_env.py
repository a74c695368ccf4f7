"""``tunegym/ODEStep-v0``: choose the step-size factor of an embedded Runge–Kutta pair at every step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.timestep.instances import next_instance
from tunegym.envs.timestep.ode import (
    METHODS,
    PROBLEMS,
    EmbeddedRungeKutta,
    ODEInstance,
    ODEProblemDistribution,
    global_error,
)

__all__ = ["DEFAULT_FACTORS", "DEFAULT_SAFETIES", "KNOBS", "ODEStepEnv", "PIMemory", "controlled_attempt",
           "controller_observation", "make_ode_step", "make_ode_step_continuous"]

#: Step-size factors of the discrete action space for ``knob="factor"`` (``h_next = factor · h``).
DEFAULT_FACTORS = (0.2, 0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0, 4.0)
#: Safety factors of the I controller for ``knob="safety"`` (``h_next = h · clip(safety · err^(-1/k))``), and of
#: the PI controller for ``knob="pi_safety"``.
DEFAULT_SAFETIES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.2)
#: The PI rule's gains (``kI = 0.3/k``, ``kP = 0.4/k``), as in :class:`~tunegym.envs.timestep.ode.PIController`.
PI_KI_SCALE, PI_KP_SCALE = 0.3, 0.4
#: The knobs of ODEStep-v0.
KNOBS = ("safety", "pi_safety", "factor")


def controlled_attempt(solver: EmbeddedRungeKutta, knob: str, knob_value: float, h: float, last_error: float,
                       last_accepted: bool, t_end: float, *, previous_error: float = 1.0,
                       first: bool = False) -> tuple[float, float, bool, float, str]:
    """One attempt of ``solver`` with the step the knob sets; returns ``(h, factor, accepted, error, status)``.

    ``knob="safety"``: ``h · clip(knob_value · err^(-1/k), 0.2, 10)`` (``≤ 1`` after a rejection), ``k = q + 1``;
    ``knob="pi_safety"``: Gustafsson's PI rule of :class:`~tunegym.envs.timestep.ode.PIController` with
    ``knob_value`` as its safety factor, ``h · clip(knob_value · err^(-0.3/k) · (previous_error / err)^(0.4/k),
    0.2, 10)`` (the I rule, capped at 1, after a rejection; ``err`` floored at 1e-10 as there), where
    ``previous_error`` is the error of the accepted step before the last one (:class:`PIMemory` keeps it); the
    ``first`` attempt of a run takes the initial step estimate ``h`` itself, as :func:`~tunegym.envs.timestep.ode.integrate`
    does, so a constant ``knob_value = 0.9`` *is* the PI baseline, attempt for attempt;
    ``knob="factor"``: ``h · knob_value``. A step under ``1e-14 t_end`` is not attempted (``"step_underflow"``).
    Shared by :class:`ODEStepEnv` and the deployable step-size tuner, so both run the same controller.
    """
    k = solver.error_estimator_order + 1
    if knob == "safety":
        err = last_error
        factor = 10.0 if err == 0 else knob_value * err ** (-1.0 / k) if math.isfinite(err) else 0.2
        factor = min(max(factor, 0.2), 10.0 if last_accepted else 1.0)
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
            factor = min(max(factor, 0.2), 10.0)
    else:
        factor = knob_value
    h = min(h * factor, t_end)
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


def controller_observation(solver: EmbeddedRungeKutta, errors: Sequence[float], accepted: bool, h: float,
                           t_end: float, family: str | None, space: spaces.Box) -> np.ndarray:
    """ODEStep-v0's observation (see :class:`ODEStepEnv`); ``family=None`` (a user's problem) has no one-hot."""
    logs = [math.log10(e) if 0 < e < math.inf else (4.0 if e == math.inf else -10.0) for e in errors]
    onehot = [1.0 if family == name else 0.0 for name in PROBLEMS]
    raw = np.array([logs[1], logs[0], float(accepted), math.log10(max(h / t_end, 1e-16)), solver.t / t_end] + onehot,
                   dtype=np.float64)
    return np.clip(raw, space.low, space.high).astype(np.float32)


class ODEStepEnv(gym.Env):
    """Act as the step-size controller of an embedded Runge–Kutta pair.

    ## Description
    Each step the agent sets the next step size, either directly as a factor of the last one
    (``knob="factor"``) or as the safety factor (gain) of the classical controller
    ``h_next = h · clip(safety · err^(-1/k), 0.2, 10)`` with ``k = q + 1`` (``knob="safety"``, the default),
    or the safety factor of Gustafsson's PI controller (``knob="pi_safety"``: the agent modulates the PI
    baseline, which a constant 0.9 reproduces exactly; see :func:`controlled_attempt`);
    the pair (Dormand–Prince 5(4) by
    default, or Bogacki–Shampine 3(2)) attempts that step and accepts it iff its scaled error norm is ≤ 1.
    Problems are drawn from the classic set (Van der Pol, Robertson, Brusselator, Lotka–Volterra, Kepler,
    Arenstorf; :mod:`tunegym.envs.timestep.ode`). Cost is counted in right-hand-side evaluations. The
    hand-written rivals are :class:`~tunegym.envs.timestep.ode.IController` and
    :class:`~tunegym.envs.timestep.ode.PIController` (related work: Dellnitz et al., arXiv 2104.03562).

    ## Action Space
    ``action="discrete"``: ``Discrete(len(arms))`` over :data:`DEFAULT_SAFETIES` (``knob="safety"``/``"pi_safety"``) or
    :data:`DEFAULT_FACTORS` (``knob="factor"``), or your ``arms``. ``action="continuous"``: ``Box(0.2, 1.5, (1,))``
    holding the safety factor, or ``Box(-1, 1, (1,))`` holding ``log10 factor`` (clipped).

    ## Observation Space
    ``Box(5 + 6,)`` float32: ``log10`` of the last error norm and of the one before (clipped to [-10, 4]),
    whether the last attempt was accepted, ``log10(h / t_end)`` (clipped to [-16, 0]), the progress
    ``t / t_end``, and a one-hot of the problem family.

    ## Rewards
    Every attempt: ``log2(h / h_previous)`` if accepted (growing the step pays, a bandit can learn it
    myopically) or ``-rejection_penalty`` (3) if rejected, minus ``rhs_evaluations / reward_scale``; at the end, ``-error_weight · max(0, log10(global_error / target_error))`` against the cached reference.
    A step size that underflows (``h < 1e-14 t_end``) or an exhausted step budget ends the episode with
    ``-failure_penalty``.

    ## Info
    ``rhs_evaluations`` (this attempt), ``total_rhs_evaluations``, ``accepted``, ``error_norm`` (None if not
    finite), ``h``, ``factor``, ``t``, ``status``, ``instance_id``, and at the end ``global_error``.

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream; ``reset(options={"instance": inst})`` (an
    :class:`~tunegym.envs.timestep.ode.ODEInstance`) integrates ``inst``. The first step size is the
    Hairer–Nørsett–Wanner estimate.

    ## Episode End
    Terminates at ``t_end`` or on failure; truncated after ``max_attempts`` attempts (default 400).

    ## Arguments
    ``distribution``, ``method`` ("RK45"), ``rtol`` (1e-6), ``atol`` (rtol·1e-3), ``knob`` ("safety", "pi_safety" or "factor"),
    ``action``, ``arms``, ``reward_scale`` (100), ``rejection_penalty`` (3), ``error_weight`` (10), ``target_error`` (rtol), ``failure_penalty`` (50),
    ``max_attempts`` (400).

    ## Version History
    - v0: initial release.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        distribution: SequenceDistribution | None = None,
        *,
        method: str = "RK45",
        rtol: float = 1e-6,
        atol: float | None = None,
        knob: str = "safety",
        action: str = "discrete",
        arms: Sequence[float] | None = None,
        reward_scale: float = 100.0,
        rejection_penalty: float = 3.0,
        error_weight: float = 10.0,
        target_error: float | None = None,
        failure_penalty: float = 50.0,
        max_attempts: int = 400,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; choices: {sorted(METHODS)}", value=method)
        if action not in ("discrete", "continuous"):
            raise ConfigError(f"action must be 'discrete' or 'continuous', got {action!r}", value=action)
        if knob not in KNOBS:
            raise ConfigError(f"knob must be one of {KNOBS}, got {knob!r}", value=knob)
        self.knob = knob
        if arms is None:
            arms = DEFAULT_FACTORS if knob == "factor" else DEFAULT_SAFETIES
        self.factors = np.asarray(arms, dtype=np.float64)
        if self.factors.ndim != 1 or self.factors.size == 0 or np.any(~np.isfinite(self.factors)) or np.any(self.factors <= 0):
            raise ConfigError(f"arms must be positive floats, got {arms!r}", value=arms)
        self.rejection_penalty = float(rejection_penalty)
        if not (rtol > 0 and reward_scale > 0 and int(max_attempts) >= 1):
            raise ConfigError("rtol and reward_scale must be positive and max_attempts >= 1",
                              value=(rtol, reward_scale, max_attempts))
        self.distribution = distribution if distribution is not None else ODEProblemDistribution()
        self.method, self.rtol = method, float(rtol)
        self.atol = self.rtol * 1e-3 if atol is None else float(atol)
        self.action_kind = action
        self.reward_scale, self.error_weight = float(reward_scale), float(error_weight)
        self.target_error = self.rtol if target_error is None else float(target_error)
        self.failure_penalty, self.max_attempts = float(failure_penalty), int(max_attempts)
        if action == "discrete":
            self.action_space: spaces.Space = spaces.Discrete(self.factors.size)
        elif knob != "factor":
            self.action_space = spaces.Box(0.2, 1.5, shape=(1,), dtype=np.float32)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        low = np.array([-10.0, -10.0, 0.0, -16.0, 0.0] + [0.0] * len(PROBLEMS), dtype=np.float32)
        high = np.array([4.0, 4.0, 1.0, 0.0, 1.0] + [1.0] * len(PROBLEMS), dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._stream: Any = None
        self.current_instance: ODEInstance | None = None
        self.solver: EmbeddedRungeKutta | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.current_instance = next_instance(self, seed, options, ODEInstance)
        inst = self.current_instance
        self.solver = METHODS[self.method](inst.rhs, 0.0, inst.y0, inst.t_end, rtol=self.rtol, atol=self.atol)
        self.h = self.solver.initial_step()
        self._errors = [1.0, 1.0]
        self._accepted = True
        self._attempts = 0
        self._pi = PIMemory()
        return self._observation(), {"instance_id": inst.instance_id}

    def step(self, action: Any):
        if self.solver is None:
            raise ActionError("call reset() before step()")
        knob_value = self.action_to_factor(action)
        solver, inst = self.solver, self.current_instance
        h_previous = self.h
        before = solver.rhs_evaluations
        first = self._attempts == 0
        self.h, factor, accepted, err, status = controlled_attempt(
            solver, self.knob, knob_value, self.h, self._errors[1], self._accepted, inst.t_end,
            previous_error=self._pi.previous_error, first=first)
        self._pi.after_factor(self._errors[1], self._accepted, first)
        self._attempts += 1
        self._errors = [self._errors[1], err]
        self._accepted = accepted
        spent = solver.rhs_evaluations - before
        reward = -spent / self.reward_scale
        reward += math.log2(max(self.h, 1e-300) / h_previous) if accepted else -self.rejection_penalty
        terminated, truncated = False, False
        info: dict[str, Any] = {}
        if status != "ok":
            reward -= self.failure_penalty
            terminated = True
        elif solver.finished:
            error = global_error(inst, solver.y)
            info["global_error"] = error
            reward -= self.error_weight * max(0.0, math.log10(max(error, 1e-300) / self.target_error))
            terminated, status = True, "finished"
        elif self._attempts >= self.max_attempts:
            truncated, status = True, "max_attempts"
        info.update({
            "rhs_evaluations": int(spent),
            "cost": float(spent),  # the cost unit every tunegym table reads
            "total_rhs_evaluations": int(solver.rhs_evaluations),
            "accepted": bool(accepted),
            "error_norm": float(err) if math.isfinite(err) else None,
            "h": float(self.h),
            "factor": factor,
            "knob_value": knob_value,
            "t": float(solver.t),
            "status": status,
            "instance_id": inst.instance_id,
        })
        return self._observation(), float(reward), terminated, truncated, info

    def action_to_factor(self, action: Any) -> float:
        """The step-size factor an action applies; raises :class:`ActionError` for bad actions."""
        if self.action_kind == "discrete":
            arr = np.asarray(action)
            if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer) and not float(arr.reshape(())).is_integer():
                raise ActionError(f"discrete action must be an integer index, got {action!r}", value=action)
            index = int(arr.reshape(()))
            if not 0 <= index < self.factors.size:
                raise ActionError(f"factor index {index} outside 0..{self.factors.size - 1}", value=index)
            return float(self.factors[index])
        try:
            value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        except (TypeError, ValueError, IndexError) as exc:
            raise ActionError(f"continuous action must be a number (log10 factor), got {action!r}", value=action) from exc
        if not math.isfinite(value):
            raise ActionError(f"continuous action must be finite, got {action!r}", value=action)
        if self.knob != "factor":
            return float(min(max(value, 0.2), 1.5))
        return float(10.0 ** min(max(value, -1.0), 1.0))

    def _observation(self) -> np.ndarray:
        inst = self.current_instance
        return controller_observation(self.solver, self._errors, self._accepted, self.h, inst.t_end, inst.family,
                                      self.observation_space)


def make_ode_step(families: Sequence[str] = PROBLEMS, **env_kwargs: Any) -> ODEStepEnv:
    """``tunegym/ODEStep-v0``: random problems from ``families``."""
    return ODEStepEnv(ODEProblemDistribution(families), **env_kwargs)


def make_ode_step_continuous(**kwargs: Any) -> ODEStepEnv:
    """``tunegym/ODEStepContinuous-v0``: the controller's safety factor in [0.2, 1.5] as a continuous action."""
    kwargs.setdefault("action", "continuous")
    return make_ode_step(**kwargs)
