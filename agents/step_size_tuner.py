"""A trained time-step controller usable outside the gym loop: three-body integrations and ODE solves.

:class:`StepSizeTuner` is the time-step domain's adapter around a :class:`~tunegym.agents.tuner.Tuner` (a policy
trained on ``tunegym/ThreeBody-v0``, ``ThreeBodyContinuous-v0``, ``ThreeBodyCommit-v0``, ``ODEStep-v0`` or
``ODEStepContinuous-v0`` plus that env's knob, features and reward settings). :meth:`integrate` and
:meth:`solve_ivp` build the env's own process and features from the env keyword arguments
(:func:`~tunegym.envs.timestep.env.three_body_settings`, :func:`~tunegym.envs.timestep.commit.commit_settings`,
:func:`~tunegym.envs.timestep.ode_env.ode_settings`) without constructing an env, and drive them exactly as the
env does: observation from the features, knob value from :meth:`Tuner.act`, one ``advance`` per decision. It must
not carry a second copy of an integrator, a controller or an observation.

Saved as one tuner file of kind ``"step-size-tuner"`` (the inner policy's tuner file embedded as bytes, the env id
and kwargs, and the domain, knob and features the tuner acts under, as JSON; :mod:`tunegym.agents.tuner_io`), so
``tunegym.agents.load_tuner(path)`` gives it back. A file of another domain is refused at load with
:class:`~tunegym.envs.core.errors.TunerMismatchError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.integrate import DenseOutput
from scipy.optimize import OptimizeResult
from tunegym.agents.tuner import Tuner, TunerAdapter
from tunegym.agents.tuner_io import (
    embed_tuner,
    load_embedded_tuner,
    load_tuner_file,
    save_tuner_file,
    versions,
)
from tunegym.envs.core.errors import CheckpointError, ConfigError, TunerMismatchError

__all__ = ["KIND", "StepSizeResult", "StepSizeTuner", "timestep_settings"]

KIND = "step-size-tuner"
DOMAIN = "timestep"
THREE_BODY_IDS = ("tunegym/ThreeBody-v0", "tunegym/ThreeBodyContinuous-v0", "tunegym/ThreeBodyCommit-v0")
COMMIT_ID = "tunegym/ThreeBodyCommit-v0"
ODE_IDS = ("tunegym/ODEStep-v0", "tunegym/ODEStepContinuous-v0", "tunegym/ODEController-v0")
CONTROLLER_ID = "tunegym/ODEController-v0"


def timestep_settings(env_id: str, env_kwargs: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The process, knob, features and reward of ``env_id`` built with ``env_kwargs`` (no env constructed).

    ``overrides`` replace env keywords for deployment (the decision interval, the tolerances); keywords that only
    shape the instance distribution (``families``, ``initial_conditions``, ``centre``) are ignored.
    """
    kwargs = {k: v for k, v in dict(env_kwargs or {}).items()
              if k not in ("families", "initial_conditions", "centre", "distribution", "problems", "rtol_range")}
    kwargs.update(overrides)
    if env_id == COMMIT_ID:
        from tunegym.envs.timestep.commit import commit_settings

        return commit_settings(**kwargs)
    if env_id in THREE_BODY_IDS:
        from tunegym.envs.timestep.env import three_body_settings

        if env_id == "tunegym/ThreeBodyContinuous-v0":
            kwargs.setdefault("action", "continuous")
        return three_body_settings(**kwargs)
    if env_id == CONTROLLER_ID:
        from tunegym.envs.timestep.ode_controller import ode_controller_settings

        return ode_controller_settings(**kwargs)
    if env_id in ODE_IDS:
        from tunegym.envs.timestep.ode_env import ode_settings

        if env_id == "tunegym/ODEStepContinuous-v0":
            kwargs.setdefault("action", "continuous")
        return ode_settings(**kwargs)
    raise ConfigError(f"StepSizeTuner needs a policy for one of {THREE_BODY_IDS + ODE_IDS}, got {env_id!r}",
                      value=env_id)


_MESSAGES = {
    "finished": "The solver successfully reached the end of the integration interval.",
    "step_underflow": "Required step size fell below 1e-14 of the interval at t={t:.6g} (step size collapsed).",
    "max_attempts": "Reached max_attempts={max_attempts} step attempts at t={t:.6g} before the end of the interval.",
    "stiff": ("The problem is stiff at t={t:.6g}: the explicit pair's steps are limited by stability (h = {h:.3g}, "
              "Hairer's h·|lambda| test) and would need more than 10,000 further steps to reach the end. Use an "
              "implicit method: scipy.integrate.solve_ivp(fun, t_span, y0, method='Radau' or 'LSODA')."),
}


