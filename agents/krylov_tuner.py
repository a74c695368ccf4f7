"""``KrylovTuner``: a learned preconditioner policy that solves the user's sequence of systems.

It holds a core :class:`~tunegym.agents.tuner.Tuner` (a bandit and the settings of the Krylov env it was
trained on) and drives the very process the env drives (:class:`~tunegym.envs.krylov.process.KrylovSolve`,
rebuilt from the env's kwargs) through the very features (:class:`~tunegym.envs.krylov.process.KrylovFeatures`),
so ``KrylovTuner.solve`` on an env's systems makes the env rollout's decisions and pays its work. It keeps the
last preconditioner across calls (the ``("reuse",)`` arm applies it to the next system) and, with
``learn=True``, keeps learning from each solve's work (the env's named reward).

Also here: the domain's baselines for ``tunegym eval`` (fixed arms) and :func:`pcgbandit`, PCGBandit's
learner (Khodak et al., arXiv 2509.08765; ``mkhodak/PCGBandit``, ``TsallisINF.H``) as a configuration of our
Tsallis-INF bandit: importance-weighted loss estimates, ``η = 2/√t``, losses normalised by their running mean,
loss = the deterministic cost of the solve. What differs from their OpenFOAM plugin: the arm set (theirs:
thresholded incomplete Cholesky drop tolerances, DIC and GAMG variants; ours: :data:`DEFAULT_ARMS`, with an
explicit reuse arm where they cache the GAMG agglomeration), failures are charged a penalty instead of
their "backstop" restart with DIC, and the Newton solve for the Tsallis normaliser starts at ``min k - 2/η``
(20 steps) instead of their warm start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner import Tuner
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.krylov.instances import KrylovSystem
from tunegym.envs.krylov.process import KrylovFeatures

__all__ = ["KrylovTuner", "KrylovResult", "pcgbandit", "fixed_jacobi", "fixed_amg", "amg_then_reuse", "ENV_IDS"]

ENV_IDS = ("tunegym/PCG-v0", "tunegym/PGMRES-v0")


@dataclass
class KrylovResult:
    """The outcome of one :meth:`KrylovTuner.solve`, in the style of SciPy's ``OptimizeResult``.

    ``x`` the solution (zeros if the solve failed before iterating), ``iterations``, ``work`` (flops: setup +
    iterations; ``cost`` adds the failure penalty), ``preconditioner`` (label of the one used), ``arm`` (the
    arm chosen), ``reused``, ``status`` (converged / max_iterations / breakdown / diverged), ``success``,
    ``message``, ``residual`` (true relative residual), ``wall_time`` (the solve, setup included) and
    ``tuner_time`` (features, policy and learning: the tuner's overhead).
    """

    x: np.ndarray
    iterations: int
    work: float
    cost: float
    preconditioner: str
    arm: tuple[Any, ...]
    reused: bool
    status: str
    success: bool
    message: str
    residual: float | None
    setup_work: float = 0.0
    wall_time: float = 0.0
    tuner_time: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class KrylovTuner:
    """Pick each system's preconditioner with a trained policy and solve it; keep learning online.

    Build one with :meth:`from_env` (a policy trained on ``tunegym/PCG-v0`` or ``PGMRES-v0``), :meth:`load`
    (a tuner file or ``"pretrained:krylov"``) or :meth:`pcgbandit` (an untrained PCGBandit learner).
    """

    def __init__(self, tuner: Tuner) -> None:
        self.tuner = tuner.expect("krylov", adapter="KrylovTuner", env_ids=ENV_IDS,
                                  observation_shape=KrylovFeatures().space.shape)
        from tunegym.envs.krylov.env import process_from_kwargs

        default_solver = "cg" if tuner.env_id == "tunegym/PCG-v0" else "gmres"
        self.process = process_from_kwargs(tuner.env_kwargs, solver=default_solver)
        self.features = tuner.make_features()
        self.solves = 0

    # ---- building -------------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: dict[str, Any] | None = None) -> "KrylovTuner":
        return cls(Tuner.from_env(policy, env, provenance=provenance))

    @classmethod
    def pcgbandit(cls, env_id: str = "tunegym/PCG-v0", *, seed: int = 0, **env_kwargs: Any) -> "KrylovTuner":
        """PCGBandit's learner (see the module docstring), untrained, for ``env_id``'s settings."""
        import gymnasium as gym

        import tunegym.envs  # noqa: F401

        env = gym.make(env_id, **env_kwargs)
        try:
            return cls.from_env(pcgbandit(env, seed=seed), env, provenance={"agent": "pcgbandit", "seed": seed})
        finally:
            env.close()

    @classmethod
    def load(cls, path: str | Path) -> "KrylovTuner":
        """Load a tuner file (kind ``"tuner"``) or ``"pretrained:NAME"``; a tuner of another domain is refused."""
        from tunegym.agents.tuners import PRETRAINED_PREFIX, pretrained_path

        text = str(path)
        if text.startswith(PRETRAINED_PREFIX):
            path = pretrained_path(text[len(PRETRAINED_PREFIX):])
        return cls(Tuner.load(path))

    def save(self, path: str | Path) -> None:
        """The core tuner file (kind ``"tuner"``): the policy with what it has learned, and the env settings."""
        self.tuner.save(path)

    # ---- solving --------------------------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop the kept preconditioner (a new simulation starts); what the policy learned stays."""
        self.process.forget()

    def solve(self, A: Any, b: Any, *, x0: Any = None, learn: bool = True, symmetric: bool | None = None,
              near_null_space: Any = None) -> KrylovResult:
        """Choose a preconditioner for ``A`` (or reuse the last one), solve ``A x = b``, learn from the work.

        Raises :class:`~tunegym.envs.core.errors.MatrixError` for a malformed system (non-square, NaN, size
        mismatch) before any work. ``symmetric`` defaults to a check of ``A`` (CG needs it under ``solver="auto"``).
        """
        system = KrylovSystem.from_arrays(A, b, symmetric=symmetric, near_null_space=near_null_space,
                                          name="user", step=self.solves) if not isinstance(A, KrylovSystem) else A
        return self.solve_system(system, x0=x0, learn=learn)

    def solve_system(self, system: KrylovSystem, *, x0: Any = None, learn: bool = True) -> KrylovResult:
        """:meth:`solve` for a :class:`KrylovSystem` (an env's instance: the parity test uses this)."""
        if learn and not self.tuner.online:
            raise ConfigError(f"learn=True needs an online policy (a bandit); this tuner holds a "
                              f"{type(self.tuner.policy).__name__}", value=type(self.tuner.policy).__name__)
        tick = time.perf_counter()
        self.process.start(system, x0=x0)
        self.features.reset(self.process)
        observation = self.features.observation(self.process)
        action, arm = self.tuner.act(observation, learn=learn)
        overhead = time.perf_counter() - tick
        record = self.process.advance(arm)
        tick = time.perf_counter()
        self.features.record(self.process, record)
        if learn:
            self.tuner.learn_from(observation, action, record)
        overhead += time.perf_counter() - tick
        self.solves += 1
        outcome = self.process.outcome
        extra = record.extra
        return KrylovResult(
            x=outcome.x, iterations=outcome.iterations, work=float(extra["work"]), cost=float(record.cost),
            preconditioner=str(extra["preconditioner"]), arm=tuple(arm), reused=bool(extra["reused"]),
            status=record.status, success=record.status == "converged", message=outcome.message,
            residual=record.quality, setup_work=float(extra["setup_work"]), wall_time=record.wall_time,
            tuner_time=overhead, info=record.info(),
        )

    def __repr__(self) -> str:
        return f"KrylovTuner({self.tuner!r}, solves={self.solves})"


# ---- the domain's policies for tables -------------------------------------------------------------------------
def pcgbandit(env: Any, *, seed: int | None = None) -> Any:
    """PCGBandit's learner for ``env``: our Tsallis-INF with offset 0 (see the module docstring)."""
    from tunegym.agents.bandits import TsallisINF

    return TsallisINF.for_env(env, {"loss_offset": 0.0}, seed=seed)


def fixed_jacobi(env: Any) -> Any:
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("jacobi",))


def fixed_amg(env: Any) -> Any:
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("amg_sa", 0.0, "gauss_seidel"))


def amg_then_reuse(env: Any) -> Any:
    """Smoothed aggregation built on the first system of an episode and reused for all the others."""
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("reuse",))
