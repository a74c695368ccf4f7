"""The process: the real algorithm with its decision points, and the record each decision leaves.

A *process* owns one run of a numerical algorithm on one instance (a SOR solve, an N-body integration, a
training run, an LNS search). It is usable without Gymnasium, in the manner of SciPy's ``OdeSolver``:
``start(instance)`` sets it up, ``advance(knob_value)`` runs it to its next decision point with the knob
set to ``knob_value`` and returns a :class:`StepRecord`, ``done`` says whether the run has ended. Every env,
vector env, PettingZoo view and deployed tuner of a domain is a thin driver around that domain's process, so
training and deployment cannot drift apart.

What a process must not do: import Gymnasium, know about observations or rewards (those are
:mod:`tunegym.envs.core.features` and :mod:`tunegym.envs.core.rewards`, pure functions of the process state
and of step records), or draw randomness that is not part of the instance (``start`` may take an ``rng``
only for deploy-time variation; an env never passes one, so ``reset(options={"instance": inst})`` replays).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

__all__ = ["StepRecord", "Process", "jsonable"]


_PLAIN = frozenset({float, int, str, bool, type(None)})


def jsonable(value: Any) -> Any:
    """``value`` as plain Python (floats, ints, str, lists, dicts), so infos compare and serialise."""
    if type(value) in _PLAIN:  # the common case, several times per env step
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class StepRecord:
    """What one decision of a process cost and achieved.

    ``cost`` is the deterministic count of work this decision caused, in ``cost_unit`` (SOR sweeps, force
    evaluations, optimizer steps, sub-MIP nodes); failures are charged here too (a diverged solve costs
    its cap plus the penalty the process was configured with). ``quality`` is the domain's quality figure
    after the decision (lower is better: relative residual, |ΔE/E0|, validation loss, primal gap), named by
    ``quality_name``; ``None`` where none is measured at this point. ``knob`` is the value actually applied
    (after clipping). ``terminated`` says the run reached its natural end (converged, integrated to the
    end, budget used) or a defined failure state; ``truncated`` that it was stopped by a cap. ``extra`` holds
    the domain's further figures; ``wall_time`` is kept out of ``info`` because it would make same-seed
    trajectories differ.
    """

    cost: float
    cost_unit: str
    knob: Any
    instance_id: str
    quality: float | None = None
    quality_name: str = "quality"
    status: str = "ok"
    terminated: bool = False
    truncated: bool = False
    wall_time: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.cost)):
            raise ValueError(f"a step's cost must be finite, got {self.cost!r}")
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def info(self) -> dict[str, Any]:
        """The Gymnasium ``info`` of this step: the contract every tunegym env honours.

        Keys: ``cost``, ``cost_unit``, ``knob``, ``instance_id``, ``quality``, ``quality_name``, ``status``,
        the quality again under its own name, and the domain's ``extra`` figures.
        """
        quality = None if self.quality is None or not math.isfinite(self.quality) else float(self.quality)
        info = {key: jsonable(value) for key, value in self.extra.items()}
        info.update({
            "cost": float(self.cost),
            "cost_unit": self.cost_unit,
            "knob": jsonable(self.knob),
            "instance_id": self.instance_id,
            "quality": quality,
            "quality_name": self.quality_name,
            self.quality_name: quality,
            "status": self.status,
        })
        return info


class Process(ABC):
    """One run of a numerical algorithm on one instance, advanced decision by decision.

    Subclasses set ``cost_unit`` and ``quality_name`` and implement :meth:`start`, :meth:`advance` and
    :attr:`done`. Counters (sweeps so far, force evaluations, ...) are plain read-only attributes.
    """

    #: the unit of :attr:`StepRecord.cost` (e.g. ``"sor_sweeps"``)
    cost_unit: ClassVar[str] = "cost"
    #: the name of the quality figure (e.g. ``"relative_residual"``)
    quality_name: ClassVar[str] = "quality"

    instance: Any = None

    @abstractmethod
    def start(self, instance: Any, rng: np.random.Generator | None = None) -> None:
        """Set up a run on ``instance``; all randomness of the run comes from the instance unless ``rng``."""

    @abstractmethod
    def advance(self, knob_value: Any) -> StepRecord:
        """Run to the next decision point with the knob at ``knob_value``; raises if :attr:`done`."""

    @property
    @abstractmethod
    def done(self) -> bool:
        """Whether the run has ended (no further decision points)."""

    def close(self) -> None:
        """Release external resources (solver handles); the default holds none."""

    def record(self, cost: float, knob: Any, *, quality: float | None = None, status: str = "ok",
               terminated: bool = False, truncated: bool = False, wall_time: float = 0.0,
               **extra: Any) -> StepRecord:
        """A :class:`StepRecord` in this process's units for the current instance."""
        instance_id = getattr(self.instance, "id", None) or getattr(self.instance, "instance_id", "")
        return StepRecord(cost=float(cost), cost_unit=self.cost_unit, knob=knob, instance_id=str(instance_id),
                          quality=quality, quality_name=self.quality_name, status=status, terminated=terminated,
                          truncated=truncated, wall_time=float(wall_time), extra=extra)