#: ``solve_ivp`` options that SciPy's RK45 honours but the tuner cannot (it chooses the steps itself)
_UNSUPPORTED_OPTIONS = ("first_step", "max_step")
#: SciPy's floor on ``rtol``: ``solve_ivp`` warns and raises a smaller one to it (below it round-off dominates)
RTOL_FLOOR = 100 * float(np.finfo(np.float64).eps)


def _check_scipy_options(method: str | None, events: Any, options: dict[str, Any], span: float) -> None:
    """Refuse, with a reason, what a ``scipy.integrate.solve_ivp`` call may carry that the tuner cannot honour;
    warn (as SciPy does) about options that have no effect on RK45. SciPy's own defaults ``first_step=None`` and
    ``max_step=inf`` (or any ``max_step`` of at least the interval's length ``span``) change no step, so a wrapper
    that forwards them explicitly is not refused."""
    if method is not None and method != "RK45":
        raise ConfigError(f"the tuner drives Dormand-Prince 5(4) (SciPy's RK45); method={method!r} is not available "
                          f"here: call scipy.integrate.solve_ivp(..., method={method!r})", value=method)
    if events is not None:
        raise ConfigError("events are not supported by StepSizeTuner.solve_ivp: call scipy.integrate.solve_ivp(..., "
                          "events=...), or stop at the event time yourself", value="events")
    options = dict(options)
    if "first_step" in options and options["first_step"] is None:
        del options["first_step"]
    max_step = options.get("max_step")
    if isinstance(max_step, (int, float, np.floating, np.integer)) and not isinstance(max_step, bool) \
            and max_step >= span:
        del options["max_step"]
    refused = [name for name in _UNSUPPORTED_OPTIONS if name in options]
    if refused:
        raise ConfigError(f"{', '.join(refused)} cannot be honoured: the tuner chooses every step itself",
                          value=refused)
    if options:
        import warnings

        warnings.warn(f"The following arguments have no effect for StepSizeTuner.solve_ivp: {sorted(options)}",
                      stacklevel=3)


def _tolerances(rtol: Any, atol: Any, n: int) -> tuple[float, float | np.ndarray]:
    """``(rtol, atol)`` of a solve, checked before any work: ``rtol`` one number (a one-element array too; the
    controller decides from one tolerance, so a per-component ``rtol`` is refused), raised to :data:`RTOL_FLOOR` with
    a warning when below it, as SciPy does; ``atol`` positive and finite, a number or one per component
    (``rtol · 1e-3`` when None). Anything else is a :class:`ConfigError` rather than a ``TypeError`` from NumPy."""
    import warnings

    try:
        rtol_value = np.asarray(rtol, dtype=np.float64)
        atol_value = np.asarray(atol, dtype=np.float64) if atol is not None else None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"rtol and atol must be numbers (atol may give one per component of y0), got rtol={rtol!r}, "
                          f"atol={atol!r}", value=(rtol, atol)) from exc
    if rtol_value.size != 1:
        raise ConfigError(f"rtol must be one number: a per-component rtol (shape {rtol_value.shape}) is not supported "
                          "(the tuner decides from one tolerance); give the smallest rtol and a per-component atol",
                          value=rtol)
    value = float(rtol_value.reshape(()))
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"rtol must be a finite non-negative number, got {rtol!r}", value=rtol)
    if value < RTOL_FLOOR:
        warnings.warn(f"rtol={value:.3g} is below 100 * machine epsilon: setting rtol = {RTOL_FLOOR:.6g} (as "
                      "scipy.integrate.solve_ivp does)", stacklevel=3)
        value = RTOL_FLOOR
    if atol_value is None:
        atol_value = np.asarray(value * 1e-3)
    if not (np.all(np.isfinite(atol_value)) and np.all(atol_value > 0) and atol_value.shape in ((), (n,))):
        raise ConfigError(f"atol must be positive and finite, a number or one per component of y0 ({n}); atol = 0 "
                          f"(pure relative error control) is not supported; got {atol!r}", value=atol)
    return value, float(atol_value) if atol_value.ndim == 0 else atol_value


class StepSizeResult(OptimizeResult):
    """What :meth:`StepSizeTuner.solve_ivp` returns: SciPy ``solve_ivp``'s result fields (``t``, ``y``, ``sol``,
    ``t_events``, ``y_events``, ``nfev``, ``njev``, ``nlu``, ``status``, ``message``, ``success``) plus
    ``accepted``, ``rejected``, ``stop_reason``, ``knob_values`` and ``rhs_evaluations``."""


