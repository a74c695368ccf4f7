"""Block SOR with one relaxation factor per block of rows, one agent per block (PettingZoo).

The system is a 2-D Laplacian on a ``grid x grid`` interior whose horizontal strips carry different
diagonal offsets (``A = L + diag(c_row)``, ``c`` constant on each strip), so each strip has its own best
ω. Each agent holds the ω of one strip (its part of one :class:`~tunegym.envs.core.knob.CompositeKnob`, or
its own ``BoxKnob`` in the continuous variant); all agents' choices go into ONE step of the SOR solve
process of ``tunegym/SOR-v0`` (:class:`~tunegym.envs.sor.process.SORSolve`, given per-row factors), and all
share its cost. This module holds no solver, reset or reward code of its own: instances come from an
:class:`~tunegym.envs.core.instance_stream.InstanceStream`, the reward is the named ``neg_cost``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, CompositeKnob, Knob
from tunegym.envs.core.rewards import make_reward
from tunegym.envs.core.instance_stream import InstanceStream
from tunegym.envs.multiagent.common import broadcast_step, check_actions, check_seed
from tunegym.envs.sor.env import DEFAULT_ARMS, omega_knob
from tunegym.envs.sor.instances import LinearSystem, poisson2d, truncated_normal, VARIANCES
from tunegym.envs.sor.process import SORSolve, SystemContext
from tunegym.envs.sor.solver import prepare_matrix

__all__ = ["StripShiftedLaplacianDistribution", "BlockSORSolve", "BlockSORParallelEnv"]


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
        matrix = self._base.with_values(self._base.data, self._base.diag + offsets[self.block_of_row])
        b = truncated_normal(rng, matrix.n)
        return LinearSystem(
            matrix=matrix, b=b, context=offsets.astype(np.float32), jacobi_radius=float("nan"),
            name=f"{self.name}-g{self.grid}-k{self.blocks}", meta={"offsets": offsets.tolist()},
        )


class BlockSORSolve(SORSolve):
    """:class:`SORSolve` with one ω per block of rows: the knob value is the tuple of per-block factors."""

    def __init__(self, block_of_row: np.ndarray, **solve_kwargs: Any) -> None:
        super().__init__(**solve_kwargs)
        self.block_of_row = np.asarray(block_of_row, dtype=np.int64)

    def relaxation(self, knob_value: Any) -> tuple[np.ndarray, list[float]]:
        omegas = np.asarray(knob_value, dtype=np.float64).reshape(-1)
        return omegas[self.block_of_row], omegas.tolist()


class BlockSORParallelEnv(ParallelEnv):
    """One agent per block of rows chooses that block's SOR relaxation factor; all share the sweep count.

    ## Description
    A PettingZoo view over the SOR solve process of ``tunegym/SOR-v0``: each joint step solves the next
    system of a :class:`StripShiftedLaplacianDistribution` sequence once, by SOR from ``x0 = 0`` to relative
    residual ``tol``, with each strip's rows relaxed by its agent's ω. Cost: the exact number of sweeps.

    ## Agents
    ``block_0 .. block_{k-1}``, one per horizontal strip of the grid.

    ## Action Space (per agent)
    Each agent's part of the knob: ``Discrete(20)`` arms ``ω = linspace(1, 1.95, 20)`` (``knob.part(agent)``
    of the :class:`CompositeKnob` ``env.knob``), or with ``action="continuous"`` the normalised
    ``Box(-1, 1, (1,))`` on ``[omega_low, omega_high]``. A missing or unknown agent, an invalid action raises
    ``ActionError``.

    ## Observation Space (per agent)
    ``Box(2)``: the agent's strip offset ``c_j`` and the mean offset over all strips.

    ## Rewards
    Every agent gets ``reward="neg_cost"``: ``-cost / reward_scale`` of the joint solve (cooperative); a
    solve that diverges or reaches ``max_sweeps`` costs ``max_sweeps + failure_penalty``.

    ## Info (per agent, the same for all)
    The core contract (``cost`` in ``sor_sweeps``, ``knob`` = the per-block ω list, ``instance_id``,
    ``quality`` = ``relative_residual``, ``status``), and ``sweeps``, ``omega`` and ``omegas`` (the per-block
    ω), ``converged``, ``residual``, ``context`` (the strip offsets).

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream; ``reset(options={"instance": system})`` replays a
    strip-shifted :class:`LinearSystem` (``env.instance`` is the system about to be solved) whatever the seed.

    ## Episode End
    Truncated after ``episode_length`` systems; never terminates.

    ## Arguments
    ``grid`` (12), ``blocks`` (3), ``variance``, ``action``, ``arms``, ``omega_low``/``omega_high``,
    ``episode_length`` (50), ``tol`` (1e-8), ``max_sweeps`` (10,000), ``reward_scale`` (100),
    ``failure_penalty`` (0).

    ## Version History
    - v0: initial release. Before any release (2026-12-01): a view over ``SOR-v0``'s process (no second
      solve loop); ``failure_penalty`` is honoured; ``reset(options={"instance": ...})`` replays the instance;
      every info carries the cost contract; the continuous action is the normalised ``Box(-1, 1)``.
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
        omega_low: float = 1.0,
        omega_high: float = 1.99,
        episode_length: int = 50,
        tol: float = 1e-8,
        max_sweeps: int = 10_000,
        reward_scale: float = 100.0,
        failure_penalty: float = 0.0,
    ) -> None:
        if int(episode_length) < 1:
            raise ConfigError(f"episode_length must be >= 1 systems, got {episode_length!r}", value=episode_length)
        self.distribution = StripShiftedLaplacianDistribution(grid, blocks, variance)
        self.possible_agents = [f"block_{j}" for j in range(blocks)]
        self.agents: list[str] = []
        self.knobs: dict[str, Knob] = {}
        for agent in self.possible_agents:
            knob = omega_knob(action, arms, omega_low, omega_high)
            self.knobs[agent] = ArmKnob(agent, knob.arms) if isinstance(knob, ArmKnob) else type(knob)(
                agent, knob.low, knob.high, knob.scale)
        #: the joint knob (flat index, last agent fastest) for the discrete variant; None when continuous
        self.knob = CompositeKnob("omega", list(self.knobs.values())) if action == "discrete" else None
        self.process = BlockSORSolve(self.distribution.block_of_row, tol=tol, max_sweeps=max_sweeps,
                                     failure_penalty=failure_penalty)
        self.instances = InstanceStream(self.distribution, LinearSystem)
        low = self.distribution.offset_low
        high = low + self.distribution.offset_scale
        self.features = SystemContext(np.full(blocks, low), np.full(blocks, high), kind="matrix")
        self.reward_fn = make_reward("neg_cost", {"scale": float(reward_scale)})
        self.episode_length = int(episode_length)
        self._observation_space = spaces.Box(low, high, shape=(2,), dtype=np.float32)
        self._np_random: np.random.Generator | None = None
        self._step = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return self.knobs[agent].space

    @property
    def instance(self) -> LinearSystem | None:
        """The system the next joint step solves."""
        return self.process.instance

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        seed = check_seed(seed)
        if seed is not None or self._np_random is None:
            self._np_random, _ = seeding.np_random(seed)
        self.process.start(self.instances.reset(seed, options, self._np_random))
        self.agents = list(self.possible_agents)
        self._step = 0
        return self._observations(), {a: {"instance_id": self.instance.id} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        check_actions(self.agents, self.possible_agents, actions)
        omegas = tuple(self.knobs[a].decode(actions[a]) for a in self.possible_agents)
        record = self.process.advance(omegas)
        self._step += 1
        truncated = self._step >= self.episode_length
        if not truncated:  # the next system; an ended episode's last observation is of the system it solved
            self.process.start(self.instances.next())
        info = record.info()
        info["omegas"] = info["omega"]
        result = broadcast_step(self.agents, self._observations(), self.reward_fn(record), False, truncated, info)
        if truncated:
            self.agents = []
        return result

    def cost_of(self, omegas: Any) -> float:
        """Cost of the next system with per-block factors ``omegas`` (for oracles; does not advance).

        The same process solves it (a fresh :class:`BlockSORSolve` with this env's settings).
        """
        trial = BlockSORSolve(self.process.block_of_row, tol=self.process.tol, max_sweeps=self.process.max_sweeps,
                              failure_penalty=self.process.failure_penalty)
        trial.start(self.instance)
        return trial.advance(tuple(float(w) for w in np.asarray(omegas).reshape(-1))).cost

    def _observations(self) -> dict[str, np.ndarray]:
        offsets = self.features.observation(self.process)
        mean = float(np.mean(offsets))
        return {agent: np.array([offsets[j], mean], dtype=np.float32) for j, agent in enumerate(self.possible_agents)}
