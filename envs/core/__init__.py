"""Shared building blocks of every tunegym environment: instances, distributions, seeding, costs, errors.

Nothing domain-specific lives here; each env subpackage (``sor``, ``timestep``, ``lr``, ``mip``) builds
on these types so that the harness, the agents and the tuners treat all of them alike.
"""

from tunegym.envs.core.cost import Cost, Stopwatch
from tunegym.envs.core.errors import (
    ActionError,
    CheckpointError,
    ConfigError,
    InstanceError,
    MatrixError,
    SeedLeakError,
    SolverDivergedError,
    TunegymError,
)
from tunegym.envs.core.instances import Distribution, Instance, SequenceDistribution, content_id
from tunegym.envs.core.seeding import SeedStreams, spawn_seeds, stream

__all__ = [
    "ActionError",
    "CheckpointError",
    "ConfigError",
    "Cost",
    "Distribution",
    "Instance",
    "InstanceError",
    "MatrixError",
    "SeedLeakError",
    "SeedStreams",
    "SequenceDistribution",
    "SolverDivergedError",
    "Stopwatch",
    "TunegymError",
    "content_id",
    "spawn_seeds",
    "stream",
]