def _dense_matrix(solver: Any) -> np.ndarray:
    """SciPy's continuous-extension coefficients ``P`` of the running pair (``RK45.P`` / ``RK23.P``)."""
    from scipy.integrate import RK23, RK45

    from tunegym.envs.timestep.ode import BogackiShampine32

    return RK23.P if isinstance(solver, BogackiShampine32) else RK45.P


class _RungeKuttaInterpolant(DenseOutput):
    """The continuous extension of one accepted step (SciPy's ``RkDenseOutput``: ``y_old + h·Q·[x, x², ...]``)."""

    def __init__(self, t_old: float, t: float, y_old: np.ndarray, Q: np.ndarray) -> None:
        super().__init__(t_old, t)
        self.h, self.Q, self.y_old, self.order = t - t_old, Q, y_old, Q.shape[1] - 1

    def _call_impl(self, t: np.ndarray) -> np.ndarray:
        x = (t - self.t_old) / self.h
        if t.ndim == 0:
            p = np.cumprod(np.tile(x, self.order + 1))
            return self.y_old + self.h * (self.Q @ p)
        p = np.cumprod(np.tile(x, (self.order + 1, 1)), axis=0)
        return self.y_old[:, None] + self.h * (self.Q @ p)


class _ConstantInterpolant(DenseOutput):
    """``y0`` at every time: the dense output of a solve with no step (an empty interval, or no step accepted)."""

    def __init__(self, t0: float, y0: np.ndarray) -> None:
        super().__init__(t0, t0)
        self.value = y0.copy()

    def _call_impl(self, t: np.ndarray) -> np.ndarray:
        return self.value.copy() if t.ndim == 0 else np.repeat(self.value[:, None], t.size, axis=1)


class _ComplexSolution:
    """The dense output of a complex solve: the real solution of ``[Re y, Im y]`` called and made complex (SciPy's
    :class:`~scipy.integrate.OdeSolution` interface: a call at a time or an array of times, ``t_min``, ``t_max``)."""

    def __init__(self, real: Any, n: int) -> None:
        self.real, self.n = real, n
        self.t_min, self.t_max, self.ts = real.t_min, real.t_max, real.ts

    def __call__(self, t: Any) -> np.ndarray:
        z = self.real(t)
        return z[:self.n] + 1j * z[self.n:]


