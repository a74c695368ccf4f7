"""Knobs: the one mapping between an agent's action and the value a process is run with.

Every env's action space, every tuner's output and every multi-agent view's per-agent space come from a
:class:`Knob`, so an action means the same thing in training, in evaluation and in deployment.

- :class:`ArmKnob`: a finite grid of arms (numbers, names or tuples), ``Discrete(n)``.
- :class:`BoxKnob`: a linear or log interval, exposed as the symmetric, normalised ``Box(-1, 1)`` that
  stable-baselines3 expects (its ``check_env`` warns on un-normalised boxes); ``decode`` maps it to the
  physical range and clips.
- :class:`CompositeKnob`: several arm knobs set together (LNS operator × destroy rate), as one flat
  ``Discrete`` index (the last part varies fastest) or, for multi-agent views, one part per agent.

``decode(action)`` raises :class:`~tunegym.envs.core.errors.ActionError` for an action outside the space
(a bad index, NaN); ``encode(value)`` gives the action closest to a value; ``to_dict``/``knob_from_dict``
round-trip a knob through a tuner file's JSON.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ActionError, ConfigError

__all__ = ["Knob", "ArmKnob", "BoxKnob", "CompositeKnob", "knob_from_dict", "arm_index"]


def arm_index(action: Any, n: int) -> int:
    """The integer arm index an action names; :class:`ActionError` unless it is an integer in ``0..n-1``."""
    if type(action) is int and 0 <= action < n:  # what the bandits return: skip the array round trip
        return action
    arr = np.asarray(action)
    if arr.size != 1 or arr.dtype.kind in "bUSO":  # True or "1" is no arm index (float("1") would accept it)
        raise ActionError(f"a discrete action must be one integer arm index, got {action!r}", value=action)
    value = arr.reshape(())
    if np.issubdtype(arr.dtype, np.integer):
        index = int(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ActionError(f"a discrete action must be an integer arm index, got {action!r}", value=action) from None
        if not math.isfinite(number) or number != int(number):
            raise ActionError(f"a discrete action must be an integer arm index, got {action!r}", value=action)
        index = int(number)
    if not 0 <= index < n:
        raise ActionError(f"arm index {index} outside 0..{n - 1}", value=index)
    return index


class Knob(ABC):
    """A tunable parameter of a process and its action space."""

    name: str
    space: spaces.Space

    @abstractmethod
    def decode(self, action: Any) -> Any:
        """The value an action applies (clipped into range); :class:`ActionError` for an invalid action."""

    @abstractmethod
    def encode(self, value: Any) -> Any:
        """The action whose decoded value is closest to ``value``."""

    @abstractmethod
    def grid(self, count: int = 10) -> list[Any]:
        """Candidate values for baselines and oracles: every arm, or ``count`` points of an interval."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON description that :func:`knob_from_dict` turns back into an equal knob."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Knob) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()})"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


class ArmKnob(Knob):
    """A finite set of arms: ``Discrete(len(arms))``, action ``i`` applies ``arms[i]``."""

    def __init__(self, name: str, arms: Sequence[Any]) -> None:
        arms = tuple(_plain(a) for a in arms)
        if not arms:
            raise ConfigError(f"knob {name!r} needs at least one arm", value=arms)
        numeric = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arms)
        if numeric and not all(math.isfinite(a) for a in arms):
            raise ConfigError(f"knob {name!r}: arms must be finite, got {arms!r}", value=arms)
        self.name = name
        self.arms = tuple(float(a) for a in arms) if numeric else arms
        self.numeric = numeric
        self.space = spaces.Discrete(len(self.arms))

    @property
    def n(self) -> int:
        return len(self.arms)

    def decode(self, action: Any) -> Any:
        return self.arms[arm_index(action, self.n)]

    def encode(self, value: Any) -> int:
        if self.numeric:
            try:
                target = float(value)
            except (TypeError, ValueError):
                raise ActionError(f"knob {self.name!r} takes a number, got {value!r}", value=value) from None
            return int(np.argmin(np.abs(np.asarray(self.arms) - target)))
        value = _plain(value)
        if value not in self.arms:
            raise ActionError(f"{value!r} is not an arm of knob {self.name!r}: {self.arms}", value=value)
        return self.arms.index(value)

    def grid(self, count: int = 10) -> list[Any]:
        return list(self.arms)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "arms", "name": self.name, "arms": [list(a) if isinstance(a, tuple) else a for a in self.arms]}


