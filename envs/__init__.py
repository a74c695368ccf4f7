"""tunegym environments; importing this module registers them with Gymnasium.

``gym.make("tunegym/SOR-v0")`` works after ``import tunegym.envs``; without the import use
``gym.make("tunegym.envs:tunegym/SOR-v0")``. Registration is data: id, string entry point, episode length
and default kwargs, so importing this module stays cheap (no solver is built until ``make``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

__all__ = ["ENVS", "EnvSpec", "register_all"]


@dataclass(frozen=True)
class EnvSpec:
    """One registered environment: its id, entry point, episode length, default kwargs and summary."""

    id: str
    entry_point: str
    max_episode_steps: int | None
    summary: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None  # a native vector env for gym.make_vec(..., "vector_entry_point")


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
)


def register_all() -> None:
    """Register every tunegym env with Gymnasium (idempotent)."""
    for spec in ENVS:
        if spec.id in gym.registry:
            continue
        gym.register(
            id=spec.id,
            entry_point=spec.entry_point,
            max_episode_steps=spec.max_episode_steps,
            kwargs=dict(spec.kwargs),
            vector_entry_point=spec.vector_entry_point,
            disable_env_checker=True,  # tests run the full check_env on every env; no per-make warnings
        )


register_all()
