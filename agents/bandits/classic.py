"""Context-free bandits: ε-greedy, UCB1, Gaussian Thompson sampling, EXP3, Tsallis-INF and Softmax.

They ignore the context. Rewards are "higher is better"; algorithms that need bounded rewards (EXP3) rescale
them with the running range of what they have seen, and Tsallis-INF works on losses ``-reward`` exactly as
the Learning to Relax authors' implementation does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.agents.bandits.base import Bandit
from tunegym.envs.core.errors import ConfigError

__all__ = [
    "EpsilonGreedy", "EpsilonGreedyConfig", "UCB1", "UCB1Config", "ThompsonSampling", "ThompsonConfig",
    "EXP3", "EXP3Config", "TsallisINF", "TsallisINFConfig", "Softmax", "SoftmaxConfig",
]


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value!r}", value=value)


class _MeanTracker(Bandit):
    """Shared state of the mean-based bandits: pull counts and running mean rewards per arm."""

    def _init_state(self) -> None:
        self.counts = np.zeros(self.n_arms)
        self.means = np.zeros(self.n_arms)
        self.sq_sums = np.zeros(self.n_arms)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "means": self.means, "sq_sums": self.sq_sums}

    def _update(self, features: Any, arm: int, reward: float) -> None:
        self.counts[arm] += 1
        delta = reward - self.means[arm]
        self.means[arm] += delta / self.counts[arm]
        self.sq_sums[arm] += delta * (reward - self.means[arm])  # Welford

    def _greedy(self, features: Any) -> int:
        if np.all(self.counts == 0):
            return 0
        values = np.where(self.counts > 0, self.means, -np.inf)
        return self._argmax(values)


@dataclass(frozen=True)
class EpsilonGreedyConfig:
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        _check_range("epsilon", self.epsilon, 0.0, 1.0)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"epsilon": {"type": "float", "low": 0.005, "high": 0.5, "log": True}}


class EpsilonGreedy(_MeanTracker):
    """ε-greedy (Sutton & Barto, *Reinforcement Learning*, §2.2): a random arm with probability ε, else
    the arm with the best mean reward; untried arms are tried first."""

    algorithm = "epsilon_greedy"
    config_class = EpsilonGreedyConfig

    def _select(self, features: Any) -> int:
        untried = np.flatnonzero(self.counts == 0)
        if untried.size:
            return int(untried[0])
        if self.rng.random() < self.config.epsilon:
            return int(self.rng.integers(self.n_arms))
        return self._argmax(self.means)


@dataclass(frozen=True)
class UCB1Config:
    alpha: float = 1.0

    def __post_init__(self) -> None:
        _check_range("alpha", self.alpha, 0.0, 1e6)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"alpha": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}


class UCB1(_MeanTracker):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002): ``mean_i + alpha * sqrt(2 ln t / n_i)``, untried arms first.

    ``alpha`` scales the bonus (1 is the paper's; rewards outside [0, 1] want a larger one). The same
    formula as MABWiser's ``LearningPolicy.UCB1(alpha)``.
    """

    algorithm = "ucb1"
    config_class = UCB1Config

    def _select(self, features: Any) -> int:
        untried = np.flatnonzero(self.counts == 0)
        if untried.size:
            return int(untried[0])
        total = self.counts.sum()
        bonus = self.config.alpha * np.sqrt(2.0 * math.log(total) / self.counts)
        return self._argmax(self.means + bonus)


@dataclass(frozen=True)
class ThompsonConfig:
    prior_variance: float = 100.0
    noise_variance: float = 1.0

    def __post_init__(self) -> None:
        _check_range("prior_variance", self.prior_variance, 1e-12, 1e12)
        _check_range("noise_variance", self.noise_variance, 1e-12, 1e12)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"noise_variance": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}


class ThompsonSampling(_MeanTracker):
    """Gaussian Thompson sampling (Agrawal & Goyal 2013): each arm's mean reward has a conjugate
    ``N(0, prior_variance)`` prior and Gaussian noise of variance ``max(noise_variance, sample variance)``;
    the arm with the largest posterior draw is played."""

    algorithm = "thompson"
    config_class = ThompsonConfig

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        sample_var = np.where(self.counts > 1, self.sq_sums / np.maximum(self.counts - 1, 1), 0.0)
        noise = np.maximum(self.config.noise_variance, sample_var)
        precision = 1.0 / self.config.prior_variance + self.counts / noise
        mean = (self.counts / noise) * self.means / precision
        return mean, 1.0 / precision

    def _select(self, features: Any) -> int:
        mean, var = self._posterior()
        return self._argmax(self.rng.normal(mean, np.sqrt(var)))

    def _greedy(self, features: Any) -> int:
        return self._argmax(self._posterior()[0])


@dataclass(frozen=True)
class EXP3Config:
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _check_range("gamma", self.gamma, 1e-6, 1.0)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"gamma": {"type": "float", "low": 0.001, "high": 0.5, "log": True}}