class BoxKnob(Knob):
    """An interval ``[low, high]`` (``scale="log"``: uniform in log10), exposed as ``Box(-1, 1, (1,))``.

    ``decode`` maps ``u`` in [-1, 1] linearly (or log-linearly) onto the interval; values outside [-1, 1]
    are clipped, so the applied value never leaves the physical range. NaN or inf raise ``ActionError``.
    """

    def __init__(self, name: str, low: float, high: float, scale: str = "linear") -> None:
        if scale not in ("linear", "log"):
            raise ConfigError(f"knob {name!r}: scale must be 'linear' or 'log', got {scale!r}", value=scale)
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"knob {name!r}: need finite low < high, got {low}, {high}", value=(low, high))
        if scale == "log" and low <= 0:
            raise ConfigError(f"knob {name!r}: a log knob needs low > 0, got {low}", value=low)
        self.name, self.low, self.high, self.scale = name, low, high, scale
        self.space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def _ends(self) -> tuple[float, float]:
        if self.scale == "log":
            return math.log10(self.low), math.log10(self.high)
        return self.low, self.high

    def decode(self, action: Any) -> float:
        try:
            flat = np.asarray(action, dtype=np.float64).reshape(-1)
            if flat.size != 1:  # a (2,) action for a Box(1,) agent: its first entry is not what was meant
                raise ValueError(f"{flat.size} values")
            u = float(flat[0])
        except (TypeError, ValueError):
            raise ActionError(f"knob {self.name!r} takes one number in [-1, 1], got {action!r}", value=action) from None
        if not math.isfinite(u):
            raise ActionError(f"knob {self.name!r}: the action must be finite, got {action!r}", value=action)
        u = min(max(u, -1.0), 1.0)
        a, b = self._ends()
        x = a + (u + 1.0) * 0.5 * (b - a)
        value = 10.0 ** x if self.scale == "log" else x
        return min(max(value, self.low), self.high)

    def encode(self, value: Any) -> np.ndarray:
        value = min(max(float(value), self.low), self.high)
        a, b = self._ends()
        x = math.log10(value) if self.scale == "log" else value
        return np.array([2.0 * (x - a) / (b - a) - 1.0], dtype=np.float32)

    def grid(self, count: int = 10) -> list[float]:
        a, b = self._ends()
        points = np.linspace(a, b, max(int(count), 2))
        return [float(10.0 ** p) if self.scale == "log" else float(p) for p in points]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "box", "name": self.name, "low": self.low, "high": self.high, "scale": self.scale}


class CompositeKnob(Knob):
    """Several arm knobs set at once: one flat ``Discrete(prod n_i)`` index, the last part fastest.

    ``decode`` returns ``{part name: value}``. :meth:`part` gives each part's own knob (a multi-agent view
    gives one part to each agent) and :meth:`join` the flat action of per-part actions.
    """

    def __init__(self, name: str, parts: Sequence[ArmKnob]) -> None:
        if not parts or not all(isinstance(p, ArmKnob) for p in parts):
            raise ConfigError(f"knob {name!r}: a composite knob is made of arm knobs", value=parts)
        names = [p.name for p in parts]
        if len(set(names)) != len(names):
            raise ConfigError(f"knob {name!r}: part names must differ, got {names}", value=names)
        self.name, self.parts = name, tuple(parts)
        self.sizes = tuple(p.n for p in parts)
        self.space = spaces.Discrete(int(np.prod(self.sizes)))

    def part(self, name: str) -> ArmKnob:
        for p in self.parts:
            if p.name == name:
                return p
        raise ConfigError(f"knob {self.name!r} has no part {name!r}; parts: {[p.name for p in self.parts]}",
                          value=name)

    def split(self, action: Any) -> tuple[int, ...]:
        """Per-part arm indices of a flat action."""
        return tuple(int(i) for i in np.unravel_index(arm_index(action, self.space.n), self.sizes))

    def join(self, indices: Sequence[Any]) -> int:
        """The flat action of per-part actions (each checked against its part)."""
        if len(indices) != len(self.parts):
            raise ActionError(f"knob {self.name!r} needs {len(self.parts)} part actions, got {indices!r}",
                              value=indices)
        checked = [arm_index(a, p.n) for a, p in zip(indices, self.parts)]
        return int(np.ravel_multi_index(checked, self.sizes))

    def decode(self, action: Any) -> dict[str, Any]:
        return {p.name: p.arms[i] for p, i in zip(self.parts, self.split(action))}

    def encode(self, value: Mapping[str, Any]) -> int:
        return self.join([p.encode(value[p.name]) for p in self.parts])

    def grid(self, count: int = 10) -> list[dict[str, Any]]:
        return [self.decode(a) for a in range(self.space.n)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "composite", "name": self.name, "parts": [p.to_dict() for p in self.parts]}


def knob_from_dict(data: Mapping[str, Any]) -> Knob:
    """The knob a :meth:`Knob.to_dict` description names (as stored in tuner files)."""
    try:
        kind = data["type"]
        if kind == "arms":
            return ArmKnob(data["name"], [tuple(a) if isinstance(a, list) else a for a in data["arms"]])
        if kind == "box":
            return BoxKnob(data["name"], data["low"], data["high"], data.get("scale", "linear"))
        if kind == "composite":
            return CompositeKnob(data["name"], [knob_from_dict(p) for p in data["parts"]])  # type: ignore[misc]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"malformed knob description {dict(data)!r}: {exc}", value=data) from None
    raise ConfigError(f"unknown knob type {kind!r}", value=data)
