"""Deep RL agents (PPO, A2C, DQN, SAC) on stable-baselines3 behind a thin tunegym layer.

Importing this package registers the agents ``ppo``, ``a2c``, ``dqn`` and ``sac`` with
:mod:`tunegym.agents.registry`; torch and SB3 are imported only when an agent is built or a policy loaded.
It must not reimplement any algorithm: SB3 learns, tunegym configures, checkpoints and exports.
"""

from __future__ import annotations

from typing import Any

from tunegym.agents.deeprl.configs import CONFIGS, A2CConfig, DQNConfig, PPOConfig, SACConfig
from tunegym.agents.registry import register_agent

__all__ = [
    "CONFIGS",
    "PPOConfig",
    "A2CConfig",
    "DQNConfig",
    "SACConfig",
    "DeepRLAgent",
    "SB3Policy",
    "build_deeprl_agent",
    "make_vec_env",
]

for _name in CONFIGS:
    register_agent(_name, f"tunegym.agents.deeprl.agent:make_{_name}")

_LAZY = {
    "DeepRLAgent": "tunegym.agents.deeprl.agent",
    "build_deeprl_agent": "tunegym.agents.deeprl.agent",
    "SB3Policy": "tunegym.agents.deeprl.policy",
    "make_vec_env": "tunegym.agents.deeprl.envs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
