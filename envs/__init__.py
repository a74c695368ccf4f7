"""tunegym environments; importing this module registers them with Gymnasium.

``gym.make("tunegym/SOR-v0")`` works after ``import tunegym.envs``; without the import use
``gym.make("tunegym.envs:tunegym/SOR-v0")``. Registration is data: id, string entry point, episode length
and default kwargs, so importing this module stays cheap (no solver is built until ``make``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

__all__ = ["ENVS", "MULTIAGENT_ENVS", "EnvSpec", "domain_of", "register_all"]


@dataclass(frozen=True)
class EnvSpec:
    """One registered environment: its id, entry point, episode length, summary, default kwargs and domain.

    ``domain`` names the process family (``"sor"``, ``"timestep"``, ``"lr"``, ``"mip"``, ...): a tuner records
    it, and a deploy adapter refuses a tuner of another domain.
    """

    id: str
    entry_point: str
    max_episode_steps: int | None
    summary: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None  # a native vector env for gym.make_vec(..., "vector_entry_point")
    domain: str = ""

    def __post_init__(self) -> None:
        if not self.domain:  # the subpackage of the entry point: tunegym.envs.<domain>.module:Class
            object.__setattr__(self, "domain", self.entry_point.split(".")[2])


ENVS: tuple[EnvSpec, ...] = (
    EnvSpec(
        "tunegym/SOR-v0",
        "tunegym.envs.sor.env:make_setting_a",
        100,
        "SOR relaxation factor per system, Learning to Relax setting A (variance='high'|'low'); cost = sweeps",
        {"variance": "high"},
    ),
    EnvSpec(
        "tunegym/SORMatrix-v0",
        "tunegym.envs.sor.env:make_matrix_env",
        100,
        "SOR relaxation factor for user matrices (matrices=[paths]) or generated Laplacians; obs = matrix features",
    ),
    EnvSpec(
        "tunegym/SORDynamic-v0",
        "tunegym.envs.sor.dynamic:make_dynamic_env",
        None,
        "SOR relaxation factor changed every k sweeps within one solve; obs = residual history",
    ),
    EnvSpec(
        "tunegym/SORHeat-v0",
        "tunegym.envs.sor.heat:make_heat_env",
        1000,  # = the env's default n_steps; for longer runs pass n_steps=N and max_episode_steps=N
        "SSOR-PCG relaxation factor per time step of a 2-D heat equation, Learning to Relax setting B; cost = CG iterations",
    ),
    EnvSpec(
        "tunegym/ThreeBody-v0",
        "tunegym.envs.timestep.env:make_three_body",
        None,  # the env truncates itself after episode_length actions (default 100; the paper evaluates 300)
        "Hermite time-step parameter eta every 0.1 yr of a chaotic three-body run (arXiv 2502.12809); cost = force evaluations",
    ),
    EnvSpec(
        "tunegym/ThreeBodyContinuous-v0",
        "tunegym.envs.timestep.env:make_three_body_continuous",
        None,
        "ThreeBody-v0 with log10(eta) as a continuous action in [-4, -1]; cost = force evaluations",
    ),
    EnvSpec(
        "tunegym/ThreeBodyCommit-v0",
        "tunegym.envs.timestep.commit:make_three_body_commit",
        None,  # one decision per episode (terminates after it)
        "one constant Hermite eta per three-body instance, chosen after a coarse pilot run; cost = force evaluations",
    ),
    EnvSpec(
        "tunegym/ODEStep-v0",
        "tunegym.envs.timestep.ode_env:make_ode_step",
        None,  # the env truncates itself after max_attempts (default 400)
        "Step-size controller gain (or raw factor, knob='factor') of a Dormand-Prince 5(4) pair on classic ODEs; cost = RHS evaluations",
    ),
    EnvSpec(
        "tunegym/ODEStepContinuous-v0",
        "tunegym.envs.timestep.ode_env:make_ode_step_continuous",
        None,
        "ODEStep-v0 with the controller safety factor in [0.2, 1.5] as a continuous action; cost = RHS evaluations",
    ),
    EnvSpec(
        "tunegym/ODEController-v0",
        "tunegym.envs.timestep.ode_controller:make_ode_controller",
        None,  # one decision per solve (terminates after it)
        "Step-size controller (I/PI rule x safety factor) of a whole Dormand-Prince 5(4) solve, from rtol and the first look; reward = -log2(RHS evaluations / RK45's at equal error)",
    ),
    EnvSpec(
        "tunegym/MIPLNS-v0",
        "tunegym.envs.mip.env:make_lns",
        None,  # the env truncates itself after max_steps LNS steps (default 20)
        "Destroy operator of adaptive LNS on a MIP solved by HiGHS (Balans); cost = sub-MIP nodes / LP iterations",
    ),
    EnvSpec(
        "tunegym/MIPLNSRate-v0",
        "tunegym.envs.mip.env:make_lns_rate",
        None,
        "MIPLNS-v0 with operator x destroy rate (9 x 5 arms); cost = sub-MIP nodes / LP iterations",
    ),
    EnvSpec(
        "tunegym/LRSchedule-v0",
        "tunegym.envs.lr.env:make_lr_schedule",
        None,  # the env terminates itself when the task's step budget is used up
        "Learning rate (log-scale multiplier of a base LR, 9 arms) every k optimizer steps of a real torch training run; cost = optimizer steps, objective = final validation loss",
        vector_entry_point="tunegym.envs.lr.env:make_lr_schedule_vector",
    ),
    EnvSpec(
        "tunegym/LRScheduleContinuous-v0",
        "tunegym.envs.lr.env:make_lr_schedule_continuous",
        None,
        "LRSchedule-v0 with the log10 LR multiplier in [-3, 1] as a continuous action",
        vector_entry_point="tunegym.envs.lr.env:make_lr_schedule_continuous_vector",
    ),
    EnvSpec("tunegym/PCG-v0", "tunegym.envs.krylov.env:make_pcg", 100, "Preconditioner (or reuse) per system of a sequence of SPD solves by CG (PCGBandit); cost = flops (setup + iterations)"),
    EnvSpec("tunegym/PGMRES-v0", "tunegym.envs.krylov.env:make_pgmres", 100, "Preconditioner (or reuse) per system of a sequence of non-symmetric solves by GMRES; cost = flops"),
)


MULTIAGENT_ENVS: tuple[EnvSpec, ...] = (
    EnvSpec(
        "tunegym/BlockSOR-v0",
        "tunegym.envs.multiagent.block_sor:BlockSORParallelEnv",
        None,
        "[PettingZoo] one SOR relaxation factor per block of rows, one agent per block; shared sweep cost",
        domain="sor",
    ),
    EnvSpec(
        "tunegym/LRGroups-v0",
        "tunegym.envs.multiagent.lr:LRGroupsParallelEnv",
        None,
        "[PettingZoo] one LR multiplier per layer of one torch training run, one agent per layer; shared loss reward",
        domain="lr",
    ),
    EnvSpec(
        "tunegym/LNSOperatorRate-v0",
        "tunegym.envs.multiagent.mip:LNSOperatorRateParallelEnv",
        None,
        "[PettingZoo] MIP LNS: one agent picks the destroy operator, one the destroy rate (MIPLNSRate-v0's process)",
        domain="mip",
    ),
    EnvSpec(
        "tunegym/StepOrder-v0",
        "tunegym.envs.multiagent.timestep:StepOrderParallelEnv",
        None,
        "[PettingZoo] ODE integration: one agent sets the controller gain, one the RK pair (3(2) or 5(4))",
        domain="timestep",
    ),
)


def domain_of(env_id: str) -> str | None:
    """The domain of a registered single- or multi-agent id (None for ids tunegym does not know)."""
    for spec in ENVS + MULTIAGENT_ENVS:
        if spec.id == env_id:
            return spec.domain
    return None


def register_all() -> None:
    """Register every tunegym env with Gymnasium, and the multi-agent ones with PettingZoo (idempotent).

    ``gym.make("tunegym/SOR-v0")`` and ``pettingzoo.make("parallel", "tunegym/BlockSOR-v0")`` then work.
    Gymnasium's passive env checker stays on: every env passes it.
    """
    for spec in ENVS:
        if spec.id in gym.registry:
            continue
        gym.register(
            id=spec.id,
            entry_point=spec.entry_point,
            max_episode_steps=spec.max_episode_steps,
            kwargs=dict(spec.kwargs),
            vector_entry_point=spec.vector_entry_point,
        )
    import pettingzoo

    for spec in MULTIAGENT_ENVS:
        if spec.id not in pettingzoo.parallel_registry:
            pettingzoo.register("parallel", spec.id, spec.entry_point, kwargs=dict(spec.kwargs))


register_all()
