"""The hand-designed step-size controllers as policies over ODEStep-v0's knob (``DOMAIN_BASELINES["timestep"]``).

:class:`PIControllerPolicy` (Gustafsson's PI rule, :class:`~tunegym.envs.timestep.ode.PIController`) and
:class:`IControllerPolicy` (the classical rule, :class:`~tunegym.envs.timestep.ode.IController`) answer
``predict(obs)`` like an agent, so ``tunegym.tuning.evaluation.evaluate_policy`` runs them through the env like a
learned policy. Each reads the running integration (last error, acceptance, the PI memory) from
``env.unwrapped.process`` — the state the rule needs, which the observation carries only rounded — computes the
step factor its rule would apply, and returns the knob value that makes the env's controller apply that factor
(both rules and both gain knobs clip to [0.2, 10], [0.2, 1] after a rejection, so the unclipped factor is
converted and the env clips it). That is exact on the rule's own knob (the PI rule on ``knob="pi_safety"`` is the
constant 0.9, the I rule on ``knob="safety"`` is 0.9 after a first attempt at 1.0, the initial step as
:func:`~tunegym.envs.timestep.ode.integrate` takes it: attempt for attempt the rule), up to float32 rounding of
the action on a continuous knob, and the nearest arm on another discrete knob.

The best fixed η of the three-body envs is the generic ``FixedKnob`` with each env's ``default_knob_value``.
REBOUND's IAS15 has its own step control and force count, so it is no policy over η: ``tunegym bench timestep``
reports it beside the envs (:func:`tunegym.tuning.benches.timestep.ias15_run`).
"""

from __future__ import annotations

import math
from typing import Any

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.knob import CompositeKnob
from tunegym.envs.timestep.process import PI_KI_SCALE, PI_KP_SCALE, ODEIntegration

__all__ = ["IControllerPolicy", "PIControllerPolicy"]

SAFETY = 0.9


class _ControllerRule:
    """A step-size rule as a policy over an ODE env's controller knob (see the module docstring)."""

    label = "controller"

    def __init__(self, env: Any) -> None:
        self.env = env.unwrapped
        if not isinstance(getattr(self.env, "process", None), ODEIntegration):
            raise ConfigError(f"the {self.label} drives ODE integrations (ODEStep-v0, StepOrder-v0), not "
                              f"{type(self.env).__name__}", value=type(self.env).__name__)
        self.knob = self.env.knob

    def learn(self, env: Any = None, total_timesteps: int = 0, **kwargs: Any) -> _ControllerRule:
        """Nothing to learn; present so baselines run wherever agents do."""
        return self

    def factor(self, process: ODEIntegration, k: int) -> float:  # pragma: no cover - abstract
        """The rule's step factor before its clip to [0.2, 10] ([0.2, 1] after a rejection)."""
        raise NotImplementedError

    def value(self) -> float:
        """The knob value that makes the env's controller apply this rule's factor at the coming attempt."""
        process = self.env.process
        k = process.solver.error_estimator_order + 1
        err, first = process.errors[1], process.attempts == 0
        factor = self.factor(process, k)
        if process.knob == "factor":
            return 1.0 if first else min(max(factor, 0.2), 10.0 if process.accepted else 1.0)
        if first and process.knob == "pi_safety":
            return SAFETY  # the knob's first attempt takes the initial step whatever the gain
        if not math.isfinite(err) or (err == 0 and process.knob == "safety"):
            return SAFETY  # the knob's controller applies its fixed fallback there
        if process.knob == "safety":
            value = factor * err ** (1.0 / k)
        else:
            err = max(err, 1e-10)
            if not process.accepted:
                value = factor * err ** (1.0 / k)
            else:
                value = factor / (err ** (-PI_KI_SCALE / k) * (process.memory.previous_error / err) ** (PI_KP_SCALE / k))
        return SAFETY if abs(value - SAFETY) < 1e-12 else value

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        value: Any = self.value()
        if isinstance(self.knob, CompositeKnob):  # StepOrder-v0: keep the running pair
            value = {"method": self.env.process.current_method, self.env.process.knob: value}
        return self.knob.encode(value), state


class IControllerPolicy(_ControllerRule):
    """The classical controller ``h · clip(0.9 · err^(-1/k), 0.2, 10)`` (≤ 1 after a rejection), starting from the
    initial step estimate as :func:`~tunegym.envs.timestep.ode.integrate` does."""

    label = "I controller"

    def factor(self, process: ODEIntegration, k: int) -> float:
        err = process.errors[1]
        if process.attempts == 0:
            return 1.0
        if err == 0:
            return 10.0
        return SAFETY * err ** (-1.0 / k) if math.isfinite(err) else 0.0


class PIControllerPolicy(_ControllerRule):
    """Gustafsson's PI controller ``h · clip(0.9 · err^(-0.3/k) · (err_prev/err)^(0.4/k), 0.2, 10)`` (the I rule,
    ≤ 1, after a rejection), as :class:`~tunegym.envs.timestep.ode.PIController`."""

    label = "PI controller"

    def factor(self, process: ODEIntegration, k: int) -> float:
        err = max(process.errors[1], 1e-10)
        if process.attempts == 0:
            return 1.0
        if not math.isfinite(err):
            return 0.2
        if not process.accepted:
            return SAFETY * err ** (-1.0 / k)
        return SAFETY * err ** (-PI_KI_SCALE / k) * (process.memory.previous_error / err) ** (PI_KP_SCALE / k)
