"""Training paths for the PettingZoo envs: independent learners, and single-agent views for comparison.

- :class:`IndependentLearners`: one learner per knob (any registered agent that learns online through
  ``select(context) -> arm`` / ``update(context, arm, reward)``, i.e. the bandits), each seeing only its own
  observation and the shared reward.
- :class:`JointActionEnv`: the whole ``ParallelEnv`` as one ``gymnasium.Env`` with a ``MultiDiscrete`` action
  (one entry per knob) and the agents' observations concatenated: "one agent sets all knobs" for PPO/A2C.
- :class:`SharedKnobEnv`: one discrete action applied to every knob; the baseline a per-knob split must beat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.agents.registry import make_agent
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.seeding import spawn_seeds

__all__ = ["IndependentLearners", "JointActionEnv", "SharedKnobEnv"]


class _SpacesOnly(gym.Env):
    """A stand-in env carrying one agent's spaces, so single-agent factories can build a learner for it."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        raise NotImplementedError("a spaces-only view cannot be stepped; use the parallel env")

    def step(self, action: Any):
        raise NotImplementedError("a spaces-only view cannot be stepped; use the parallel env")


class IndependentLearners:
    """One online learner per agent of a ``ParallelEnv``; each learns from its own observation and reward."""

    def __init__(self, env: ParallelEnv, agent: str, config: dict[str, Any] | None = None, *, seed: int = 0) -> None:
        seeds = spawn_seeds(seed, len(env.possible_agents), name="independent-learners")
        self.learners = {}
        for name, agent_seed in zip(env.possible_agents, seeds):
            view = _SpacesOnly(env.observation_space(name), env.action_space(name))
            learner = make_agent(agent, view, config or {}, seed=agent_seed, device="cpu")
            if not (hasattr(learner, "select") and hasattr(learner, "update")):
                raise ConfigError(
                    f"agent {agent!r} does not learn online (needs select/update); use a bandit, or train one "
                    "agent on JointActionEnv", value=agent,
                )
            self.learners[name] = learner

    def learn(self, env: ParallelEnv, total_steps: int, *, seed: int | None = None) -> "IndependentLearners":
        """Play ``total_steps`` joint steps, each learner updating from its own observation and reward."""
        observations, _ = env.reset(seed=seed)
        for _ in range(int(total_steps)):
            actions = {name: int(self.learners[name].select(observations[name])) for name in env.agents}
            next_obs, rewards, terminations, truncations, _ = env.step(actions)
            for name, action in actions.items():
                self.learners[name].update(observations[name], action, float(rewards[name]))
            observations = next_obs
            if not env.agents:
                observations, _ = env.reset()
        return self

    def predict(self, observations: dict[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        return {
            name: self.learners[name].predict(obs, deterministic=deterministic)[0]
            for name, obs in observations.items()
        }

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for name, learner in self.learners.items():
            learner.save(directory / f"{name}.pt")


class JointActionEnv(gym.Env):
    """A ``ParallelEnv`` seen as one agent: ``MultiDiscrete`` action over the knobs, concatenated observations.

    The reward is the mean of the agents' rewards (equal to each of them in cooperative envs).
    """

    metadata = {"render_modes": []}

    def __init__(self, parallel_env: ParallelEnv) -> None:
        self.parallel_env = parallel_env
        self.names = list(parallel_env.possible_agents)
        action_spaces = [parallel_env.action_space(name) for name in self.names]
        if not all(isinstance(space, spaces.Discrete) for space in action_spaces):
            raise ConfigError("JointActionEnv needs discrete knobs (action='discrete')", value=action_spaces)
        self.action_space = spaces.MultiDiscrete([space.n for space in action_spaces])
        obs_spaces = [parallel_env.observation_space(name) for name in self.names]
        self.observation_space = spaces.Box(
            np.concatenate([s.low for s in obs_spaces]).astype(np.float32),
            np.concatenate([s.high for s in obs_spaces]).astype(np.float32),
            dtype=np.float32,
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        observations, infos = self.parallel_env.reset(seed=seed, options=options)
        return self._concat(observations), infos.get(self.names[0], {})

    def step(self, action: Any):
        actions = {name: int(a) for name, a in zip(self.names, np.asarray(action).reshape(-1))}
        observations, rewards, terminations, truncations, infos = self.parallel_env.step(actions)
        reward = float(np.mean([rewards[name] for name in self.names]))
        return (
            self._concat(observations),
            reward,
            any(terminations.values()),
            any(truncations.values()),
            infos.get(self.names[0], {}),
        )

    def _concat(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(observations[name], dtype=np.float32) for name in self.names])


class SharedKnobEnv(JointActionEnv):
    """One ``Discrete`` action applied to every knob (e.g. one ω for all blocks)."""

    def __init__(self, parallel_env: ParallelEnv) -> None:
        super().__init__(parallel_env)
        sizes = set(int(n) for n in self.action_space.nvec)
        if len(sizes) != 1:
            raise ConfigError("SharedKnobEnv needs every knob to have the same arms", value=sorted(sizes))
        self.action_space = spaces.Discrete(sizes.pop())

    def step(self, action: Any):
        return super().step(np.full(len(self.names), int(np.asarray(action).reshape(()))))