class EXP3(Bandit):
    """EXP3 (Auer et al. 2002, "The nonstochastic multiarmed bandit problem"), weights kept in log space.

    EXP3 needs rewards in [0, 1]; each reward is rescaled by the running minimum and maximum of the
    rewards seen so far (the first reward maps to 0.5).
    """

    algorithm = "exp3"
    config_class = EXP3Config

    def _init_state(self) -> None:
        self.log_weights = np.zeros(self.n_arms)
        self.reward_range = np.array([np.inf, -np.inf])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"log_weights": self.log_weights, "reward_range": self.reward_range}

    def _probabilities(self) -> np.ndarray:
        w = np.exp(self.log_weights - self.log_weights.max())
        return (1.0 - self.config.gamma) * w / w.sum() + self.config.gamma / self.n_arms

    def _select(self, features: Any) -> int:
        return int(self.rng.choice(self.n_arms, p=self._probabilities()))

    def _greedy(self, features: Any) -> int:
        return self._argmax(self._probabilities())

    def _update(self, features: Any, arm: int, reward: float) -> None:
        p = self._probabilities()[arm]
        low, high = min(self.reward_range[0], reward), max(self.reward_range[1], reward)
        self.reward_range[:] = (low, high)
        scaled = 0.5 if high <= low else (reward - low) / (high - low)
        self.log_weights[arm] += self.config.gamma * (scaled / p) / self.n_arms


@dataclass(frozen=True)
class TsallisINFConfig:
    loss_offset: float = 0.0
    newton_iterations: int = 20

    def __post_init__(self) -> None:
        if self.newton_iterations < 1:
            raise ConfigError("newton_iterations must be >= 1", value=self.newton_iterations)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"loss_offset": {"type": "float", "low": 0.0, "high": 0.05}}


class TsallisINF(Bandit):
    """Tsallis-INF (Zimmert & Seldin 2021), as the Learning to Relax authors implement it
    (``learners/TsallisINF.m``): ``eta = 2 / sqrt(t)``, the 1/2-Tsallis probabilities found by 20 Newton
    steps on the normaliser, importance-weighted losses ``(loss - offset) / p`` and losses normalised by
    ``scale = mean(loss) - offset``. Here ``loss = -reward``; their offset is 1 iteration, i.e.
    ``loss_offset = 1 / reward_scale`` (0.01 on ``tunegym/SOR-v0``); 0 makes no difference to which arms win.
    One deliberate difference: the Newton iteration starts at ``min(k) - 2/eta`` instead of ``-1`` (see
    ``_probabilities``), the standard safeguard that keeps the iterate below the poles.
    """

    algorithm = "tsallis_inf"
    config_class = TsallisINFConfig

    def _init_state(self) -> None:
        self.cumulative = np.zeros(self.n_arms)  # their ``k``
        self.stats = np.array([0.0, 1.0])  # [sum of losses, scale]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"cumulative": self.cumulative, "stats": self.stats}

    def _probabilities(self) -> np.ndarray:
        eta = 2.0 / math.sqrt(self.t + 1)
        scale = self.stats[1] if self.stats[1] > 0 else 1.0
        k = self.cumulative / scale
        # Start where the best arm alone has probability 1 (sum >= 1): Newton on this convex, increasing
        # function then moves left monotonically to the root below min(k). The authors start at x = -1,
        # from which Newton overshoots past min(k) once k grows, and the draw collapses on an arbitrary arm.
        x = k.min() - 2.0 / eta
        with np.errstate(all="ignore"):
            for _ in range(self.config.newton_iterations):
                probs = 4.0 * (eta * (k - x)) ** -2.0
                x -= (probs.sum() - 1.0) / (eta * np.sum(probs**1.5))
            probs = 4.0 * (eta * (k - x)) ** -2.0
        if not np.all(np.isfinite(probs)) or probs.sum() <= 0:
            return np.full(self.n_arms, 1.0 / self.n_arms)
        return probs / probs.sum()

    def _select(self, features: Any) -> int:
        probs = self._probabilities()
        arm = int(self.rng.choice(self.n_arms, p=probs))
        self._last_prob = (arm, float(probs[arm]))
        return arm

    def _greedy(self, features: Any) -> int:
        return self._argmax(self._probabilities())

    def _update(self, features: Any, arm: int, reward: float) -> None:
        last_arm, prob = getattr(self, "_last_prob", (None, None))
        if last_arm != arm:  # the arm was not drawn by select (e.g. replayed history): use its current probability
            prob = float(self._probabilities()[arm])
        loss = -reward
        self.stats[0] += loss
        self.stats[1] = self.stats[0] / self.t - self.config.loss_offset
        self.cumulative[arm] += (loss - self.config.loss_offset) / max(prob, 1e-12)
        self._last_prob = (None, None)


@dataclass(frozen=True)
class SoftmaxConfig:
    tau: float = 1.0
    initial_mean: float = 4.0  # optimistic: half of Balans's top reward level 8, so every arm gets tried

    def __post_init__(self) -> None:
        _check_range("tau", self.tau, 1e-9, 1e9)
        if not math.isfinite(self.initial_mean):
            raise ConfigError(f"initial_mean must be finite, got {self.initial_mean!r}", value=self.initial_mean)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"tau": {"type": "float", "low": 0.05, "high": 10.0, "log": True}}


class Softmax(_MeanTracker):
    """Softmax (Boltzmann) exploration over running mean rewards (Sutton & Barto, §2.8 without baseline):
    arm ``i`` with probability ``∝ exp(mean_i / tau)``; means start at ``initial_mean`` (optimistic, so untried
    arms are drawn) and the first reward of an arm replaces it. Balans's best tuned policy (with its reward
    levels [8, 4, 2, 1], ``tunegym/MIPLNS-v0``'s ``reward="graded"``); greedy: the largest mean."""

    algorithm = "softmax"
    config_class = SoftmaxConfig

    def _init_state(self) -> None:
        super()._init_state()
        self.means[:] = self.config.initial_mean

    def _probabilities(self) -> np.ndarray:
        logits = self.means / self.config.tau
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def _select(self, features: Any) -> int:
        return int(self.rng.choice(self.n_arms, p=self._probabilities()))

    def _greedy(self, features: Any) -> int:
        return self._argmax(self.means)
