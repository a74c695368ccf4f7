"""Instances and the distributions they are drawn from.

An *instance* is an immutable description of one problem (a linear system, initial conditions, a
training task, a MIP). It knows its ``instance_id`` so results can be joined across methods. A
*distribution* draws instances from a ``numpy.random.Generator``; a *sequence distribution* yields
related instances one after another (the online setting of Learning to Relax). Nothing here knows any
particular domain.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Instance", "Distribution", "SequenceDistribution", "content_id"]


@functools.lru_cache(maxsize=64)
def _dtype_tag(dtype: np.dtype) -> bytes:
    return str(dtype).encode()


def content_id(prefix: str, *arrays: Any, **params: Any) -> str:
    """A short stable id from a prefix, array contents and scalar parameters.

    Equal content gives an equal id on every machine and Python version (no salted ``hash``).
    """
    digest = hashlib.blake2b(digest_size=8)
    for array in arrays:
        arr = np.ascontiguousarray(array)
        digest.update(_dtype_tag(arr.dtype))
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    for key in sorted(params):
        digest.update(f"{key}={params[key]!r};".encode())
    return f"{prefix}-{digest.hexdigest()}"


class Instance(ABC):
    """One problem. Subclasses are frozen dataclasses; ``instance_id`` is stable across runs."""

    @property
    @abstractmethod
    def instance_id(self) -> str:
        """A stable, unique id of this problem."""

    @property
    def id(self) -> str:
        """The instance's stable id (results are joined on it across methods)."""
        return self.instance_id


class Distribution(ABC):
    """A named, versioned, parameterised source of instances."""

    name: str = "distribution"
    version: int = 0

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Instance:
        """Draw one instance using only ``rng``."""

    @property
    def params(self) -> dict[str, Any]:
        """The parameters that define this distribution (recorded beside every result)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": self.params}


class SequenceDistribution(Distribution):
    """A distribution whose draws form a sequence of related instances.

    The default sequence is i.i.d. draws from :meth:`sample`; subclasses whose instances depend on the
    previous one (a time-stepping simulation) override :meth:`sequence`.
    """

    def sequence(self, rng: np.random.Generator, length: int | None = None) -> Iterator[Instance]:
        count = 0
        while length is None or count < length:
            yield self.sample(rng)
            count += 1
