"""Benchmark suites: named, versioned, declarative specs of what a published comparison ran on.

A :class:`Suite` fixes the instance distribution, the three disjoint seed splits (``tune`` for HPO,
``dev_test`` for every-day evaluation, ``final_test`` for the numbers a paper or README publishes), the
methods compared, the sizes of a ``smoke`` and a ``full`` run, and the regression bands that CI checks smoke
claims against (:func:`check_bands`). Reading the final-test seeds needs ``final=True``; each such use is
logged in the :class:`Ledger`, so a reader can count how often a final test set was looked at.

Specs live as Python dict literals in ``tuning/suite_specs/*.py`` (a module-level ``SPECS`` list) and are
loaded into :data:`SUITES` at import. This module runs nothing: benches read a suite and do the work.
A change to a suite's seeds, instances or sizes must bump its ``version``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import json
import math
import os
import pkgutil
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunegym.envs.core.errors import CheckpointError, ConfigError, SeedLeakError
from tunegym.tuning.seeds import SeedSplit
from tunegym.tuning.stats import Claim

__all__ = [
    "SPLITS",
    "SCALES",
    "Suite",
    "SUITES",
    "get_suite",
    "register_suite",
    "load_spec_modules",
    "check_bands",
    "git_commit",
    "LedgerEntry",
    "Ledger",
    "LEDGER_FILENAME",
]

SPLITS = ("tune", "dev_test", "final_test")
SCALES = ("smoke", "full")
LEDGER_FILENAME = "final_test_ledger.jsonl"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _seed_tuple(split: str, seeds: Iterable[int]) -> tuple[int, ...]:
    """Seeds as a tuple of distinct non-negative ints, or a :class:`ConfigError` naming the split."""
    values = tuple(int(s) for s in seeds)
    if not values:
        raise ConfigError(f"{split} seeds are empty", value=split)
    if any(s < 0 for s in values):
        raise ConfigError(f"{split} seeds must be non-negative", value=[s for s in values if s < 0])
    if len(set(values)) != len(values):
        duplicates = sorted({s for s in values if values.count(s) > 1})
        raise ConfigError(f"{split} seeds repeat: {duplicates}", value=duplicates)
    return values


def _check_disjoint(splits: Mapping[str, tuple[int, ...]]) -> None:
    """Raise if any two splits share a seed: a shared seed would let tuning see a test instance."""
    names = list(splits)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            overlap = sorted(set(splits[first]) & set(splits[second]))
            if overlap:
                raise ConfigError(f"{first} and {second} seeds overlap: {overlap[:10]}", value=overlap)


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named, versioned benchmark suite.

    Args:
        name: a lowercase slug, e.g. ``"sor-setting-a"``.
        version: bumped on any change to seeds, instances or sizes; claims and ledger entries carry it.
        domain: the tunegym domain (``"sor"``, ``"timestep"``, ``"mip"``, ``"lr"``).
        description: one paragraph a reader of a report needs.
        instances: ``{"distribution": "module:Class", "params": {...}, "families": {name: {...}}}``; each
            family's params override ``params``. Families are the strata of the claims' bootstrap.
        tune_seeds, dev_test_seeds, final_test_seeds: pairwise disjoint.
        methods: method names as the domain's bench knows them.
        scale: ``{"smoke": {...}, "full": {...}}``; ``tune``/``dev_test``/``final_test`` entries give how
            many seeds of each split a run of that scale uses (default all), other keys are sizes the bench
            reads with :meth:`size` (sequence lengths, budgets).
        bands: claim key (:attr:`Claim.key`, ``method/baseline/metric``) -> ``(low, high)`` allowed ratio of
            the smoke run, checked by :func:`check_bands`.
    """

    name: str
    version: int
    domain: str
    description: str
    instances: Mapping[str, Any]
    tune_seeds: tuple[int, ...]
    dev_test_seeds: tuple[int, ...]
    final_test_seeds: tuple[int, ...]
    methods: tuple[str, ...]
    scale: Mapping[str, Mapping[str, Any]]
    bands: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"suite name must be a lowercase slug, got {self.name!r}", value=self.name)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ConfigError(f"suite {self.name}: version must be an int >= 1, got {self.version!r}",
                              value=self.version)
        splits = {split: _seed_tuple(split, getattr(self, f"{split}_seeds")) for split in SPLITS}
        _check_disjoint(splits)
        for split, seeds in splits.items():
            object.__setattr__(self, f"{split}_seeds", seeds)
        object.__setattr__(self, "methods", self._checked_methods())
        object.__setattr__(self, "instances", self._checked_instances())
        object.__setattr__(self, "scale", self._checked_scale())
        object.__setattr__(self, "bands", self._checked_bands())

    def _checked_methods(self) -> tuple[str, ...]:
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        if not methods or not all(isinstance(m, str) and m for m in methods):
            raise ConfigError(f"suite {self.name}: methods must be non-empty names", value=methods)
        return methods

    def _checked_instances(self) -> dict[str, Any]:
        instances = dict(self.instances)
        distribution = instances.get("distribution")
        if not isinstance(distribution, str) or ":" not in distribution:
            raise ConfigError(f"suite {self.name}: instances need a 'distribution' as 'module:Class'",
                              value=distribution)
        unknown = sorted(set(instances) - {"distribution", "params", "families"})
        if unknown:
            raise ConfigError(f"suite {self.name}: unknown instances keys {unknown}", value=unknown)
        instances["params"] = dict(instances.get("params", {}))
        instances["families"] = {str(k): dict(v) for k, v in dict(instances.get("families", {})).items()}
        return instances

    def _checked_scale(self) -> dict[str, dict[str, Any]]:
        scale = {str(k): dict(v) for k, v in dict(self.scale).items()}
        missing = [s for s in SCALES if s not in scale]
        if missing:
            raise ConfigError(f"suite {self.name}: scale needs {list(SCALES)}, missing {missing}", value=missing)
        for scale_name, sizes in scale.items():
            for split in SPLITS:
                if split not in sizes:
                    continue
                count, available = sizes[split], len(getattr(self, f"{split}_seeds"))
                if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= available:
                    raise ConfigError(
                        f"suite {self.name}: scale {scale_name!r} asks for {count!r} {split} seeds; "
                        f"an int in 1..{available} is needed",
                        value=count,
                    )
        return scale

    def _checked_bands(self) -> dict[str, tuple[float, float]]:
        bands = {}
        for key, band in dict(self.bands).items():
            low, high = (float(x) for x in band)
            if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low <= high):
                raise ConfigError(f"suite {self.name}: band {key!r} must be finite with 0 < low <= high",
                                  value=band)
            bands[str(key)] = (low, high)
        return bands

    @property
    def key(self) -> str:
        """``name@vN``: how results and the ledger name this suite."""
        return f"{self.name}@v{self.version}"

    def seeds(self, split: str, scale: str = "full", *, final: bool = False) -> tuple[int, ...]:
        """The first ``scale[split]`` seeds of ``split`` (all of them where the scale does not say).

        The final-test split is for the published numbers only: asking for it without ``final=True``
        raises :class:`SeedLeakError`, so no tuning or dev loop reaches it by passing a string. Log each
        use of it in the :class:`Ledger`.
        """
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}", value=split)
        if scale not in self.scale:
            raise ConfigError(f"suite {self.name}: scale must be one of {sorted(self.scale)}, got {scale!r}",
                              value=scale)
        if split == "final_test" and not final:
            raise SeedLeakError(
                f"suite {self.key}: the final_test seeds are read only for published numbers; "
                "pass final=True on purpose and record the use in the final-test ledger",
                value=self.key,
            )
        seeds = getattr(self, f"{split}_seeds")
        return seeds[: self.scale[scale].get(split, len(seeds))]

    def seed_split(self, scale: str = "full", *, test_split: str = "dev_test", final: bool = False) -> SeedSplit:
        """The harness's :class:`SeedSplit`: this suite's tune seeds against its dev-test (or final) seeds."""
        if test_split not in ("dev_test", "final_test"):
            raise ConfigError(f"test_split must be dev_test or final_test, got {test_split!r}", value=test_split)
        return SeedSplit(tune=self.seeds("tune", scale), test=self.seeds(test_split, scale, final=final))

    def size(self, key: str, scale: str = "full") -> Any:
        """A bench size of this scale (``sequence_length``, ``budget``, ...); a missing one is a ConfigError."""
        sizes = self.scale.get(scale)
        if sizes is None:
            raise ConfigError(f"suite {self.name}: no scale {scale!r}", value=scale)
        if key not in sizes:
            raise ConfigError(f"suite {self.name}: scale {scale!r} has no size {key!r}", value=key)
        return sizes[key]

    def families(self) -> dict[str, dict[str, Any]]:
        """Family name -> full constructor params (shared ``params`` overridden by the family's own)."""
        params, families = self.instances["params"], self.instances["families"]
        if not families:
            return {"all": dict(params)}
        return {name: {**params, **own} for name, own in families.items()}

    def make_distributions(self) -> dict[str, Any]:
        """Family name -> an instance distribution built from the spec (imports the domain lazily)."""
        module_name, _, class_name = self.instances["distribution"].partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"suite {self.name}: cannot import {self.instances['distribution']!r}",
                              value=self.instances["distribution"]) from exc
        return {name: cls(**params) for name, params in self.families().items()}

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data (stored beside every result of the suite)."""
        data = dataclasses.asdict(self)
        for field in ("tune_seeds", "dev_test_seeds", "final_test_seeds", "methods"):
            data[field] = list(data[field])
        data["bands"] = {key: list(band) for key, band in self.bands.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Suite":
        """A suite from a spec dict; seeds may be lists, ``range`` objects or ``"100-149"`` strings."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"suite spec has unknown keys {unknown}", value=unknown)
        fields = dict(data)
        for split in SPLITS:
            seeds = fields.get(f"{split}_seeds", ())
            if isinstance(seeds, str):
                from tunegym.tuning.seeds import parse_seed_list

                seeds = parse_seed_list(seeds)
            fields[f"{split}_seeds"] = tuple(seeds)
        try:
            return cls(**fields)
        except TypeError as exc:  # a required key is missing
            raise ConfigError(f"suite spec {data.get('name', '?')!r}: {exc}", value=sorted(data)) from exc


