"""Robustness of user inputs to the N-body integrator, the multi-agent envs, the agents and the tuner files.

Each test pins one defect found by feeding the public API what a user might bring (a zero-energy system, a NaN
setting, a step after the episode ended, a corrupt tuner file, a NaN context): the answer must be a typed
tunegym error or a defined result, never a raw NumPy/Python exception, a silent wrong answer or a NaN.
"""

from __future__ import annotations

import json
import math
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch

import tunegym.envs
from tunegym.envs.core.errors import ActionError, CheckpointError, ConfigError, InstanceError
from tunegym.envs.timestep.nbody import HermiteState, simulate

_REGISTERED = tunegym.envs.MULTIAGENT_ENVS  # importing tunegym.envs registers the gym ids
THREE = dict(masses=np.ones(3), positions=np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0]]), velocities=np.zeros((3, 3)))
# Two unit masses 1 apart, each moving at speed 1 (G = 1): kinetic 1, potential -1, total energy exactly 0.
PARABOLIC = dict(masses=[1.0, 1.0], positions=[[0.5, 0, 0], [-0.5, 0, 0]], velocities=[[0, 1.0, 0], [0, -1.0, 0]])


# -- N-body -------------------------------------------------------------------------------------------------
def test_zero_energy_system_is_an_instance_error_not_a_division_by_zero():
    from tunegym.envs.timestep.env import make_three_body

    with pytest.raises(InstanceError, match="total energy is zero"):
        simulate(**PARABOLIC, t_end=1.0, eta=0.01, G=1.0)  # was: inf/NaN energy_error with status "ok"
    with pytest.raises(InstanceError, match="total energy is zero"):
        HermiteState(**PARABOLIC, G=1.0)  # was: ZeroDivisionError
    with pytest.raises(InstanceError, match="total energy is zero"):
        make_three_body({**PARABOLIC, "G": 1.0}).reset(seed=0)  # was: ZeroDivisionError at reset
    with pytest.raises(InstanceError):  # masses so small that the energy underflows to 0
        HermiteState([1e-300] * 3, THREE["positions"], THREE["velocities"])


@pytest.mark.parametrize("kwargs, error", [
    ({"min_separation": -1.0}, ConfigError),  # was: squared to 1.0, a false close encounter
    ({"min_separation": float("nan")}, ConfigError),  # was: the close-encounter check silently off
    ({"min_timestep": float("nan")}, ConfigError),  # was: "close_encounter" before the first step
    ({"max_steps": float("inf")}, ConfigError),  # was: OverflowError
    ({"max_steps": 2.5}, ConfigError),  # was: silently 2
    ({"G": "1"}, ConfigError),  # was: TypeError from np.isfinite
    ({"G": np.array([1.0, 2.0])}, ConfigError),  # was: ambiguous truth value
    ({"eta": "a"}, ConfigError),  # was: bare ValueError
    ({"t_end": [1.0, 2.0]}, ConfigError),  # was: broadcast ValueError
])
def test_simulate_settings_are_validated(kwargs, error):
    args = {"t_end": 0.1, "eta": 0.01, **kwargs}
    with pytest.raises(error):
        simulate(**THREE, **args)


@pytest.mark.parametrize("positions", [
    [[1, 0, 0], [1, 0]],  # ragged: was a bare ValueError
    "abc",  # was: bare ValueError
    np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0]]) + 0j,  # complex: was silently truncated
    np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0]]) * 1e200,  # pair distances overflow: was ZeroDivisionError
])
def test_unusable_positions_are_instance_errors(positions):
    with pytest.raises(InstanceError):
        HermiteState(THREE["masses"], positions, np.zeros((3, 3)))


def test_empty_batch_is_an_instance_error():
    with pytest.raises(InstanceError, match="at least one system"):
        simulate(np.ones(3), np.zeros((0, 3, 3)), np.zeros((0, 3, 3)), 1.0, 0.01)  # was: reshape ValueError


