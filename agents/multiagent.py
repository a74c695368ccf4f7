"""Training paths for the PettingZoo envs: independent learners, and single-agent views for comparison.

- :class:`IndependentLearners`: one learner per knob (any registered agent that learns online through
  ``select(context) -> arm`` / ``update(context, arm, reward)``, i.e. the bandits), each seeing only its own
  observation and the shared reward. Saved as ONE tuner file of kind ``"independent-learners"`` (each
  learner's state under its agent name), so ``load_tuner`` gives it back and ``predict`` deploys it.
- :class:`JointActionEnv` / :class:`SharedKnobEnv` (defined in :mod:`tunegym.envs.multiagent.views`): the
  whole ``ParallelEnv`` as one ``gymnasium.Env``; "one agent sets all knobs", for PPO/A2C or one bandit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.core.seeding import spawn_seeds
from tunegym.envs.multiagent.views import JointActionEnv, SharedKnobEnv

__all__ = ["IndependentLearners", "JointActionEnv", "ParameterSharing", "SharedKnobEnv"]

KIND = "independent-learners"
SHARED = "__shared__"


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

    sharing = False

    def __init__(self, env: ParallelEnv, agent: str, config: dict[str, Any] | None = None, *, seed: int = 0) -> None:
        self.agent, self.config, self.seed = agent, dict(config or {}), int(seed)
        seeds = spawn_seeds(seed, len(env.possible_agents), name="independent-learners")
        self.learners: dict[str, Any] = {}
        for name, agent_seed in zip(env.possible_agents, seeds):
            view = _SpacesOnly(env.observation_space(name), env.action_space(name))
            learner = make_agent(agent, view, self.config, seed=agent_seed, device="cpu")
            if not (hasattr(learner, "select") and hasattr(learner, "update")):
                raise ConfigError(
                    f"agent {agent!r} does not learn online (needs select/update); use a bandit, or train one "
                    "agent on JointActionEnv (tunegym train --multiagent joint)", value=agent,
                )
            self.learners[name] = learner
        self.provenance: dict[str, Any] = {}

    def _context(self, name: str, observation: Any) -> Any:
        """What learner ``name`` sees of its observation (its own observation here)."""
        return observation

    def learn(self, env: ParallelEnv, total_steps: int, *, seed: int | None = None,
              callback: Callable[[dict[str, Any]], None] | None = None) -> "IndependentLearners":
        """Play ``total_steps`` joint steps, each learner updating from its own observation and reward.

        ``callback(info)`` is called after every joint step with the first agent's info (the shared process
        info, e.g. ``info["cost"]``), for progress bars and logging.
        """
        missing = [name for name in env.possible_agents if name not in self.learners]
        if missing:
            raise ConfigError(f"env has agents {missing} these learners were not built for", value=missing)
        observations, _ = env.reset(seed=seed)
        for _ in range(int(total_steps)):
            contexts = {name: self._context(name, observations[name]) for name in env.agents}
            actions = {name: int(self.learners[name].select(contexts[name])) for name in env.agents}
            next_obs, rewards, terminations, truncations, infos = env.step(actions)
            for name, action in actions.items():
                self.learners[name].update(contexts[name], action, float(rewards[name]))
            if callback is not None and infos:
                callback(next(iter(infos.values())))
            observations = next_obs
            if not env.agents:
                observations, _ = env.reset()
        return self

    def predict(self, observations: dict[str, np.ndarray], deterministic: bool = True) -> dict[str, Any]:
        """Each agent's action for its observation (greedy when ``deterministic``)."""
        unknown = [name for name in observations if name not in self.learners]
        if unknown:
            raise ConfigError(f"no learner for agents {unknown}; known: {sorted(self.learners)}", value=unknown)
        return {
            name: self.learners[name].predict(self._context(name, obs), deterministic=deterministic)[0]
            for name, obs in observations.items()
        }

    def save(self, path: str | Path, *, provenance: dict[str, Any] | None = None) -> None:
        """Write one ``"independent-learners"`` tuner file (atomically) holding every learner's state."""
        meta: dict[str, Any] = {"agent": self.agent, "config": self.config, "seed": self.seed,
                                "provenance": provenance or self.provenance, "learners": {},
                                "sharing": self.sharing, "agents": list(self.learners)}
        arrays: dict[str, Any] = {}
        stored = {SHARED: self.learners[next(iter(self.learners))]} if self.sharing else self.learners
        for name, learner in stored.items():
            state = learner.state_dict()
            learner_arrays = state.pop("arrays")
            meta["learners"][name] = state
            arrays.update({f"{name}/{key}": value for key, value in learner_arrays.items()})
        save_tuner_file(path, KIND, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "IndependentLearners":
        """Load a file written by :meth:`save`; foreign or malformed files raise :class:`CheckpointError`."""
        from tunegym.agents.bandits import BANDITS

        _, meta, arrays = load_tuner_file(path, expect_kind=KIND)
        if cls is IndependentLearners and meta.get("sharing"):
            cls = ParameterSharing
        self = cls.__new__(cls)
        try:
            self.agent, self.config, self.seed = meta["agent"], dict(meta["config"]), int(meta["seed"])
            self.provenance = meta.get("provenance", {})
            self.learners = {}
            for name, state in meta["learners"].items():
                algorithm = state.get("algorithm")
                if algorithm not in BANDITS:
                    raise CheckpointError(f"{str(path)!r}: agent {name!r} holds unknown learner {algorithm!r}",
                                          value=algorithm)
                learner = BANDITS[algorithm](state["n_arms"], state["config"], seed=state.get("seed"),
                                             context_low=state.get("context_low"),
                                             context_high=state.get("context_high"))
                prefix = f"{name}/"
                own = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
                learner.load_state_dict({**state, "arrays": own})
                self.learners[name] = learner
            if self.sharing:
                shared = self.learners.pop(SHARED)
                self.learners = {name: shared for name in meta["agents"]}
                self.n_agents = len(self.learners)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} has a malformed independent-learners state: {exc}",
                                  value=str(path)) from exc
        return self


