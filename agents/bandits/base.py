"""The bandit interface: ``select`` / ``update`` for online use, SB3's verbs for everything else.

A bandit is a learner over a ``Discrete`` action space: ``select(context)`` returns an arm, ``update(context,
arm, reward)`` learns from the reward (higher is better; the SOR envs pay ``-sweeps / reward_scale``).
``learn(env, total_timesteps)`` runs that loop against a Gymnasium env, ``predict(obs)`` answers like an
SB3 model (greedy when ``deterministic=True``), and ``save``/``load`` write a data-only tuner file, RNG
state included, so a reloaded bandit continues exactly where the saved one stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tunegym.agents.config import build_config
from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import ActionError, CheckpointError, ConfigError
from tunegym.envs.core.knob import arm_index
from tunegym.envs.core.seeding import stream

__all__ = ["Bandit", "ContextScaler"]


class ContextScaler:
    """Maps a context from the env's declared box into ``[-1, 1]`` per dimension (clipped)."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        self.low = np.asarray(low, dtype=np.float64).reshape(-1)
        self.high = np.asarray(high, dtype=np.float64).reshape(-1)
        width = self.high - self.low
        if not np.all(np.isfinite(width)) or np.any(width <= 0):
            raise ConfigError("contextual bandits need finite observation bounds with low < high",
                              value=(self.low.tolist(), self.high.tolist()))
        self.width = width

    def __call__(self, context: Any) -> np.ndarray:
        """The scaled context; a context of the wrong size or with NaN/inf raises :class:`ConfigError`, because
        a NaN would otherwise enter the learner's statistics and break every later prediction."""
        try:
            x = np.asarray(context, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"context must be a numeric array, got {context!r}", value=context) from exc
        if x.size != self.low.size:
            raise ConfigError(f"context has {x.size} values, the bandit was built for {self.low.size}", value=context)
        if not np.all(np.isfinite(x)):
            raise ConfigError(f"context must be finite, got {context!r}", value=context)
        return np.clip(2.0 * (x - self.low) / self.width - 1.0, -1.0, 1.0)


