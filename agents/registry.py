"""Agent names → factories, so the CLI, the harness and the tuners build any agent the same way.

A factory has the signature ``factory(env, config, *, seed, device) -> Agent`` where ``config`` is a
mapping validated against the agent's frozen dataclass (see :mod:`tunegym.agents.config`). Factories are
named by import string and imported lazily, so listing agents never imports torch or SB3.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from tunegym.envs.core.errors import ConfigError

__all__ = ["AGENT_FACTORIES", "make_agent", "agent_names", "register_agent", "train_agent"]

#: name -> "module:callable". Bandits and deep RL agents register here.
AGENT_FACTORIES: dict[str, str] = {}


def register_agent(name: str, factory: str) -> None:
    """Register ``factory`` (an import string ``"module:callable"``) under ``name``."""
    AGENT_FACTORIES[name] = factory


def agent_names() -> list[str]:
    _load_builtin()
    return sorted(AGENT_FACTORIES)


def make_agent(
    name: str,
    env: gym.Env,
    config: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    device: str = "auto",
) -> Any:
    """Build agent ``name`` for ``env``; unknown names raise :class:`ConfigError` listing the choices."""
    _load_builtin()
    if name not in AGENT_FACTORIES:
        raise ConfigError(f"unknown agent {name!r}; choices: {sorted(AGENT_FACTORIES)}", value=name)
    module_name, attr = AGENT_FACTORIES[name].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(env, dict(config or {}), seed=seed, device=device)


_BUILTIN_MODULES = ("tunegym.agents.bandits", "tunegym.agents.deeprl")


def train_agent(env_id: str, agent: str, *, steps: int, seed: int, env_kwargs: dict[str, Any] | None = None,
                config: dict[str, Any] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Train ``agent`` on ``env_id`` (the instance stream of ``seed``) for ``steps`` env steps on CPU.

    Returns ``(policy, env, provenance)``: the trained agent, the env it trained on (its instance stream
    continues), and the record a tuner file keeps of how it was made. Tuners' ``train`` classmethods use it.
    """
    import gymnasium as gym

    import tunegym.envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id, **dict(env_kwargs or {}))
    env.reset(seed=seed)
    policy = make_agent(agent, env, config or {}, seed=seed, device="cpu")
    policy.learn(env, total_timesteps=steps)
    provenance = {"env_id": env_id, "env_kwargs": dict(env_kwargs or {}), "agent": agent,
                  "config": dict(config or {}), "train_seed": seed, "train_steps": steps}
    return policy, env, provenance


def _load_builtin() -> None:
    # Importing these packages registers their agents; a missing one simply contributes no names.
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
