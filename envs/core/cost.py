"""Cost records: a deterministic count of work, with wall time beside it.

Costs that compare methods must be deterministic (SOR sweeps, CG iterations, force evaluations,
optimizer steps, LP iterations), because wall time on a shared machine is noise. Wall time is recorded
next to the count for reports, never used as the reward unless an env says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Cost", "Stopwatch"]


@dataclass(frozen=True)
class Cost:
    """``count`` units of ``unit`` (e.g. 412 ``"sor_sweeps"``) taking ``wall_time`` seconds."""

    count: float
    unit: str
    wall_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Stopwatch:
    """Context manager measuring wall time with ``time.perf_counter``."""

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._start
