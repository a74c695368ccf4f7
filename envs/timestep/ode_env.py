"""``tunegym/ODEStep-v0``: choose the step-size controller knob of an embedded Runge–Kutta pair at every attempt.

The env is a thin driver (:class:`~tunegym.envs.core.env.ProcessEnv`) around
:class:`~tunegym.envs.timestep.process.ODEIntegration`; :func:`ode_settings` builds its process, knob, features
and named reward from the env's keyword arguments, and ``StepSizeTuner.solve_ivp`` and ``StepOrder-v0`` build
the same, so all three run one controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, BoxKnob, CompositeKnob
from tunegym.envs.timestep.detest import DetestInstance
from tunegym.envs.timestep.ode import METHODS, PROBLEMS, ODEInstance, ODEProblemDistribution
from tunegym.envs.timestep.process import (
    DEFAULT_FACTORS,
    DEFAULT_SAFETIES,
    KNOBS,
    PI_KI_SCALE,
    PI_KP_SCALE,
    ODEControllerFeatures,
    ODEIntegration,
    ODEToleranceFeatures,
    PIMemory,
    check_positive_arms,
    controlled_attempt,
)

__all__ = ["DEFAULT_FACTORS", "DEFAULT_SAFETIES", "KNOBS", "PI_KI_SCALE", "PI_KP_SCALE", "ODEStepEnv", "PIMemory",
           "controlled_attempt", "make_ode_step", "make_ode_step_continuous", "ode_settings"]

#: ODEStep-v0's observations: ``ode.controller`` (problem family one-hot) or ``ode.controller_tol`` (log10 rtol).
FEATURES = ("controller", "controller_tol")
#: The continuous safety factor's interval (``knob="safety"`` / ``"pi_safety"``).
SAFETY_RANGE = (0.2, 1.5)
#: The continuous step factor's interval (``knob="factor"``, log scale).
FACTOR_RANGE = (0.1, 10.0)


def ode_settings(*, method: str = "RK45", rtol: float = 1e-6, atol: float | None = None, knob: str = "safety",
                 action: str = "discrete", arms: Sequence[float] | None = None, reward_scale: float = 100.0,
                 rejection_penalty: float = 3.0, error_weight: float = 10.0, target_error: float | None = None,
                 failure_penalty: float = 50.0, max_attempts: int = 400,
                 order_methods: Sequence[str] | None = None, features: str = "controller",
                 stiffness_detection: bool = False) -> SimpleNamespace:
    """ODEStep-v0's process, knob, features and reward for these keyword arguments.

    ``features="controller_tol"`` observes ``log10 rtol`` instead of the problem family (one controller for all
    tolerances; the reward's ``target_error`` is then each episode's rtol unless given). ``stiffness_detection``
    ends a run that is stiff and cannot finish within ``max_attempts`` (status ``"stiff"``).

    ``order_methods`` (StepOrder-v0) makes the knob a ``CompositeKnob`` of ``method`` (the pair per attempt) and
    the controller knob, and adds the running pair to the observation.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choices: {sorted(METHODS)}", value=method)
    if knob not in KNOBS:
        raise ConfigError(f"knob must be one of {KNOBS}, got {knob!r}", value=knob)
    if not (rtol > 0 and reward_scale > 0 and int(max_attempts) >= 1):
        raise ConfigError("rtol and reward_scale must be positive and max_attempts >= 1",
                          value=(rtol, reward_scale, max_attempts))
    if action == "discrete":
        if arms is None:
            arms = DEFAULT_FACTORS if knob == "factor" else DEFAULT_SAFETIES
        values = check_positive_arms(arms)
        gain: Any = ArmKnob(knob, values)
    elif action == "continuous":
        gain = BoxKnob(knob, *FACTOR_RANGE, scale="log") if knob == "factor" else BoxKnob(knob, *SAFETY_RANGE)
    else:
        raise ConfigError(f"action must be 'discrete' or 'continuous', got {action!r}", value=action)
    if order_methods is not None:
        bad = [m for m in order_methods if m not in METHODS]
        if bad or not order_methods or action != "discrete":
            raise ConfigError(f"order_methods must name pairs of {sorted(METHODS)} with discrete actions, got "
                              f"{order_methods!r}", value=order_methods)
        gain = CompositeKnob("controller", [ArmKnob("method", list(order_methods)), gain])
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {FEATURES}, got {features!r}", value=features)
    if features == "controller_tol" and order_methods is not None:
        raise ConfigError("features='controller_tol' has no running-pair flag; use features='controller' with "
                          "order_methods", value=features)
    process = ODEIntegration(method=method, rtol=rtol, atol=atol, knob=knob, max_attempts=max_attempts,
                             stiffness_detection=stiffness_detection)
    if target_error is None:
        target = None if features == "controller_tol" else float(process.rtol)
    else:
        target = float(target_error)
    reward_params = {"reward_scale": float(reward_scale), "rejection_penalty": float(rejection_penalty),
                     "error_weight": float(error_weight), "target_error": target,
                     "failure_penalty": float(failure_penalty)}
    observed = (ODEToleranceFeatures() if features == "controller_tol"
                else ODEControllerFeatures(order_methods is not None))
    return SimpleNamespace(process=process, knob=gain, features=observed, reward="ode.step",
                           reward_params=reward_params)


