"""The thin layer over stable-baselines3: build, learn, checkpoint, resume and export PPO/A2C/DQN/SAC.

No RL algorithm is implemented here; SB3 does the learning. This module maps a frozen config onto SB3's
constructor, checks that the algorithm can act in the env's action space, and turns the model's full
training state (weights, optimizer state, replay buffer, counters, RNG states) into a *data-only*
checkpoint (tensors, numbers and strings, loaded with ``torch.load(weights_only=True)``), so resuming a run
never unpickles code. It must not grow training-loop logic: callbacks live in :mod:`.callbacks`.
"""

from __future__ import annotations

import importlib
import io
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from tunegym.agents.config import build_config, check_device, config_to_dict
from tunegym.agents.deeprl.configs import CONFIGS
from tunegym.agents.deeprl.envs import env_identity, make_vec_env
from tunegym.agents.deeprl.spaces import space_to_json
from tunegym.agents.tuner_io import (
    atomic_write_bytes,
    check_archive,
    check_format_version,
    save_tuner_file,
    versions,
)
from tunegym.envs.core.errors import CheckpointError, ConfigError

__all__ = [
    "ALGORITHMS",
    "DeepRLAgent",
    "CHECKPOINT_FORMAT",
    "POLICY_KIND",
    "check_action_space",
    "resolve_device",
    "load_checkpoint_file",
    "make_ppo",
    "make_a2c",
    "make_dqn",
    "make_sac",
]

CHECKPOINT_FORMAT = "tunegym-checkpoint"
CHECKPOINT_VERSION = 1
POLICY_KIND = "sb3-policy"

#: algorithm -> (SB3 class, SB3 policy class, action space types it can act in)
ALGORITHMS: dict[str, tuple[str, str, tuple[type, ...]]] = {
    "ppo": ("stable_baselines3:PPO", "stable_baselines3.common.policies:ActorCriticPolicy",
            (spaces.Discrete, spaces.Box, spaces.MultiDiscrete)),
    "a2c": ("stable_baselines3:A2C", "stable_baselines3.common.policies:ActorCriticPolicy",
            (spaces.Discrete, spaces.Box, spaces.MultiDiscrete)),
    "dqn": ("stable_baselines3:DQN", "stable_baselines3.dqn.policies:DQNPolicy", (spaces.Discrete,)),
    "sac": ("stable_baselines3:SAC", "stable_baselines3.sac.policies:SACPolicy", (spaces.Box,)),
}

_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
_LAYER_KEYS = ("policy_net_arch", "activation", "n_envs", "vec_env")


