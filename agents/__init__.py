"""tunegym agents: bandits, deep RL on stable-baselines3, baselines/oracles, and the deployable tuners.

Names are imported lazily (PEP 562), so ``import tunegym.agents`` stays cheap and does not import torch
or stable-baselines3 until a tuner or deep-RL agent is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FixedKnob",
    "FixedOmega",
    "GridOracle",
    "KrylovTuner",
    "LNSSolver",
    "LearnedLRScheduler",
    "PerInstanceOracle",
    "SORTuner",
    "StepSizeTuner",
    "Tuner",
    "YoungOmega",
    "agent_names",
    "load_tuner",
    "make_agent",
]

_LAZY = {
    "FixedKnob": "tunegym.agents.baselines",
    "PerInstanceOracle": "tunegym.agents.baselines",
    "Tuner": "tunegym.agents.tuner",
    "FixedOmega": "tunegym.agents.baselines",
    "YoungOmega": "tunegym.agents.baselines",
    "GridOracle": "tunegym.agents.baselines",
    "make_agent": "tunegym.agents.registry",
    "agent_names": "tunegym.agents.registry",
    "SORTuner": "tunegym.agents.sor_tuner",
    "StepSizeTuner": "tunegym.agents.step_size_tuner",
    "load_tuner": "tunegym.agents.tuners",
    "LearnedLRScheduler": "tunegym.agents.lr_scheduler",
    "LNSSolver": "tunegym.agents.lns_solver",
    "KrylovTuner": "tunegym.agents.krylov_tuner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunegym.agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