# --- registry -------------------------------------------------------------------------------------------

SUITES: dict[str, Suite] = {}


def register_suite(suite: Suite | Mapping[str, Any], *, replace: bool = False) -> Suite:
    """Add a suite (or a spec dict) to :data:`SUITES`; a second suite of the same name needs ``replace``."""
    if not isinstance(suite, Suite):
        suite = Suite.from_dict(suite)
    existing = SUITES.get(suite.name)
    if existing is not None and existing != suite and not replace:
        raise ConfigError(f"suite {suite.name!r} is already registered as {existing.key}", value=suite.name)
    SUITES[suite.name] = suite
    return suite


def get_suite(name: str, version: int | None = None) -> Suite:
    """The registered suite ``name``; with ``version``, a ConfigError unless that is the registered one."""
    suite = SUITES.get(name)
    if suite is None:
        raise ConfigError(f"unknown suite {name!r}; known: {sorted(SUITES)}", value=name)
    if version is not None and suite.version != version:
        raise ConfigError(f"suite {name!r} is at version {suite.version}, not {version}", value=version)
    return suite


def load_spec_modules(package: str = "tunegym.tuning.suite_specs") -> list[Suite]:
    """Register the ``SPECS`` list of every module in ``package`` (the domain owners' spec files)."""
    loaded = []
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for spec in getattr(module, "SPECS", ()):
            loaded.append(register_suite(spec))
    return loaded


