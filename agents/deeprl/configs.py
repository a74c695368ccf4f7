"""Frozen dataclass configs for the stable-baselines3 agents, and their default HPO search spaces.

One config per algorithm. Field names are SB3's keyword arguments (so SB3's documentation explains them)
plus the few the tunegym layer adds: ``policy_net_arch``, ``activation``, ``n_envs`` and ``vec_env``.
Defaults are SB3's, except where noted. YAML/JSON files, CLI flags and the tuning harness's search spaces
all become a config through :func:`tunegym.agents.config.build_config`, which rejects unknown keys and
mistyped values. This module must not import torch or SB3: listing configs stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PPOConfig", "A2CConfig", "DQNConfig", "SACConfig", "CONFIGS"]

VecEnvKind = Literal["native", "dummy", "subproc"]
Activation = Literal["tanh", "relu"]


def _float(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def _int(low: int, high: int, log: bool = False) -> dict[str, Any]:
    return {"type": "int", "low": low, "high": high, "log": log}


def _categorical(*choices: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(choices)}


_POSITIVE_INTS = ("n_steps", "batch_size", "n_epochs", "buffer_size", "train_freq", "target_update_interval", "n_envs")


class _Checked:
    """Range checks shared by the configs (``build_config`` turns the ``ValueError`` into a ``ConfigError``)."""

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            value = getattr(self, name, 1)
            if value < 1:
                raise ValueError(f"config key {name!r} must be >= 1, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"config key 'learning_rate' must be > 0, got {self.learning_rate!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"config key 'gamma' must be in [0, 1], got {self.gamma!r}")
        if not self.policy_net_arch or min(self.policy_net_arch) < 1:
            raise ValueError(f"config key 'policy_net_arch' must be a non-empty list of layer widths, "
                             f"got {list(self.policy_net_arch)!r}")


@dataclass(frozen=True)
class PPOConfig(_Checked):
    """Proximal Policy Optimization (``stable_baselines3.PPO``); Discrete and Box actions."""

    learning_rate: float = 3e-4
    n_steps: int = 2048  # per env; a rollout is n_steps * n_envs env steps
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True
    policy_net_arch: tuple[int, ...] = (64, 64)
    activation: Activation = "tanh"
    n_envs: int = 1
    vec_env: VecEnvKind = "native"  # tunegym.agents.deeprl.envs.make_vec_env

    @staticmethod
    def default_search_space() -> dict[str, dict[str, Any]]:
        return {
            "learning_rate": _float(1e-5, 1e-2, log=True),
            "n_steps": _categorical(64, 128, 256, 512, 1024, 2048),
            "batch_size": _categorical(32, 64, 128, 256),
            "n_epochs": _int(1, 20),
            "gamma": _float(0.0, 0.999),
            "gae_lambda": _float(0.8, 1.0),
            "clip_range": _float(0.1, 0.4),
            "ent_coef": _float(1e-8, 0.1, log=True),
        }


@dataclass(frozen=True)
class A2CConfig(_Checked):
    """Advantage Actor-Critic (``stable_baselines3.A2C``); Discrete and Box actions."""

    learning_rate: float = 7e-4
    n_steps: int = 5
    gamma: float = 0.99
    gae_lambda: float = 1.0
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = False
    use_rms_prop: bool = True
    rms_prop_eps: float = 1e-5
    policy_net_arch: tuple[int, ...] = (64, 64)
    activation: Activation = "tanh"
    n_envs: int = 1
    vec_env: VecEnvKind = "native"  # tunegym.agents.deeprl.envs.make_vec_env

    @staticmethod
    def default_search_space() -> dict[str, dict[str, Any]]:
        return {
            "learning_rate": _float(1e-5, 1e-2, log=True),
            "n_steps": _categorical(5, 8, 16, 32, 64, 128),
            "gamma": _float(0.0, 0.999),
            "gae_lambda": _float(0.8, 1.0),
            "ent_coef": _float(1e-8, 0.1, log=True),
            "vf_coef": _float(0.1, 1.0),
        }


@dataclass(frozen=True)
class DQNConfig(_Checked):
    """Deep Q-Network (``stable_baselines3.DQN``); Discrete actions only.

    ``buffer_size`` defaults to 100,000 (SB3: 1,000,000) so that checkpoints with the replay buffer stay small.
    """

    learning_rate: float = 1e-4
    buffer_size: int = 100_000
    learning_starts: int = 100
    batch_size: int = 32
    tau: float = 1.0
    gamma: float = 0.99
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 10_000
    exploration_fraction: float = 0.1
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    policy_net_arch: tuple[int, ...] = (64, 64)
    activation: Activation = "relu"
    n_envs: int = 1
    vec_env: VecEnvKind = "native"  # tunegym.agents.deeprl.envs.make_vec_env

    @staticmethod
    def default_search_space() -> dict[str, dict[str, Any]]:
        return {
            "learning_rate": _float(1e-5, 1e-2, log=True),
            "batch_size": _categorical(32, 64, 128, 256),
            "gamma": _float(0.0, 0.999),
            "train_freq": _categorical(1, 4, 8, 16),
            "target_update_interval": _categorical(100, 1000, 10000),
            "exploration_fraction": _float(0.05, 0.5),
            "exploration_final_eps": _float(0.0, 0.2),
        }


@dataclass(frozen=True)
class SACConfig(_Checked):
    """Soft Actor-Critic (``stable_baselines3.SAC``); Box actions only.

    ``ent_coef`` is ``"auto"`` (learned, SB3's default), ``"auto_0.1"`` (learned from 0.1) or a number.
    ``buffer_size`` defaults to 100,000 (SB3: 1,000,000).
    """

    learning_rate: float = 3e-4
    buffer_size: int = 100_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    ent_coef: float | str = "auto"
    target_update_interval: int = 1
    policy_net_arch: tuple[int, ...] = (256, 256)
    activation: Activation = "relu"
    n_envs: int = 1
    vec_env: VecEnvKind = "native"  # tunegym.agents.deeprl.envs.make_vec_env

    @staticmethod
    def default_search_space() -> dict[str, dict[str, Any]]:
        return {
            "learning_rate": _float(1e-5, 1e-2, log=True),
            "batch_size": _categorical(64, 128, 256, 512),
            "gamma": _float(0.0, 0.999),
            "tau": _float(0.001, 0.05, log=True),
            "train_freq": _categorical(1, 4, 8),
        }


#: algorithm name -> config class
CONFIGS: dict[str, type] = {"ppo": PPOConfig, "a2c": A2CConfig, "dqn": DQNConfig, "sac": SACConfig}