class ParameterSharing(IndependentLearners):
    """ONE online learner for all agents (SuperSuit-style parameter sharing), for agents with identical spaces.

    Each agent's context is its observation followed by a one-hot of its index, so the shared learner can
    still act differently per agent while learning from every agent's samples (``n_agents`` times the data
    of an independent learner). Saved in the same file kind as :class:`IndependentLearners`.
    """

    sharing = True

    def __init__(self, env: ParallelEnv, agent: str, config: dict[str, Any] | None = None, *, seed: int = 0) -> None:
        names = list(env.possible_agents)
        obs_spaces = [env.observation_space(name) for name in names]
        act_spaces = [env.action_space(name) for name in names]
        if any(space != act_spaces[0] for space in act_spaces) or any(
                not isinstance(space, spaces.Box) or space.shape != obs_spaces[0].shape for space in obs_spaces):
            raise ConfigError("parameter sharing needs every agent to have the same action space and Box "
                              "observations of one shape", value=names)
        self.n_agents = len(names)
        low = np.concatenate([obs_spaces[0].low.reshape(-1), np.zeros(self.n_agents)]).astype(np.float32)
        high = np.concatenate([obs_spaces[0].high.reshape(-1), np.ones(self.n_agents)]).astype(np.float32)
        stand_in = _OneSpace(spaces.Box(low, high, dtype=np.float32), act_spaces[0], names)
        super().__init__(stand_in, agent, config, seed=seed)
        shared = self.learners[names[0]]
        self.learners = {name: shared for name in names}

    def _context(self, name: str, observation: Any) -> Any:
        one_hot = np.zeros(self.n_agents, dtype=np.float32)
        one_hot[list(self.learners).index(name)] = 1.0
        return np.concatenate([np.asarray(observation, dtype=np.float32).reshape(-1), one_hot])


class _OneSpace:
    """Just enough of a ``ParallelEnv`` (names and one pair of spaces) to build one shared learner."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, names: list[str]) -> None:
        self.possible_agents = names[:1]
        self._spaces = (observation_space, action_space)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._spaces[0]

    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[1]
