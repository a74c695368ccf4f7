"""Contextual bandits: LinUCB, linear Thompson sampling, ChebCB and ε-greedy over a ridge regressor.

Contexts are scaled into ``[-1, 1]`` with the env's observation bounds and expanded into an additive
Chebyshev basis ``[1, T_1(x_1) .. T_d(x_1), T_1(x_2) .. ]`` (``degree=1`` is the plain linear model).
The cost of an SOR arm is a smooth, non-linear function of the diagonal offset, which is why the
Chebyshev features of ChebCB (Khodak et al., ICLR 2024) matter there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.agents.bandits.base import Bandit
from tunegym.envs.core.errors import ConfigError

__all__ = [
    "chebyshev_features", "LinUCB", "LinUCBConfig", "LinTS", "LinTSConfig", "ChebCB", "ChebCBConfig",
    "EpsilonGreedyRegressor", "EpsilonGreedyRegressorConfig",
]


def chebyshev_features(x: np.ndarray, degree: int) -> np.ndarray:
    """``[1, T_1(x_1), ..., T_degree(x_1), T_1(x_2), ...]`` for ``x`` in ``[-1, 1]^d``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    out = [np.ones(1)]
    for value in x:
        t_prev, t_cur = 1.0, value
        terms = []
        for _ in range(degree):
            terms.append(t_cur)
            t_prev, t_cur = t_cur, 2.0 * value * t_cur - t_prev
        out.append(np.asarray(terms))
    return np.concatenate(out)


class _RidgeArms(Bandit):
    """Per-arm ridge regression of reward on Chebyshev features, kept as ``A = λI + Σ φφᵀ``, ``b = Σ rφ``."""

    contextual = True

    def _init_state(self) -> None:
        dim = 1 + self.context_dim * self.config.degree
        self.gram = np.tile(self.config.ridge * np.eye(dim), (self.n_arms, 1, 1))
        self.targets = np.zeros((self.n_arms, dim))
        self.counts = np.zeros(self.n_arms)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"gram": self.gram, "targets": self.targets, "counts": self.counts}

    def _features(self, context: Any) -> np.ndarray:
        return chebyshev_features(self.scaler(context), self.config.degree)

    def _theta(self) -> np.ndarray:
        return np.linalg.solve(self.gram, self.targets[..., None])[..., 0]

    def estimates(self) -> np.ndarray:
        """The per-arm ridge coefficients ``θ_a = A_a⁻¹ b_a`` (``[n_arms, features]``)."""
        return self._theta()

    def _update(self, phi: np.ndarray, arm: int, reward: float) -> None:
        self.gram[arm] += np.outer(phi, phi)
        self.targets[arm] += reward * phi
        self.counts[arm] += 1

    def _greedy(self, phi: np.ndarray) -> int:
        values = self._theta() @ phi
        return self._argmax(np.where(self.counts > 0, values, -np.inf) if self.counts.any() else values)


def _check_regression(config: Any) -> None:
    if config.degree < 1:
        raise ConfigError("degree must be >= 1", value=config.degree)
    if config.ridge <= 0:
        raise ConfigError("ridge must be positive", value=config.ridge)


@dataclass(frozen=True)
class LinUCBConfig:
    alpha: float = 1.0
    ridge: float = 1.0
    degree: int = 1

    def __post_init__(self) -> None:
        _check_regression(self)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"alpha": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
                "degree": {"type": "int", "low": 1, "high": 6}}


