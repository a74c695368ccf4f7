"""Rewards: named pure functions of a :class:`~tunegym.envs.core.process.StepRecord`.

An env names its reward (``reward="neg_cost"``, ``reward_params={"scale": 100}``); the same name and
parameters are stored in a tuner file, and nothing computes a reward any other way. A domain registers its
own rewards at import (``@register_reward("three_body.energy")``); everything a reward needs must be in the
record (its cost, quality, knob value and ``extra`` figures), never read from the process.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.process import StepRecord

__all__ = ["REWARDS", "register_reward", "make_reward", "reward_names"]

RewardFn = Callable[..., float]

#: name -> function(record, **params) -> float
REWARDS: dict[str, RewardFn] = {}


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator: register ``fn(record, **params) -> float`` under ``name``."""

    def decorate(fn: RewardFn) -> RewardFn:
        REWARDS[name] = fn
        return fn

    return decorate


def reward_names() -> list[str]:
    return sorted(REWARDS)


def make_reward(name: str, params: Mapping[str, Any] | None = None) -> Callable[[StepRecord], float]:
    """The reward ``name`` with ``params`` bound; unknown names or parameters raise :class:`ConfigError`."""
    if name not in REWARDS:
        raise ConfigError(f"unknown reward {name!r}; known: {reward_names()}", value=name)
    fn = REWARDS[name]
    params = dict(params or {})
    accepted = set(list(inspect.signature(fn).parameters)[1:])
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ConfigError(f"reward {name!r} takes {sorted(accepted)}, not {unknown}", value=unknown)
    return functools.partial(fn, **params)


@register_reward("neg_cost")
def neg_cost(record: StepRecord, scale: float = 1.0) -> float:
    """``-cost / scale``: the deterministic work of the step, failures charged as the process charges them."""
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"reward scale must be positive, got {scale!r}", value=scale)
    return -float(record.cost) / scale