# --- regression bands -----------------------------------------------------------------------------------

def check_bands(claims: Sequence[Claim], suite: Suite) -> list[str]:
    """Violations of ``suite``'s regression bands by ``claims``, one readable line each (empty: all fine).

    A claim of the suite whose ratio lies outside its committed ``(low, high)`` band is a violation, as is a
    banded claim that is missing (a silently dropped claim must not pass) or a claim from another version of
    the suite (its bands do not apply). Claims of other suites are ignored.
    """
    violations = []
    ours = [c for c in claims if c.suite == suite.name]
    for claim in ours:
        if claim.suite_version != suite.version:
            violations.append(f"{claim.key}: claim is from {suite.name}@v{claim.suite_version}, bands are {suite.key}")
    current = {c.key: c for c in ours if c.suite_version == suite.version}
    for key, (low, high) in suite.bands.items():
        claim = current.get(key)
        if claim is None:
            violations.append(f"{key}: no claim in the results, band [{low:g}, {high:g}] of {suite.key}")
        elif not low <= claim.ratio <= high:
            violations.append(f"{key}: ratio {claim.ratio:.4g} outside band [{low:g}, {high:g}] of {suite.key}")
    return violations


# --- final-test ledger ----------------------------------------------------------------------------------

def git_commit(cwd: str | Path | None = None) -> str:
    """``git rev-parse HEAD`` of the tunegym checkout (or ``cwd``), or ``"unknown"`` outside git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=str(cwd) if cwd is not None else str(Path(__file__).resolve().parent),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else "unknown"


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One use of a suite's final-test split: which suite, which methods, at which commit, when, and the
    claims published from it (as :meth:`Claim.to_dict` dicts)."""

    suite: str
    version: int
    methods: tuple[str, ...]
    commit: str
    date: str
    claims: tuple[dict[str, Any], ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["methods"], data["claims"] = list(self.methods), list(self.claims)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LedgerEntry":
        fields = dict(data)
        fields["methods"] = tuple(fields.get("methods", ()))
        fields["claims"] = tuple(fields.get("claims", ()))
        return cls(**fields)


class Ledger:
    """The append-only log of final-test uses, ``results_dir/final_test_ledger.jsonl`` (one JSON per line).

    Each line is appended with a single ``O_APPEND`` write and ``fsync``, so concurrent writers never lose
    each other's lines and a crash leaves at most a torn last line, which :meth:`entries` reports rather than
    skips: a ledger that hides a use is worse than one that refuses to read.
    """

    def __init__(self, results_dir: str | Path) -> None:
        self.path = Path(results_dir) / LEDGER_FILENAME

    def record(
        self,
        suite: Suite,
        methods: Sequence[str],
        commit: str | None = None,
        date: str | None = None,
        *,
        claims: Sequence[Claim] = (),
        note: str = "",
    ) -> LedgerEntry:
        """Append one use of ``suite``'s final test; ``commit`` defaults to :func:`git_commit`, ``date`` to
        now (UTC, ISO 8601)."""
        entry = LedgerEntry(
            suite=suite.name,
            version=suite.version,
            methods=tuple(methods),
            commit=commit if commit is not None else git_commit(),
            date=date if date is not None else _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            claims=tuple(c.to_dict() for c in claims),
            note=note,
        )
        self._append(json.dumps(entry.to_dict(), sort_keys=True).encode() + b"\n")
        return entry

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = b"\n" + line  # keep a torn last line (from a crash) on its own line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # make the new file's directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def entries(self) -> list[LedgerEntry]:
        """Every recorded use, oldest first; a corrupt line raises :class:`CheckpointError` with its number."""
        if not self.path.exists():
            return []
        entries = []
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(LedgerEntry.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise CheckpointError(f"{self.path}:{number}: corrupt ledger line: {line[:80]!r}",
                                      value=number) from exc
        return entries

    def uses(self, suite_name: str, version: int | None = None) -> list[LedgerEntry]:
        """The recorded uses of one suite (of one version when given)."""
        return [e for e in self.entries() if e.suite == suite_name and (version is None or e.version == version)]

    def markdown(self) -> str:
        """A Markdown table of the ledger for reports: one row per final-test use."""
        lines = [
            "| # | date | suite | methods | commit | command |",
            "|---:|---|---|---|---|---|",
        ]
        for number, entry in enumerate(self.entries(), start=1):
            lines.append(
                f"| {number} | {entry.date} | {entry.suite}@v{entry.version} | {', '.join(entry.methods)} "
                f"| `{entry.commit[:12]}` | {f'`{entry.note}`' if entry.note else '–'} |"
            )
        return "\n".join(lines) + "\n"


load_spec_modules()
