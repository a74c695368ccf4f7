"""A contextual agent that learns the Jacobi spectral radius from each solve's residual history.

The Learning to Relax agents see only the sweep count of a solve. A solve also reveals its residual
history, whose asymptotic rate at relaxation factor ω determines the Jacobi spectral radius ``ρ_J`` when
ω is below the optimum (Young's theory: ``(λ + ω - 1)² = λ ω² ρ_J²``; ``info["jacobi_radius_estimate"]``
of the SOR envs). This agent regresses ``1/ρ_J`` on Chebyshev features of the context and plays Young's
``ω* = 2 / (1 + sqrt(1 - ρ_J²))`` for the predicted radius, plus a learned offset for the finite tolerance.
For ``A + cI`` with a constant diagonal (setting A), ``1/ρ_J = (d + c) / ρ(D - A)`` is exactly linear in
the offset ``c``, hence the default ``degree=1``: it also extrapolates sanely to offsets not yet seen.

Exploration is a *probe*: a solve at ω below the predicted ω* (there the rate identifies ``ρ_J``). Probes
are played on the first ``warmup`` systems, on a doubling schedule after that (rounds 2·warmup,
4·warmup, ...), and whenever a context lies outside the range already probed (``novelty``), so their cost
vanishes over a sequence. A probe that reveals nothing (ω was still too close to ω*) doubles the margin
of the next one.

In a discrete env the agent plays the arm nearest to its target ω; in a continuous env, the ω itself (as the
env's normalised ``BoxKnob`` action).
Rewards (sweep counts) are used only to learn the offset above ω*: an ε-greedy choice among a few offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tunegym.agents.bandits.base import Bandit
from tunegym.agents.bandits.contextual import chebyshev_features
from tunegym.agents.registry import register_agent
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.knob import ArmKnob, BoxKnob
from tunegym.envs.sor.env import DEFAULT_ARMS
from tunegym.envs.sor.features import young_omega

__all__ = ["SpectralOmega", "SpectralOmegaConfig", "make_spectral"]


@dataclass(frozen=True)
class SpectralOmegaConfig:
    degree: int = 1
    ridge: float = 1e-6
    warmup: int = 4
    probe_margin: float = 0.25  # probes play omega* - margin (clipped to >= 1)
    novelty: float = 0.1  # probe when the scaled context is this far outside the probed range
    offsets: tuple[float, ...] = (0.0, 0.01, 0.02, 0.04)
    epsilon: float = 0.05

    def __post_init__(self) -> None:
        if self.degree < 1 or self.warmup < 1 or not self.offsets:
            raise ConfigError("degree and warmup must be >= 1 and offsets non-empty", value=self)
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError("epsilon must be in [0, 1]", value=self.epsilon)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"warmup": {"type": "int", "low": 2, "high": 32, "log": True},
                "probe_margin": {"type": "float", "low": 0.05, "high": 0.5},
                "epsilon": {"type": "float", "low": 0.0, "high": 0.2}}


class SpectralOmega(Bandit):
    """Young's ω* from an online regression of the Jacobi radius on the context (uses richer feedback)."""

    algorithm = "spectral"
    config_class = SpectralOmegaConfig
    contextual = True

    def __init__(self, n_arms: int, config: Any = None, *, seed: int | None = None, context_low: Any = None,
                 context_high: Any = None, arms: Any = None, omega_low: float = 1.0,
                 omega_high: float = 1.99) -> None:
        self.omegas = np.linspace(1.0, 1.95, n_arms) if arms is None else np.asarray(arms, dtype=np.float64)
        self.omega_low, self.omega_high = float(omega_low), float(omega_high)
        super().__init__(n_arms, config, seed=seed, context_low=context_low, context_high=context_high)

    @classmethod
    def for_env(cls, env: gym.Env, config: Any = None, *, seed: int | None = None) -> "SpectralOmega":
        base = env.unwrapped
        knob = getattr(base, "knob", None)
        if not isinstance(knob, (ArmKnob, BoxKnob)) or knob.name != "omega":
            raise ConfigError("spectral needs an SOR env (one with a relaxation-factor knob)", value=type(base).__name__)
        obs = env.observation_space
        if not isinstance(obs, spaces.Box):
            raise ConfigError(f"spectral needs a Box observation space, got {obs}")
        if isinstance(knob, ArmKnob):
            agent = cls(knob.n, config, seed=seed, context_low=obs.low, context_high=obs.high, arms=knob.arms)
        else:  # continuous: the arm grid only sizes the bandit; actions are the knob's normalised encoding of ω
            agent = cls(len(DEFAULT_ARMS), config, seed=seed, context_low=obs.low, context_high=obs.high,
                        arms=DEFAULT_ARMS, omega_low=knob.low, omega_high=knob.high)
            agent.continuous = True
        return agent

    continuous = False

    def _init_state(self) -> None:
        dim = 1 + self.context_dim * self.config.degree
        k = len(self.config.offsets)
        self.gram = self.config.ridge * np.eye(dim)
        self.moments = np.zeros(dim)
        self.samples = np.zeros(1)  # informative solves seen
        self.offset_counts = np.zeros(k)
        self.offset_means = np.zeros(k)  # mean reward per offset
        self.pending = np.array([-1.0, -1.0, 0.0])  # [offset index played, probe?, omega played]
        self.probed = np.array([[np.inf] * self.context_dim, [-np.inf] * self.context_dim])  # scaled ctx range
        self.failures = np.zeros(1)  # consecutive uninformative probes

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"gram": self.gram, "moments": self.moments, "samples": self.samples,
                "offset_counts": self.offset_counts, "offset_means": self.offset_means, "pending": self.pending,
                "probed": self.probed, "failures": self.failures}

    def _features(self, context: Any) -> np.ndarray:
        return chebyshev_features(self.scaler(context), self.config.degree)

    # ---- the model -----------------------------------------------------------------------------------
    def predicted_radius(self, phi: np.ndarray) -> float:
        """``ρ_J`` predicted for features ``phi`` (NaN before any informative solve)."""
        if self.samples[0] == 0:
            return float("nan")
        inverse = float(np.linalg.solve(self.gram, self.moments) @ phi)
        return 1.0 / inverse if inverse > 1.0 else 0.999999

    def _is_probe_round(self, scaled: np.ndarray) -> bool:
        t = self.t
        if t < self.config.warmup or self.samples[0] < 2:
            return True
        novelty = self.config.novelty
        if np.any(scaled < self.probed[0] - novelty) or np.any(scaled > self.probed[1] + novelty):
            return True
        ratio = t / self.config.warmup
        return ratio >= 2 and abs(math.log2(ratio) - round(math.log2(ratio))) < 1e-12

    def _target_omega(self, phi: np.ndarray, offset_index: int, probe: bool) -> float:
        rho = self.predicted_radius(phi)
        w_star = young_omega(rho) if math.isfinite(rho) else 1.5
        if probe:
            return max(1.0, w_star - self.config.probe_margin * 2.0 ** min(self.failures[0], 4))
        return min(w_star + self.config.offsets[offset_index], self.omega_high)

    def _to_action(self, omega: float) -> Any:
        if self.continuous:  # the env's BoxKnob("omega", low, high) action for omega (clipped)
            return BoxKnob("omega", self.omega_low, self.omega_high).encode(omega)
        return int(np.argmin(np.abs(self.omegas - omega)))

    # ---- Bandit hooks ----------------------------------------------------------------------------------
    def _choose(self, context: Any, explore: bool) -> Any:
        scaled = self.scaler(context)
        phi = chebyshev_features(scaled, self.config.degree)
        probe = explore and self._is_probe_round(scaled)
        if explore and not probe and self.rng.random() < self.config.epsilon:
            index = int(self.rng.integers(len(self.config.offsets)))
        else:
            untried = np.flatnonzero(self.offset_counts == 0)
            index = int(untried[0]) if explore and untried.size else int(np.argmax(
                np.where(self.offset_counts > 0, self.offset_means, -np.inf)) if self.offset_counts.any() else 0)
        omega = self._target_omega(phi, index, probe)
        if explore:
            self.pending[:] = (index, 1.0 if probe else 0.0, omega)
        return self._to_action(omega)

    def select(self, context: Any = None) -> Any:
        return self._choose(context, explore=True)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self._choose(observation, explore=not deterministic), None

    def _select(self, features: Any) -> int:  # pragma: no cover - select is overridden
        raise NotImplementedError

    def _greedy(self, features: Any) -> int:  # pragma: no cover - predict is overridden
        raise NotImplementedError

    def update(self, context: Any, arm: Any, reward: float, info: dict[str, Any] | None = None) -> None:
        """Learn from a solve: ``info["jacobi_radius_estimate"]`` (when known) and the reward of the offset."""
        reward = float(reward)
        if not math.isfinite(reward):
            raise ConfigError(f"reward must be finite, got {reward!r}", value=reward)
        self.t += 1
        scaled = self.scaler(context)
        phi = chebyshev_features(scaled, self.config.degree)
        rho = None if info is None else info.get("jacobi_radius_estimate")
        index, probe = int(self.pending[0]), self.pending[1] > 0
        if rho is not None and 0.0 < rho < 1.0:
            self.gram += np.outer(phi, phi)
            self.moments += phi / rho
            self.samples[0] += 1
            self.probed[0] = np.minimum(self.probed[0], scaled)
            self.probed[1] = np.maximum(self.probed[1], scaled)
            self.failures[0] = 0
        elif probe:
            self.failures[0] += 1
        if index >= 0 and not probe:
            self.offset_counts[index] += 1
            self.offset_means[index] += (reward - self.offset_means[index]) / self.offset_counts[index]
        self.pending[:] = (-1.0, -1.0, 0.0)

    def observe(self, context: Any, arm: Any, reward: float, info: dict[str, Any]) -> None:
        self.update(context, arm, reward, info)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(arms=self.omegas.tolist(), omega_low=self.omega_low, omega_high=self.omega_high,
                     continuous=self.continuous)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.omegas = np.asarray(state.get("arms", self.omegas), dtype=np.float64)
        self.omega_low = float(state.get("omega_low", self.omega_low))
        self.omega_high = float(state.get("omega_high", self.omega_high))
        self.continuous = bool(state.get("continuous", False))


def make_spectral(env: gym.Env, config: dict[str, Any], *, seed: int | None = None, device: str = "cpu") -> SpectralOmega:
    """Registry factory for ``spectral``."""
    return SpectralOmega.for_env(env, config, seed=seed)


register_agent("spectral", "tunegym.agents.bandits.spectral:make_spectral")
