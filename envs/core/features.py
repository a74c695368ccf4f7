"""Features: the observation builder an env and a deployed tuner share.

A :class:`Features` object turns the state of a process into the observation vector. It may keep history
(reward averages, loss windows) that it updates from each :class:`~tunegym.envs.core.process.StepRecord`
in :meth:`Features.record`. It is configured by a registered name and JSON parameters
(:meth:`Features.config`), which a tuner file stores; :func:`make_features` rebuilds it, so a tuner computes
for a user's problem exactly the features it was trained on. :meth:`Features.observation` clips into
:attr:`Features.space` and is what both the env and the tuner call.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import math

import numba
import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.process import Process, StepRecord

__all__ = ["Features", "FEATURES", "register_features", "make_features", "clip_observation"]

#: registered name -> "module:callable(**params) -> Features"
FEATURES: dict[str, str] = {}


@numba.njit(cache=True, nogil=True)
def clip_observation(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``values`` (float64, flat) with NaN as 0, clipped into ``[low, high]``, as float32: what
    :meth:`Features.observation` returns, in one compiled call (NumPy's four calls cost tens of microseconds per
    step with cold caches, which a deployed tuner pays on every decision). Domains that build their observation in
    a compiled kernel call it from there."""
    out = np.empty(values.shape[0], dtype=np.float32)
    for k in range(values.shape[0]):
        v = values[k]
        if math.isnan(v):
            v = 0.0
        out[k] = min(max(v, low[k]), high[k])
    return out


def register_features(name: str, factory: str) -> None:
    """Register a features class or factory (an import string ``"module:callable"``) under ``name``."""
    FEATURES[name] = factory


class Features(ABC):
    """Observation of a process: a ``Box`` space and a vector inside it.

    Subclasses set :attr:`name` (their registered name) and :attr:`space`, implement :meth:`observe` and,
    where they keep history, :meth:`reset` and :meth:`record`; :meth:`params` returns the constructor
    keyword arguments that rebuild an equal object.
    """

    name: str = "features"
    space: spaces.Box

    def reset(self, process: Process) -> None:
        """Forget history: a new run has started on ``process``."""

    def record(self, process: Process, record: StepRecord) -> None:
        """Take in the outcome of one decision (for features that keep history)."""

    @abstractmethod
    def observe(self, process: Process) -> np.ndarray:
        """The raw feature vector of the process's current state."""

    def params(self) -> dict[str, Any]:
        return {}

    def config(self) -> dict[str, Any]:
        """``{"name", "params", "shape"}``: what a tuner file stores to rebuild these features."""
        return {"name": self.name, "params": dict(self.params()), "shape": list(self.space.shape)}

    def observation(self, process: Process) -> np.ndarray:
        """:meth:`observe`, finite and clipped into :attr:`space` (``float32``; NaN becomes 0, ±inf a bound)."""
        raw = np.asarray(self.observe(process), dtype=np.float64).reshape(self.space.shape)
        if self.space.dtype != np.float32:  # a subclass's own dtype: clip in NumPy, keep its precision
            return np.clip(np.where(np.isnan(raw), 0.0, raw), self.space.low, self.space.high).astype(self.space.dtype)
        low, high = self.bounds()
        return clip_observation(raw.reshape(-1), low, high).reshape(self.space.shape)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`space`'s low and high as flat float64 arrays (kept while :attr:`space` is the same object)."""
        cached = getattr(self, "_bounds", None)
        if cached is None or cached[0] is not self.space:
            cached = (self.space, self.space.low.astype(np.float64).reshape(-1),
                      self.space.high.astype(np.float64).reshape(-1))
            self._bounds = cached
        return cached[1], cached[2]


def make_features(config: Mapping[str, Any]) -> Features:
    """The features a :meth:`Features.config` describes (registered name + parameters)."""
    name = config.get("name")
    if name not in FEATURES:
        _import_domains()
    if name not in FEATURES:
        raise ConfigError(f"unknown features {name!r}; known: {sorted(FEATURES)}", value=name)
    module_name, attr = FEATURES[name].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    features = factory(**dict(config.get("params") or {}))
    shape = config.get("shape")
    if shape is not None and list(features.space.shape) != list(shape):
        raise ConfigError(f"features {name!r} now have shape {features.space.shape}, the tuner expects {tuple(shape)}",
                          value=shape)
    return features


def _import_domains() -> None:
    # Domains register their features when their env modules are imported; the registry of envs names them.
    from tunegym.envs import ENVS

    for spec in ENVS:
        module = spec.entry_point.split(":")[0]
        try:
            importlib.import_module(module)
        except ImportError:
            continue