@pytest.mark.parametrize("duration, eta", [(0.1, float("nan")), (0.1, 0.0), (float("inf"), 0.01), (-0.1, 0.01)])
def test_hermite_advance_refuses_bad_duration_and_eta(duration, eta):
    # Was: NaN η -> "close_encounter", η = 0 -> 10^7 steps, inf duration -> "ok" with time = inf, -0.1 -> "ok".
    state = HermiteState(**THREE)
    with pytest.raises(ConfigError):
        state.advance(duration, eta, max_steps=1000)
    assert state.time == 0.0 and state.steps == 0


@pytest.mark.parametrize("ic", [
    {**THREE, "G": "abc"},  # was: TypeError from np.isfinite
    {**THREE, "G": None},
    {**THREE, "foo": 1},  # was: TypeError from NBodyInstance.__init__
    {"masses": [1, 1, 1], "positions": THREE["positions"]},
    ["not a system"],  # was: AttributeError 'str' object has no attribute 'centred'
])
def test_make_three_body_refuses_malformed_initial_conditions(ic):
    from tunegym.envs.timestep.env import make_three_body

    with pytest.raises(InstanceError):
        make_three_body(ic)


def test_make_three_body_accepts_a_list_of_mappings():
    from tunegym.envs.timestep.env import make_three_body

    env = make_three_body([{k: np.asarray(v).tolist() for k, v in THREE.items()}])
    obs, _ = env.reset(seed=0)
    assert np.all(np.isfinite(obs))


@pytest.fixture(scope="module")
def three_body_tuner():
    from tunegym.agents import load_tuner

    return load_tuner("pretrained:step-size-three-body")


def test_integrate_accepts_numpy_scalar_times_and_refuses_bools(three_body_tuner):
    # Was: np.float32(0.2) / np.int64(1) refused as "not finite and positive"; True accepted as t_end = 1.
    plain = three_body_tuner.integrate(**THREE, t_end=0.2)
    numpy_time = three_body_tuner.integrate(**THREE, t_end=np.float64(0.2))
    assert numpy_time["force_evaluations"] == plain["force_evaluations"]
    assert three_body_tuner.integrate(**THREE, t_end=np.float32(0.2))["status"] == "ok"
    for bad in (True, float("inf"), 1e308, "1"):  # 1e308: was OverflowError from ceil(inf)
        with pytest.raises(ConfigError):
            three_body_tuner.integrate(**THREE, t_end=bad)
    with pytest.raises(InstanceError):
        three_body_tuner.integrate(**PARABOLIC, t_end=0.2, G=1.0)  # was: ZeroDivisionError
    with pytest.raises(InstanceError):
        three_body_tuner.integrate(**THREE, t_end=0.2, G="1")  # was: TypeError


# -- multi-agent ----------------------------------------------------------------------------------------------
MULTIAGENT = [
    ("tunegym/StepOrder-v0", {"rtol": 1e-3, "max_attempts": 3}),
    ("tunegym/LNSOperatorRate-v0", {"families": ("setcover",), "max_steps": 2, "sub_nodes": 10}),
    ("tunegym/BlockSOR-v0", {"grid": 6, "blocks": 2, "episode_length": 2}),
]


def _zero_actions(env):
    return {a: 0 if hasattr(env.action_space(a), "n") else np.zeros(1, np.float32) for a in env.agents}


@pytest.mark.parametrize("env_id, kwargs", MULTIAGENT)
def test_multiagent_step_after_end_and_unknown_agents_are_action_errors(env_id, kwargs):
    from tunegym.envs.multiagent import make

    env = make(env_id, **kwargs)
    with pytest.raises(ActionError):
        env.step({})  # before reset
    env.reset(seed=0)
    with pytest.raises(ActionError, match="unknown agents"):
        env.step({**_zero_actions(env), "typo": 0})  # was: silently ignored
    while env.agents:
        env.step(_zero_actions(env))
    # Was: KeyError (StepOrder, LNS) for {}; LNS stepped its finished inner env for a full dict.
    for actions in ({}, {a: 0 for a in env.possible_agents}):
        with pytest.raises(ActionError, match="ended"):
            env.step(actions)