class LinUCB(_RidgeArms):
    """LinUCB, disjoint models (Li, Chu, Langford & Schapire 2010): ``θ_aᵀφ + alpha·sqrt(φᵀA_a⁻¹φ)``."""

    algorithm = "linucb"
    config_class = LinUCBConfig

    def bounds(self, context: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per arm for ``context``: the estimate ``θ_aᵀφ`` and the confidence width ``sqrt(φᵀA_a⁻¹φ)``."""
        return self._bounds(self._features(context))

    def _bounds(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inv = np.linalg.inv(self.gram)
        return self._theta() @ phi, np.sqrt(np.maximum(np.einsum("i,aij,j->a", phi, inv, phi), 0.0))

    def _select(self, phi: np.ndarray) -> int:
        mean, width = self._bounds(phi)
        return self._argmax(mean + self.config.alpha * width)


@dataclass(frozen=True)
class LinTSConfig:
    v: float = 0.5
    ridge: float = 1.0
    degree: int = 1

    def __post_init__(self) -> None:
        _check_regression(self)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"v": {"type": "float", "low": 0.01, "high": 5.0, "log": True},
                "degree": {"type": "int", "low": 1, "high": 6}}


class LinTS(_RidgeArms):
    """Linear Thompson sampling (Agrawal & Goyal 2013): draw ``θ_a ~ N(θ̂_a, v² A_a⁻¹)``, play the best."""

    algorithm = "lints"
    config_class = LinTSConfig

    def _select(self, phi: np.ndarray) -> int:
        theta = self._theta()
        inv = np.linalg.inv(self.gram)
        mean = theta @ phi
        std = self.config.v * np.sqrt(np.einsum("i,aij,j->a", phi, inv, phi))
        return self._argmax(self.rng.normal(mean, std))


@dataclass(frozen=True)
class EpsilonGreedyRegressorConfig:
    epsilon: float = 0.05
    ridge: float = 1.0
    degree: int = 4

    def __post_init__(self) -> None:
        _check_regression(self)
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError("epsilon must be in [0, 1]", value=self.epsilon)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"epsilon": {"type": "float", "low": 0.005, "high": 0.3, "log": True},
                "degree": {"type": "int", "low": 1, "high": 8}}


class EpsilonGreedyRegressor(_RidgeArms):
    """ε-greedy over per-arm ridge regressions of reward on Chebyshev context features; untried arms first."""

    algorithm = "eps_regressor"
    config_class = EpsilonGreedyRegressorConfig

    def _select(self, phi: np.ndarray) -> int:
        untried = np.flatnonzero(self.counts == 0)
        if untried.size:
            return int(untried[0])
        if self.rng.random() < self.config.epsilon:
            return int(self.rng.integers(self.n_arms))
        return self._argmax(self._theta() @ phi)


@dataclass(frozen=True)
class ChebCBConfig:
    m: int = 6  # number of Chebyshev features per context dimension incl. the constant (the paper's 6)
    loss_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.m < 2:
            raise ConfigError("m must be >= 2", value=self.m)

    @classmethod
    def default_search_space(cls) -> dict[str, dict[str, Any]]:
        return {"m": {"type": "int", "low": 2, "high": 10}}


class ChebCB(Bandit):
    """ChebCB (Khodak, Chow, Balcan & Talwalkar, ICLR 2024), a port of the authors' ``learners/ChebCB.m``.

    Per arm, the loss (``-reward``) is regressed on Chebyshev features of the context; normalised targets
    ``(loss - offset) / scale`` with ``scale = K·N`` (``K`` the largest loss seen, ``N`` from the loss
    range), coefficients boxed as in their ``lsqlin`` call (here ``scipy.optimize.lsq_linear`` on the
    Cholesky factor of the normal equations, equivalent and O(m²) per update instead of O(t)); arms are
    drawn by inverse-gap weighting ``p_a = 1 / (n_arms + η (ŷ_a - ŷ*))`` with their time-varying ``η``. Their
    offset is one iteration (``loss_offset = 1 / reward_scale``). Contexts of dimension > 1 use the additive
    Chebyshev basis (an extension; the paper's contexts are scalar).
    """

    algorithm = "chebcb"
    config_class = ChebCBConfig
    contextual = True
    growing_arrays = ("history",)

    def _init_state(self) -> None:
        dim = 1 + self.context_dim * (self.config.m - 1)
        self.gram = np.zeros((self.n_arms, dim, dim))
        self.moments = np.zeros((self.n_arms, dim))  # Σ φ (loss - offset)
        self.sq_losses = np.zeros(self.n_arms)  # Σ (loss - offset)²
        self.counts = np.zeros(self.n_arms)
        self.theta = np.zeros((self.n_arms, dim))
        # [eta, scale, max loss, min loss, resnorm]; predictions and losses for the eta schedule
        self.stats = np.array([0.0, 0.0, -np.inf, np.inf, 0.0])
        self.history = np.zeros((0, 2))  # rows: (prediction at play time, loss)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"gram": self.gram, "moments": self.moments, "sq_losses": self.sq_losses, "counts": self.counts,
                "theta": self.theta, "stats": self.stats, "history": self.history}

    def _features(self, context: Any) -> np.ndarray:
        return chebyshev_features(self.scaler(context), self.config.m - 1)

    def _probabilities(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yhat = self.theta @ phi
        best = int(np.argmin(yhat))
        eta = self.stats[0]
        probs = 1.0 / (self.n_arms + eta * (yhat - yhat[best]))
        probs[best] = 0.0
        probs[best] = max(1.0 - probs.sum(), 0.0)
        return probs / probs.sum(), yhat

    def _select(self, phi: np.ndarray) -> int:
        probs, yhat = self._probabilities(phi)
        arm = int(self.rng.choice(self.n_arms, p=probs))
        self._pending = (arm, float(yhat[arm]))
        return arm

    def _greedy(self, phi: np.ndarray) -> int:
        return self._argmax(-(self.theta @ phi))

    def _update(self, phi: np.ndarray, arm: int, loss_reward: float) -> None:
        loss = -loss_reward
        pending_arm, predicted = getattr(self, "_pending", (None, None))
        if pending_arm != arm:
            predicted = float(self.theta[arm] @ phi)
        self._pending = (None, None)
        target = loss - self.config.loss_offset
        self.gram[arm] += np.outer(phi, phi)
        self.moments[arm] += target * phi
        self.sq_losses[arm] += target * target
        self.counts[arm] += 1
        self.history = np.vstack([self.history, [predicted, loss]])

        big_k = max(self.stats[2], loss)
        self.stats[2], self.stats[3] = big_k, min(self.stats[3], loss)
        width = 2.0  # the scaled context interval [-1, 1], their b - a
        lipschitz = (self.stats[2] - self.stats[3]) / width
        m = self.config.m
        big_k = big_k if big_k > 0 else 1.0
        n_factor = 2.0 + 4.0 * width * lipschitz / big_k * (1.0 + math.log(m))
        scale = big_k * n_factor
        refit_all = scale != self.stats[1]
        self.stats[1] = scale
        bound_tail = 2.0 * width * lipschitz / scale / np.arange(1, m)
        upper = np.concatenate([[1.0 / n_factor], np.tile(bound_tail, self.context_dim)])
        upper = np.maximum(upper, 1e-12)  # a zero loss range pins coefficients to 0 (lsqlin's lb == ub)
        resnorm = 0.0
        for a in range(self.n_arms) if refit_all else (arm,):
            if self.counts[a] > 0:
                resnorm = self._fit(a, scale, upper) or resnorm
        alpha = (math.pi + 2.0 / math.pi * math.log(2.0 * m + 1.0)) / (2.0 * scale * (m + 1.0)) * width * lipschitz
        predicted_all, losses = self.history[:, 0], self.history[:, 1]
        residual = float(np.sum((predicted_all - losses / scale) ** 2))
        denominator = residual - resnorm + 2.0 * alpha**2 * self.t
        self.stats[0] = 2.0 * self.t * math.sqrt(self.n_arms * self.t / denominator) if denominator > 0 else 0.0
        self.stats[4] = resnorm

    def _fit(self, arm: int, scale: float, upper: np.ndarray) -> float:
        """Least squares for one arm on targets ``(loss - offset) / scale``; boxed if the free fit leaves the box."""
        gram = self.gram[arm]
        rhs = self.moments[arm] / scale
        theta = np.linalg.lstsq(gram, rhs, rcond=None)[0]  # min-norm, as MATLAB's lsqminnorm
        resnorm = 0.0  # as in their code, only the boxed fit reports a residual norm
        if np.any(np.abs(theta) > upper):
            factor = np.linalg.cholesky(gram + 1e-10 * np.eye(gram.shape[0])).T  # gram = RᵀR
            target = np.linalg.solve(factor.T, rhs)
            from scipy.optimize import lsq_linear  # here: importing scipy.optimize costs every CLI call ~0.5 s

            theta = lsq_linear(factor, target, bounds=(-upper, upper)).x
            yy = self.sq_losses[arm] / scale**2
            resnorm = float(max(theta @ gram @ theta - 2.0 * theta @ rhs + yy, 0.0))
        self.theta[arm] = theta
        return resnorm