class ODEStepEnv(ProcessEnv):
    """Act as the step-size controller of an embedded Runge–Kutta pair.

    ## Description
    Each step the agent sets the next step size of :class:`~tunegym.envs.timestep.process.ODEIntegration`, either
    directly as a factor of the last one (``knob="factor"``) or as the safety factor (gain) of the classical
    controller ``h_next = h · clip(safety · err^(-1/k), 0.2, 10)`` with ``k = q + 1`` (``knob="safety"``, the
    default), or the safety factor of Gustafsson's PI controller (``knob="pi_safety"``: the agent modulates the PI
    baseline, which a constant 0.9 reproduces exactly; see
    :func:`~tunegym.envs.timestep.process.controlled_attempt`); the pair (Dormand–Prince 5(4) by default, or
    Bogacki–Shampine 3(2)) attempts that step and accepts it iff its scaled error norm is ≤ 1. Problems are drawn
    from the classic set (Van der Pol, Robertson, Brusselator, Lotka–Volterra, Kepler, Arenstorf;
    :mod:`tunegym.envs.timestep.ode`). Cost is counted in right-hand-side evaluations. The hand-written rivals are
    :class:`~tunegym.envs.timestep.ode.IController` and :class:`~tunegym.envs.timestep.ode.PIController` (related
    work: Dellnitz et al., arXiv 2104.03562), in ``DOMAIN_BASELINES["timestep"]`` as policies over this knob.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(arms))`` over :data:`DEFAULT_SAFETIES` (``knob="safety"``/
    ``"pi_safety"``) or :data:`DEFAULT_FACTORS` (``knob="factor"``), or your ``arms``. ``action="continuous"``: the
    normalised ``Box(-1, 1, (1,))`` mapped linearly onto the safety factor in [0.2, 1.5], or log-linearly onto the
    factor in [0.1, 10] (clipped).

    ## Observation Space
    Features ``ode.controller``: ``Box(5 + 6,)`` float32: ``log10`` of the last error norm and of the one before
    (clipped to [-10, 4]), whether the last attempt was accepted, ``log10(h / t_end)`` (clipped to [-16, 0]), the
    progress ``t / t_end``, and a one-hot of the problem family. ``features="controller_tol"`` (``ode.controller_tol``):
    ``Box(6,)``, the same five values and ``log10 rtol`` of the episode (clipped to [-14, -1]).

    ## Rewards
    ``ode.step`` of the step record: every attempt ``log2(h / h_previous)`` if accepted (growing the step pays, a
    bandit can learn it myopically) or ``-rejection_penalty`` (3) if rejected, minus ``rhs_evaluations /
    reward_scale``; at the end, ``-error_weight · max(0, log10(global_error / target_error))`` against the cached
    reference. A step size that underflows (``h < 1e-14 t_end``) ends the episode with ``-failure_penalty``.

    ## Info
    The core contract (``cost`` = this attempt's RHS evaluations, ``cost_unit="rhs_evaluations"``, ``knob`` =
    the value applied, ``instance_id``, ``quality`` = ``error``: the attempt's error norm, at the end of a
    finished run the global error), and ``rhs_evaluations``, ``total_rhs_evaluations``, ``accepted``,
    ``error_norm`` (None if not finite), ``h``, ``h_previous``, ``factor``, ``t``, ``method``, ``status``
    (``ok``/``finished``/``step_underflow``/``max_attempts``) and ``global_error`` (None before the end).

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream; ``reset(options={"instance": inst})`` (an
    :class:`~tunegym.envs.timestep.ode.ODEInstance`) integrates ``inst``. The first step size is the
    Hairer–Nørsett–Wanner estimate.

    ## Episode End
    Terminates at ``t_end`` or on failure; truncated after ``max_attempts`` attempts (default 400).

    ## Arguments
    ``distribution``, ``method`` ("RK45"), ``rtol`` (1e-6), ``atol`` (rtol·1e-3), ``knob`` ("safety", "pi_safety"
    or "factor"), ``action``, ``arms``, ``reward_scale`` (100), ``rejection_penalty`` (3), ``error_weight`` (10),
    ``target_error`` (rtol), ``failure_penalty`` (50), ``max_attempts`` (400), ``problems`` ("classic" or
    "detest"), ``rtol_range`` (DETEST only: log-uniform rtol per episode), ``features`` ("controller" or
    "controller_tol"), ``stiffness_detection`` (False).

    ## Version History
    - v0 (issue 19, second round): the process follows SciPy's RK45 in every detail, so ``knob="safety"`` at a
      constant 0.9 is SciPy's RK45 step for step: the initial step estimate uses the error estimator's order
      (``1/(q+1)``), the first attempt takes it as it is, the accepted step after a rejection does not grow the
      step (both safety knobs and :class:`~tunegym.envs.timestep.ode.IController`/``PIController``), and the next
      factor scales the step clipped to ``t_end``. Trajectories differ slightly from before.
    - v0 (issue 19): ``problems="detest"`` (DETEST classes A–E, randomised) with ``rtol_range`` (a tolerance per
      episode), ``features="controller_tol"`` (observes log10 rtol instead of the family one-hot) and
      ``stiffness_detection`` (status ``"stiff"``); defaults unchanged.
    - v0: initial release. Before any release (issue 16): built on the shared process core; the continuous action
      is the normalised ``Box(-1, 1)`` (safety in [0.2, 1.5] linear, factor in [0.1, 10] log); info carries the
      core contract (``global_error`` always present, None before the end; ``knob_value`` is now ``knob``).
    """

    domain = "timestep"
    default_knob_value = 0.9  # the textbook safety factor: the I rule (knob="safety"), PI (knob="pi_safety")

    def __init__(self, distribution: SequenceDistribution | None = None, **kwargs: Any) -> None:
        settings = ode_settings(**kwargs)
        super().__init__(settings.process, distribution if distribution is not None else ODEProblemDistribution(),
                         settings.knob, settings.features, reward=settings.reward,
                         reward_params=settings.reward_params,
                         instance_type=(ODEInstance, DetestInstance))
        if settings.process.knob == "factor":
            self.default_knob_value = 1.0
        if isinstance(self.knob, CompositeKnob):
            self.default_knob_value = {"method": settings.process.method, settings.process.knob: 0.9}

    @property
    def solver(self):
        """The running embedded Runge–Kutta pair (``t``, ``y``, counters)."""
        return self.process.solver


