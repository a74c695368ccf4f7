"""Learning to Relax setting B: SSOR-preconditioned CG, the heat-equation sequence, and the env over it."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from gymnasium.utils.env_checker import check_env
from tunegym.agents.baselines import FixedOmega
from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.sor import poisson2d, prepare_matrix
from tunegym.envs.sor.heat import (
    HEAT_CONTEXT_NAMES,
    HeatEquationSequence,
    HeatRun,
    HeatStepOracle,
    SORHeatEnv,
    make_heat_env,
)
from tunegym.envs.sor.pcg import ssor_apply, ssor_pcg

ENV_ID = "tunegym/SORHeat-v0"


def rollout(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    trace = [("reset", obs.tolist())]
    for _ in range(steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs), (obs, env.observation_space)
        trace.append((np.asarray(action).tolist(), obs.tolist(), reward, terminated, truncated, info["instance_id"],
                      info["iterations"], info["status"]))
        if terminated or truncated:
            obs, _ = env.reset()
            assert env.observation_space.contains(obs)
    return trace


def high_diffusion_system(grid: int = 32):
    """A system from the stiff half of the diffusion period, some steps into the simulation."""
    dist = HeatEquationSequence(grid=grid, randomize=False)
    stream = dist.sequence(np.random.default_rng(0))
    system = next(stream)
    while system.meta["diffusion"] < 5.0:  # paper schedule: κ = 10 sin(...) on t in (0.5, 1)
        system = stream.send(None)
    return system


# -- the solver ----------------------------------------------------------------------------------------------
def test_ssor_preconditioner_is_the_textbook_ssor_matrix():
    A = (poisson2d(6) + 0.3 * sp.identity(36)).toarray()
    r = np.random.default_rng(1).standard_normal(36)
    D, L, U = np.diag(np.diag(A)), np.tril(A, -1), np.triu(A, 1)
    for omega in (0.7, 1.0, 1.6):
        M = (D + omega * L) @ np.linalg.inv(D) @ (D + omega * U) / (omega * (2 - omega))
        np.testing.assert_allclose(ssor_apply(prepare_matrix(A), r, omega), np.linalg.solve(M, r), rtol=1e-10)


@pytest.mark.parametrize("omega", [0.6, 1.0, 1.5, 1.9])
def test_ssor_pcg_agrees_with_spsolve(omega):
    A = poisson2d(15) + 0.05 * sp.identity(225)
    b = np.random.default_rng(2).standard_normal(225)
    result = ssor_pcg(A, b, omega, tol=1e-10)
    exact = spla.spsolve(A.tocsc(), b)
    assert result.status == "converged" and result.converged and 0 < result.iterations < 225
    assert result.residual <= 1e-10
    np.testing.assert_allclose(result.x, exact, rtol=1e-7, atol=1e-9)


def test_ssor_pcg_solves_a_heat_step_like_a_direct_solver():
    system = high_diffusion_system()
    A = system.matrix.to_csr()
    result = ssor_pcg(A, system.b, 1.5, x0=system.meta["x0"])
    np.testing.assert_allclose(result.x, spla.spsolve(A.tocsc(), system.b), rtol=0, atol=1e-7)
    # A_k = I + c K is symmetric with diagonal 1 + 4c: the Crank–Nicolson matrix of the docstring.
    assert abs(A - A.T).max() == 0.0
    c = 0.5 * system.meta["diffusion"] * system.meta["dt"] * system.meta["grid"] ** 2
    np.testing.assert_allclose(A.diagonal(), 1.0 + 4.0 * c)


def test_warm_start_needs_fewer_iterations_than_cold_start():
    system = high_diffusion_system()
    for omega in (1.0, 1.5):
        warm = ssor_pcg(system.matrix.to_csr(), system.b, omega, x0=system.meta["x0"])
        cold = ssor_pcg(system.matrix.to_csr(), system.b, omega)
        assert warm.converged and cold.converged
        assert warm.iterations < cold.iterations, (omega, warm.iterations, cold.iterations)


def test_starting_at_the_solution_costs_zero_iterations():
    A = poisson2d(8)
    x = np.random.default_rng(3).standard_normal(64)
    result = ssor_pcg(A, A @ x, 1.3, x0=x)
    assert result.iterations == 0 and result.converged


@pytest.mark.parametrize("omega", [0.0, 2.0, -0.5, 2.5, float("nan"), float("inf")])
def test_omega_outside_the_open_interval_is_a_config_error(omega):
    with pytest.raises(ConfigError):
        ssor_pcg(poisson2d(4), np.ones(16), omega)


def test_malformed_systems_raise_matrix_errors():
    b = np.ones(16)
    with pytest.raises(MatrixError):
        ssor_pcg(np.ones((3, 4)), np.ones(3), 1.2)  # not square
    A = poisson2d(4).toarray()
    A[2, 3] = np.nan
    with pytest.raises(MatrixError):
        ssor_pcg(A, b, 1.2)
    with pytest.raises(MatrixError):
        ssor_pcg(poisson2d(4), np.full(16, np.nan), 1.2)
    with pytest.raises(MatrixError):
        ssor_pcg(poisson2d(4), np.ones(15), 1.2)  # shape mismatch
    with pytest.raises(ConfigError):
        ssor_pcg(poisson2d(4), b, 1.2, tol=0.0)


def test_non_spd_matrices_end_quickly_with_a_failure_status():
    b = np.random.default_rng(4).standard_normal(400)
    indefinite = poisson2d(20) - 0.5 * sp.identity(400)  # positive diagonal, negative eigenvalues
    result = ssor_pcg(indefinite, b, 1.2)
    assert result.status == "breakdown" and not result.converged
    assert result.iterations < 200 and np.all(np.isfinite(result.x))
    negative = -poisson2d(20)  # negative diagonal: the SSOR preconditioner is not positive definite
    result = ssor_pcg(negative, b, 1.2)
    assert result.status == "breakdown" and result.iterations == 0
    nonsymmetric = sp.random(400, 400, density=0.02, random_state=1) + 4 * sp.identity(400)
    result = ssor_pcg(nonsymmetric, b, 1.2, maxiter=300)
    assert not result.converged and result.status in ("max_iterations", "breakdown", "diverged")
    assert result.iterations <= 300 and np.all(np.isfinite(result.x)) and np.isfinite(result.residual)


# -- the process ---------------------------------------------------------------------------------------------
def test_sequence_carries_the_previous_solution_as_warm_start():
    dist = HeatEquationSequence(grid=25)
    systems = list(dist.sequence(np.random.default_rng(5), 4))
    assert len(systems) == 4 and systems[0].n == 24 * 24
    assert [s.meta["step"] for s in systems] == [0, 1, 2, 3]
    for previous, current in itertools.pairwise(systems):
        reference = dist.reference_solve(previous)
        np.testing.assert_allclose(current.meta["x0"], reference.x)
        assert current.meta["time"] == pytest.approx(previous.meta["time"] + dist.dt)
    assert len({s.instance_id for s in systems}) == 4
    for system in systems:
        assert system.context.shape == (len(HEAT_CONTEXT_NAMES),)
        assert np.all(system.context >= dist.context_low) and np.all(system.context <= dist.context_high)


def test_paper_schedule_is_deterministic_and_random_schedules_come_from_the_rng():
    paper = HeatEquationSequence(randomize=False)
    first = paper.sample(np.random.default_rng(0))
    assert first.instance_id == paper.sample(np.random.default_rng(99)).instance_id
    assert first.meta["time"] == 0.0
    random = HeatEquationSequence()
    a, b = random.sample(np.random.default_rng(0)), random.sample(np.random.default_rng(1))
    assert a.instance_id != b.instance_id
    assert a.instance_id == random.sample(np.random.default_rng(0)).instance_id


# -- the env -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"action": "continuous"}])
def test_env_passes_gymnasium_checker(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)


def test_observations_stay_in_space_and_same_seed_same_trajectory():
    first = rollout(gym.make(ENV_ID), seed=7, steps=300)
    second = rollout(gym.make(ENV_ID), seed=7, steps=300)
    assert first == second
    other = rollout(gym.make(ENV_ID), seed=8, steps=5)
    assert other != first[:6]


def test_episode_is_truncated_after_n_steps_and_continues_from_the_agents_solution():
    env = make_heat_env(n_steps=5)
    env.reset(seed=1)
    flags = []
    for _ in range(5):
        _, reward, terminated, truncated, info = env.step(10)
        assert info["status"] == "converged" and reward == -info["iterations"] / env.reward_params["scale"]
        np.testing.assert_array_equal(env.process.system.meta["x0"], env.process.result.x)
        flags.append((terminated, truncated))
    assert flags == [(False, False)] * 4 + [(False, True)]


def test_failed_solve_costs_maxiter_plus_penalty_and_the_simulation_goes_on():
    env = make_heat_env(randomize=False, maxiter=1, failure_penalty=50.0)
    env.reset(seed=0, options={"instance": high_diffusion_system()})
    obs, reward, _, _, info = env.step(0)
    assert info["status"] == "max_iterations" and not info["converged"]
    assert info["cost"] == 51.0 and reward == pytest.approx(-5.1)
    assert env.observation_space.contains(obs)
    assert env.process.system.meta["step"] == info["step"] + 1
    assert np.all(np.isfinite(env.process.system.meta["x0"]))


def test_reset_with_an_instance_resumes_that_simulation():
    source = make_heat_env()
    source.reset(seed=3)
    for _ in range(4):
        source.step(5)
    target = source.process.system
    expected = [source.step(12)[4]["system_id"] for _ in range(3)]
    assert expected[0] == target.instance_id
    env = make_heat_env()
    _, info = env.reset(seed=9, options={"instance": target})  # a system resumes its simulation there
    assert info["instance_id"] == HeatRun.resume(target).id
    assert [env.step(12)[4]["system_id"] for _ in range(3)] == expected
    # The run itself (the env's instance) replays the whole episode, whatever the seed.
    run = source.instance
    source.reset(seed=3)
    first = [source.step(7)[4] for _ in range(3)]
    env.reset(seed=123, options={"instance": run})
    assert [env.step(7)[4] for _ in range(3)] == first
    with pytest.raises(ConfigError):
        env.reset(options={"instance": "not a system"})


def test_grid_oracle_beats_omega_one_so_the_knob_matters():
    costs = {}
    chosen = []
    for name in ("fixed", "oracle"):
        env = make_heat_env(n_steps=120)
        policy = FixedOmega(env, 1.0) if name == "fixed" else HeatStepOracle(env)
        obs, _ = env.reset(seed=4)
        # Start in the stiff half of the diffusion period, where ω decides the cost.
        while env.process.system.meta["diffusion"] < 2.0:
            obs, *_ = env.step(0)
        total = 0.0
        for _ in range(60):
            action, _ = policy.predict(obs)
            if name == "oracle":
                chosen.append(env.knob.decode(action))
            obs, _, _, _, info = env.step(action)
            total += info["cost"]
        costs[name] = total / 60
    assert costs["oracle"] < 0.85 * costs["fixed"], costs
    assert np.mean(chosen) > 1.2  # the oracle's ω is far from Gauss–Seidel's


def test_env_rejects_omega_arms_that_make_ssor_indefinite():
    with pytest.raises(ConfigError):
        make_heat_env(arms=[1.0, 2.0])
    with pytest.raises(ConfigError):
        make_heat_env(action="continuous", omega_high=2.0)
    with pytest.raises(ConfigError):
        SORHeatEnv(n_steps=0)