class Bandit:
    """Base class. Subclasses set ``algorithm``, ``config_class``, ``contextual`` and the four hooks
    ``_select``, ``_greedy``, ``_update`` and ``_arrays`` (their learnable state as named arrays)."""

    algorithm: ClassVar[str] = "bandit"
    config_class: ClassVar[type]
    contextual: ClassVar[bool] = False
    #: state arrays whose first axis grows with play (any row count is valid on load)
    growing_arrays: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        n_arms: int,
        config: Any = None,
        *,
        seed: int | None = None,
        context_low: np.ndarray | None = None,
        context_high: np.ndarray | None = None,
    ) -> None:
        if int(n_arms) < 1:
            raise ConfigError(f"a bandit needs at least one arm, got {n_arms}", value=n_arms)
        self.n_arms = int(n_arms)
        self.config = config if isinstance(config, self.config_class) else build_config(self.config_class, config)
        self.seed = seed
        self.rng = stream(seed, "agent")
        self.t = 0  # rounds played (updates received)
        self.scaler: ContextScaler | None = None
        if self.contextual:
            if context_low is None or context_high is None:
                raise ConfigError(f"{self.algorithm} is contextual: give context_low/context_high (the obs bounds)")
            self.scaler = ContextScaler(context_low, context_high)
        self.context_dim = 0 if self.scaler is None else int(self.scaler.low.size)
        self._init_state()

    # ---- construction from an env ------------------------------------------------------------------------
    @classmethod
    def for_env(cls, env: gym.Env, config: Any = None, *, seed: int | None = None) -> "Bandit":
        """A bandit whose arms are ``env``'s discrete actions and whose context box is its observation box."""
        if not isinstance(env.action_space, spaces.Discrete):
            raise ConfigError(
                f"{cls.algorithm} needs a Discrete action space, got {env.action_space}; "
                "use the env's discrete variant (e.g. action='discrete') or a deep RL agent (ppo, sac)",
                value=str(env.action_space),
            )
        low = high = None
        if cls.contextual:
            obs_space = env.observation_space
            if not isinstance(obs_space, spaces.Box):
                raise ConfigError(f"{cls.algorithm} needs a Box observation space, got {obs_space}")
            low, high = obs_space.low, obs_space.high
        return cls(int(env.action_space.n), config, seed=seed, context_low=low, context_high=high)

    # ---- the online interface ----------------------------------------------------------------------------
    def select(self, context: Any = None) -> int:
        """Choose an arm for ``context`` (exploring as the algorithm does)."""
        return int(self._select(self._features(context)))

    def update(self, context: Any, arm: int, reward: float) -> None:
        """Learn from ``reward`` (higher is better) received for ``arm`` under ``context``."""
        try:  # an arm must be an integer (1.7 or True is not arm 1), as an env's knob reads it; the reward a number
            arm = arm_index(arm, self.n_arms)
            reward = float(reward)
        except ActionError as exc:
            raise ConfigError(f"update: {exc}", value=arm) from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"update needs a numeric reward, got {reward!r}", value=reward) from exc
        if not np.isfinite(reward):
            raise ConfigError(f"reward must be finite, got {reward!r}", value=reward)
        features = self._features(context)  # before counting the round: a bad context must change nothing
        self.t += 1
        self._update(features, arm, reward)

    # ---- SB3's verbs -------------------------------------------------------------------------------------
    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        features = self._features(observation)
        arm = self._greedy(features) if deterministic else self._select(features)
        return int(arm), None

    def learn(self, env: gym.Env, total_timesteps: int, callback: Any = None, progress_bar: bool = False,
              **kwargs: Any) -> "Bandit":
        """Play ``total_timesteps`` env steps, updating after each; resets at episode ends."""
        obs, _ = env.reset()  # no seed: an env that was seeded before continues its instance stream
        for _ in range(int(total_timesteps)):
            arm = self.select(obs)
            next_obs, reward, terminated, truncated, info = env.step(arm)
            self.observe(obs, arm, float(reward), info)
            obs = next_obs
            if callback is not None and callback(locals(), globals()) is False:
                break
            if terminated or truncated:
                obs, _ = env.reset()
        return self

    def observe(self, context: Any, arm: int, reward: float, info: dict[str, Any]) -> None:
        """Learn from one env step; bandits that use more than the reward override this to read ``info``."""
        self.update(context, arm, reward)

    # ---- persistence -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "config": asdict(self.config),
            "n_arms": self.n_arms,
            "t": self.t,
            "seed": self.seed,
            "context_low": None if self.scaler is None else self.scaler.low.tolist(),
            "context_high": None if self.scaler is None else self.scaler.high.tolist(),
            "rng_state": json.dumps(self.rng.bit_generator.state),
            "arrays": {name: np.array(value, copy=True) for name, value in self._arrays().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("algorithm") != self.algorithm:
            raise CheckpointError(f"state is for {state.get('algorithm')!r}, not {self.algorithm!r}")
        self.t = int(state["t"])
        self.rng.bit_generator.state = json.loads(state["rng_state"])
        current = self._arrays()
        for name, value in state["arrays"].items():
            if name not in current:
                raise CheckpointError(f"unexpected array {name!r} in {self.algorithm} state", value=name)
            # A shape that does not fit n_arms / the context size would only fail later, inside select(). A
            # growing log (``growing_arrays``, e.g. ChebCB's history) may have any number of rows.
            expected, got = np.shape(current[name]), np.shape(value)
            if name in self.growing_arrays:
                expected, got = (len(expected), expected[1:]), (len(got), got[1:])
            if got != expected:
                raise CheckpointError(f"array {name!r} of the {self.algorithm} state has shape {np.shape(value)}, "
                                      f"expected {np.shape(current[name])} for {self.n_arms} arms",
                                      value=name)
        missing = sorted(set(current) - set(state["arrays"]))
        if missing:  # loading would silently give an untrained bandit
            raise CheckpointError(f"{self.algorithm} state lacks arrays {missing}", value=missing)
        for name, value in state["arrays"].items():
            setattr(self, name, np.array(value, dtype=np.asarray(current[name]).dtype, copy=True))

    def save(self, path: str | Path, *, provenance: dict[str, Any] | None = None) -> None:
        """Write a ``"bandit"`` tuner file (arrays as tensors, the rest as JSON)."""
        state = self.state_dict()
        arrays = state.pop("arrays")
        save_tuner_file(path, "bandit", {**state, "provenance": provenance or {}}, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Bandit":
        """Load any bandit file (the class is taken from the file when called on :class:`Bandit`)."""
        from tunegym.agents.bandits import BANDITS

        _, meta, arrays = load_tuner_file(path, expect_kind="bandit")
        algorithm = meta.get("algorithm")
        if algorithm not in BANDITS:
            raise CheckpointError(f"{str(path)!r} holds an unknown bandit {algorithm!r}", value=algorithm)
        klass = BANDITS[algorithm]
        if cls is not Bandit and klass is not cls:
            raise CheckpointError(f"{str(path)!r} holds a {algorithm!r} bandit, not {cls.algorithm!r}")
        try:
            bandit = klass(
                meta["n_arms"], meta["config"], seed=meta.get("seed"),
                context_low=meta.get("context_low"), context_high=meta.get("context_high"),
            )
            bandit.load_state_dict({**meta, "arrays": arrays})
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} has a malformed bandit state: {exc}", value=str(path)) from exc
        bandit.provenance = meta.get("provenance", {})
        return bandit

    # ---- hooks -------------------------------------------------------------------------------------------
    def _features(self, context: Any) -> np.ndarray | None:
        return None if self.scaler is None else self.scaler(context)

    def _init_state(self) -> None:
        raise NotImplementedError

    def _select(self, features: np.ndarray | None) -> int:
        raise NotImplementedError

    def _greedy(self, features: np.ndarray | None) -> int:
        raise NotImplementedError

    def _update(self, features: np.ndarray | None, arm: int, reward: float) -> None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _argmax(self, values: np.ndarray) -> int:
        """Argmax with random tie-breaking from the bandit's own RNG."""
        best = np.flatnonzero(values == np.max(values))
        return int(best[0] if best.size == 1 else self.rng.choice(best))