def _import(path: str) -> Any:
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def check_action_space(algo: str, action_space: spaces.Space, env_id: str | None = None) -> None:
    """Raise :class:`ConfigError` naming the algorithm, the space and the fix if ``algo`` cannot act in it."""
    allowed = ALGORITHMS[algo][2]
    if isinstance(action_space, allowed):
        return
    where = f" of env {env_id!r}" if env_id else ""
    others = sorted(a for a, (_, _, ok) in ALGORITHMS.items() if isinstance(action_space, ok))
    if isinstance(action_space, spaces.Box):
        fix = "make the knob discrete (SOR envs: --env-kwargs '{\"action\": \"discrete\"}')"
    else:
        fix = "make the knob continuous (SOR envs: --env-kwargs '{\"action\": \"continuous\"}')"
    raise ConfigError(
        f"{algo.upper()} cannot act in action space {action_space}{where} "
        f"(it needs {'/'.join(t.__name__ for t in allowed)}); {fix}, or use an agent that can: {others}",
        value=action_space,
    )


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names as
    :func:`~tunegym.agents.config.check_device` checks them (a malformed name, or CUDA without a GPU, is a
    :class:`ConfigError`, not an error from deep inside SB3)."""
    name = check_device(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _sb3_kwargs(algo: str, config: Any) -> dict[str, Any]:
    values = config_to_dict(config)
    kwargs = {k: v for k, v in values.items() if k not in _LAYER_KEYS}
    arch = list(config.policy_net_arch)
    kwargs["policy_kwargs"] = {"net_arch": arch, "activation_fn": _ACTIVATIONS[config.activation]}
    if algo in ("dqn", "sac"):
        kwargs["train_freq"] = (int(kwargs["train_freq"]), "step")
    return kwargs


def _json_state(state: Any) -> str:
    return json.dumps(state)


class DeepRLAgent:
    """An SB3 model plus what tunegym needs around it: config, env identity, seed, checkpoints, export.

    Speaks the agent verbs: :meth:`learn`, :meth:`predict`, :meth:`save` (a data-only checkpoint) and
    :meth:`load`. Build it with :func:`make_ppo` & co. (or ``make_agent("ppo", env, config)``).
    """

    def __init__(
        self,
        algo: str,
        config: Any,
        vec_env: Any,
        *,
        seed: int | None,
        device: str = "auto",
        env_id: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if algo not in ALGORITHMS:
            raise ConfigError(f"unknown SB3 algorithm {algo!r}; choices: {sorted(ALGORITHMS)}", value=algo)
        check_action_space(algo, vec_env.action_space, env_id)
        self.algo, self.config, self.seed = algo, config, seed
        self.device = resolve_device(device)
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        model_class = _import(ALGORITHMS[algo][0])
        try:
            self.model = model_class(
                "MlpPolicy", vec_env, seed=seed, device=self.device, verbose=0, **_sb3_kwargs(algo, config)
            )
        except (ValueError, AssertionError) as exc:  # SB3 checks e.g. batch_size vs n_steps, ent_coef strings
            vec_env.close()
            raise ConfigError(f"{algo.upper()} rejects config: {exc}", value=config_to_dict(config)) from exc
        # SB3's own logger, made at learn() when none is set, creates an empty folder in the temp dir per call
        # (``SB3-<date>``; a test suite or a tuning sweep leaves thousands). A run that logs sets its own
        # (``tunegym train``: TensorBoard and CSV in the run folder); otherwise records go nowhere.
        from stable_baselines3.common.logger import Logger

        self.model.set_logger(Logger(folder=None, output_formats=[]))

    # -- agent verbs ---------------------------------------------------------------------------------------
    @property
    def num_timesteps(self) -> int:
        return int(self.model.num_timesteps)

    @property
    def n_envs(self) -> int:
        return int(self.model.n_envs)

    def learn(self, env: Any = None, total_timesteps: int = 0, *, callback: Any = None,
              reset_num_timesteps: bool = True) -> "DeepRLAgent":
        """Train for ``total_timesteps`` env steps (on the env the agent was built with)."""
        if env is not None and env is not self.model.get_env() and env_identity(env)[0] != self.env_id:
            raise ConfigError("DeepRLAgent.learn: the env must be the one the agent was built for", value=env)
        self.model.learn(total_timesteps, callback=callback, reset_num_timesteps=reset_num_timesteps)
        return self

    def learn_until(self, total_timesteps: int, *, callback: Any = None) -> "DeepRLAgent":
        """Continue training until ``num_timesteps >= total_timesteps`` (the resume path); no-op if done.

        On-policy algorithms finish their last rollout, so the final count is the first multiple of
        ``n_steps * n_envs`` at or past ``total_timesteps`` counted from the last checkpoint boundary.
        """
        remaining = int(total_timesteps) - self.num_timesteps
        if remaining > 0:
            self.model.learn(remaining, callback=callback, reset_num_timesteps=False)
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)

    def close(self) -> None:
        env = self.model.get_env()
        if env is not None:
            env.close()

    # -- checkpoints ---------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "algo": self.algo,
            "config": config_to_dict(self.config),
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "seed": self.seed,
            "n_envs": self.n_envs,
            "versions": versions(),
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume: weights + optimizer state, counters, replay buffer, RNG states."""
        model = self.model
        _, variable_names = model._get_torch_save_params()
        variables = {}
        for name in variable_names:
            value = model
            for part in name.split("."):
                value = getattr(value, part)
            variables[name] = value.detach().cpu().clone()
        counters = {
            "num_timesteps": int(model.num_timesteps),
            "n_updates": int(getattr(model, "_n_updates", 0)),
            "episode_num": int(getattr(model, "_episode_num", 0)),
            "n_calls": int(getattr(model, "_n_calls", 0)),
        }
        np_state = np.random.get_state()
        rng = {
            "torch": torch.get_rng_state(),
            "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "numpy_rest": _json_state([np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]),
            "python": _json_state(random.getstate()),
            "action_space": _json_state(model.action_space.np_random.bit_generator.state),
        }
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "parameters": {k: v for k, v in model.get_parameters().items()},
            "variables": variables,
            "counters": counters,
            "rng": rng,
            "replay_buffer": self._replay_buffer_state(),
        }

    def _replay_buffer_state(self) -> dict[str, Any] | None:
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is None:
            return None
        filled = buffer.buffer_size if buffer.full else buffer.pos
        arrays = {}
        for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
            value = getattr(buffer, name, None)
            if isinstance(value, np.ndarray):
                arrays[name] = torch.from_numpy(np.ascontiguousarray(value[:filled]))
        return {"arrays": arrays, "pos": int(buffer.pos), "full": bool(buffer.full), "buffer_size": int(buffer.buffer_size)}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_state`; raises :class:`CheckpointError` if it does not fit this model."""
        model = self.model
        try:
            model.set_parameters(dict(state["parameters"]), exact_match=True, device=model.device)
            for name, tensor in state["variables"].items():
                target = model
                for part in name.split("."):
                    target = getattr(target, part)
                with torch.no_grad():
                    target.copy_(tensor.to(target.device))
            counters = state["counters"]
            model.num_timesteps = int(counters["num_timesteps"])
            model._n_updates = int(counters["n_updates"])
            model._episode_num = int(counters["episode_num"])
            if hasattr(model, "_n_calls"):
                model._n_calls = int(counters["n_calls"])
            self._restore_replay_buffer(state.get("replay_buffer"))
            rng = state["rng"]
            torch.set_rng_state(rng["torch"])
            rest = json.loads(rng["numpy_rest"])
            np.random.set_state((rest[0], rng["numpy_keys"].numpy().astype(np.uint32), *rest[1:]))
            py = json.loads(rng["python"])
            random.setstate((py[0], tuple(py[1]), py[2]))
            model.action_space.np_random.bit_generator.state = json.loads(rng["action_space"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint does not fit this {self.algo.upper()} model: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}",
                value=None,
            ) from exc
        # The env's instance stream cannot be serialised (a generator); it restarts from a seed derived from
        # (train seed, step), so a resumed run is deterministic given its checkpoint.
        env_seed = int(np.random.SeedSequence([int(self.seed or 0), model.num_timesteps]).generate_state(1)[0])
        model.get_env().seed(env_seed)
        model._last_obs = None

    def _restore_replay_buffer(self, data: Mapping[str, Any] | None) -> None:
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is None or data is None:
            if (buffer is None) != (data is None):
                raise CheckpointError("checkpoint and model disagree on having a replay buffer", value=None)
            return
        if int(data["buffer_size"]) != buffer.buffer_size:
            raise CheckpointError(
                f"checkpoint replay buffer has size {data['buffer_size']}, the config {buffer.buffer_size}",
                value=data["buffer_size"],
            )
        for name, tensor in data["arrays"].items():
            target = getattr(buffer, name)
            array = tensor.numpy()
            if array.shape[1:] != target.shape[1:]:
                raise CheckpointError(f"replay buffer field {name} has shape {array.shape[1:]}, expected "
                                      f"{target.shape[1:]} (different n_envs or env?)", value=array.shape)
            target[: array.shape[0]] = array
        buffer.pos, buffer.full = int(data["pos"]), bool(data["full"])

    def save(self, path: str | Path) -> None:
        """Write a data-only checkpoint atomically (temp file + rename)."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "kind": "sb3-checkpoint",
            "algo": self.algo,
            "metadata_json": json.dumps(self.metadata(), default=str),
            "policy_json": json.dumps(self.policy_description()),
            "state": self.checkpoint_state(),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", vec_env: str | None = None) -> "DeepRLAgent":
        """Rebuild the agent (env from the checkpoint's env id) and restore its full training state."""
        payload = load_checkpoint_file(path)
        meta = checkpoint_metadata(path, payload)
        overrides = {"vec_env": vec_env} if vec_env else {}
        agent = build_deeprl_agent(payload["algo"], meta["env_id"], meta["env_kwargs"], {**meta["config"], **overrides},
                                   seed=meta["seed"], device=device)
        agent.restore_state(payload["state"])
        return agent

    # -- deployment ----------------------------------------------------------------------------------------
    def policy_description(self) -> dict[str, Any]:
        policy = self.model.policy
        return {
            "algo": self.algo,
            "observation_space": space_to_json(policy.observation_space),
            "action_space": space_to_json(policy.action_space),
            "net_arch": list(self.config.policy_net_arch),
            "activation": self.config.activation,
        }

    def export_policy(self, path: str | Path, provenance: Mapping[str, Any] | None = None) -> None:
        """Write the policy as a ``"sb3-policy"`` tuner file (weights + JSON metadata, no code)."""
        metadata = {**self.metadata(), "policy": self.policy_description(), "num_timesteps": self.num_timesteps,
                    **dict(provenance or {})}
        save_tuner_file(path, POLICY_KIND, metadata, dict(self.model.policy.state_dict()))


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint payload (data only); anything else raises a one-line :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}", value=str(path))
    check_archive(path, "checkpoint")  # torch.load does not verify checksums: a flipped byte would load
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, zip errors: all mean "not ours"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"{str(path)!r} is not a loadable tunegym checkpoint (corrupt, truncated, foreign, or it carries "
            f"code): {type(exc).__name__}: {first[:200]}",
            value=str(path),
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a tunegym checkpoint", value=str(path))
    check_format_version(path, payload.get("format_version", 0), CHECKPOINT_VERSION, "checkpoint format")
    if payload.get("algo") not in ALGORITHMS or "state" not in payload or "metadata_json" not in payload:
        raise CheckpointError(f"{str(path)!r} has malformed checkpoint contents", value=str(path))
    return payload


def checkpoint_metadata(path: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON metadata of a checkpoint payload, with the keys :meth:`DeepRLAgent.load` needs; a damaged or
    hand-edited file raises :class:`CheckpointError` instead of a ``JSONDecodeError`` or ``KeyError``."""
    try:
        meta = json.loads(payload["metadata_json"])
        missing = [key for key in ("env_id", "env_kwargs", "config", "seed") if key not in meta]
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} has malformed checkpoint metadata: {exc}", value=str(path)) from exc
    if missing or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{str(path)!r} has malformed checkpoint metadata: missing {missing or ['config']}",
                              value=str(path))
    return meta


def build_deeprl_agent(
    algo: str,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    *,
    seed: int | None,
    device: str = "auto",
) -> DeepRLAgent:
    """Build an agent from an env id (the CLI path): validate config, make the VecEnv, construct SB3."""
    config_obj = build_config(CONFIGS[algo], config)
    if config_obj.n_envs < 1:
        raise ConfigError(f"n_envs must be >= 1, got {config_obj.n_envs}", value=config_obj.n_envs)
    # Check the action space before starting any worker process.
    from tunegym.agents.deeprl.envs import make_env

    probe = make_env(env_id, env_kwargs)
    try:
        check_action_space(algo, probe.action_space, env_id)
    finally:
        probe.close()
    resolve_device(device)
    vec = make_vec_env(env_id, env_kwargs, config_obj.n_envs, config_obj.vec_env)
    return DeepRLAgent(algo, config_obj, vec, seed=seed, device=device, env_id=env_id, env_kwargs=env_kwargs)


def _factory(algo: str):
    def factory(env: Any, config: Mapping[str, Any] | None = None, *, seed: int | None = None,
                device: str = "auto") -> DeepRLAgent:
        """Registered agent factory: ``env`` is a ``gym.make``-built env, an env id, or an SB3 VecEnv."""
        from stable_baselines3.common.vec_env import VecEnv

        if isinstance(env, str):
            return build_deeprl_agent(algo, env, {}, config, seed=seed, device=device)
        if isinstance(env, VecEnv):
            config_obj = build_config(CONFIGS[algo], config)
            return DeepRLAgent(algo, config_obj, env, seed=seed, device=device)
        env_id, env_kwargs = env_identity(env)
        if env_id is not None:
            # Build fresh copies from the id so n_envs / subproc work; the caller keeps ownership of `env`.
            return build_deeprl_agent(algo, env_id, env_kwargs, config, seed=seed, device=device)
        config_obj = build_config(CONFIGS[algo], config)
        if config_obj.n_envs != 1:
            raise ConfigError("n_envs > 1 needs an env made by gym.make(ID) (or pass the id)", value=config_obj.n_envs)
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv

        return DeepRLAgent(algo, config_obj, DummyVecEnv([lambda: Monitor(env)]), seed=seed, device=device)

    factory.__name__ = f"make_{algo}"
    factory.__qualname__ = f"make_{algo}"
    return factory


make_ppo = _factory("ppo")
make_a2c = _factory("a2c")
make_dqn = _factory("dqn")
make_sac = _factory("sac")

