"""Block SOR with one relaxation factor per block of rows, one agent per block (PettingZoo).

The system is a 2-D Laplacian on a ``grid x grid`` interior whose horizontal strips carry different
diagonal offsets (``A = L + diag(c_row)``, ``c`` constant on each strip), so each strip has its own best
ω. Each agent holds the ω of one strip; all agents' choices go into one SOR solve (the same compiled
kernel as ``tunegym/SOR-v0``, given per-row factors), and all share its cost.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution, content_id
from tunegym.envs.core.seeding import stream
from tunegym.envs.sor.actions import DEFAULT_ARMS, OmegaKnob
from tunegym.envs.sor.instances import LinearSystem, poisson2d, truncated_normal, VARIANCES
from tunegym.envs.sor.solver import prepare_matrix, solve_prepared

__all__ = ["StripShiftedLaplacianDistribution", "BlockSORParallelEnv"]


class StripShiftedLaplacianDistribution(SequenceDistribution):
    """``L + diag(c)`` with ``c`` constant on each of ``blocks`` horizontal strips of the grid.

    ``c_j = offset_low + offset_scale * Beta(a, b)`` independently per strip (the Learning to Relax offsets,
    per strip). ``offset_low`` must keep the matrix positive definite: ``> -(4 - 4 cos(π/(grid+1)))``.
    """

    name = "strip-shifted-laplacian"
    version = 0

    def __init__(
        self,
        grid: int = 12,
        blocks: int = 3,
        variance: str = "high",
        offset_low: float = -0.1,
        offset_scale: float = 0.6,
    ) -> None:
        if not 1 <= blocks <= grid:
            raise ConfigError(f"blocks must be between 1 and grid={grid}, got {blocks}", value=blocks)
        if variance not in VARIANCES:
            raise ConfigError(f"variance must be one of {sorted(VARIANCES)}, got {variance!r}", value=variance)
        lam_min = 4.0 - 4.0 * math.cos(math.pi / (grid + 1))
        if offset_low <= -lam_min:
            raise ConfigError(f"offset_low={offset_low} makes the {grid}x{grid} system indefinite (needs > "
                              f"{-lam_min:.4f})", value=offset_low)
        self.grid, self.blocks, self.variance = int(grid), int(blocks), variance
        self.beta = VARIANCES[variance]
        self.offset_low, self.offset_scale = float(offset_low), float(offset_scale)
        self._base = prepare_matrix(poisson2d(self.grid))
        grid_rows = np.array_split(np.arange(self.grid), self.blocks)
        # Natural ordering: unknown (ix, iy) is row iy * grid + ix; strip j holds grid rows grid_rows[j].
        self.block_of_row = np.empty(self.grid * self.grid, dtype=np.int64)
        for j, rows in enumerate(grid_rows):
            for iy in rows:
                self.block_of_row[iy * self.grid:(iy + 1) * self.grid] = j

    @property
    def params(self) -> dict[str, Any]:
        return {"grid": self.grid, "blocks": self.blocks, "variance": self.variance,
                "offset_low": self.offset_low, "offset_scale": self.offset_scale}

    def sample(self, rng: np.random.Generator) -> LinearSystem:
        offsets = self.offset_low + self.offset_scale * rng.beta(*self.beta, size=self.blocks)
        matrix = self._base.shifted(0.0)
        matrix = type(matrix)(matrix.indptr, matrix.split, matrix.indices, matrix.data,
                              matrix.diag + offsets[self.block_of_row])
        b = truncated_normal(rng, matrix.n)
        return LinearSystem(
            matrix=matrix, b=b, context=offsets.astype(np.float32), jacobi_radius=float("nan"),
            name=f"{self.name}-g{self.grid}-k{self.blocks}", meta={"offsets": offsets.tolist()},
        )


class BlockSORParallelEnv(ParallelEnv):
    """One agent per block of rows chooses that block's SOR relaxation factor; all share the sweep count.

    ## Agents
    ``block_0 .. block_{k-1}``, one per horizontal strip of the grid.

    ## Action Space (per agent)
    As ``tunegym/SOR-v0``: ``Discrete(20)`` arms ``ω = linspace(1, 1.95, 20)`` or ``action="continuous"``.

    ## Observation Space (per agent)
    ``Box(2)``: the agent's strip offset ``c_j`` and the mean offset over all strips.

    ## Rewards
    Every agent gets ``-sweeps / reward_scale`` of the joint solve (cooperative); a diverged solve costs
    ``max_sweeps``.

    ## Episode End
    Truncated after ``episode_length`` systems; never terminates.

    ## Version History
    - v0: initial release.
    """

    metadata = {"name": "tunegym/BlockSOR-v0", "render_modes": []}

    def __init__(
        self,
        grid: int = 12,
        blocks: int = 3,
        variance: str = "high",
        *,
        action: str = "discrete",
        arms: tuple[float, ...] = DEFAULT_ARMS,
        episode_length: int = 50,
        tol: float = 1e-8,
        max_sweeps: int = 10_000,
        reward_scale: float = 100.0,
    ) -> None:
        self.distribution = StripShiftedLaplacianDistribution(grid, blocks, variance)
        self.knob = OmegaKnob(action, arms)
        self.episode_length, self.tol, self.max_sweeps = int(episode_length), float(tol), int(max_sweeps)
        self.reward_scale = float(reward_scale)
        self.possible_agents = [f"block_{j}" for j in range(blocks)]
        self.agents: list[str] = []
        low = self.distribution.offset_low
        high = low + self.distribution.offset_scale
        self._observation_space = spaces.Box(low, high, shape=(2,), dtype=np.float32)
        self._stream: Any = None
        self.current_instance: LinearSystem | None = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return OmegaKnob(self.knob.kind, self.knob.arms).space

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or self._stream is None:
            rng = stream(seed, "instances")
            self._stream = self.distribution.sequence(rng)
        self.agents = list(self.possible_agents)
        self._step = 0
        self.current_instance = next(self._stream)
        return self._observations(), {a: {"instance_id": self.current_instance.instance_id} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ConfigError(f"actions missing for agents {missing}", value=missing)
        omegas = np.array([self.knob.to_omega(actions[a]) for a in self.possible_agents])
        system = self.current_instance
        omega_rows = omegas[self.distribution.block_of_row]
        result = solve_prepared(system.matrix, system.b, omega_rows, tol=self.tol, max_sweeps=self.max_sweeps)
        cost = float(result.sweeps) if result.converged else float(self.max_sweeps)
        self._step += 1
        truncated = self._step >= self.episode_length
        info = {"sweeps": result.sweeps, "cost": cost, "status": result.status, "omegas": omegas.tolist(),
                "instance_id": system.instance_id}
        rewards = {a: -cost / self.reward_scale for a in self.agents}
        terminations = {a: False for a in self.agents}
        truncations = {a: truncated for a in self.agents}
        infos = {a: dict(info) for a in self.agents}
        if truncated:
            observations = self._observations()
            self.agents = []
        else:
            self.current_instance = next(self._stream)
            observations = self._observations()
        return observations, rewards, terminations, truncations, infos

    def cost_of(self, omegas: np.ndarray) -> float:
        """Sweeps of the next system with per-block factors ``omegas`` (for oracles; does not advance)."""
        system = self.current_instance
        rows = np.asarray(omegas, dtype=np.float64)[self.distribution.block_of_row]
        result = solve_prepared(system.matrix, system.b, rows, tol=self.tol, max_sweeps=self.max_sweeps)
        return float(result.sweeps) if result.converged else float(self.max_sweeps)

    def _observations(self) -> dict[str, np.ndarray]:
        offsets = self.current_instance.context
        mean = float(np.mean(offsets))
        return {
            agent: np.array([offsets[j], mean], dtype=np.float32)
            for j, agent in enumerate(self.possible_agents)
            if agent in self.agents or not self.agents
        }
