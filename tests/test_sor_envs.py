"""Every registered env passes Gymnasium's checker, stays in its spaces and replays from a seed;
the SOR envs use the instances they are given and reject bad actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from gymnasium.utils.env_checker import check_env

from tunegym.agents.baselines import FixedOmega, GridOracle, YoungOmega
from tunegym.envs import ENVS
from tunegym.envs.core.errors import ActionError, ConfigError, MatrixError
from tunegym.envs.sor import DEFAULT_ARMS, ShiftedLaplacianDistribution, poisson2d

ENV_IDS = [spec.id for spec in ENVS]
VARIANTS = [(env_id, {}) for env_id in ENV_IDS] + [
    ("tunegym/SOR-v0", {"action": "continuous", "variance": "low"}),
    ("tunegym/SORDynamic-v0", {"action": "continuous", "grids": [6, 9]}),
]


def rollout(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    trace = [("reset", obs.tolist())]
    for _ in range(steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs), (obs, env.observation_space)
        trace.append((np.asarray(action).tolist(), obs.tolist(), reward, terminated, truncated, info.get("instance_id")))
        if terminated or truncated:
            obs, _ = env.reset()
            assert env.observation_space.contains(obs)
    return trace


@pytest.mark.parametrize("env_id, kwargs", VARIANTS)
def test_env_passes_gymnasium_checker(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id, kwargs", VARIANTS)
def test_observations_stay_in_space_and_same_seed_same_trajectory(env_id, kwargs):
    first = rollout(gym.make(env_id, **kwargs), seed=11, steps=300)
    second = rollout(gym.make(env_id, **kwargs), seed=11, steps=300)
    assert first == second
    other = rollout(gym.make(env_id, **kwargs), seed=12, steps=20)
    assert other[:5] != first[:5]


def test_setting_a_offsets_follow_the_paper_distribution():
    dist = ShiftedLaplacianDistribution("high")
    rng = np.random.default_rng(0)
    offsets = np.array([dist.sample(rng).meta["offset"] for _ in range(4000)])
    assert offsets.min() >= -0.15 and offsets.max() <= 0.45
    # c = -0.15 + 0.6 * Beta(0.5, 1.5): mean -0.15 + 0.6 * 0.25 = 0.0
    assert offsets.mean() == pytest.approx(0.0, abs=0.01)
    low = ShiftedLaplacianDistribution("low")
    low_offsets = np.array([low.sample(rng).meta["offset"] for _ in range(4000)])
    assert low_offsets.mean() == pytest.approx(-0.15 + 0.6 * 0.25, abs=0.01)
    assert low_offsets.std() < offsets.std()


def test_reset_uses_the_instance_it_is_given():
    env = gym.make("tunegym/SOR-v0")
    dist = env.unwrapped.distribution
    system = dist.make(0.3, np.ones(100))
    obs, info = env.reset(seed=0, options={"instance": system})
    assert obs[0] == pytest.approx(0.3)
    assert info["instance_id"] == system.instance_id
    _, _, _, _, step_info = env.step(10)
    assert step_info["instance_id"] == system.instance_id
    with pytest.raises(ConfigError):
        env.reset(options={"instance": "not a system"})


@pytest.mark.parametrize("action", [20, -1, 2.5, "x", np.array([1, 2])])
def test_out_of_range_discrete_action_is_a_typed_error(action):
    env = gym.make("tunegym/SOR-v0")
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step(action)


def test_continuous_action_is_clipped_and_nan_rejected():
    env = gym.make("tunegym/SOR-v0", action="continuous")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([5.0], dtype=np.float32))
    assert info["omega"] == pytest.approx(1.99)
    with pytest.raises(ActionError):
        env.step(np.array([np.nan], dtype=np.float32))


def test_reward_is_minus_scaled_sweeps_and_info_reports_feedback():
    env = gym.make("tunegym/SOR-v0", reward_scale=50.0)
    env.reset(seed=3)
    _, reward, _, _, info = env.step(0)  # omega = 1: under-relaxed, the rate reveals rho_J
    assert reward == pytest.approx(-info["sweeps"] / 50.0)
    assert info["omega"] == 1.0 and info["status"] == "converged"
    context = float(info["context"][0])
    true_rho = env.unwrapped.distribution.jacobi_radius(context)
    assert info["jacobi_radius_estimate"] == pytest.approx(true_rho, rel=0.02)


def test_baselines_rank_as_theory_says():
    env = gym.make("tunegym/SOR-v0", action="continuous")
    means = {}
    for name, policy in {
        "omega=1": FixedOmega(env, 1.0),
        "young": YoungOmega(env),
        "oracle": GridOracle(env, values=DEFAULT_ARMS),  # the 20 arms (a box knob's default grid has 10)
    }.items():
        obs, _ = env.reset(seed=5)
        costs = []
        for _ in range(60):
            action, _ = policy.predict(obs)
            obs, _, _, _, info = env.step(action)
            costs.append(info["sweeps"])
        means[name] = np.mean(costs)
    assert means["oracle"] < 1.1 * means["young"]
    assert means["young"] < 0.2 * means["omega=1"]


def test_matrix_env_reads_user_files(tmp_path):
    A = sp.csr_matrix(poisson2d(12) + 0.2 * sp.identity(144))
    scipy.io.mmwrite(str(tmp_path / "a.mtx"), A)
    sp.save_npz(tmp_path / "b.npz", sp.csr_matrix(poisson2d(7)))
    env = gym.make("tunegym/SORMatrix-v0", matrices=[str(tmp_path / "a.mtx"), str(tmp_path / "b.npz")])
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    sizes = set()
    for _ in range(20):
        obs, _, _, _, info = env.step(12)
        assert info["status"] == "converged"
        sizes.add(round(float(10 ** obs[0])))
    assert sizes == {144, 49}


def test_matrix_env_rejects_a_bad_matrix_with_its_name(tmp_path):
    bad = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 2.0]]))
    sp.save_npz(tmp_path / "zero_diag.npz", bad)
    with pytest.raises(MatrixError, match="zero_diag.npz"):
        gym.make("tunegym/SORMatrix-v0", matrices=[str(tmp_path / "zero_diag.npz")])


def test_nonsymmetric_divergent_system_is_a_penalised_step_not_a_hang():
    rng = np.random.default_rng(0)
    A = sp.csr_matrix(np.eye(20) + 3.0 * rng.standard_normal((20, 20)))  # SOR diverges on this
    env = gym.make("tunegym/SORMatrix-v0", matrices=[A], max_sweeps=2000, failure_penalty=500.0)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(10)
    assert info["status"] == "diverged" and not info["converged"]
    assert reward == pytest.approx(-(2000 + 500) / 100.0)


def test_dynamic_env_solves_to_tolerance_and_penalises_divergence():
    env = gym.make("tunegym/SORDynamic-v0", block=20)
    env.reset(seed=0)
    total, done = 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(16)
        total += info["sweeps"]
        done = terminated or truncated
    assert info["status"] == "converged" and info["residual"] < 1e-8 and info["total_sweeps"] == total
    # A tiny budget truncates with the penalty.
    env = gym.make("tunegym/SORDynamic-v0", block=5, max_sweeps=10, failure_penalty=300.0)
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, truncated, _ = env.step(0)
    assert truncated and not terminated and reward == pytest.approx(-(5 + 300) / 100.0)