class StepSizeTuner(TunerAdapter):
    """Choose time steps with a trained policy: ``integrate`` (N-body, Hermite) or ``solve_ivp`` (ODEs).

    ``policy`` is a :class:`~tunegym.agents.tuner.Tuner` of the ``"timestep"`` domain (refused otherwise with
    :class:`TunerMismatchError`), or any object with ``predict(observation)`` trained on ``env_id`` with
    ``env_kwargs`` (the Tuner is then built from that env's settings).
    """

    def __init__(self, policy: Any, *, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None) -> None:
        inner = policy.tuner if isinstance(getattr(policy, "tuner", None), Tuner) else policy
        if isinstance(inner, Tuner):
            self.tuner = inner.expect(DOMAIN, adapter="StepSizeTuner", env_ids=THREE_BODY_IDS + ODE_IDS)
            settings = timestep_settings(self.tuner.env_id, self.tuner.env_kwargs)
            self.tuner.expect(DOMAIN, adapter="StepSizeTuner", observation_shape=settings.features.space.shape)
            if provenance:
                self.tuner.provenance.update(provenance)
            return
        if env_id is None:
            raise ConfigError("StepSizeTuner needs env_id= for a bare policy", value=type(policy).__name__)
        if not hasattr(policy, "predict"):
            raise ConfigError(f"policy {type(policy).__name__} has no predict(observation)", value=policy)
        settings = timestep_settings(env_id, env_kwargs)
        self.tuner = Tuner(policy, domain=DOMAIN, env_id=env_id, knob=settings.knob,
                           features=settings.features.config(),
                           reward={"name": settings.reward, "params": settings.reward_params},
                           env_kwargs=env_kwargs, provenance=provenance)

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def train(cls, env_id: str = "tunegym/ODEStep-v0", agent: str = "linucb", *, steps: int = 20000, seed: int = 0,
              env_kwargs: dict[str, Any] | None = None, config: dict[str, Any] | None = None) -> StepSizeTuner:
        """Train ``agent`` on ``env_id`` (instance stream of tune seed ``seed``) for ``steps`` env steps."""
        from tunegym.agents.registry import train_agent

        policy, env, provenance = train_agent(env_id, agent, steps=steps, seed=seed, env_kwargs=env_kwargs,
                                              config=config)
        env.close()
        return cls(policy, env_id=env_id, env_kwargs=env_kwargs, provenance=provenance)

    def _drive(self, process: Any, instance: Any, limit: int,
               observe: Callable[..., None] | None = None) -> tuple[list[Any], Any]:
        """Run ``process`` on ``instance`` as the env does, for at most ``limit`` decisions: the features the
        tuner was trained with observe, :meth:`Tuner.act` picks the knob value, the process advances.
        ``observe(process, record, t_before, y_before)`` (ODEs) sees each attempt; it decides nothing."""
        features = self.tuner.make_features()
        process.start(instance)
        features.reset(process)
        values, record = [], None
        for _ in range(int(limit)):
            _, value = self.tuner.act(features.observation(process))
            if observe is not None:
                t_before, y_before = process.solver.t, process.solver.y.copy()
            record = process.advance(value)
            features.record(process, record)
            values.append(value)
            if observe is not None:
                observe(process, record, t_before, y_before)
            if process.done or record.terminated or record.truncated:
                break
        return values, record

    # ---- three-body ----------------------------------------------------------------------------------
    def integrate(self, masses, positions, velocities, t_end: float, *, G: float | None = None) -> dict[str, Any]:
        """Integrate one N-body system from t=0 to ``t_end``, the policy choosing η every decision interval.

        A ThreeBodyCommit-v0 policy instead runs the env's pilot (coarse η over the whole span), picks one η from it
        and integrates the system from t=0 with that η held (``force_evaluations`` includes the pilot's).
        The interval is the trained env's ``action_interval`` (0.1 yr by default), shrunk evenly so that a whole
        number of intervals lands on ``t_end``. Returns ``positions``, ``velocities``, ``force_evaluations``,
        ``energy_error`` (relative, signed), ``status``, ``etas`` (one per interval) and ``time``. Bad systems
        raise :class:`InstanceError` (as :func:`tunegym.envs.timestep.nbody.simulate`).
        """
        if self.env_id not in THREE_BODY_IDS:
            raise ConfigError(f"integrate needs a three-body policy; this one is for {self.env_id}", value=self.env_id)
        # numpy scalars (np.float32(1.0), np.int64(3)) are valid times; bools and strings are not.
        if (isinstance(t_end, (bool, np.bool_)) or not isinstance(t_end, (int, float, np.integer, np.floating))
                or not (math.isfinite(t_end) and t_end > 0)):
            raise ConfigError(f"t_end must be a finite positive number, got {t_end!r}", value=t_end)
        t_end = float(t_end)
        from tunegym.envs.timestep.instances import NBodyInstance
        from tunegym.envs.timestep.nbody import G_AU_MSUN_YR

        interval = float(self.env_kwargs.get("action_interval", 0.1))
        ratio = t_end / interval
        if not ratio <= 1e9:  # ceil(inf) would raise OverflowError; 1e9 decisions is already days of work
            raise ConfigError(f"t_end={t_end!r} needs more than 1e9 decision intervals of {interval}", value=t_end)
        actions = max(1, math.ceil(ratio - 1e-9))
        # NBodyInstance converts and validates the arrays (InstanceError for ragged, non-numeric or bad systems).
        system = NBodyInstance(masses=masses, positions=positions, velocities=velocities,
                               G=G_AU_MSUN_YR if G is None else G)
        if self.env_id == COMMIT_ID:
            settings = timestep_settings(self.env_id, self.env_kwargs, horizon=actions, action_interval=t_end / actions,
                                         keep_state=True)
            values, record = self._drive(settings.process, system, 1)
            state = settings.process.state
            return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                    "force_evaluations": int(record.cost), "energy_error": float(state.energy_error),
                    "status": record.status, "etas": [values[0]["eta"]] * actions,
                    "criterion_exponent": values[0]["criterion_exponent"], "time": float(state.time)}
        settings = timestep_settings(self.env_id, self.env_kwargs, action_interval=t_end / actions)
        etas, record = self._drive(settings.process, system, actions)
        state = settings.process.state
        return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                "force_evaluations": int(state.force_evaluations), "energy_error": float(state.energy_error),
                "status": record.status, "etas": [float(e) for e in etas], "time": float(state.time)}

    # ---- ODEs ----------------------------------------------------------------------------------------
    def _solve_complex(self, fun: Callable[..., Any], t_span: tuple[float, float], y0: Any, *, args: tuple,
                       atol: Any, dense_output: bool, **kwargs: Any) -> StepSizeResult:
        """:meth:`solve_ivp` for a complex ``y0``: the real system ``[Re y, Im y]``, and its result made complex."""
        from tunegym.envs.core.errors import InstanceError

        y_start = np.asarray(y0, dtype=np.complex128).reshape(-1)
        n = y_start.size

        def real_fun(t: float, z: np.ndarray) -> np.ndarray:
            raw = fun(t, z[:n] + 1j * z[n:], *args)
            try:
                out = np.asarray(raw, dtype=np.complex128)
            except (TypeError, ValueError) as exc:
                raise InstanceError(f"fun(t, y) must return {n} numbers, returned a {type(raw).__name__} at "
                                    f"t={t:.6g}: {exc}", value=type(raw).__name__) from exc
            if raw is None or out.size != n:
                got = "None" if raw is None else f"shape {out.shape}"
                raise InstanceError(f"fun(t, y) must return {n} values (the size of y0), returned {got} at t={t:.6g}",
                                    value=got)
            out = out.reshape(n)
            return np.concatenate([out.real, out.imag])

        if atol is not None and np.ndim(atol) == 1:
            atol = np.concatenate([np.asarray(atol, dtype=np.float64)] * 2)  # per component: the same on both parts
        result = self.solve_ivp(real_fun, t_span, np.concatenate([y_start.real, y_start.imag]), atol=atol,
                                dense_output=dense_output, **kwargs)
        result.y = result.y[:n] + 1j * result.y[n:]
        if result.sol is not None:
            result.sol = _ComplexSolution(result.sol, n)
        return result

    def solve_ivp(self, fun: Callable[[float, np.ndarray], np.ndarray], t_span: tuple[float, float], y0, *,
                  rtol: float | None = None, atol: float | None = None, t_eval=None, dense_output: bool = False,
                  max_attempts: int = 100_000, problem_family: str | None = None,
                  detect_stiffness: bool = True, args: tuple | None = None, method: str | None = None,
                  events: Any = None, vectorized: bool = False, **options: Any) -> StepSizeResult:
        """Solve ``y' = fun(t, y)`` on ``t_span`` from ``y0`` with the trained controller choosing each step, as
        :func:`scipy.integrate.solve_ivp` does (same arguments, same result fields).

        ``rtol`` defaults to the trained env's (1e-3 for a tuner trained for all tolerances, SciPy's default) and
        ``atol`` to ``rtol · 1e-3`` (SciPy's 1e-6 at rtol 1e-3); ``atol`` may also give one value per component, and
        ``args`` extra arguments for ``fun(t, y, *args)``, both as in SciPy. An ``rtol`` below 100 · machine epsilon (0
        included) is raised to it with a warning, as SciPy does; a per-component ``rtol`` and ``atol = 0`` are refused
        (:class:`ConfigError`). A complex ``y0`` (``fun`` then returns complex values) is solved as the real system of
        its real and imaginary parts and returned complex, as SciPy's RK45 returns it; the error is controlled on each
        part (SciPy's on each component's modulus), so the steps can differ. ``y0`` may be any 1-D sequence of numbers
        (ints are upcast, as in SciPy); ``fun`` may return an array, a list, a tuple or, for one equation, a scalar.
        ``t_eval`` / ``dense_output`` use the pair's own continuous extension (SciPy's interpolant for RK45/RK23), at no
        extra RHS evaluation. So that a call written for SciPy fails clearly rather than with a ``TypeError``:
        ``method`` may only be ``"RK45"`` (the pair the tuner drives), ``events`` and the step options SciPy's RK45
        honours (``first_step``, ``max_step``) raise :class:`ConfigError` unless they are SciPy's no-op defaults
        (``first_step=None``, ``max_step=inf`` or at least the interval), ``vectorized`` is accepted (``fun`` is called
        with one state at a time), and options RK45 ignores in SciPy (``jac``, ``jac_sparsity``, ``lband``, ``uband``,
        ``min_step``) or unknown ones are ignored with a warning, as SciPy does. The problem-family one-hot of an
        ``ode.controller`` observation is zero unless ``problem_family`` names one of the training families
        (``ode.controller_tol`` tuners have none). A ``t_span`` that runs backwards (``t_span[1] < t_span[0]``)
        integrates backwards, as SciPy does: the controller solves ``z'(s) = -fun(t0 - s, z)`` forward on ``[0, t0 -
        tf]`` (the decisions are those of that forward problem) and ``t``, ``sol`` and ``t_eval`` (decreasing, as SciPy
        asks) are in the user's time; an empty interval returns ``y0`` at ``t0`` after one evaluation of ``fun``, as
        SciPy does. Inputs of the wrong type or range raise :class:`ConfigError` / :class:`InstanceError` before any
        step.

        Returns a :class:`StepSizeResult`: SciPy's ``t`` (accepted step times, or ``t_eval``), ``y`` (shape
        ``(n, len(t))``), ``sol`` (an :class:`~scipy.integrate.OdeSolution` with ``dense_output``, else None),
        ``nfev``, ``njev = nlu = 0``, ``status`` (0 reached the end, -1 failed), ``message``, ``success``; and
        ``accepted``, ``rejected``, ``stop_reason`` (``"finished"``, ``"step_underflow"``, ``"max_attempts"``,
        ``"stiff"``), ``knob_values`` (one per attempt; for an ``ODEController-v0`` tuner the one controller it
        chose for the solve, ``{"rule", "safety"}``) and ``rhs_evaluations`` (= ``nfev``).

        A right-hand side that returns the wrong shape raises :class:`InstanceError` at its first call; one that
        is not finite at ``(t0, y0)`` raises :class:`InstanceError`; one that turns non-finite later ends with
        ``success=False`` and a message saying where. With ``detect_stiffness`` (default), a stiff problem that
        could not finish within ``max_attempts`` stops early (Hairer's test) with ``success=False`` and a message
        pointing to an implicit method (its steps are stability-limited and reaching ``t_end`` would take over
        10,000 more); ``max_attempts`` bounds every run.
        """
        if self.env_id not in ODE_IDS:
            raise ConfigError(f"solve_ivp needs an ODE policy; this one is for {self.env_id}", value=self.env_id)
        from tunegym.envs.core.errors import InstanceError
        from tunegym.envs.timestep.process import ODEProblem

        if not callable(fun):
            raise ConfigError(f"fun must be callable as fun(t, y), got {type(fun).__name__}", value=fun)
        try:
            t0, t1 = (float(v) for v in t_span)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"t_span must be two numbers (t0, tf), got {t_span!r}", value=t_span) from exc
        if not (math.isfinite(t0) and math.isfinite(t1) and math.isfinite(t1 - t0)):
            raise ConfigError(f"t_span must be two finite numbers whose difference is finite, got {t_span!r}",
                              value=t_span)
        direction = 1.0 if t1 >= t0 else -1.0  # backwards: the forward problem in s = t0 - t
        span = abs(t1 - t0)
        _check_scipy_options(method, events, options, span)
        try:
            extra = tuple(args) if args is not None else ()
        except TypeError as exc:
            raise ConfigError(f"args must be a tuple of extra arguments for fun(t, y, *args) (as SciPy's, e.g. "
                              f"args=({args!r},)), got {type(args).__name__}", value=args) from exc
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(max_attempts) and max_attempts >= 1):
            raise ConfigError(f"max_attempts must be a number >= 1, got {max_attempts!r}", value=max_attempts)
        max_attempts = int(max_attempts)
        try:
            is_complex = np.iscomplexobj(np.asarray(y0))
        except (TypeError, ValueError):
            is_complex = False  # not an array of numbers at all: the conversion below says so
        if is_complex:
            return self._solve_complex(fun, t_span, y0, rtol=rtol, atol=atol, t_eval=t_eval,
                                       dense_output=dense_output, max_attempts=max_attempts,
                                       problem_family=problem_family, detect_stiffness=detect_stiffness,
                                       args=extra, method=method, vectorized=vectorized, **options)
        try:
            y_start = np.asarray(y0, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InstanceError(f"y0 must be a 1-D vector of numbers, got {type(y0).__name__}: {exc}",
                                value=y0) from exc
        if y_start.ndim != 1 or y_start.size == 0:
            raise InstanceError(f"y0 must be a non-empty 1-D vector, got shape {y_start.shape}", value=y0)
        if not np.all(np.isfinite(y_start)):
            raise InstanceError(f"y0 must be finite; components {np.flatnonzero(~np.isfinite(y_start))[:6].tolist()} "
                                "are not", value=y0)
        n = y_start.size
        trained_rtol = float(self.env_kwargs.get("rtol", 1e-3 if self.env_id == CONTROLLER_ID else 1e-6))
        rtol, atol = _tolerances(trained_rtol if rtol is None else rtol, atol, n)
        if t_eval is not None:
            try:
                t_eval = np.asarray(t_eval, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"t_eval must be numbers, got {type(t_eval).__name__}", value=t_eval) from exc
            if not np.all(np.isfinite(t_eval)) or np.any(direction * np.diff(t_eval) <= 0) \
                    or (t_eval.size and (direction * (t_eval[0] - t0) < 0 or direction * (t_eval[-1] - t1) > 0)):
                raise ConfigError("t_eval must be finite, within t_span and sorted in the direction of integration "
                                  "(increasing, or decreasing when t_span runs backwards)", value=t_span)
        first_bad: list[float] = []

        def user_time(t: float) -> float:
            """The solve runs on [0, span]; fun, ``t`` and ``sol`` see [t0, t1], with t1 exactly at the end."""
            return t1 if t >= span else t0 + direction * t

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            raw = fun(user_time(t), y, *extra)
            if direction < 0 and raw is not None:
                try:
                    raw = -np.asarray(raw, dtype=np.float64)  # dz/ds = -fun(t0 - s, z)
                except (TypeError, ValueError):
                    pass  # refused just below, with the message a forward solve gives
            try:
                out = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InstanceError(f"fun(t, y) must return {n} numbers, returned a {type(raw).__name__} at "
                                    f"t={user_time(t):.6g}: {exc}", value=type(raw).__name__) from exc
            if raw is None or out.shape != (n,):
                if raw is None or out.size != n:
                    raise InstanceError(f"fun(t, y) must return {n} values (the size of y0), returned "
                                        f"{'None' if raw is None else f'shape {out.shape}'} at "
                                        f"t={user_time(t):.6g}", value=None if raw is None else out.shape)
                out = out.reshape(n)
            if not np.all(np.isfinite(out)):
                if not first_bad:
                    first_bad.append(user_time(t))
                    if t == 0.0 and np.array_equal(y, y_start):
                        raise InstanceError(f"fun(t0, y0) returned non-finite values {out.tolist()[:6]} at "
                                            f"t0={t0:.6g}", value=t0)
            return out

        if span == 0.0:  # SciPy's answer on an empty interval: y0 at t0, after one evaluation of fun there
            rhs(0.0, y_start.copy())
            t_out = np.array([t0, t0]) if t_eval is None else t_eval
            sol = None
            if dense_output:
                from scipy.integrate import OdeSolution

                sol = OdeSolution(np.array([t0, t0]), [_ConstantInterpolant(t0, y_start)])
            return StepSizeResult(
                t=t_out, y=np.repeat(y_start[:, None], t_out.size, axis=1), sol=sol, t_events=None, y_events=None,
                nfev=1, njev=0, nlu=0, status=0, message=_MESSAGES["finished"], success=True, accepted=0,
                rejected=0, stop_reason="finished", knob_values=[], rhs_evaluations=1)
        overrides: dict[str, Any] = {"rk45_reference": False} if self.env_id == CONTROLLER_ID else {}
        settings = timestep_settings(self.env_id, self.env_kwargs, rtol=rtol, atol=atol, max_attempts=max_attempts,
                                     stiffness_detection=bool(detect_stiffness), **overrides)

        # Shift time to start at 0 so that the observation's h / t_end and progress mean what they meant in training.
        problem = ODEProblem(rhs, tuple(y_start), span, problem_family)
        times, states, pieces = [t0], [y_start.copy()], []
        keep_dense = bool(dense_output) or t_eval is not None

        def observe(process: Any, record: Any, t_before: float, y_before: np.ndarray) -> None:
            if not record.extra["accepted"]:
                return
            solver = process.solver
            times.append(user_time(solver.t))
            states.append(solver.y.copy())
            if keep_dense:
                pieces.append(_RungeKuttaInterpolant(user_time(t_before), user_time(solver.t), y_before,
                                                     direction * (solver.K.T @ _dense_matrix(solver))))

        if self.env_id == CONTROLLER_ID:  # one decision: the controller of the whole solve, then the solve
            features = self.tuner.make_features()
            settings.process.start(problem)
            features.reset(settings.process)
            _, value = self.tuner.act(features.observation(settings.process))
            values, record = [value], settings.process.solve(value, observe=observe)
            process = settings.process.integration
        else:
            values, record = self._drive(settings.process, problem, max_attempts, observe=observe)
            process = settings.process
        solver = process.solver
        reason = record.status if record is not None else "max_attempts"
        success = reason == "finished"
        message = _MESSAGES.get(reason, reason).format(t=user_time(solver.t), h=process.h, max_attempts=max_attempts)
        if first_bad:
            message += (f" fun returned non-finite values (first at t={first_bad[0]:.6g}): the solution blew up or "
                        "the right-hand side is undefined there.")
        elif success and process.stiffness_detected:
            message += (" The problem looked stiff on part of the interval (steps limited by stability): an implicit "
                        "method (scipy.integrate.solve_ivp(method='Radau' or 'LSODA')) may be cheaper.")
        sol = None
        if keep_dense:
            from scipy.integrate import OdeSolution

            # with no accepted step y0 is all there is (SciPy's own ``sol`` then has no piece and fails when called)
            sol = (OdeSolution(np.array([p.t_old for p in pieces] + [pieces[-1].t]), pieces) if pieces
                   else OdeSolution(np.array([t0, t0]), [_ConstantInterpolant(t0, y_start)]))
        if t_eval is not None:
            reached = t_eval[direction * (t_eval - times[-1]) <= 0] if not success else t_eval
            ys = sol(reached) if reached.size else np.empty((n, 0))
            t_out, y_out = reached, np.asarray(ys).reshape(n, -1)
        else:
            t_out, y_out = np.array(times), np.array(states).T
        return StepSizeResult(
            t=t_out, y=y_out, sol=sol if dense_output else None, t_events=None, y_events=None,
            nfev=int(solver.rhs_evaluations), njev=0, nlu=0, status=0 if success else -1, message=message,
            success=success, accepted=int(solver.accepted), rejected=int(solver.rejected), stop_reason=reason,
            knob_values=values, rhs_evaluations=int(solver.rhs_evaluations))

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: the inner policy's tuner file (embedded bytes), the env id and kwargs, the domain, knob,
        features and reward the tuner acts under, and its provenance."""
        metadata = {**self.tuner.metadata(), "versions": versions()}
        save_tuner_file(path, KIND, metadata, {"policy_file": embed_tuner(self.policy)})

    @classmethod
    def load(cls, path: str | Path) -> StepSizeTuner:
        """Load a file written by :meth:`save` (``tunegym.agents.load_tuner`` dispatches here), or a core tuner file
        (kind ``"tuner"``) of the ``"timestep"`` domain; anything of another domain raises
        :class:`TunerMismatchError`."""
        kind, meta, arrays = load_tuner_file(path)
        if kind == "tuner":
            return cls(Tuner.load(path))
        if kind != KIND:
            raise TunerMismatchError(f"StepSizeTuner needs a {DOMAIN!r} tuner; {str(path)!r} holds a {kind!r} tuner",
                                     value=kind)
        try:
            data, env_id, env_kwargs = arrays["policy_file"], meta["env_id"], dict(meta.get("env_kwargs", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed step-size tuner: {exc}", value=str(path)) from exc
        domain = meta.get("domain", DOMAIN)
        if domain != DOMAIN or env_id not in THREE_BODY_IDS + ODE_IDS:
            raise TunerMismatchError(f"StepSizeTuner needs a {DOMAIN!r} tuner; {str(path)!r} is a {domain!r} tuner "
                                     f"trained on {env_id}", value=env_id)
        policy = load_embedded_tuner(data)
        if isinstance(policy, StepSizeTuner):
            raise CheckpointError(f"{str(path)!r} nests a step-size tuner inside another", value=str(path))
        tuner = cls(policy, env_id=env_id, env_kwargs=env_kwargs, provenance=meta.get("provenance", {}))
        stored = (meta.get("features") or {}).get("shape")
        if stored is not None:  # files that record their layout must still fit what the env builds now
            tuner.tuner.expect(DOMAIN, adapter="StepSizeTuner", observation_shape=tuple(stored))
        return tuner

    def __repr__(self) -> str:
        return f"StepSizeTuner(policy={type(self.policy).__name__}, env_id={self.env_id!r})"


def main(argv: list[str] | None = None) -> int:
    """Deprecated (removed next release): ``python -m tunegym.agents.step_size_tuner --out FILE [--env ID --agent
    NAME --steps N --seed S --env-kwargs JSON]`` trains a step-size tuner on tune seed ``--seed`` and saves it
    (how ``agents/pretrained/step-size-ode.pt`` was made). Use the CLI: ``tunegym train --env ID --agent NAME
    --steps N --seed S --env-kwargs JSON --out RUN`` then ``tunegym deploy --run RUN --wrap step-size --out FILE``.
    The shim still trains through :meth:`StepSizeTuner.train`, so the shipped files' recipes reproduce."""
    import argparse
    import json
    import sys

    print("tunegym: warning: `python -m tunegym.agents.step_size_tuner` is deprecated and will be removed in the "
          "next release; use `tunegym train ... --out RUN` then `tunegym deploy --run RUN --wrap step-size --out "
          "FILE`", file=sys.stderr)
    parser = argparse.ArgumentParser(description="train and save a StepSizeTuner (deprecated: tunegym train + deploy)")
    parser.add_argument("--env", default="tunegym/ODEStep-v0", choices=THREE_BODY_IDS + ODE_IDS)
    parser.add_argument("--agent", default="linucb")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="env kwargs as JSON")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tuner = StepSizeTuner.train(args.env, args.agent, steps=args.steps, seed=args.seed,
                                env_kwargs=json.loads(args.env_kwargs))
    tuner.save(args.out)
    print(f"wrote {tuner!r} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
