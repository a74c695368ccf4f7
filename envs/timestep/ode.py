"""Embedded Runge–Kutta pairs, step-size controllers and the classic test problems for ``tunegym/ODEStep-v0``.

Written after SciPy's ``scipy/integrate/_ivp/rk.py``: a method is a small class with explicit state
(``t``, ``y``, ``f``) whose :meth:`EmbeddedRungeKutta.attempt` tries one step of a given size and returns the
scaled error norm; *what size to try* is decided outside, by a controller (:class:`IController`,
:class:`PIController`) or by an agent. Cost is counted in right-hand-side evaluations (deterministic).
Accuracy is the global error at ``t_end`` against a tight-tolerance ``solve_ivp`` reference cached in memory
per instance. Nothing here knows about Gymnasium.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id

__all__ = [
    "METHODS",
    "PROBLEMS",
    "BogackiShampine32",
    "DormandPrince54",
    "EmbeddedRungeKutta",
    "IController",
    "ODEInstance",
    "ODEProblemDistribution",
    "ODERunResult",
    "PIController",
    "global_error",
    "integrate",
    "make_problem",
    "reference_solution",
    "solve_ivp_baseline",
    "switch_method",
]


# -- problems ---------------------------------------------------------------------------------------------
def _van_der_pol(mu: float) -> Callable:
    def rhs(t, y):
        return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])
    return rhs


def _robertson() -> Callable:
    def rhs(t, y):
        a = 0.04 * y[0]
        b = 1e4 * y[1] * y[2]
        c = 3e7 * y[1] ** 2
        return np.array([-a + b, a - b - c, c])
    return rhs


def _brusselator(a: float, b: float) -> Callable:
    def rhs(t, y):
        x2y = y[0] ** 2 * y[1]
        return np.array([a + x2y - (b + 1.0) * y[0], b * y[0] - x2y])
    return rhs


def _lotka_volterra(alpha: float, beta: float, gamma: float, delta: float) -> Callable:
    def rhs(t, y):
        return np.array([alpha * y[0] - beta * y[0] * y[1], delta * y[0] * y[1] - gamma * y[1]])
    return rhs


def _kepler() -> Callable:
    def rhs(t, y):
        r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
        return np.array([y[2], y[3], -y[0] / r3, -y[1] / r3])
    return rhs


_ARENSTORF_MU = 0.012277471
_ARENSTORF_PERIOD = 17.0652165601579625588917206249


def _arenstorf() -> Callable:
    mu, nu = _ARENSTORF_MU, 1.0 - _ARENSTORF_MU

    def rhs(t, y):
        d1 = ((y[0] + mu) ** 2 + y[1] ** 2) ** 1.5
        d2 = ((y[0] - nu) ** 2 + y[1] ** 2) ** 1.5
        return np.array([
            y[2], y[3],
            y[0] + 2 * y[3] - nu * (y[0] + mu) / d1 - mu * (y[0] - nu) / d2,
            y[1] - 2 * y[2] - nu * y[1] / d1 - mu * y[1] / d2,
        ])
    return rhs


#: Problem families: name -> (index, description). Stiff: Robertson (and Van der Pol for large μ).
PROBLEMS = ("van_der_pol", "robertson", "brusselator", "lotka_volterra", "kepler", "arenstorf")


@dataclass(frozen=True)
class ODEInstance(Instance):
    """One initial-value problem: a family name, its parameters, ``y0`` and the interval ``[0, t_end]``."""

    family: str
    params: tuple[tuple[str, float], ...]
    y0: tuple[float, ...]
    t_end: float
    stiff: bool = False

    def __post_init__(self) -> None:
        if self.family not in PROBLEMS:
            raise InstanceError(f"unknown problem family {self.family!r}; choices: {PROBLEMS}", value=self.family)
        if not (math.isfinite(self.t_end) and self.t_end > 0):
            raise InstanceError(f"t_end must be finite and positive, got {self.t_end!r}", value=self.t_end)
        if not all(math.isfinite(v) for v in self.y0):
            raise InstanceError(f"y0 must be finite, got {self.y0!r}", value=self.y0)

    @property
    def instance_id(self) -> str:
        return content_id(f"ode-{self.family}", np.asarray(self.y0), t_end=self.t_end, **dict(self.params))

    @property
    def rhs(self) -> Callable[[float, np.ndarray], np.ndarray]:
        p = dict(self.params)
        if self.family == "van_der_pol":
            return _van_der_pol(p["mu"])
        if self.family == "robertson":
            return _robertson()
        if self.family == "brusselator":
            return _brusselator(p["a"], p["b"])
        if self.family == "lotka_volterra":
            return _lotka_volterra(p["alpha"], p["beta"], p["gamma"], p["delta"])
        if self.family == "kepler":
            return _kepler()
        return _arenstorf()


def make_problem(family: str, **params: float) -> ODEInstance:
    """A problem with the given (or default) parameters.

    - ``van_der_pol(mu=5)``: ``y0 = (2, 0)``, ``t_end = 2 mu`` (about one relaxation cycle).
    - ``robertson()``: the stiff chemical kinetics, ``y0 = (1, 0, 0)``, ``t_end = 0.3`` (explicit pairs are
      stability-limited there; that is the point).
    - ``brusselator(a=1, b=3)``: ``y0 = (1.5, 3)``, ``t_end = 20``.
    - ``lotka_volterra(alpha=1.5, beta=1, gamma=3, delta=1)``: ``y0 = (10, 5)``, ``t_end = 15``.
    - ``kepler(e=0.5)``: unit semi-major axis, start at pericentre, one period ``2π``.
    - ``arenstorf()``: the periodic restricted three-body orbit over one period (Hairer et al.).
    """
    if family == "van_der_pol":
        mu = float(params.get("mu", 5.0))
        if mu <= 0:
            raise InstanceError(f"mu must be positive, got {mu}", value=mu)
        return ODEInstance(family, (("mu", mu),), (2.0, 0.0), 2.0 * mu if mu > 1 else 2.0 * math.pi, stiff=mu > 20)
    if family == "robertson":
        return ODEInstance(family, (), (1.0, 0.0, 0.0), float(params.get("t_end", 0.3)), stiff=True)
    if family == "brusselator":
        a, b = float(params.get("a", 1.0)), float(params.get("b", 3.0))
        return ODEInstance(family, (("a", a), ("b", b)), (1.5, 3.0), 20.0)
    if family == "lotka_volterra":
        keys = {"alpha": 1.5, "beta": 1.0, "gamma": 3.0, "delta": 1.0}
        vals = tuple((k, float(params.get(k, d))) for k, d in keys.items())
        return ODEInstance(family, vals, (10.0, 5.0), 15.0)
    if family == "kepler":
        e = float(params.get("e", 0.5))
        if not 0 <= e < 1:
            raise InstanceError(f"eccentricity must be in [0, 1), got {e}", value=e)
        return ODEInstance(family, (("e", e),), (1.0 - e, 0.0, 0.0, math.sqrt((1 + e) / (1 - e))), 2.0 * math.pi)
    if family == "arenstorf":
        return ODEInstance(family, (), (0.994, 0.0, 0.0, -2.00158510637908252240537862224), _ARENSTORF_PERIOD)
    raise InstanceError(f"unknown problem family {family!r}; choices: {PROBLEMS}", value=family)


class ODEProblemDistribution(SequenceDistribution):
    """Random problems from ``families`` with randomised parameters (μ ∈ U[1, 10], e ∈ U[0.1, 0.9], ...)."""

    name = "ode-classic"
    version = 0

    def __init__(self, families: Sequence[str] = PROBLEMS) -> None:
        bad = [f for f in families if f not in PROBLEMS]
        if bad or not families:
            raise ConfigError(f"families must be a non-empty subset of {PROBLEMS}, got {families!r}", value=families)
        self.families = tuple(families)

    @property
    def params(self) -> dict[str, Any]:
        return {"families": list(self.families)}

    def sample(self, rng: np.random.Generator) -> ODEInstance:
        family = self.families[int(rng.integers(len(self.families)))]
        if family == "van_der_pol":
            return make_problem(family, mu=float(rng.uniform(1.0, 10.0)))
        if family == "robertson":
            return make_problem(family, t_end=float(rng.uniform(0.1, 0.4)))
        if family == "brusselator":
            return make_problem(family, a=float(rng.uniform(0.8, 1.2)), b=float(rng.uniform(2.5, 3.5)))
        if family == "lotka_volterra":
            return make_problem(family, alpha=float(rng.uniform(1.0, 2.0)), gamma=float(rng.uniform(2.0, 4.0)))
        if family == "kepler":
            return make_problem(family, e=float(rng.uniform(0.1, 0.9)))
        return make_problem(family)


# -- embedded Runge–Kutta pairs -----------------------------------------------------------------------------
class EmbeddedRungeKutta:
    """One embedded explicit RK pair with FSAL, stepping ``y' = f(t, y)`` on ``[t, t_end]``.

    State: ``t``, ``y``, ``f`` (= f(t, y)), counters ``rhs_evaluations``, ``accepted``, ``rejected``.
    :meth:`attempt(h)` computes one step and its error norm (SciPy's RMS norm of the embedded error over
    ``atol + rtol · max(|y|, |y_new|)``), accepting it iff the norm is ≤ 1. Each attempt costs ``n_stages``
    right-hand-side evaluations (the first stage is reused, the last one is ``f(t + h, y_new)``).
    """

    C: np.ndarray
    A: np.ndarray
    #: whether :meth:`attempt` sets ``h_lambda`` (needs a last stage at ``t + h``, as Dormand–Prince's)
    stiffness_estimate: bool = False
    h_lambda: float = math.nan
    B: np.ndarray
    E: np.ndarray
    order: int
    error_estimator_order: int
    n_stages: int

    def __init__(self, fun: Callable, t0: float, y0, t_end: float, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
        self.y = np.asarray(y0, dtype=np.float64).copy()
        atol = np.asarray(atol, dtype=np.float64)
        if not (rtol > 0 and np.all(atol > 0)) or atol.shape not in ((), self.y.shape):
            raise ConfigError(f"rtol must be positive and atol positive (a number, or one per component of y0), got "
                              f"{rtol}, {atol}", value=(rtol, atol))
        self.fun = fun
        self.t, self.t_end = float(t0), float(t_end)
        self.rtol, self.atol = float(rtol), float(atol) if atol.ndim == 0 else atol
        self.f = np.asarray(fun(self.t, self.y), dtype=np.float64)
        self.rhs_evaluations, self.accepted, self.rejected = 1, 0, 0
        self.K = np.empty((self.n_stages + 1, self.y.size))

    @property
    def finished(self) -> bool:
        return self.t_end - self.t <= 1e-12 * max(1.0, abs(self.t_end))

    def initial_step(self) -> float:
        """Hairer–Nørsett–Wanner's starting step, exactly SciPy's ``select_initial_step`` (one extra RHS call; the
        exponent is ``1/(q + 1)`` with ``q`` the error estimator's order, as there)."""
        scale = self.atol + np.abs(self.y) * self.rtol
        d0, d1 = _rms(self.y / scale), _rms(self.f / scale)
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h0 = min(h0, self.t_end - self.t)
        f1 = self.fun(self.t + h0, self.y + h0 * self.f)
        self.rhs_evaluations += 1
        d2 = _rms((f1 - self.f) / scale) / h0
        h1 = (max(1e-6, h0 * 1e-3) if d1 <= 1e-15 and d2 <= 1e-15
              else (0.01 / max(d1, d2)) ** (1 / (self.error_estimator_order + 1)))
        return min(100 * h0, h1, self.t_end - self.t)

    def attempt(self, h: float) -> tuple[bool, float]:
        """Try a step of size ``h`` (clipped to ``t_end``); returns ``(accepted, error_norm)``."""
        if not (math.isfinite(h) and h > 0):
            raise ConfigError(f"step size must be finite and positive, got {h!r}", value=h)
        h = min(h, self.t_end - self.t)
        K = self.K
        K[0] = self.f
        y_stage = self.y
        for s in range(1, self.n_stages):
            dy = K[:s].T @ self.A[s, :s] * h
            y_stage = self.y + dy
            K[s] = self.fun(self.t + self.C[s] * h, y_stage)
        y_new = self.y + h * (K[:-1].T @ self.B)
        f_new = np.asarray(self.fun(self.t + h, y_new), dtype=np.float64)
        K[-1] = f_new
        self.rhs_evaluations += self.n_stages
        if self.stiffness_estimate:  # Hairer's h·|λ| from the last two stages, both at t + h (DOPRI5)
            den = float(np.linalg.norm(y_new - y_stage))
            self.h_lambda = h * float(np.linalg.norm(f_new - K[-2])) / den if den > 0 else math.nan
        scale = self.atol + np.maximum(np.abs(self.y), np.abs(y_new)) * self.rtol
        error_norm = _rms((K.T @ self.E) * h / scale)
        if not math.isfinite(error_norm):
            error_norm = math.inf
        if error_norm <= 1.0:
            self.t = self.t_end if self.t_end - (self.t + h) <= 1e-12 * max(1.0, abs(self.t_end)) else self.t + h
            self.y, self.f = y_new, f_new
            self.accepted += 1
            return True, error_norm
        self.rejected += 1
        return False, error_norm


def _rms(x: np.ndarray) -> float:
    return float(np.linalg.norm(x) / math.sqrt(x.size))


class DormandPrince54(EmbeddedRungeKutta):
    """Dormand–Prince 5(4) (SciPy ``RK45``): order 5, error estimator order 4, 6 RHS evaluations per step."""

    order, error_estimator_order, n_stages = 5, 4, 6
    stiffness_estimate = True
    C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])
    A = np.array([
        [0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ])
    B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
    E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])