@pytest.mark.parametrize("env_id, kwargs", MULTIAGENT)
def test_multiagent_seeds_numpy_ints_and_refuses_bad_seeds(env_id, kwargs):
    from tunegym.envs.multiagent import make

    def trajectory(seed):
        env = make(env_id, **kwargs)
        obs, _ = env.reset(seed=seed)
        rewards = []
        while env.agents:
            _, reward, *_ = env.step(_zero_actions(env))
            rewards.append(next(iter(reward.values())))
        return [np.asarray(o).tolist() for o in obs.values()], rewards

    assert trajectory(np.int64(5)) == trajectory(5)  # was: gymnasium.error.Error for np.int64
    for bad in (-1, "a", 1.5):
        with pytest.raises(ConfigError, match="seed"):
            make(env_id, **kwargs).reset(seed=bad)


# -- agents -----------------------------------------------------------------------------------------------------
def test_resolve_device_refuses_non_strings_and_malformed_cuda():
    from tunegym.agents.deeprl.agent import resolve_device

    assert resolve_device("auto") in ("cpu", "cuda")
    assert resolve_device(torch.device("cpu")) == "cpu"  # was: AttributeError
    for bad in (None, "gpu", "cuda:x"):
        with pytest.raises(ConfigError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_bandit_factories_check_the_device_as_deep_rl_does():
    from tunegym.agents.registry import make_agent

    env = gym.make("tunegym/SOR-v0")
    assert make_agent("linucb", env, {}, seed=0, device="auto").n_arms == env.action_space.n
    for bad in ("gpu", None):  # was: accepted silently
        with pytest.raises(ConfigError, match="device"):
            make_agent("ucb1", env, {}, seed=0, device=bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            make_agent("linucb", env, {}, seed=0, device="cuda")


@pytest.mark.parametrize("name", ["linucb", "lints", "chebcb", "eps_regressor"])
def test_contextual_bandits_refuse_nan_and_wrong_size_contexts_without_poisoning(name):
    from tunegym.agents.bandits import make_bandit

    env = gym.make("tunegym/SOR-v0")
    bandit = make_bandit(name, env, {}, seed=0)
    obs, _ = env.reset(seed=0)
    before = {k: v.copy() for k, v in bandit.state_dict()["arrays"].items()}
    nan = np.full_like(obs, np.nan)
    for call in (lambda: bandit.predict(nan), lambda: bandit.update(nan, 0, 1.0),
                 lambda: bandit.predict(np.zeros(obs.size + 1))):
        with pytest.raises(ConfigError, match="context"):  # was: bare ValueError / LinAlgError
            call()
    # Was: a NaN update entered the statistics and broke every later prediction.
    assert bandit.t == 0 and all(np.array_equal(v, before[k]) for k, v in bandit.state_dict()["arrays"].items())
    assert 0 <= bandit.predict(obs)[0] < bandit.n_arms


def test_bandit_update_refuses_non_integer_arms_and_non_numeric_rewards():
    from tunegym.agents.bandits import make_bandit

    bandit = make_bandit("ucb1", gym.make("tunegym/SOR-v0"), {}, seed=0)
    for arm, reward in ((1.7, 1.0), ("1", 1.0), ("x", 1.0), (0, "x"), (True, 1.0)):
        with pytest.raises(ConfigError):  # was: 1.7 -> arm 1; "x" -> bare ValueError
            bandit.update(None, arm, reward)
    assert bandit.t == 0


def _trained(name, steps=8):
    from tunegym.agents.bandits import make_bandit

    env = gym.make("tunegym/SOR-v0")
    bandit = make_bandit(name, env, {}, seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        arm = bandit.select(obs)
        next_obs, reward, *_ = env.step(arm)
        bandit.update(obs, arm, reward)
        obs = next_obs
    return bandit, obs


@pytest.mark.parametrize("name", ["ucb1", "linucb"])
def test_bandit_files_with_wrong_or_missing_arrays_are_checkpoint_errors(name, tmp_path):
    from tunegym.agents.bandits import Bandit
    from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file

    bandit, _ = _trained(name)
    path = tmp_path / "b.pt"
    bandit.save(path)
    kind, meta, arrays = load_tuner_file(path)
    save_tuner_file(tmp_path / "arms.pt", kind, {**meta, "n_arms": meta["n_arms"] + 3}, arrays)
    with pytest.raises(CheckpointError, match="shape"):  # was: loaded, then failed (or lied) at select time
        Bandit.load(tmp_path / "arms.pt")
    save_tuner_file(tmp_path / "none.pt", kind, meta, {})
    with pytest.raises(CheckpointError, match="lacks arrays"):  # was: silently an untrained bandit
        Bandit.load(tmp_path / "none.pt")


def test_chebcb_history_of_any_length_still_round_trips(tmp_path):
    from tunegym.agents.bandits import Bandit

    bandit, obs = _trained("chebcb", steps=12)
    bandit.save(tmp_path / "c.pt")
    loaded = Bandit.load(tmp_path / "c.pt")
    assert loaded.history.shape == bandit.history.shape and loaded.predict(obs) == bandit.predict(obs)


def test_tuner_file_with_a_flipped_byte_or_string_version_is_a_checkpoint_error(tmp_path):
    from tunegym.agents.bandits import Bandit
    from tunegym.agents.tuner_io import load_tuner_file

    bandit, _ = _trained("linucb")
    path = tmp_path / "b.pt"
    bandit.save(path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:  # flip a byte inside the largest tensor's stored data
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        data = archive.read(member)
    start = bytes(raw).find(data)
    assert start > 0
    raw[start + len(data) // 2] ^= 0xFF
    (tmp_path / "flip.pt").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):  # was: loaded silently wrong statistics
        Bandit.load(tmp_path / "flip.pt")

    payload = torch.load(path, weights_only=True)
    payload["format_version"] = "2"
    torch.save(payload, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="invalid tuner format version"):  # was: TypeError
        load_tuner_file(tmp_path / "v.pt")


def test_deeprl_checkpoint_with_bad_metadata_or_version_is_a_checkpoint_error(tmp_path):
    from tunegym.agents.deeprl.agent import DeepRLAgent
    from tunegym.agents.deeprl.policy import SB3Policy
    from tunegym.agents.registry import make_agent

    agent = make_agent("ppo", "tunegym/SOR-v0", {"n_steps": 16, "batch_size": 16}, seed=0, device="cpu")
    path = tmp_path / "ck.pt"
    agent.save(path)
    agent.close()
    payload = torch.load(path, weights_only=True)
    cases = {"json": {"metadata_json": "{"}, "keys": {"metadata_json": json.dumps({})},
             "version": {"format_version": "2"}}
    for name, change in cases.items():
        torch.save({**payload, **change}, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError):  # was: JSONDecodeError, KeyError, TypeError
            DeepRLAgent.load(tmp_path / f"{name}.pt", device="cpu")
    with pytest.raises(CheckpointError):
        SB3Policy.from_checkpoint(tmp_path / "json.pt")  # was: JSONDecodeError
    assert math.isfinite(float(SB3Policy.from_checkpoint(path).predict(np.zeros(1, np.float32))[0]))


def test_a_discrete_action_must_be_an_integer_and_a_box_action_one_number():
    """``True`` and ``"1"`` were taken as arm 1, and a (2,)-shaped action for a ``Box(1,)`` knob was read as its
    first entry; each is now an ActionError (integers, integral floats and one-element arrays still work)."""
    from tunegym.envs.core.knob import BoxKnob, arm_index

    for bad in ("1", True, np.True_, np.array(["1"]), [1, 2], 1.5):
        with pytest.raises(ActionError):
            arm_index(bad, 3)
    assert [arm_index(a, 3) for a in (2, np.int64(2), 2.0, np.array([2]))] == [2, 2, 2, 2]
    knob = BoxKnob("omega", 0.1, 1.9)
    assert knob.decode(np.array([0.0])) == pytest.approx(1.0) and knob.decode(1.0) == pytest.approx(1.9)
    for bad in (np.array([0.0, 0.0]), [], "x"):
        with pytest.raises(ActionError):
            knob.decode(bad)