def make_ode_step(families: Sequence[str] | None = None, problems: str = "classic",
                  rtol_range: Sequence[float] | None = None, **env_kwargs: Any) -> ODEStepEnv:
    """``tunegym/ODEStep-v0``: random problems from ``families`` of the classic set (``problems="classic"``), or
    DETEST classes A–E (``problems="detest"``, :class:`~tunegym.envs.timestep.detest.DetestDistribution`;
    ``families`` then names classes), each drawn with a log-uniform ``rtol`` in ``rtol_range`` when given."""
    if problems == "classic":
        if rtol_range is not None:
            raise ConfigError("rtol_range needs problems='detest'", value=rtol_range)
        return ODEStepEnv(ODEProblemDistribution(PROBLEMS if families is None else families), **env_kwargs)
    if problems == "detest":
        from tunegym.envs.timestep.detest import DETEST_CLASSES, DetestDistribution

        return ODEStepEnv(DetestDistribution(DETEST_CLASSES if families is None else families, rtol_range),
                          **env_kwargs)
    raise ConfigError(f"problems must be 'classic' or 'detest', got {problems!r}", value=problems)


def make_ode_step_continuous(**kwargs: Any) -> ODEStepEnv:
    """``tunegym/ODEStepContinuous-v0``: the controller's safety factor in [0.2, 1.5] as a continuous action."""
    kwargs.setdefault("action", "continuous")
    return make_ode_step(**kwargs)
