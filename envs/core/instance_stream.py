"""The one reset path: where an env's next instance comes from.

:class:`InstanceStream` draws instances from a distribution on a stream derived from the reset seed, or
replays the instance a caller passes as ``reset(options={"instance": inst})``. A replayed instance also fixes
what follows it (a sequence env's later systems continue on a stream derived from the instance's id), so the
same instance and the same actions give the same trajectory whatever the reset seed: every per-episode
random draw (initial weights, minibatch order, LNS draws, ODE parameters) is part of the instance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.seeding import stream

__all__ = ["InstanceStream", "instance_id", "instance_seed"]


def instance_id(instance: Any) -> str:
    """The stable id of an instance (``id``, or the older ``instance_id``)."""
    value = getattr(instance, "id", None) or getattr(instance, "instance_id", None)
    if not value:
        raise ConfigError(f"{type(instance).__name__} carries no stable id", value=instance)
    return str(value)


def instance_seed(instance: Any, purpose: str = "instance") -> int:
    """A 63-bit seed derived from an instance's id (and a purpose), the same on every machine."""
    digest = hashlib.blake2b(f"{instance_id(instance)}|{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class InstanceStream:
    """Instances for an env: drawn from ``distribution`` by seed, or replayed from ``options["instance"]``.

    ``instance_type`` (a class or tuple) is checked on replayed instances, so a wrong object fails at
    ``reset`` with a one-line :class:`ConfigError` instead of deep inside the process.
    """

    def __init__(self, distribution: Any, instance_type: type | tuple[type, ...] | None = None) -> None:
        if not hasattr(distribution, "sequence") and not hasattr(distribution, "sample"):
            raise ConfigError(f"{type(distribution).__name__} is not a distribution (no sample/sequence)",
                              value=distribution)
        self.distribution = distribution
        self.instance_type = instance_type
        self._draws: Iterator[Any] | None = None
        self.current: Any = None

    def _sequence(self, rng: np.random.Generator) -> Iterator[Any]:
        if hasattr(self.distribution, "sequence"):
            return iter(self.distribution.sequence(rng))
        return iter(lambda: self.distribution.sample(rng), None)

    def reset(self, seed: int | None, options: dict[str, Any] | None, np_random: np.random.Generator) -> Any:
        """The first instance of an episode.

        ``seed`` restarts the stream (``stream(seed, "instances")``, independent of the agent's and the env's
        other randomness); without one the stream continues, and a first reset without a seed draws it from
        ``np_random``. ``options["instance"]`` replays that instance and continues after it on a stream derived
        from its id.
        """
        replay = (options or {}).get("instance")
        if replay is not None:
            if self.instance_type is not None and not isinstance(replay, self.instance_type):
                expected = getattr(self.instance_type, "__name__", None) or " or ".join(
                    t.__name__ for t in self.instance_type)  # type: ignore[union-attr]
                raise ConfigError(f"options['instance'] must be a {expected}, got {type(replay).__name__}",
                                  value=replay)
            self._draws = self._sequence(np.random.default_rng(instance_seed(replay, "continuation")))
            self.current = replay
            return replay
        if seed is not None or self._draws is None:
            rng = stream(seed, "instances") if seed is not None else np.random.default_rng(np_random.integers(2**63))
            self._draws = self._sequence(rng)
        return self.next()

    def next(self) -> Any:
        """The following instance of the stream (a sequence env's next system)."""
        if self._draws is None:
            raise ConfigError("call reset() before drawing instances")
        try:
            self.current = next(self._draws)
        except StopIteration:
            raise ConfigError(f"{type(self.distribution).__name__} has no more instances") from None
        return self.current
