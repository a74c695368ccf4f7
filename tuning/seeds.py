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

__all__ = ["SeedSplit", "parse_seed_list", "split_parts", "MAX_SEED", "MAX_SEEDS"]

_FINAL_EVALUATION = contextvars.ContextVar("tunegym_final_evaluation", default=False)


#: the most seeds one seed list may name (a typo such as ``0-1000000000`` would otherwise build a list that
#: exhausts memory before anything runs)
MAX_SEEDS = 100_000
#: seeds must fit NumPy's legacy seeding (``np.random.seed``, which SB3 and the bandits call): 0 ... 2**32 - 1
MAX_SEED = 2**32 - 1


def _bad(label: str, shown: str, why: str) -> ConfigError:
    return ConfigError(f"bad {label} {shown!r}: {why}", value=shown)


def parse_seed_list(text: str, *, shown: str | None = None, label: str = "seed list") -> tuple[int, ...]:
    """``"0-9"``, ``"1,2,5"`` or ``"0-3,7"`` → a tuple of seeds, refusing what would silently mislead.

    Refused with :class:`ConfigError` (``"bad <label> <shown>: why"``; ``shown`` defaults to ``text``): a seed
    that is not a whole number, a negative seed or one above :data:`MAX_SEED`, a reversed range (``5-3`` names no
    seed), a seed named twice (it would be counted twice in every mean), and more than :data:`MAX_SEEDS` seeds.
    """
    shown = text if shown is None else shown
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low_text, dash, high_text = part.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if dash else low
        except ValueError:
            if part.startswith("-"):
                raise _bad(label, shown, f"seeds are non-negative, got {part!r}") from None
            raise _bad(label, shown, f"{part!r} is not a seed or a LOW-HIGH range (use 0-9 or 1,2,5)") from None
        if min(low, high) < 0:
            raise _bad(label, shown, f"seeds are non-negative, got {part!r}")
        if high < low:
            raise _bad(label, shown, f"range {part!r} runs backwards (write {high}-{low})")
        if high > MAX_SEED:
            raise _bad(label, shown, f"seeds must be at most 2**32 - 1, got {high}")
        if len(seeds) + high - low + 1 > MAX_SEEDS:
            raise _bad(label, shown, f"more than {MAX_SEEDS} seeds")
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) < len(seeds):
        from collections import Counter

        repeated = sorted(s for s, n in Counter(seeds).items() if n > 1)
        raise _bad(label, shown, f"seeds {repeated} are named more than once")
    return tuple(seeds)


def split_parts(text: str, *, label: str = "seed split") -> dict[str, str]:
    """``"tune=0-3,test=100,101"`` → ``{"tune": "0-3", "test": "100,101"}``. A part named twice
    (``tune=0,tune=5``: the first would be dropped silently) and seeds before any ``name=`` are refused with
    :class:`ConfigError`."""
    parts: dict[str, str] = {}
    current = None
    for token in text.split(","):
        token = token.strip()
        if "=" in token:
            current, value = (p.strip() for p in token.split("=", 1))
            if current in parts:
                raise _bad(label, text, f"{current}= is given twice")
            parts[current] = value
        elif current is not None and token:
            parts[current] += "," + token
        elif token:
            raise _bad(label, text, f"{token!r} comes before any tune= or test=")
    return parts


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
    def parse(cls, text: str, *, label: str = "seed split") -> "SeedSplit":
        """``"tune=0-9,test=100-109"`` (either part may be omitted for its default); each part as strict as
        :func:`parse_seed_list`, and :class:`ConfigError` for an empty text, a part other than ``tune``/``test``
        or named twice, or a part that names no seed. ``label`` words the messages (``"--seeds"`` on the CLI)."""
        if not text.strip():
            raise _bad(label, text, "names no seed; use tune=0-9,test=100-109")
        parts = split_parts(text, label=label)
        unknown = sorted(set(parts) - {"tune", "test"})
        if unknown or not parts:
            raise _bad(label, text, f"name tune= and test= parts{f', got {unknown}' if unknown else ''}")
        defaults = cls()
        chosen = {name: parse_seed_list(parts[name], shown=text, label=label) if name in parts
                  else getattr(defaults, name) for name in ("tune", "test")}
        for name, seeds in chosen.items():
            if not seeds:
                raise _bad(label, text, f"{name}= names no seed")
        return cls(tune=chosen["tune"], test=chosen["test"])

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
