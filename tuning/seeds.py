"""The seed protocol: disjoint tune and test seeds, and a guard that keeps tuning away from test seeds.

Everything inside an HPO run (agent seeds, env seeds, validation instances) is derived from *tune* seeds
through ``numpy.random.SeedSequence``. *Test* seeds are touched only by the final evaluation of the chosen
configuration, inside :meth:`SeedSplit.final_evaluation`; any other attempt to evaluate on one raises
:class:`~tunegym.envs.core.errors.SeedLeakError`. Every result file records the split.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from tunegym.envs.core.errors import ConfigError, SeedLeakError

__all__ = ["SeedSplit", "parse_seed_list"]

_FINAL_EVALUATION = contextvars.ContextVar("tunegym_final_evaluation", default=False)


def parse_seed_list(text: str) -> tuple[int, ...]:
    """``"0-9"``, ``"1,2,5"`` or ``"0-3,7"`` → a tuple of seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                low, high = part.split("-", 1) if not part.startswith("-") else (part, part)
                seeds.extend(range(int(low), int(high) + 1))
            else:
                seeds.append(int(part))
    except ValueError as exc:
        raise ConfigError(f"bad seed list {text!r}: use forms like 0-9 or 1,2,5", value=text) from exc
    return tuple(seeds)


@dataclass(frozen=True)
class SeedSplit:
    """Disjoint tune and test seeds (defaults: tune 0–9, test 100–109, the ARLBench convention)."""

    tune: tuple[int, ...] = tuple(range(0, 10))
    test: tuple[int, ...] = field(default=tuple(range(100, 110)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "tune", tuple(int(s) for s in self.tune))
        object.__setattr__(self, "test", tuple(int(s) for s in self.test))
        if not self.tune or not self.test:
            raise ConfigError("a seed split needs at least one tune seed and one test seed", value=self)
        if any(s < 0 for s in self.tune + self.test):
            raise ConfigError("seeds must be non-negative", value=self)
        overlap = sorted(set(self.tune) & set(self.test))
        if overlap:
            raise ConfigError(f"tune and test seeds overlap: {overlap}", value=overlap)

    @classmethod
    def parse(cls, text: str) -> "SeedSplit":
        """``"tune=0-9,test=100-109"`` (either part may be omitted for its default)."""
        parts: dict[str, str] = {}
        current = None
        for token in text.split(","):
            token = token.strip()
            if "=" in token:
                current, value = token.split("=", 1)
                current = current.strip()
                if current not in ("tune", "test"):
                    raise ConfigError(f"--seeds names tune= and test=, got {current!r}", value=text)
                parts[current] = value
            elif current is not None and token:
                parts[current] += "," + token
            elif token:
                raise ConfigError(f"bad --seeds {text!r}: use tune=0-9,test=100-109", value=text)
        defaults = cls()
        return cls(
            tune=parse_seed_list(parts["tune"]) if "tune" in parts else defaults.tune,
            test=parse_seed_list(parts["test"]) if "test" in parts else defaults.test,
        )

    def as_dict(self) -> dict[str, list[int]]:
        return {"tune": list(self.tune), "test": list(self.test)}

    # ---- derived seeds ---------------------------------------------------------------------------------
    def trial_seeds(self, trial_number: int, per_trial: int, run_seed: int = 0) -> list[int]:
        """The tune seeds a trial trains and validates on: ``per_trial`` of them, rotating with the trial."""
        if per_trial < 1:
            raise ConfigError("a trial needs at least one tune seed", value=per_trial)
        start = (trial_number * per_trial + run_seed) % len(self.tune)
        return [self.tune[(start + k) % len(self.tune)] for k in range(min(per_trial, len(self.tune)))]

    @staticmethod
    def derived(seed: int, purpose: str) -> int:
        """A 32-bit seed derived from ``seed`` for ``purpose`` (``"agent"``, ``"env"``, ``"validation"``)."""
        key = [ord(c) for c in purpose]
        return int(np.random.SeedSequence([int(seed), *key]).generate_state(1, dtype=np.uint32)[0])

    # ---- the guard -------------------------------------------------------------------------------------
    def check(self, seeds: Iterable[int]) -> list[int]:
        """Allow ``seeds`` for an evaluation here; test seeds only inside :meth:`final_evaluation`."""
        seeds = [int(s) for s in seeds]
        leaked = sorted(set(seeds) & set(self.test))
        if leaked and not _FINAL_EVALUATION.get():
            raise SeedLeakError(
                f"test seeds {leaked} reached from inside tuning; only the final evaluation may use them",
                value=leaked,
            )
        return seeds

    @contextlib.contextmanager
    def final_evaluation(self) -> Iterator[Sequence[int]]:
        """The one place test seeds may be used: ``with split.final_evaluation() as test_seeds: ...``."""
        token = _FINAL_EVALUATION.set(True)
        try:
            yield self.test
        finally:
            _FINAL_EVALUATION.reset(token)
