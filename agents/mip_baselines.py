"""The MIP LNS baselines as agents, for ``tunegym eval`` and every table built by ``tuning.evaluation``.

Each is a ``factory(env) -> policy`` bound to an LNS env (``tunegym/MIPLNS-v0``, ``MIPLNSRate-v0``) and answers
``predict(observation)`` like any agent:

- :class:`RandomOperator`: a uniformly random knob value each step (seeded by the instance id);
- :func:`best_single_operator`: crossover always (the best single operator on the hardest family, auction,
  in ``benchmarks/mip.md``), at destroy rate 0.5 in the rate env;
- :class:`BalansSoftmax`: Balans's best tuned policy, the ``softmax`` bandit over the graded rewards
  [8, 4, 2, 1], learning online from each step record of the episode (a fresh bandit per instance).

HiGHS on the full model is not here: it makes no LNS decisions, so it cannot run through the env's
decision loop; ``tunegym bench mip`` compares it at equal wall time.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.agents.baselines import FixedKnob
from tunegym.envs.core.rewards import make_reward
from tunegym.envs.core.instance_stream import instance_id, instance_seed
from tunegym.envs.mip.env import BALANS_REWARDS

__all__ = ["RandomOperator", "BalansSoftmax", "best_single_operator", "BEST_SINGLE_OPERATOR"]

BEST_SINGLE_OPERATOR = "crossover"


class _PerEpisode:
    """Bound to an LNS env; rebuilds its state when a new instance starts."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.knob = self.env.knob
        self._episode: str | None = None

    def learn(self, env: gym.Env | None = None, total_timesteps: int = 0, **kwargs: Any) -> "_PerEpisode":
        """Nothing to learn ahead of time; present so baselines run wherever agents do."""
        return self

    def _new_episode(self) -> bool:
        key = instance_id(self.env.instance)
        if self.env.last_record is None or key != self._episode:
            self._episode = key
            return True
        return False


class RandomOperator(_PerEpisode):
    """A uniformly random knob value (operator, or operator x rate) each step, drawn from the instance's seed."""

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        if self._new_episode():
            self.rng = np.random.default_rng(instance_seed(self.env.instance, "random-operator"))
        return int(self.rng.integers(self.knob.space.n)), state


def best_single_operator(env: gym.Env) -> FixedKnob:
    """Crossover at every step (rate 0.5 where the env also sets the rate)."""
    base = env.unwrapped
    value: Any = BEST_SINGLE_OPERATOR
    if getattr(base, "action_kind", "operator") == "operator_rate":
        value = {"operator": BEST_SINGLE_OPERATOR, "destroy_rate": 0.5}
    return FixedKnob(env, value)


class BalansSoftmax(_PerEpisode):
    """Balans's Softmax bandit over graded rewards ``levels``, learning online within each episode.

    The reward of each step is ``"mip.graded"`` of the env's last step record (whatever reward the env pays
    its agent), exactly as :class:`~tunegym.agents.LNSSolver`'s default tuner learns.
    """

    def __init__(self, env: gym.Env, levels: tuple[float, ...] = BALANS_REWARDS, tau: float = 1.0) -> None:
        super().__init__(env)
        self.reward = make_reward("mip.graded", {"levels": list(levels)})
        self.tau = float(tau)
        self._pending: tuple[Any, int] | None = None

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        from tunegym.agents.bandits import Softmax

        if self._new_episode():
            self.bandit = Softmax(int(self.knob.space.n), {"tau": self.tau},
                                  seed=instance_seed(self.env.instance, "balans-softmax"))
            self._pending = None
        record = self.env.last_record
        if self._pending is not None and record is not None:
            context, arm = self._pending
            self.bandit.update(context, arm, self.reward(record))
        arm = self.bandit.select(observation)
        self._pending = (observation, arm)
        return arm, state
