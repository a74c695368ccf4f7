"""Seed streams: one root seed, independent child streams for instances, env noise and agents.

Every random draw in tunegym comes from a ``numpy.random.Generator`` derived here through
``numpy.random.SeedSequence``, never from global state, so the same seed gives the same trajectory and
changing how the agent explores never changes which instances the env draws.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream", "spawn_seeds"]


def _key(name: str) -> int:
    # Named streams are keyed by a stable hash of their name (not Python's salted ``hash``).
    return zlib.crc32(name.encode("utf-8"))


def stream(seed: int | None, name: str) -> np.random.Generator:
    """A generator for the stream ``name`` under root ``seed`` (``None``: fresh OS entropy)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(name),)))


def spawn_seeds(seed: int, count: int, name: str = "children") -> list[int]:
    """``count`` independent 32-bit integer seeds derived from ``seed`` (for workers, trials, episodes).

    32 bits because every library a seed reaches accepts that range (SB3 and ``random`` included).
    """
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(name),))
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in seq.spawn(count)]
