"""The shared core every tunegym domain is built on (DESIGN §1.1).

- :class:`Process` / :class:`StepRecord` (:mod:`.process`): the real algorithm with its decision points, and
  what each decision cost and achieved.
- :class:`Knob` (:mod:`.knob`): action ↔ knob value (arm grids, linear/log boxes, composites).
- :class:`Features` (:mod:`.features`): process state → observation, configured by name + parameters.
- rewards (:mod:`.rewards`): named pure functions of step records.
- :class:`InstanceStream` (:mod:`.stream`): the one reset path (seeded draws, ``options["instance"]`` replay).
- :class:`ProcessEnv` (:mod:`.env`): the Gymnasium env over a process that every domain's env is.
- instances, distributions, seed streams and typed errors.

Nothing domain-specific lives here. Names are imported lazily so ``import tunegym.envs.core.errors`` stays
cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ActionError": "errors", "CheckpointError": "errors", "ConfigError": "errors", "InstanceError": "errors",
    "MatrixError": "errors", "SeedLeakError": "errors", "TunegymError": "errors",
    "TunerMismatchError": "errors", "MissingExtraError": "errors",
    "Distribution": "instances", "Instance": "instances", "SequenceDistribution": "instances",
    "content_id": "instances",
    "spawn_seeds": "seeding", "stream": "seeding",
    "Process": "process", "StepRecord": "process",
    "Knob": "knob", "ArmKnob": "knob", "BoxKnob": "knob", "CompositeKnob": "knob", "knob_from_dict": "knob",
    "Features": "features", "register_features": "features", "make_features": "features",
    "register_reward": "rewards", "make_reward": "rewards",
    "InstanceStream": "instance_stream", "instance_seed": "instance_stream",
    "ProcessEnv": "env",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"tunegym.envs.core.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'tunegym.envs.core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
