"""``SORTuner``: a trained relaxation-factor policy that solves the user's own systems.

A tuner is a policy (a bandit, or an SB3 policy deployed from ``tunegym train``) plus the feature code of
the env it was trained on, so it computes for a user's matrix exactly what it saw in training:

- trained on ``tunegym/SOR-v0`` (context = the diagonal offset ``c`` of ``L + cI`` on a ``grid x grid``
  Laplacian): for any matrix it sees the *equivalent offset*, the ``c`` whose training system has the same
  Jacobi spectral radius, ``c = ρ(D - L) / ρ_J(A) - 4``, clipped into the trained range. The ω that is
  right for a system depends on it through ``ρ_J`` (Young's theory), so this carries the learned choice to
  matrices of other sizes and families; a matrix with ``ρ_J >= 1`` gets the most aggressive trained offset.
- trained on ``tunegym/SORMatrix-v0`` or the dynamic/other SOR envs with matrix features: the feature
  vector of :func:`tunegym.envs.sor.features.matrix_features`, clipped into the declared bounds.

``solve(A, b)`` returns :func:`tunegym.envs.sor.solve`'s :class:`SORResult` (``result.omega`` is the ω
chosen). ``solve(..., learn=True)`` updates an online policy (a bandit) from the solve, the paper's
setting, and ``save`` keeps what it learned. Files are tuner files of kind ``"sor-tuner"``: the inner policy's
own tuner file is embedded as bytes, so nothing is ever unpickled.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file, versions
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.sor.actions import OmegaKnob
from tunegym.envs.sor.features import jacobi_radius_from_rate, jacobi_spectral_radius, matrix_features
from tunegym.envs.sor.solver import SORResult, check_vector, prepare_matrix, solve_prepared

__all__ = ["SORTuner", "KIND"]

KIND = "sor-tuner"


class SORTuner:
    """Choose ω for a linear system with a trained policy, and solve it with SOR."""

    def __init__(
        self,
        policy: Any,
        *,
        knob: OmegaKnob,
        context_low: np.ndarray,
        context_high: np.ndarray,
        feature_kind: str,
        grid: int = 10,
        reward_scale: float = 100.0,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        if feature_kind not in ("offset", "matrix"):
            raise ConfigError(f"feature_kind must be 'offset' or 'matrix', got {feature_kind!r}", value=feature_kind)
        self.policy = policy
        self.knob = knob
        self.context_low = np.asarray(context_low, dtype=np.float32).reshape(-1)
        self.context_high = np.asarray(context_high, dtype=np.float32).reshape(-1)
        self.feature_kind = feature_kind
        self.grid = int(grid)
        self.reward_scale = float(reward_scale)
        self.provenance = dict(provenance or {})

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: dict[str, Any] | None = None) -> "SORTuner":
        """Wrap ``policy`` trained on ``env`` (any SOR env with a Box context)."""
        base = env.unwrapped
        distribution = getattr(base, "distribution", None)
        space = base.observation_space
        if getattr(distribution, "name", "") == "poisson2d-shifted":
            kind, grid = "offset", distribution.grid
        elif space.shape == (7,):
            kind, grid = "matrix", 10
        else:
            raise ConfigError(
                f"SORTuner supports SOR-v0 (offset context) and matrix-feature envs, not {type(base).__name__} "
                f"with observations of shape {space.shape}", value=space.shape,
            )
        return cls(policy, knob=base.knob, context_low=space.low, context_high=space.high, feature_kind=kind,
                   grid=grid, reward_scale=getattr(base, "reward_scale", 100.0), provenance=provenance)

    @classmethod
    def from_policy(cls, policy: Any) -> "SORTuner":
        """Wrap a deployed policy that records its env (an ``SB3Policy`` from ``tunegym deploy`` or
        ``load_tuner("pretrained:sor-ppo")``): the env is rebuilt from its id and kwargs for the spaces."""
        import gymnasium as gym

        import tunegym.envs  # noqa: F401

        env_id = getattr(policy, "env_id", None)
        if not env_id:
            raise ConfigError(f"{type(policy).__name__} does not record the env it was trained on; use from_env")
        env = gym.make(env_id, **dict(getattr(policy, "env_kwargs", {}) or {}))
        return cls.from_env(policy, env, provenance={"env_id": env_id, "policy": repr(policy)})

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
        """Train ``agent`` on ``env_id`` for ``steps`` systems from ``seed`` and wrap it as a tuner."""
        from tunegym.agents.registry import train_agent

        policy, env, provenance = train_agent(env_id, agent, steps=steps, seed=seed, env_kwargs=env_kwargs,
                                              config=config)
        return cls.from_env(policy, env, provenance=provenance)

    # ---- using ---------------------------------------------------------------------------------------
    def context(self, A: Any) -> np.ndarray:
        """The observation the policy sees for matrix ``A`` (see the module docstring)."""
        prepared = prepare_matrix(A)
        return self._context(prepared)

    def _context(self, prepared: Any, rho: float | None = None) -> np.ndarray:
        if rho is None:
            rho = jacobi_spectral_radius(prepared)
        if self.feature_kind == "offset":
            off_radius = 4.0 * math.cos(math.pi / (self.grid + 1))
            offset = off_radius / rho - 4.0 if 0.0 < rho < 1.0 else float(self.context_low[0])
            values = np.array([offset], dtype=np.float32)
        else:
            values = matrix_features(prepared, jacobi_radius=rho)
        return np.clip(values, self.context_low, self.context_high).astype(np.float32)

    def choose_omega(self, A: Any) -> float:
        """The ω the policy picks for ``A`` (greedy)."""
        action, _ = self.policy.predict(self.context(A), deterministic=True)
        return self.knob.to_omega(action)

    def solve(
        self,
        A: Any,
        b: Any,
        *,
        x0: Any = None,
        tol: float = 1e-8,
        max_sweeps: int = 100_000,
        learn: bool = False,
    ) -> SORResult:
        """Pick ω for ``A`` and solve ``A x = b`` by SOR; ``learn=True`` also updates the policy online."""
        prepared = prepare_matrix(A)
        b_arr = check_vector("b", b, prepared.n)
        x0_arr = None if x0 is None else check_vector("x0", x0, prepared.n)
        context = self._context(prepared)
        if learn:
            if not hasattr(self.policy, "observe"):
                raise ConfigError(
                    f"learn=True needs an online policy (a bandit); this tuner holds a {type(self.policy).__name__}")
            action = self.policy.select(context)
        else:
            action, _ = self.policy.predict(context, deterministic=True)
        omega = self.knob.to_omega(action)
        result = solve_prepared(prepared, b_arr, omega, x0=x0_arr, tol=tol, max_sweeps=max_sweeps)
        if learn:
            cost = float(result.sweeps) if result.converged else float(max_sweeps)
            rho = jacobi_radius_from_rate(result.convergence_factor(), omega)
            info = {"sweeps": result.sweeps, "jacobi_radius_estimate": rho if math.isfinite(rho) else None}
            self.policy.observe(context, action, -cost / self.reward_scale, info)
        return result

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: the inner policy's tuner file (embedded bytes) and this adapter's settings."""
        with tempfile.TemporaryDirectory() as tmp:
            inner = Path(tmp) / "policy.pt"
            self.policy.save(inner)
            inner_bytes = inner.read_bytes()
        metadata = {
            "feature_kind": self.feature_kind,
            "grid": self.grid,
            "reward_scale": self.reward_scale,
            "knob": {"kind": self.knob.kind, "arms": self.knob.arms.tolist(), "omega_low": self.knob.omega_low,
                     "omega_high": self.knob.omega_high},
            "context_low": self.context_low.tolist(),
            "context_high": self.context_high.tolist(),
            "provenance": self.provenance,
            "versions": versions(),
        }
        save_tuner_file(path, KIND, metadata, {"policy_file": np.frombuffer(inner_bytes, dtype=np.uint8)})

    @classmethod
    def load(cls, path: str | Path) -> "SORTuner":
        """Load a tuner file written by :meth:`save` (or ``tunegym.agents.load_tuner``)."""
        from tunegym.agents.tuners import load_tuner

        _, meta, arrays = load_tuner_file(path, expect_kind=KIND)
        try:
            knob = OmegaKnob(meta["knob"]["kind"], meta["knob"]["arms"], meta["knob"]["omega_low"],
                             meta["knob"]["omega_high"])
            inner_bytes = np.asarray(arrays["policy_file"], dtype=np.uint8).tobytes()
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed SOR tuner: {exc}", value=str(path)) from exc
        with tempfile.TemporaryDirectory() as tmp:
            inner = Path(tmp) / "policy.pt"
            inner.write_bytes(inner_bytes)
            policy = load_tuner(inner)
        if isinstance(policy, SORTuner):
            raise CheckpointError(f"{str(path)!r} nests an SOR tuner inside an SOR tuner", value=str(path))
        return cls(policy, knob=knob, context_low=np.array(meta["context_low"]),
                   context_high=np.array(meta["context_high"]), feature_kind=meta["feature_kind"],
                   grid=meta.get("grid", 10), reward_scale=meta.get("reward_scale", 100.0),
                   provenance=meta.get("provenance", {}))

    def __repr__(self) -> str:
        return (f"SORTuner(policy={type(self.policy).__name__}, features={self.feature_kind!r}, "
                f"knob={self.knob.kind!r}, trained={self.provenance.get('env_id')})")
