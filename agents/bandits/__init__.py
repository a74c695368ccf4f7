"""Bandit agents (numpy only): context-free and contextual, behind one small interface.

``select(context) -> arm`` and ``update(context, arm, reward)`` for online use; SB3's ``learn``,
``predict``, ``save``, ``load`` so a bandit is a drop-in for a PPO model in the CLI, the harness and the
tuners. Each name below is registered with :mod:`tunegym.agents.registry`:

=================  ==============================================================
``epsilon_greedy`` ε-greedy                     ``linucb``      LinUCB (disjoint)
``ucb1``           UCB1                         ``lints``       linear Thompson sampling
``thompson``       Gaussian Thompson sampling   ``chebcb``      ChebCB (Learning to Relax)
``exp3``           EXP3                         ``eps_regressor`` ε-greedy over ridge regressors
``tsallis_inf``    Tsallis-INF (Learning to Relax's implementation)
``softmax``        Softmax over mean rewards (Balans's LNS operator policy)
``spectral``       Young's ω* from the Jacobi radius learned from residual histories (SOR envs only)
=================  ==============================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from tunegym.agents.bandits.base import Bandit, ContextScaler
from tunegym.agents.bandits.classic import EXP3, UCB1, EpsilonGreedy, Softmax, ThompsonSampling, TsallisINF
from tunegym.agents.bandits.contextual import ChebCB, EpsilonGreedyRegressor, LinTS, LinUCB, chebyshev_features
from tunegym.agents.bandits.spectral import SpectralOmega
from tunegym.agents.config import check_device
from tunegym.agents.registry import register_agent

__all__ = [
    "BANDITS", "Bandit", "ChebCB", "ContextScaler", "EXP3", "EpsilonGreedy", "EpsilonGreedyRegressor", "LinTS",
    "LinUCB", "Softmax", "SpectralOmega", "ThompsonSampling", "TsallisINF", "UCB1", "chebyshev_features", "load_bandit", "make_bandit",
]

BANDITS: dict[str, type[Bandit]] = {
    cls.algorithm: cls
    for cls in (EpsilonGreedy, UCB1, ThompsonSampling, EXP3, TsallisINF, LinUCB, LinTS, ChebCB, EpsilonGreedyRegressor)
}
BANDITS[Softmax.algorithm] = Softmax
#: Agents that need an SOR env's knob (registered by their own modules, loadable from bandit files).
BANDITS[SpectralOmega.algorithm] = SpectralOmega


def make_bandit(name: str, env: gym.Env, config: dict[str, Any] | None = None, *, seed: int | None = None,
                device: str = "cpu") -> Bandit:
    """Bandit ``name`` for ``env``. Bandits are numpy and always run on the CPU; ``device`` is checked as the
    deep RL agents check it (``auto``, ``cpu``, ``cuda[:N]``; ``cuda`` without a visible GPU is a
    :class:`ConfigError`), so a typo or a missing GPU is reported the same way for every agent."""
    check_device(device)
    return BANDITS[name].for_env(env, config or {}, seed=seed)


def load_bandit(path: str | Path) -> Bandit:
    """Load any bandit tuner file."""
    return Bandit.load(path)


def _factory(name: str):
    def factory(env: gym.Env, config: dict[str, Any], *, seed: int | None = None, device: str = "cpu") -> Bandit:
        return make_bandit(name, env, config, seed=seed, device=device)

    factory.__name__ = f"make_{name}"
    factory.__doc__ = f"Registry factory for the {name!r} bandit."
    return factory


for _name in [name for name in BANDITS if name != SpectralOmega.algorithm]:
    globals()[f"make_{_name}"] = _factory(_name)
    register_agent(_name, f"tunegym.agents.bandits:make_{_name}")
