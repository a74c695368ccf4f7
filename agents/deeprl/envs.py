"""Vectorised envs for the SB3 agents: ``DummyVecEnv`` or ``SubprocVecEnv`` built from an env id + kwargs.

Workers of ``SubprocVecEnv`` run ``torch.set_num_threads(1)`` before building their env, so ``n`` workers
do not each spawn a full BLAS/OpenMP thread pool on a small machine. Every copy is wrapped in SB3's
``Monitor`` so ``rollout/ep_rew_mean`` is logged. Nothing here trains.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from tunegym.envs.core.errors import ConfigError

__all__ = ["make_env", "make_vec_env", "env_identity", "import_env_module"]


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """``gym.make(env_id, **env_kwargs)`` with tunegym's envs registered and one-line errors.

    A multi-agent id (``tunegym.envs.multiagent.ENV_IDS``) gives its single-agent view
    (:func:`tunegym.envs.multiagent.views.make_view`; ``env_kwargs["multiagent_view"]`` picks ``"joint"``, ``"flat"``
    or ``"shared"``), so SB3 agents and bandits train "one agent sets all knobs" through the same path.

    An unknown id raises :class:`ConfigError` listing the registered tunegym ids; kwargs the env does not
    accept raise :class:`ConfigError` naming them.
    """
    import tunegym.envs  # noqa: F401  (registers the tunegym ids)
    from tunegym.envs.multiagent import ENV_IDS as MULTIAGENT_IDS

    kwargs = dict(env_kwargs or {})
    if env_id in MULTIAGENT_IDS:
        return _make_multiagent_view(env_id, kwargs)
    import_env_module(env_id)
    try:
        spec = gym.spec(env_id.split(":", 1)[-1])
    except gym.error.Error as exc:
        from tunegym.envs import ENVS

        raise ConfigError(
            f"unknown env {env_id!r}; tunegym envs: {[s.id for s in ENVS]} (or any Gymnasium id)", value=env_id
        ) from exc
    try:
        return gym.make(spec, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"env {env_id!r} rejects env kwargs {kwargs}: {exc}", value=kwargs) from exc


def import_env_module(env_id: str) -> None:
    """Import the module of a ``"module:EnvName-v0"`` id (Gymnasium's form for envs registered on import).

    The current directory is searched too, as ``python -m`` does, so ``tunegym train --env own_task:Env-v0``
    finds ``own_task.py`` where the user runs it. A module that fails to import raises :class:`ConfigError`.
    """
    import importlib
    import os
    import sys

    if ":" not in env_id:
        return
    module = env_id.split(":", 1)[0]
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module!r} for env {env_id!r}: {exc}", value=env_id) from None


def _make_multiagent_view(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    """A PettingZoo env id as one agent: ``multiagent_view`` = ``"joint"`` (default), ``"flat"`` or ``"shared"``."""
    from tunegym.envs.multiagent.views import make_view

    view = kwargs.pop("multiagent_view", "joint")
    try:
        return make_view(env_id, view, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"env {env_id!r} rejects env kwargs {kwargs}: {exc}", value=kwargs) from exc


def env_identity(env: gym.Env) -> tuple[str | None, dict[str, Any]]:
    """The id and the non-default kwargs a ``gym.make``-built env was made with (``(None, {})`` otherwise)."""
    spec = getattr(env, "spec", None)
    if spec is None:
        return None, {}
    registered = gym.spec(spec.id).kwargs if spec.id in gym.registry else {}
    extra = {k: v for k, v in (spec.kwargs or {}).items() if registered.get(k, object()) != v}
    return spec.id, extra


def _build_worker_env(env_id: str, env_kwargs: dict[str, Any], in_subprocess: bool) -> gym.Env:
    from stable_baselines3.common.monitor import Monitor

    if in_subprocess:
        import torch

        torch.set_num_threads(1)
    return Monitor(make_env(env_id, env_kwargs))


def make_vec_env(env_id: str, env_kwargs: Mapping[str, Any] | None, n_envs: int = 1, vec_env: str = "dummy"):
    """A VecEnv of ``n_envs`` copies of ``env_id`` (``vec_env`` = ``"dummy"`` in-process, ``"subproc"`` workers)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if n_envs < 1:
        raise ConfigError(f"n_envs must be >= 1, got {n_envs}", value=n_envs)
    make_env(env_id, env_kwargs).close()  # fail here, in one line, rather than inside a worker
    kwargs = dict(env_kwargs or {})
    if vec_env == "subproc":
        fns = [functools.partial(_build_worker_env, env_id, kwargs, True) for _ in range(n_envs)]
        return SubprocVecEnv(fns)
    if vec_env == "dummy":
        return DummyVecEnv([functools.partial(_build_worker_env, env_id, kwargs, False) for _ in range(n_envs)])
    raise ConfigError(f"vec_env must be 'dummy' or 'subproc', got {vec_env!r}", value=vec_env)
