"""Initial conditions for the N-body envs: the paper's three-body distribution and user-given systems.

An :class:`NBodyInstance` is immutable (arrays are read-only copies) and knows its content id. Loading
from CSV/YAML lives here; nothing here integrates anything.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import Instance, SequenceDistribution, content_id
from tunegym.envs.timestep.nbody import G_AU_MSUN_YR, validate_system

__all__ = [
    "FixedSystemsDistribution",
    "NBodyInstance",
    "PaperThreeBodyDistribution",
    "load_initial_conditions",
]


@dataclass(frozen=True, eq=False)
class NBodyInstance(Instance):
    """Masses ``[bodies]``, positions and velocities ``[bodies, 3]`` and the gravitational constant ``G``."""

    masses: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    G: float = G_AU_MSUN_YR

    def __post_init__(self) -> None:
        m, x, v, batched = validate_system(self.masses, self.positions, self.velocities)
        if batched:
            raise InstanceError("an NBodyInstance holds one system [bodies, 3]", value=np.shape(self.positions))
        try:
            G = float(self.G) if np.ndim(self.G) == 0 and not isinstance(self.G, (bool, str, bytes)) else math.nan
        except (TypeError, ValueError):
            G = math.nan
        if not (math.isfinite(G) and G > 0):
            raise InstanceError(f"G must be a finite positive number, got {self.G!r}", value=self.G)
        for name, arr in (("masses", m[0]), ("positions", x[0]), ("velocities", v[0])):
            arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "G", G)

    @property
    def instance_id(self) -> str:
        return content_id("nbody", self.masses, self.positions, self.velocities, G=self.G)

    @property
    def bodies(self) -> int:
        return int(self.masses.shape[0])

    def centred(self) -> NBodyInstance:
        """The same system in its centre-of-mass frame (centre of mass at rest at the origin)."""
        m = self.masses[:, None]
        com = (m * self.positions).sum(0) / m.sum()
        vcom = (m * self.velocities).sum(0) / m.sum()
        return NBodyInstance(self.masses, self.positions - com, self.velocities - vcom, self.G)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NBodyInstance) and self.instance_id == other.instance_id

    def __hash__(self) -> int:
        return hash(self.instance_id)


class PaperThreeBodyDistribution(SequenceDistribution):
    """Saz Ulibarrena & Portegies Zwart (arXiv 2502.12809): three 1 M☉ bodies at rest, in au/M☉/yr.

    Body 1 at ``x ~ U[5, 20], y ~ U[0, 10]``, body 2 at ``x ~ U[-10, 0], y ~ U[5, 20]``, body 3 at the
    origin, ``z = 0``. With ``centre=True`` (default) the system is moved to its centre-of-mass frame: the
    paper's boxes put the centre of mass off the origin; at rest the momentum is zero either way, so the
    dynamics are identical and only the coordinates shift.
    """

    name = "three-body-paper"
    version = 0

    def __init__(self, *, centre: bool = True, mass: float = 1.0) -> None:
        if not mass > 0:
            raise ConfigError(f"mass must be positive, got {mass!r}", value=mass)
        self.centre, self.mass = bool(centre), float(mass)

    @property
    def params(self) -> dict[str, Any]:
        return {"centre": self.centre, "mass": self.mass}

    def sample(self, rng: np.random.Generator) -> NBodyInstance:
        x1 = (rng.uniform(5.0, 20.0), rng.uniform(0.0, 10.0))
        x2 = (rng.uniform(-10.0, 0.0), rng.uniform(5.0, 20.0))
        positions = np.array([[x1[0], x1[1], 0.0], [x2[0], x2[1], 0.0], [0.0, 0.0, 0.0]])
        inst = NBodyInstance(np.full(3, self.mass), positions, np.zeros((3, 3)), G_AU_MSUN_YR)
        return inst.centred() if self.centre else inst


class FixedSystemsDistribution(SequenceDistribution):
    """User-given systems, served in order and cycled (``sample`` draws one uniformly)."""

    name = "nbody-fixed"
    version = 0

    def __init__(self, systems: Sequence[NBodyInstance]) -> None:
        if not systems:
            raise ConfigError("need at least one system", value=systems)
        self.systems = tuple(systems)

    @property
    def params(self) -> dict[str, Any]:
        return {"instance_ids": [s.instance_id for s in self.systems]}

    def sample(self, rng: np.random.Generator) -> NBodyInstance:
        return self.systems[int(rng.integers(len(self.systems)))]

    def sequence(self, rng: np.random.Generator, length: int | None = None) -> Iterator[NBodyInstance]:
        count = 0
        while length is None or count < length:
            yield self.systems[count % len(self.systems)]
            count += 1


def load_initial_conditions(path: str | Path, *, G: float = G_AU_MSUN_YR) -> list[NBodyInstance]:
    """Systems from a CSV or YAML file.

    CSV: a header with ``mass,x,y,z,vx,vy,vz`` and optionally ``system`` (rows with the same value form one
    system; without it the whole file is one system). YAML: a mapping ``{masses, positions, velocities, G?}``
    or a list of such mappings (or ``{systems: [...]}``).
    """
    path = Path(path)
    if not path.is_file():
        raise InstanceError(f"initial-condition file not found: {path}", value=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        needed = ("mass", "x", "y", "z", "vx", "vy", "vz")
        if not rows or any(key not in rows[0] for key in needed):
            raise InstanceError(f"{path}: CSV needs the columns {needed}", value=str(path))
        groups: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            groups.setdefault(row.get("system", "0"), []).append(row)
        systems = []
        for rows_of in groups.values():
            try:
                data = np.array([[float(r[k]) for k in needed] for r in rows_of])
            except ValueError as exc:
                raise InstanceError(f"{path}: non-numeric value ({exc})", value=str(path)) from exc
            systems.append(NBodyInstance(data[:, 0], data[:, 1:4], data[:, 4:7], G))
        return systems
    if suffix in (".yaml", ".yml"):
        import yaml

        content = yaml.safe_load(path.read_text())
        if isinstance(content, dict) and "systems" in content:
            content = content["systems"]
        entries = content if isinstance(content, list) else [content]
        systems = []
        for entry in entries:
            if not isinstance(entry, dict) or not {"masses", "positions", "velocities"} <= set(entry):
                raise InstanceError(f"{path}: each system needs masses, positions, velocities", value=entry)
            systems.append(NBodyInstance(np.asarray(entry["masses"], float), np.asarray(entry["positions"], float),
                                         np.asarray(entry["velocities"], float), float(entry.get("G", G))))
        return systems
    raise InstanceError(f"unknown initial-condition file type {suffix!r} (use .csv, .yaml or .yml)", value=str(path))
