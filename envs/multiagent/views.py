"""Single-agent views of a PettingZoo ``ParallelEnv``: "one agent sets all knobs", for comparison and for SB3.

- :class:`JointActionEnv`: the whole ``ParallelEnv`` as one ``gymnasium.Env``; the action holds one entry per
  knob (``MultiDiscrete`` when every knob is discrete, a concatenated ``Box`` when every knob is continuous)
  and the observation is the agents' observations concatenated in ``possible_agents`` order.
- :class:`FlatJointEnv`: one ``Discrete`` action over all combinations of the knobs' arms, so a single
  bandit can set every knob.
- :class:`SharedKnobEnv`: one ``Discrete`` action applied to every knob (e.g. one ω for all blocks): the
  baseline a per-knob split must beat.

:func:`make_view` builds either from a multi-agent id; ``tunegym.agents.deeprl.envs.make_env`` uses it, so
``tunegym train --env tunegym/BlockSOR-v0 --agent ppo`` trains one SB3 policy on the joint view.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ActionError, ConfigError

__all__ = ["FlatJointEnv", "JointActionEnv", "SharedKnobEnv", "VIEWS", "make_view"]


class JointActionEnv(gym.Env):
    """A ``ParallelEnv`` seen as one agent that sets every knob at once.

    The reward is the mean of the agents' rewards (equal to each of them in tunegym's cooperative envs);
    the episode ends when any agent's does. ``info`` is the first agent's (the process's shared info).
    """

    metadata = {"render_modes": []}

    def __init__(self, parallel_env: ParallelEnv) -> None:
        self.parallel_env = parallel_env
        self.names = list(parallel_env.possible_agents)
        action_spaces = [parallel_env.action_space(name) for name in self.names]
        if all(isinstance(space, spaces.Discrete) for space in action_spaces):
            self.action_space = spaces.MultiDiscrete([int(space.n) for space in action_spaces])
            self._splits = None
        elif all(isinstance(space, spaces.Box) for space in action_spaces):
            self.action_space = spaces.Box(
                np.concatenate([s.low.reshape(-1) for s in action_spaces]).astype(np.float32),
                np.concatenate([s.high.reshape(-1) for s in action_spaces]).astype(np.float32),
                dtype=np.float32,
            )
            self._splits = np.cumsum([int(np.prod(s.shape)) for s in action_spaces])[:-1]
            self._shapes = [s.shape for s in action_spaces]
        else:
            kinds = sorted({type(space).__name__ for space in action_spaces})
            raise ConfigError(f"JointActionEnv needs all knobs discrete or all continuous, got {kinds}", value=kinds)
        obs_spaces = [parallel_env.observation_space(name) for name in self.names]
        if not all(isinstance(space, spaces.Box) for space in obs_spaces):
            raise ConfigError("JointActionEnv needs Box observations for every agent", value=obs_spaces)
        self.observation_space = spaces.Box(
            np.concatenate([s.low.reshape(-1) for s in obs_spaces]).astype(np.float32),
            np.concatenate([s.high.reshape(-1) for s in obs_spaces]).astype(np.float32),
            dtype=np.float32,
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        observations, infos = self.parallel_env.reset(seed=seed, options=options)
        return self._concat(observations), dict(infos.get(self.names[0], {}))

    def step(self, action: Any):
        observations, rewards, terminations, truncations, infos = self.parallel_env.step(self._split(action))
        reward = float(np.mean([rewards[name] for name in self.names if name in rewards]))
        return (
            self._concat(observations),
            reward,
            any(terminations.values()),
            any(truncations.values()),
            dict(infos.get(self.names[0], {})),
        )

    def close(self) -> None:
        self.parallel_env.close()

    def split_observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """The per-agent observations a joint observation was concatenated from."""
        flat = np.asarray(observation, dtype=np.float32).reshape(-1)
        sizes = [int(np.prod(self.parallel_env.observation_space(name).shape)) for name in self.names]
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        return {name: part.reshape(self.parallel_env.observation_space(name).shape)
                for name, part in zip(self.names, parts)}

    def join_actions(self, actions: dict[str, Any]) -> np.ndarray:
        """The joint action for per-agent ``actions`` (the inverse of the split :meth:`step` applies)."""
        missing = [name for name in self.names if name not in actions]
        if missing:
            raise ActionError(f"actions missing for agents {missing}", value=missing)
        if self._splits is None:
            return np.array([int(np.asarray(actions[name]).reshape(())) for name in self.names], dtype=np.int64)
        return np.concatenate([np.asarray(actions[name], dtype=np.float32).reshape(-1) for name in self.names])

    def _split(self, action: Any) -> dict[str, Any]:
        flat = np.asarray(action).reshape(-1)
        if self._splits is None:
            if flat.size != len(self.names):
                raise ActionError(f"joint action needs {len(self.names)} entries, got {flat.size}", value=action)
            return {name: int(a) for name, a in zip(self.names, flat)}
        parts = np.split(flat.astype(np.float32), self._splits)
        if sum(part.size for part in parts) != int(self.action_space.shape[0]):
            raise ActionError(f"joint action needs {self.action_space.shape[0]} entries, got {flat.size}",
                              value=action)
        return {name: part.reshape(shape) for name, part, shape in zip(self.names, parts, self._shapes)}

    def _concat(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        if not observations:  # every agent gone: a terminal observation of zeros of the right shape
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        return np.concatenate([np.asarray(observations[name], dtype=np.float32).reshape(-1) for name in self.names])


class SharedKnobEnv(JointActionEnv):
    """One ``Discrete`` action applied to every knob (e.g. one ω for all blocks)."""

    def __init__(self, parallel_env: ParallelEnv) -> None:
        super().__init__(parallel_env)
        if self._splits is not None:
            raise ConfigError("SharedKnobEnv needs discrete knobs", value=self.action_space)
        sizes = set(int(n) for n in self.action_space.nvec)
        if len(sizes) != 1:
            raise ConfigError("SharedKnobEnv needs every knob to have the same arms", value=sorted(sizes))
        self.action_space = spaces.Discrete(sizes.pop())

    def step(self, action: Any):
        return super().step(np.full(len(self.names), int(np.asarray(action).reshape(()))))


class FlatJointEnv(JointActionEnv):
    """One ``Discrete`` action over every combination of the knobs' arms (for bandits, which need ``Discrete``).

    Arm ``a`` decodes in ``possible_agents`` order with the last agent's arm varying fastest
    (``numpy.unravel_index``). Refused above ``max_arms`` combinations, where a flat bandit cannot learn.
    """

    def __init__(self, parallel_env: ParallelEnv, max_arms: int = 4096) -> None:
        super().__init__(parallel_env)
        if self._splits is not None:
            raise ConfigError("FlatJointEnv needs discrete knobs", value=self.action_space)
        self._nvec = tuple(int(n) for n in self.action_space.nvec)
        total = int(np.prod(self._nvec))
        if total > max_arms:
            raise ConfigError(f"{total} joint arms ({' x '.join(map(str, self._nvec))}) exceed max_arms={max_arms}; "
                              "use the 'joint' view with an SB3 agent", value=total)
        self.action_space = spaces.Discrete(total)

    def step(self, action: Any):
        arm = np.asarray(action).reshape(-1)
        if arm.size != 1 or not 0 <= int(arm[0]) < self.action_space.n:
            raise ActionError(f"flat joint arm must be in 0..{self.action_space.n - 1}, got {action!r}", value=action)
        return super().step(np.array(np.unravel_index(int(arm[0]), self._nvec)))

    def join_actions(self, actions: dict[str, Any]) -> np.ndarray:
        return np.array(np.ravel_multi_index(tuple(super().join_actions(actions)), self._nvec))


#: view name -> class; ``make_env(multiagent_id, multiagent_view=NAME)`` picks one
VIEWS: dict[str, type[JointActionEnv]] = {"joint": JointActionEnv, "flat": FlatJointEnv, "shared": SharedKnobEnv}


def make_view(env_id: str, view: str = "joint", **env_kwargs: Any) -> JointActionEnv:
    """The single-agent ``view`` (``"joint"``, ``"flat"`` or ``"shared"``) of multi-agent env ``env_id``."""
    from tunegym.envs.multiagent import make

    if view not in VIEWS:
        raise ConfigError(f"unknown multi-agent view {view!r}; choices: {sorted(VIEWS)}", value=view)
    return VIEWS[view](make(env_id, **env_kwargs))
