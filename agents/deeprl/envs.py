"""Vectorised envs for the SB3 agents, built from an env id + kwargs: ``native`` (default), ``dummy``, ``subproc``.

``native`` is :class:`NativeVecEnv`: the copies live in the learner process, their observations and infos
are handed to SB3 without the deep copies ``DummyVecEnv`` makes on every step (for a tunegym env the info
dict is fresh each step, so a copy protects nothing), and with ``n_envs > 1`` tunegym's own envs
(:class:`~tunegym.envs.core.env.ProcessEnv`) step on a thread pool: their processes run compiled kernels
that release the GIL (SOR's numba sweep), so two copies solve on two cores without a pipe round trip per
step. ``dummy`` is SB3's ``DummyVecEnv``; ``subproc`` SB3's ``SubprocVecEnv``, whose workers run
``torch.set_num_threads(1)`` before building their env, so ``n`` workers do not each spawn a full
BLAS/OpenMP thread pool on a small machine. Every copy is wrapped in SB3's ``Monitor`` so
``rollout/ep_rew_mean`` is logged. Nothing here trains.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.envs.core.errors import ConfigError

__all__ = ["make_env", "make_vec_env", "env_identity", "import_env_module", "NativeVecEnv", "VEC_ENVS"]

#: the ``vec_env`` config values :func:`make_vec_env` accepts
VEC_ENVS = ("native", "dummy", "subproc")


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


def make_vec_env(env_id: str, env_kwargs: Mapping[str, Any] | None, n_envs: int = 1, vec_env: str = "native"):
    """A VecEnv of ``n_envs`` copies of ``env_id``: ``vec_env`` = ``"native"`` (:class:`NativeVecEnv`),
    ``"dummy"`` (SB3's ``DummyVecEnv``) or ``"subproc"`` (SB3's ``SubprocVecEnv``, one worker process per copy)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if n_envs < 1:
        raise ConfigError(f"n_envs must be >= 1, got {n_envs}", value=n_envs)
    if vec_env not in VEC_ENVS:
        raise ConfigError(f"vec_env must be one of {list(VEC_ENVS)}, got {vec_env!r}", value=vec_env)
    make_env(env_id, env_kwargs).close()  # fail here, in one line, rather than inside a worker
    kwargs = dict(env_kwargs or {})
    if vec_env == "subproc":
        fns = [functools.partial(_build_worker_env, env_id, kwargs, True) for _ in range(n_envs)]
        return SubprocVecEnv(fns)
    fns = [functools.partial(_build_worker_env, env_id, kwargs, False) for _ in range(n_envs)]
    return _native_vec_env_class()(fns) if vec_env == "native" else DummyVecEnv(fns)


@functools.cache
def _native_vec_env_class():
    from stable_baselines3.common.vec_env import DummyVecEnv
    from stable_baselines3.common.vec_env.util import dict_to_obs

    class NativeVecEnv(DummyVecEnv):
        """``DummyVecEnv`` without the per-step deep copies, stepping :class:`ProcessEnv` copies on threads.

        Same semantics as ``DummyVecEnv`` (auto-reset, ``terminal_observation``, ``TimeLimit.truncated``,
        seeds and options passed on at the next reset): the observations SB3 receives are copies of the
        buffer, the infos are the envs' own dicts (shallow-copied: tunegym envs build a fresh one each step).
        ``threads`` (default: ``n_envs`` when every copy is a ``ProcessEnv``, else 1) sets how many copies
        step at once; other envs step one after the other, as they may share state that is not thread-safe.
        """

        def __init__(self, env_fns, threads: int | None = None) -> None:
            super().__init__(env_fns)
            if threads is None:
                from tunegym.envs.core.env import ProcessEnv

                native = all(isinstance(env.unwrapped, ProcessEnv) for env in self.envs)
                threads = self.num_envs if native else 1
            self.threads = max(1, min(int(threads), self.num_envs))
            self._pool = None
            if self.threads > 1:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tunegym-env")

        def _step_one(self, env_idx: int) -> None:
            env = self.envs[env_idx]
            obs, self.buf_rews[env_idx], terminated, truncated, info = env.step(self.actions[env_idx])
            self.buf_dones[env_idx] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[env_idx]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[env_idx] = env.reset()
            self.buf_infos[env_idx] = info
            self._save_obs(env_idx, obs)

        def step_wait(self):
            if self._pool is None:
                for env_idx in range(self.num_envs):
                    self._step_one(env_idx)
            else:
                for _ in self._pool.map(self._step_one, range(self.num_envs)):
                    pass  # re-raises the first exception of a copy
            return (self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones),
                    [dict(info) for info in self.buf_infos])

        def _obs_from_buf(self):
            return dict_to_obs(self.observation_space, {key: np.copy(value) for key, value in self.buf_obs.items()})

        def close(self) -> None:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            super().close()

    return NativeVecEnv


def __getattr__(name: str) -> Any:
    if name == "NativeVecEnv":  # built on first use, so importing this module does not import SB3
        return _native_vec_env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
