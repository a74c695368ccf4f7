"""``SORTuner``: a trained relaxation-factor policy that solves the user's own systems.

A thin adapter around a :class:`~tunegym.agents.tuner.Tuner` (the policy plus the knob, features and reward
of the env it was trained on): for a user's ``A x = b`` it builds the same observation the env built, asks
the tuner for ω and runs the same SOR process as the env (:class:`~tunegym.envs.sor.process.SORSolve`, or
:class:`~tunegym.envs.sor.dynamic.SORBlockSolve` for a tuner trained on ``tunegym/SORDynamic-v0``, which
picks ω anew every ``block`` sweeps). So on a system an env produced (``solve_system(env.unwrapped.instance)``)
the tuner picks the same ω and spends the same sweeps as the env step (``tests/test_sor_parity.py``).

A user's matrix carries no context, so it gets the context the training distribution would have given it
(:meth:`SystemContext.context_for`):

- trained on ``tunegym/SOR-v0`` (context = the diagonal offset ``c`` of ``L + cI`` on a ``grid x grid``
  Laplacian): the *equivalent offset*, the ``c`` whose training system has the same Jacobi spectral radius,
  ``c = ρ(D - L) / ρ_J(A) - 4``, clipped into the trained range. The ω that is right for a system depends on
  it through ``ρ_J`` (Young's theory), so this carries the learned choice to matrices of other sizes and
  families; a matrix with ``ρ_J >= 1`` gets the most aggressive trained offset.
- trained on ``tunegym/SORMatrix-v0`` (or a dynamic env on matrix features): the feature vector of
  :func:`tunegym.envs.sor.features.matrix_features`, clipped into the declared bounds.

``solve(A, b)`` returns :func:`tunegym.envs.sor.solve`'s :class:`SORResult` (``result.omega`` is the ω chosen;
for a dynamic tuner, the ω of each block in order). ``solve(..., learn=True)`` updates an online policy (a
bandit) from the solve with the env's own reward (the paper's setting), and ``save`` keeps what it learned.
Files are tuner files of kind ``"sor-tuner"`` holding the :class:`Tuner` settings and the inner policy's own
tuner file as bytes, so nothing is ever unpickled. ``SORTuner.load`` also takes any tuner file whose policy
records a SOR env (a ``tunegym deploy`` SB3 policy such as ``pretrained:sor-ppo``, a trained bandit) and
refuses a tuner of another domain with :class:`~tunegym.envs.core.errors.TunerMismatchError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner import Tuner, as_tuner
from tunegym.agents.tuner_io import embed_tuner, load_embedded_tuner, load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.core.knob import knob_from_dict
from tunegym.envs.core.process import Process
from tunegym.envs.sor.features import jacobi_spectral_radius
from tunegym.envs.sor.instances import LinearSystem
from tunegym.envs.sor.solver import PreparedMatrix, SORResult, check_vector, prepare_matrix

__all__ = ["SORTuner", "KIND", "ENV_IDS"]

KIND = "sor-tuner"
#: the envs whose tuners solve a user's ``A x = b`` by SOR (SORHeat-v0 tunes SSOR-PCG, BlockSOR-v0 is multi-agent)
ENV_IDS = ("tunegym/SOR-v0", "tunegym/SORMatrix-v0", "tunegym/SORDynamic-v0")
_DYNAMIC = "tunegym/SORDynamic-v0"


class SORTuner:
    """Choose ω for a linear system with a trained policy, and solve it with SOR."""

    def __init__(self, tuner: Any) -> None:
        tuner = as_tuner(tuner)
        self.tuner = tuner.expect("sor", adapter="SORTuner", env_ids=ENV_IDS)
        self.features = tuner.make_features()  # fails here, not mid-solve, if the layout is unknown

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: dict[str, Any] | None = None) -> "SORTuner":
        """Wrap ``policy`` trained on ``env`` (``SOR-v0``, ``SORMatrix-v0`` or ``SORDynamic-v0``)."""
        return cls(Tuner.from_env(policy, env, provenance=provenance))

    @classmethod
    def from_policy(cls, policy: Any) -> "SORTuner":
        """Wrap a loaded policy that records its env (an ``SB3Policy`` from ``tunegym deploy`` or
        ``load_tuner("pretrained:sor-ppo")``, a bandit from ``tunegym train``) or a :class:`Tuner`."""
        return cls(as_tuner(policy))

    @classmethod
    def train(
        cls,
        env_id: str = "tunegym/SOR-v0",
        agent: str = "chebcb",
        *,
        steps: int = 3000,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> "SORTuner":
        """Train ``agent`` on ``env_id`` for ``steps`` env steps from ``seed`` and wrap it as a tuner."""
        from tunegym.agents.registry import train_agent

        policy, env, provenance = train_agent(env_id, agent, steps=steps, seed=seed, env_kwargs=env_kwargs,
                                              config=config)
        return cls.from_env(policy, env, provenance=provenance)

    # ---- properties ----------------------------------------------------------------------------------
    @property
    def policy(self) -> Any:
        return self.tuner.policy

    @property
    def knob(self) -> Any:
        return self.tuner.knob

    @property
    def provenance(self) -> dict[str, Any]:
        return self.tuner.provenance

    @property
    def dynamic(self) -> bool:
        """Whether ω changes every ``block`` sweeps (a tuner trained on ``tunegym/SORDynamic-v0``)."""
        return self.tuner.env_id == _DYNAMIC

    # ---- using ---------------------------------------------------------------------------------------
    def system(self, A: Any, b: Any = None) -> LinearSystem:
        """``A x = b`` as the tuner's process sees it: the context the training distribution would give ``A``."""
        prepared = A if isinstance(A, PreparedMatrix) else prepare_matrix(A)
        b_arr = np.zeros(prepared.n) if b is None else check_vector("b", b, prepared.n)
        rho = jacobi_spectral_radius(prepared)
        context = self.features.context_for(prepared, jacobi_radius=rho)
        return LinearSystem(matrix=prepared, b=b_arr, context=context, jacobi_radius=rho, name="user-system")

    def context(self, A: Any) -> np.ndarray:
        """The observation the policy sees for matrix ``A`` before its first decision."""
        process = self._process(self.system(A), None, None, None)
        return self.features.observation(process)

    def choose_omega(self, A: Any) -> float:
        """The ω the policy picks for ``A`` (greedy; a dynamic tuner's first block)."""
        return self.tuner.act(self.context(A))[1]

    def solve(self, A: Any, b: Any, *, x0: Any = None, tol: float | None = None, max_sweeps: int | None = None,
              learn: bool = False) -> SORResult:
        """Pick ω for ``A`` and solve ``A x = b`` by SOR; ``learn=True`` also updates the policy online.

        ``tol`` (default 1e-8) and ``max_sweeps`` (default 100,000; a dynamic tuner: its env's, 10,000, since
        the share of the budget spent is part of what it observes) bound the solve.
        """
        prepared = prepare_matrix(A)
        x0_arr = None if x0 is None else check_vector("x0", x0, prepared.n)
        return self.solve_system(self.system(prepared, b), x0=x0_arr, tol=tol, max_sweeps=max_sweeps, learn=learn)

    def solve_system(self, system: LinearSystem, *, x0: Any = None, tol: float | None = None,
                     max_sweeps: int | None = None, learn: bool = False) -> SORResult:
        """Solve a :class:`LinearSystem` with its own context (e.g. ``env.unwrapped.instance``) as the env would."""
        process = self._process(system, x0, tol, max_sweeps)
        features = self.features
        while not process.done:
            observation = features.observation(process)
            action, omega = self.tuner.act(observation, learn=learn)
            record = process.advance(omega)
            features.record(process, record)
            if learn:
                self.tuner.learn_from(observation, action, record)
        return process.result() if self.dynamic else process.result

    def _process(self, system: LinearSystem, x0: Any, tol: float | None, max_sweeps: int | None) -> Process:
        settings = self.tuner.env_kwargs
        tol = float(settings.get("tol", 1e-8)) if tol is None else float(tol)
        if self.dynamic:
            from tunegym.envs.sor.dynamic import DEFAULT_BLOCK, DEFAULT_FAILURE_PENALTY, SORBlockSolve

            process: Any = SORBlockSolve(
                block=settings.get("block", DEFAULT_BLOCK), tol=tol,
                max_sweeps=settings.get("max_sweeps", 10_000) if max_sweeps is None else max_sweeps,
                failure_penalty=settings.get("failure_penalty", DEFAULT_FAILURE_PENALTY))
        else:
            from tunegym.envs.sor.process import SORSolve

            process = SORSolve(tol=tol, max_sweeps=100_000 if max_sweeps is None else max_sweeps,
                               failure_penalty=settings.get("failure_penalty", 0.0))
        process.start(system, x0=x0)
        self.features.reset(process)
        return process

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file (kind ``"sor-tuner"``): the :class:`Tuner` settings and the inner policy's file as bytes."""
        save_tuner_file(path, KIND, self.tuner.metadata(), {"policy_file": embed_tuner(self.tuner.policy)})

    @classmethod
    def load(cls, path: str | Path) -> "SORTuner":
        """Load a SOR tuner (``save``'s file, a saved :class:`Tuner`, or a policy file that records a SOR env).

        A tuner of another domain or env raises :class:`TunerMismatchError` (one line) before any solve.
        """
        from tunegym.agents.tuners import load_tuner

        kind, meta, arrays = load_tuner_file(path)
        if kind == "tuner":
            return cls(Tuner.load(path))
        if kind != KIND:
            return cls(as_tuner(load_tuner(path)))
        try:
            policy = load_embedded_tuner(arrays["policy_file"])
            if isinstance(policy, (SORTuner, Tuner)):
                raise CheckpointError(f"{str(path)!r} nests a tuner inside a SOR tuner", value=str(path))
            if "domain" not in meta:  # a file written before the process core (2026-12-01)
                return cls(_legacy_tuner(policy, meta))
            return cls(Tuner(policy, domain=meta["domain"], env_id=meta["env_id"], knob=knob_from_dict(meta["knob"]),
                             features=meta["features"], reward=meta.get("reward"), env_kwargs=meta.get("env_kwargs"),
                             provenance=meta.get("provenance")))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed SOR tuner: {exc}", value=str(path)) from None

    def __repr__(self) -> str:
        return (f"SORTuner(policy={type(self.policy).__name__}, env={self.tuner.env_id}, "
                f"features={self.tuner.features_config.get('name')!r}, knob={type(self.knob).__name__})")


def _legacy_tuner(policy: Any, meta: dict[str, Any]) -> Tuner:
    """The :class:`Tuner` of a ``"sor-tuner"`` file from before the process core (``feature_kind`` layout)."""
    from tunegym.envs.sor.env import omega_knob
    from tunegym.envs.sor.process import SystemContext

    knob = meta["knob"]
    kind = meta["feature_kind"]
    features = SystemContext(meta["context_low"], meta["context_high"], kind=kind, grid=meta.get("grid", 10))
    env_id = "tunegym/SOR-v0" if kind == "offset" else "tunegym/SORMatrix-v0"
    return Tuner(policy, domain="sor", env_id=env_id,
                 knob=omega_knob(knob["kind"], knob["arms"], knob["omega_low"], knob["omega_high"]),
                 features=features.config(),
                 reward={"name": "neg_cost", "params": {"scale": float(meta.get("reward_scale", 100.0))}},
                 provenance=meta.get("provenance"))