class BogackiShampine32(EmbeddedRungeKutta):
    """Bogacki–Shampine 3(2) (SciPy ``RK23``): order 3, error estimator order 2, 3 RHS evaluations per step."""

    order, error_estimator_order, n_stages = 3, 2, 3
    C = np.array([0, 1 / 2, 3 / 4])
    A = np.array([[0, 0, 0], [1 / 2, 0, 0], [0, 3 / 4, 0]])
    B = np.array([2 / 9, 1 / 3, 4 / 9])
    E = np.array([5 / 72, -1 / 12, -1 / 9, 1 / 8])


#: Method names (SciPy's) -> classes.
METHODS: dict[str, type[EmbeddedRungeKutta]] = {"RK45": DormandPrince54, "RK23": BogackiShampine32}


def switch_method(solver: EmbeddedRungeKutta, method: str) -> EmbeddedRungeKutta:
    """The same integration (t, y, f, counters, tolerances) continued by the pair ``method``.

    Both pairs are FSAL on the same ``f(t, y)``, so the switch costs no RHS evaluation; the counters carry over,
    so cost stays one total. Returns ``solver`` itself when it already is ``method``. Used by
    ``tunegym/StepOrder-v0``, whose order agent picks the pair per step.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choices: {sorted(METHODS)}", value=method)
    cls = METHODS[method]
    if type(solver) is cls:
        return solver
    other = cls.__new__(cls)
    other.__dict__.update(solver.__dict__)
    other.y, other.f = solver.y.copy(), solver.f.copy()
    other.K = np.empty((cls.n_stages + 1, solver.y.size))
    return other


# -- controllers ------------------------------------------------------------------------------------------
@dataclass
class IController:
    """The classical (integral) controller: ``h_new = h · clip(safety · err^(-1/k), min_factor, max_factor)``
    with ``k = q + 1`` (``q`` the error estimator's order) — SciPy's rule (Hairer, Nørsett & Wanner I, II.4),
    including its cap: the accepted step that follows a rejection does not grow the step (factor ≤ 1). With the
    pair's initial step this reproduces SciPy's ``RK45`` step for step (same RHS evaluations)."""

    safety: float = 0.9
    min_factor: float = 0.2
    max_factor: float = 10.0
    _rejected: bool = field(default=False, repr=False)

    def factor(self, error_norm: float, accepted: bool, k: int) -> float:
        after_rejection, self._rejected = self._rejected, not accepted
        if error_norm == 0.0:
            return 1.0 if after_rejection else self.max_factor
        f = self.safety * error_norm ** (-1.0 / k)
        return min(max(f, self.min_factor), self.max_factor if accepted and not after_rejection else 1.0)


@dataclass
class PIController:
    """Gustafsson's PI controller (Gustafsson 1991; Hairer & Wanner II, IV.2)::

        h_new = h · safety · err_n^(-kI) · (err_{n-1} / err_n)^(kP),   kI = 0.3 / k, kP = 0.4 / k

    with ``k = q + 1``; after a rejection it falls back to the I controller (no memory of the failed step), and
    the accepted step that follows a rejection does not grow the step (factor ≤ 1, as SciPy's I rule).
    """

    safety: float = 0.9
    ki_scale: float = 0.3
    kp_scale: float = 0.4
    min_factor: float = 0.2
    max_factor: float = 10.0
    _previous: float = field(default=1.0, repr=False)
    _rejected: bool = field(default=False, repr=False)

    def factor(self, error_norm: float, accepted: bool, k: int) -> float:
        err = max(error_norm, 1e-10)
        after_rejection, self._rejected = self._rejected, not accepted
        if not accepted:
            f = self.safety * err ** (-1.0 / k)
            return min(max(f, self.min_factor), 1.0)
        f = self.safety * err ** (-self.ki_scale / k) * (self._previous / err) ** (self.kp_scale / k)
        self._previous = err
        return min(max(f, self.min_factor), 1.0 if after_rejection else self.max_factor)


# -- drivers and reference --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ODERunResult:
    """Outcome of one integration: the end state, cost (RHS evaluations), steps and global error."""

    y_end: np.ndarray
    t_end: float
    rhs_evaluations: int
    accepted: int
    rejected: int
    global_error: float | None
    status: str


def integrate(instance: ODEInstance, *, method: str = "RK45", controller: Any = None, rtol: float = 1e-6,
              atol: float | None = None, max_steps: int = 100_000) -> ODERunResult:
    """Integrate ``instance`` with a pair from :data:`METHODS` and a controller (default :class:`IController`)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choices: {sorted(METHODS)}", value=method)
    atol = rtol * 1e-3 if atol is None else atol
    controller = controller if controller is not None else IController()
    solver = METHODS[method](instance.rhs, 0.0, instance.y0, instance.t_end, rtol=rtol, atol=atol)
    h = solver.initial_step()
    k = solver.error_estimator_order + 1
    status = "ok"
    while not solver.finished:
        if solver.accepted + solver.rejected >= max_steps:
            status = "max_steps"
            break
        h = min(h, solver.t_end - solver.t)  # SciPy scales the clipped last step after a rejection
        accepted, err = solver.attempt(h)
        h = h * controller.factor(err, accepted, k)
        if h < 1e-14 * instance.t_end:
            status = "step_underflow"
            break
    error = global_error(instance, solver.y) if status == "ok" else None
    return ODERunResult(solver.y.copy(), solver.t, solver.rhs_evaluations, solver.accepted, solver.rejected, error,
                        status)


_REFERENCE_CACHE: dict[str, np.ndarray] = {}


def reference_solution(instance: ODEInstance) -> np.ndarray:
    """``y(t_end)`` from ``solve_ivp`` (DOP853, rtol 1e-12, atol 1e-14; Radau for stiff problems; an instance may
    name its own ``reference_method``/``reference_rtol``/``reference_atol``, as DETEST's DOP853 at 1e-13 does),
    cached in memory by instance id."""
    key = getattr(instance, "reference_key", None) or instance.instance_id
    if key not in _REFERENCE_CACHE:
        method = getattr(instance, "reference_method", "Radau" if instance.stiff else "DOP853")
        rtol = getattr(instance, "reference_rtol", 1e-11 if instance.stiff else 1e-12)
        atol = getattr(instance, "reference_atol", 1e-14)
        sol = solve_ivp(instance.rhs, (0.0, instance.t_end), np.asarray(instance.y0, float), method=method,
                        rtol=rtol, atol=atol)
        if not sol.success:
            raise InstanceError(f"reference solve failed for {key}: {sol.message}", value=key)
        _REFERENCE_CACHE[key] = sol.y[:, -1].copy()
    return _REFERENCE_CACHE[key]


def global_error(instance: ODEInstance, y_end) -> float:
    """Relative global error ``‖y_end − y_ref‖₂ / ‖y_ref‖₂`` at ``t_end``."""
    ref = reference_solution(instance)
    return float(np.linalg.norm(np.asarray(y_end) - ref) / max(np.linalg.norm(ref), 1e-300))


def solve_ivp_baseline(instance: ODEInstance, *, method: str = "RK45", rtol: float = 1e-6,
                       atol: float | None = None) -> ODERunResult:
    """SciPy ``solve_ivp`` at the same tolerances (its ``nfev`` is the cost)."""
    atol = rtol * 1e-3 if atol is None else atol
    sol = solve_ivp(instance.rhs, (0.0, instance.t_end), np.asarray(instance.y0, float), method=method,
                    rtol=rtol, atol=atol)
    status = "ok" if sol.success else "failed"
    y_end = sol.y[:, -1]
    return ODERunResult(y_end.copy(), float(sol.t[-1]), int(sol.nfev), int(sol.t.size - 1), 0,
                        global_error(instance, y_end) if sol.success else None, status)
