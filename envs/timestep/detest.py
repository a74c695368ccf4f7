"""The non-stiff DETEST problems (Hull, Enright, Fellen & Sedgwick, SIAM J. Numer. Anal. 9, 1972), classes A–E,
with randomised parameters and initial values: the problem set the deployed ODE tuner is trained and judged on.

Each of the 25 problems is its published right-hand side on ``[0, t_end]``; a draw from
:class:`DetestDistribution` picks a class uniformly, a problem of it uniformly, then perturbs the problem:
every initial value is scaled by ``U[0.8, 1.2]``, ``t_end`` is ``U[10, 20]`` (the paper's is 20), and the
problem's own parameters are drawn around the paper's values (the table :data:`DETEST`). With
``rtol_range=(low, high)`` every instance also carries its tolerance, ``rtol ~ logU[low, high]``, which the
process integrates it at (``tunegym/ODEStep-v0`` with ``problems="detest"``): one controller trained for all
tolerances. The reference solution is DOP853 at rtol 1e-13 (:func:`~tunegym.envs.timestep.ode.reference_solution`).

Deviations from the paper, stated: C5 (the five outer planets, 30 equations) is integrated in heliocentric
coordinates over ``t_end`` days as the others (the paper: 20 days, so do we at most); E1 keeps the paper's initial
values (scaled like every other problem); the paper's error-per-unit-step measure is replaced by the global error at
``t_end`` (relative 2-norm), which is what a user of ``solve_ivp`` sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id

__all__ = ["DETEST", "DETEST_CLASSES", "DetestInstance", "DetestDistribution", "make_detest"]

DETEST_CLASSES = ("A", "B", "C", "D", "E")

# C5: the outer solar system (Jupiter, Saturn, Uranus, Neptune, Pluto), heliocentric, AU and days.
_C5_K2 = 2.95912208286e-4
_C5_M0 = 1.00000597682
_C5_M = (0.000954786104043, 0.000285583733151, 0.0000437273164546, 0.0000517759138449, 0.00000277777777778)
_C5_X = (-3.5023653, -3.8169847, -1.5507963, 9.0755314, -3.0458353, -1.6483708, 8.3101420, -16.2901086, -7.2521278,
         11.4707666, -25.7294829, -10.8169456, -15.5387357, -25.2225594, -3.1902382)
_C5_V = (0.00565429, -0.00412490, -0.00190589, 0.00168318, 0.00483525, 0.00192462, 0.00354178, 0.00137102,
         0.00055029, 0.00288930, 0.00114527, 0.00039677, 0.00276725, -0.00170702, -0.00136504)


def _chain(n: int, kind: str) -> Callable:
    def rhs(t, y):
        f = np.empty(n)
        if kind == "C1":
            f[0] = -y[0]
            f[1:n - 1] = y[0:n - 2] - y[1:n - 1]
            f[n - 1] = y[n - 2]
        elif kind == "C2":
            i = np.arange(2, n)
            f[0] = -y[0]
            f[1:n - 1] = (i - 1) * y[0:n - 2] - i * y[1:n - 1]
            f[n - 1] = (n - 1) * y[n - 2]
        else:  # C3, C4: the tridiagonal (1, -2, 1)
            f[:] = -2.0 * y
            f[1:] += y[:-1]
            f[:-1] += y[1:]
        return f
    return rhs


def _five_body(k2: float, m0: float, m: Sequence[float]) -> Callable:
    masses = np.asarray(m, dtype=np.float64)

    def rhs(t, y):
        x, v = y[:15].reshape(5, 3), y[15:]
        r3 = np.sum(x * x, axis=1) ** 1.5
        d = x[None, :, :] - x[:, None, :]  # d[i, j] = x_j - x_i
        dist3 = np.sum(d * d, axis=2) ** 1.5
        np.fill_diagonal(dist3, np.inf)
        sun = -(k2 * (m0 + masses) / r3)[:, None] * x
        mutual = k2 * np.sum(masses[None, :, None] * (d / dist3[:, :, None] - x[None, :, :] / r3[None, :, None]),
                             axis=1)
        return np.concatenate([v, (sun + mutual).reshape(-1)])
    return rhs


def _rhs(problem: str, p: dict[str, float]) -> Callable:
    """The right-hand side of DETEST problem ``problem`` with parameters ``p``."""
    if problem == "A1":
        return lambda t, y: np.array([-p["a"] * y[0]])
    if problem == "A2":
        return lambda t, y: np.array([-0.5 * p["a"] * y[0] ** 3])
    if problem == "A3":
        return lambda t, y: np.array([y[0] * math.cos(p["w"] * t)])
    if problem == "A4":
        return lambda t, y: np.array([0.25 * y[0] * (1.0 - y[0] / p["K"])])
    if problem == "A5":
        return lambda t, y: np.array([(y[0] - t) / (y[0] + t)])
    if problem == "B1":
        return lambda t, y: np.array([p["a"] * (y[0] - y[0] * y[1]), -(y[1] - y[0] * y[1])])
    if problem == "B2":
        return lambda t, y: np.array([-y[0] + y[1], y[0] - 2.0 * y[1] + y[2], y[1] - y[2]])
    if problem == "B3":
        return lambda t, y: np.array([-y[0], y[0] - y[1] ** 2, y[1] ** 2])
    if problem == "B4":
        def b4(t, y):
            r = math.sqrt(y[0] ** 2 + y[1] ** 2)
            return np.array([-y[1] - y[0] * y[2] / r, y[0] - y[1] * y[2] / r, y[0] / r])
        return b4
    if problem == "B5":
        return lambda t, y: np.array([y[1] * y[2], -y[0] * y[2], -p["c"] * y[0] * y[1]])
    if problem in ("C1", "C2", "C3"):
        return _chain(10, problem)
    if problem == "C4":
        return _chain(51, "C4")
    if problem == "C5":
        return _five_body(_C5_K2, _C5_M0, _C5_M)
    if problem.startswith("D"):
        def kepler(t, y):
            r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
            return np.array([y[2], y[3], -y[0] / r3, -y[1] / r3])
        return kepler
    if problem == "E1":
        return lambda t, y: np.array([y[1], -(y[1] / (t + 1.0) + (1.0 - 0.25 / (t + 1.0) ** 2) * y[0])])
    if problem == "E2":
        return lambda t, y: np.array([y[1], p["mu"] * (1.0 - y[0] ** 2) * y[1] - y[0]])
    if problem == "E3":
        return lambda t, y: np.array([y[1], y[0] ** 3 / 6.0 - y[0] + p["F"] * math.sin(2.78535 * t)])
    if problem == "E4":
        return lambda t, y: np.array([y[1], 0.032 - 0.4 * y[1] ** 2])
    if problem == "E5":
        return lambda t, y: np.array([y[1], math.sqrt(1.0 + y[1] ** 2) / (25.0 - t)])
    raise InstanceError(f"unknown DETEST problem {problem!r}; choices: {sorted(DETEST)}", value=problem)


def _kepler_y0(e: float) -> tuple[float, ...]:
    return (1.0 - e, 0.0, 0.0, math.sqrt((1.0 + e) / (1.0 - e)))


#: problem -> (paper initial values, paper parameters, parameter draws ``name -> (low, high)``).
DETEST: dict[str, tuple[tuple[float, ...], dict[str, float], dict[str, tuple[float, float]]]] = {
    "A1": ((1.0,), {"a": 1.0}, {"a": (0.5, 1.5)}),
    "A2": ((1.0,), {"a": 1.0}, {"a": (0.5, 1.5)}),
    "A3": ((1.0,), {"w": 1.0}, {"w": (0.7, 1.3)}),
    "A4": ((1.0,), {"K": 20.0}, {"K": (15.0, 25.0)}),
    "A5": ((4.0,), {}, {}),
    "B1": ((1.0, 3.0), {"a": 2.0}, {"a": (1.5, 2.5)}),
    "B2": ((2.0, 0.0, 1.0), {}, {}),
    "B3": ((1.0, 0.0, 0.0), {}, {}),
    "B4": ((3.0, 0.0, 0.0), {}, {}),
    "B5": ((0.0, 1.0, 1.0), {"c": 0.51}, {"c": (0.3, 0.7)}),
    "C1": ((1.0,) + (0.0,) * 9, {}, {}),
    "C2": ((1.0,) + (0.0,) * 9, {}, {}),
    "C3": ((1.0,) + (0.0,) * 9, {}, {}),
    "C4": ((1.0,) + (0.0,) * 50, {}, {}),
    "C5": (_C5_X + _C5_V, {}, {}),
    "D1": (_kepler_y0(0.1), {"e": 0.1}, {"e": (0.05, 0.2)}),
    "D2": (_kepler_y0(0.3), {"e": 0.3}, {"e": (0.2, 0.4)}),
    "D3": (_kepler_y0(0.5), {"e": 0.5}, {"e": (0.4, 0.6)}),
    "D4": (_kepler_y0(0.7), {"e": 0.7}, {"e": (0.6, 0.8)}),
    "D5": (_kepler_y0(0.9), {"e": 0.9}, {"e": (0.8, 0.9)}),
    "E1": ((0.6713967071418030, 0.09540051444747446), {}, {}),
    "E2": ((2.0, 0.0), {"mu": 1.0}, {"mu": (0.5, 2.0)}),
    "E3": ((0.0, 0.0), {"F": 2.0}, {"F": (1.5, 2.5)}),
    "E4": ((30.0, 0.0), {}, {}),
    "E5": ((0.0, 0.0), {}, {}),
}


@dataclass(frozen=True)
class DetestInstance(Instance):
    """One DETEST problem: its name (``"A1"`` … ``"E5"``), parameters, ``y0``, ``[0, t_end]`` and optionally the
    tolerance ``rtol`` it is to be integrated at (None: the process's own)."""

    problem: str
    params: tuple[tuple[str, float], ...]
    y0: tuple[float, ...]
    t_end: float
    rtol: float | None = None

    stiff = False
    reference_method = "DOP853"
    reference_rtol = 1e-13
    reference_atol = 1e-16

    def __post_init__(self) -> None:
        if self.problem not in DETEST:
            raise InstanceError(f"unknown DETEST problem {self.problem!r}; choices: {sorted(DETEST)}",
                                value=self.problem)
        if not (math.isfinite(self.t_end) and 0 < self.t_end <= 24.0):
            raise InstanceError(f"t_end must be in (0, 24], got {self.t_end!r}", value=self.t_end)
        if len(self.y0) != len(DETEST[self.problem][0]) or not all(math.isfinite(v) for v in self.y0):
            raise InstanceError(f"y0 of {self.problem} needs {len(DETEST[self.problem][0])} finite values",
                                value=self.y0)
        if self.rtol is not None and not (math.isfinite(self.rtol) and 0 < self.rtol < 1):
            raise InstanceError(f"rtol must be in (0, 1), got {self.rtol!r}", value=self.rtol)

    @property
    def family(self) -> str:
        """The DETEST class (``"A"`` … ``"E"``): the strata of the suite's claims."""
        return self.problem[0]

    @property
    def instance_id(self) -> str:
        extra = {} if self.rtol is None else {"rtol": self.rtol}
        return content_id(f"detest-{self.problem}", np.asarray(self.y0), t_end=self.t_end, **dict(self.params),
                          **extra)

    @property
    def reference_key(self) -> str:
        """The reference solution's cache key: the problem without its tolerance."""
        return self.with_rtol(None).instance_id

    @property
    def rhs(self) -> Callable[[float, np.ndarray], np.ndarray]:
        return _rhs(self.problem, dict(self.params))

    def with_rtol(self, rtol: float | None) -> DetestInstance:
        """The same problem to be integrated at ``rtol``."""
        return DetestInstance(self.problem, self.params, self.y0, self.t_end, rtol)


def make_detest(problem: str, **params: float) -> DetestInstance:
    """DETEST ``problem`` as published (``t_end = 20``), parameters overridable (``make_detest("D5", e=0.85)``)."""
    if problem not in DETEST:
        raise InstanceError(f"unknown DETEST problem {problem!r}; choices: {sorted(DETEST)}", value=problem)
    y0, defaults, _ = DETEST[problem]
    p = {**defaults, **{k: float(v) for k, v in params.items() if k != "t_end"}}
    if problem.startswith("D"):
        y0 = _kepler_y0(p["e"])
    return DetestInstance(problem, tuple(sorted(p.items())), tuple(y0), float(params.get("t_end", 20.0)))


class DetestDistribution(SequenceDistribution):
    """Random DETEST problems of ``classes`` (uniform class, then uniform problem), parameters and initial values
    randomised around the paper's; with ``rtol_range`` each draw also carries a log-uniform tolerance."""

    name = "detest"
    version = 1

    def __init__(self, classes: Sequence[str] | str = DETEST_CLASSES,
                 rtol_range: Sequence[float] | None = None) -> None:
        classes = tuple(classes)
        bad = [c for c in classes if c not in DETEST_CLASSES]
        if bad or not classes:
            raise ConfigError(f"classes must be a non-empty subset of {DETEST_CLASSES}, got {classes!r}",
                              value=classes)
        self.classes = classes
        if rtol_range is not None:
            low, high = (float(v) for v in rtol_range)
            if not (0 < low <= high < 1):
                raise ConfigError(f"rtol_range must be (low, high) with 0 < low <= high < 1, got {rtol_range!r}",
                                  value=rtol_range)
            rtol_range = (low, high)
        self.rtol_range = rtol_range

    @property
    def params(self) -> dict[str, Any]:
        return {"classes": list(self.classes),
                "rtol_range": None if self.rtol_range is None else list(self.rtol_range)}

    def sample(self, rng: np.random.Generator) -> DetestInstance:
        cls = self.classes[int(rng.integers(len(self.classes)))]
        problem = f"{cls}{int(rng.integers(1, 6))}"
        y0, defaults, draws = DETEST[problem]
        p = dict(defaults)
        for key, (low, high) in draws.items():
            p[key] = float(rng.uniform(low, high))
        t_end = float(rng.uniform(10.0, 20.0))
        if problem.startswith("D"):
            y0 = _kepler_y0(p["e"])
            scale = np.ones(4)
        else:
            scale = rng.uniform(0.8, 1.2, size=len(y0))
        rtol = None
        if self.rtol_range is not None:
            low, high = self.rtol_range
            rtol = float(10.0 ** rng.uniform(math.log10(low), math.log10(high)))
        return DetestInstance(problem, tuple(sorted(p.items())), tuple(float(v) for v in np.asarray(y0) * scale),
                              t_end, rtol)
