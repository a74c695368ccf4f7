"""Every SOR env (single-agent and PettingZoo) passes tunegym's conformance checker."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the ids)
from tunegym.envs.multiagent import make
from tunegym.envs.testing import check_tunegym_env, check_tunegym_parallel_env

SINGLE = [
    ("tunegym/SOR-v0", {}),
    ("tunegym/SOR-v0", {"action": "continuous", "variance": "low"}),
    ("tunegym/SORMatrix-v0", {}),
    ("tunegym/SORDynamic-v0", {}),
    ("tunegym/SORDynamic-v0", {"action": "continuous", "grids": [6, 9]}),
    ("tunegym/SORHeat-v0", {"grid": 8}),
    ("tunegym/SORHeat-v0", {"grid": 8, "action": "continuous"}),
]


@pytest.mark.parametrize("env_id, kwargs", SINGLE)
def test_sor_env_conforms(env_id, kwargs):
    check_tunegym_env(gym.make(env_id, **kwargs), steps=8)


@pytest.mark.parametrize("kwargs", [{"grid": 8, "blocks": 2}, {"grid": 8, "blocks": 2, "action": "continuous"}])
def test_block_sor_conforms(kwargs):
    check_tunegym_parallel_env(lambda: make("tunegym/BlockSOR-v0", **kwargs))


def test_block_sor_replays_the_instance_it_is_given_whatever_the_seed():
    env = make("tunegym/BlockSOR-v0", grid=8, blocks=2)
    env.reset(seed=1)
    system = env.instance
    actions = [{"block_0": a, "block_1": 19 - a} for a in (3, 12, 17)]
    first = [env.step(action)[4]["block_0"] for action in actions]
    env.reset(seed=77, options={"instance": system})
    assert env.instance is system
    again = [env.step(action)[4]["block_0"] for action in actions]
    assert again[0] == first[0]  # the replayed system; later systems follow from its id
    env.reset(seed=78, options={"instance": system})
    assert [env.step(action)[4]["block_0"] for action in actions] == again


def test_block_sor_charges_the_failure_penalty():
    env = make("tunegym/BlockSOR-v0", grid=8, blocks=2, max_sweeps=5, failure_penalty=50.0, reward_scale=10.0)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"block_0": 0, "block_1": 0})
    assert infos["block_0"]["status"] == "max_sweeps" and infos["block_0"]["cost"] == 55.0
    assert rewards == {"block_0": -5.5, "block_1": -5.5}


def test_block_sor_joint_step_is_the_sor_v0_process_with_per_block_omega():
    from tunegym.envs.sor.process import SORSolve

    env = make("tunegym/BlockSOR-v0", grid=8, blocks=2)
    env.reset(seed=2)
    system = env.instance
    _, _, _, _, infos = env.step({"block_0": 14, "block_1": 14})
    plain = SORSolve(tol=1e-8, max_sweeps=10_000)
    plain.start(system)
    record = plain.advance(env.knobs["block_0"].decode(14))
    assert infos["block_1"]["sweeps"] == record.extra["sweeps"] and infos["block_1"]["omegas"] == [record.knob] * 2
    assert np.isfinite(infos["block_0"]["cost"])
