"""``ProcessEnv``: the Gymnasium env every tunegym domain is, a thin driver around one process.

An env is a :class:`~tunegym.envs.core.process.Process` (the real algorithm), a
:class:`~tunegym.envs.core.knob.Knob` (action ↔ knob value), :class:`~tunegym.envs.core.features.Features`
(state → observation), a named reward (:mod:`tunegym.envs.core.rewards`) and an
:class:`~tunegym.envs.core.instance_stream.InstanceStream` (where instances come from). A domain subclasses it to
give its class docstring (Gymnasium's sections), its defaults and its ``domain`` name; the reset/step logic
lives here once.

Two episode shapes:
- ``sequence=False``: one instance per episode; the episode ends when the process does
  (``terminated`` for a natural end or a defined failure state, ``truncated`` for a cap).
- ``sequence=True``: the Learning to Relax setting; each instance is one process run (one solve), and the
  episode goes on with the next instance of the stream; a time limit truncates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features
from tunegym.envs.core.knob import Knob
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import make_reward
from tunegym.envs.core.instance_stream import InstanceStream

__all__ = ["ProcessEnv"]


class ProcessEnv(gym.Env):
    """A Gymnasium env over a process: observation from features, action through a knob, reward by name.

    ## Info
    Every step's ``info`` is :meth:`StepRecord.info`: ``cost`` (deterministic count), ``cost_unit``,
    ``knob`` (value applied), ``instance_id``, ``quality`` (and under its own name), ``status`` and the
    domain's extra figures. ``reset`` returns ``{"instance_id": ...}``.

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream from ``s``; ``reset(options={"instance": inst})`` replays
    ``inst`` (same first observation and, for the same actions, the same trajectory, whatever the seed).
    The current instance is ``env.unwrapped.instance``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    #: the domain name a tuner of this env records (``"sor"``, ``"timestep"``, ``"lr"``, ``"mip"``, ...)
    domain: ClassVar[str] = "generic"

    def __init__(self, process: Process, distribution: Any, knob: Knob, features: Features, *,
                 reward: str = "neg_cost", reward_params: Mapping[str, Any] | None = None,
                 sequence: bool = False, horizon: int | None = None,
                 instance_type: type | tuple[type, ...] | None = None) -> None:
        if horizon is not None and int(horizon) < 1:
            raise ConfigError(f"horizon must be >= 1 decisions, got {horizon!r}", value=horizon)
        self.process, self.knob, self.features = process, knob, features
        self.instances = InstanceStream(distribution, instance_type)
        self.distribution = distribution
        self.reward_name, self.reward_params = reward, dict(reward_params or {})
        self.reward_fn = make_reward(reward, self.reward_params)
        self.sequence, self.horizon = bool(sequence), None if horizon is None else int(horizon)
        self.action_space = knob.space
        self.observation_space = features.space
        self.last_record: StepRecord | None = None
        self._decisions = 0
        self._started = False

    # -- Gymnasium API -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        instance = self.instances.reset(seed, options, self.np_random)
        self._start(instance)
        self._decisions = 0
        self.last_record = None
        return self.features.observation(self.process), {"instance_id": self._instance_id()}

    def step(self, action: Any):
        if not self._started:
            raise ConfigError("call reset() before step()")
        if self.process.done and not self.sequence:
            raise ConfigError("the episode has ended; call reset()")
        value = self.knob.decode(action)
        record = self.process.advance(value)
        self.last_record = record
        self.features.record(self.process, record)
        reward = float(self.reward_fn(record))
        self._decisions += 1
        terminated = truncated = False
        if self.sequence:
            if self.process.done:
                self._start(self.instances.next())
        else:
            terminated = bool(record.terminated)
            truncated = bool(record.truncated) and not terminated
        if self.horizon is not None and self._decisions >= self.horizon and not terminated:
            truncated = True
        return self.features.observation(self.process), reward, terminated, truncated, record.info()

    def close(self) -> None:
        self.process.close()
        super().close()

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def instance(self) -> Any:
        """The instance the next decision is about (a sequence env's next system)."""
        return self.process.instance

    def _instance_id(self) -> str:
        from tunegym.envs.core.instance_stream import instance_id

        return instance_id(self.process.instance)

    def _start(self, instance: Any) -> None:
        self.process.start(instance)
        self.features.reset(self.process)
        self._started = True

    def tuner_config(self) -> dict[str, Any]:
        """What a tuner trained here must store to act as this env's policy acts (see ``tunegym.agents.Tuner``)."""
        return {"domain": self.domain, "knob": self.knob.to_dict(), "features": self.features.config(),
                "reward": {"name": self.reward_name, "params": dict(self.reward_params)}}

    def sibling(self) -> "ProcessEnv":
        """A fresh env of the same spec (id and kwargs), for oracles that replay the current instance."""
        spec = self.spec
        if spec is None:
            raise ConfigError(f"{type(self).__name__} was not built with gym.make; oracles need its registered id")
        return gym.make(spec.id, **dict(spec.kwargs)).unwrapped  # type: ignore[return-value]
