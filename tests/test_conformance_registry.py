"""Every registered id — single-agent, vector and PettingZoo — passes the conformance checker.

The domain test files check their envs' variants in depth; this file guarantees that no registered id is left
out: an id added to ``tunegym.envs.ENVS`` or ``MULTIAGENT_ENVS`` without an entry in ``SMALL`` fails here.
"""

from __future__ import annotations

import gymnasium as gym
import pettingzoo
import pytest

from tunegym.envs import ENVS, MULTIAGENT_ENVS
from tunegym.envs.testing import check_tunegym_env, check_tunegym_parallel_env, check_tunegym_vector_env

#: registered id -> kwargs that keep one check fast (small grids, short runs); every id must be listed
SMALL: dict[str, dict] = {
    "tunegym/SOR-v0": {},
    "tunegym/SORMatrix-v0": {"grids": (8, 10)},
    "tunegym/SORDynamic-v0": {},
    "tunegym/SORHeat-v0": {"grid": 8, "n_steps": 20},
    "tunegym/ThreeBody-v0": {"episode_length": 5},
    "tunegym/ThreeBodyContinuous-v0": {"episode_length": 5},
    "tunegym/ThreeBodyCommit-v0": {},
    "tunegym/ODEStep-v0": {},
    "tunegym/ODEStepContinuous-v0": {},
    "tunegym/ODEController-v0": {"rtol_range": (1e-5, 1e-3)},
    "tunegym/MIPLNS-v0": {"max_steps": 4},
    "tunegym/MIPLNSRate-v0": {"max_steps": 4},
    "tunegym/LRSchedule-v0": {},
    "tunegym/LRScheduleContinuous-v0": {},
    "tunegym/PCG-v0": {},
    "tunegym/PGMRES-v0": {},
    "tunegym/BlockSOR-v0": {},
    "tunegym/LRGroups-v0": {},
    "tunegym/LNSOperatorRate-v0": {"max_steps": 4},
    "tunegym/StepOrder-v0": {},
}


def test_every_registered_id_has_a_conformance_entry():
    registered = {spec.id for spec in ENVS + MULTIAGENT_ENVS}
    assert registered == set(SMALL), f"add to SMALL: {sorted(registered - set(SMALL))}; " \
                                     f"remove: {sorted(set(SMALL) - registered)}"


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [spec.id for spec in ENVS])
def test_single_agent_id_conforms(env_id):
    env = gym.make(env_id, **SMALL[env_id])
    check_tunegym_env(env, steps=3)
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [spec.id for spec in ENVS if spec.vector_entry_point])
def test_native_vector_env_conforms(env_id):
    env = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **SMALL[env_id])
    check_tunegym_vector_env(env, steps=2)
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [spec.id for spec in MULTIAGENT_ENVS])
def test_pettingzoo_id_conforms_through_pettingzoos_registry(env_id):
    check_tunegym_parallel_env(lambda: pettingzoo.make("parallel", env_id, **SMALL[env_id]), cycles=3)
