"""Gymnasium spaces to and from JSON, so a deployed policy's spaces travel as data in tuner metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.errors import CheckpointError

__all__ = ["space_to_json", "space_from_json"]


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": space.low.astype(np.float64).tolist(),
            "high": space.high.astype(np.float64).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    raise CheckpointError(f"cannot describe space {space} as data (Discrete, Box, MultiDiscrete only)", value=space)


def space_from_json(data: dict[str, Any]) -> spaces.Space:
    try:
        kind = data["type"]
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            low = np.asarray(data["low"], dtype=np.float64).astype(dtype)
            high = np.asarray(data["high"], dtype=np.float64).astype(dtype)
            return spaces.Box(low, high, shape=tuple(data["shape"]), dtype=dtype)
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(data["nvec"], dtype=np.int64))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed space description {data!r}: {exc}", value=data) from exc
    raise CheckpointError(f"unknown space type {data.get('type')!r} in tuner metadata", value=data)
