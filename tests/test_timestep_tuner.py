"""StepSizeTuner runs a trained controller outside the gym loop and survives a save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
from tunegym.agents import StepSizeTuner, load_tuner
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.timestep.env import DEFAULT_ETAS
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.nbody import simulate
from tunegym.envs.timestep.ode import make_problem, reference_solution
from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES


class ConstantPolicy:
    """Always the same arm (a stand-in for a trained policy with a known answer)."""

    def __init__(self, arm: int) -> None:
        self.arm = arm

    def predict(self, observation, deterministic=True):
        return self.arm, None


def test_constant_safety_tuner_solves_kepler_to_its_tolerance():
    tuner = StepSizeTuner(ConstantPolicy(DEFAULT_SAFETIES.index(0.9)), env_id="tunegym/ODEStep-v0")
    problem = make_problem("kepler", e=0.5)
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-8)
    assert result.success and result.stop_reason == "finished" and result.t[-1] == pytest.approx(problem.t_end)
    reference = reference_solution(problem)
    assert np.linalg.norm(result.y[:, -1] - reference) / np.linalg.norm(reference) < 1e-5
    loose = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-4)
    assert loose["rhs_evaluations"] < result["rhs_evaluations"]


def test_constant_eta_tuner_follows_the_fixed_eta_integration():
    system = PaperThreeBodyDistribution().sample(np.random.default_rng(1))
    arm = 6  # eta = 4.64e-3
    tuner = StepSizeTuner(ConstantPolicy(arm), env_id="tunegym/ThreeBody-v0")
    result = tuner.integrate(system.masses, system.positions, system.velocities, 1.05)
    assert result["status"] == "ok" and result["time"] == pytest.approx(1.05) and len(result["etas"]) == 11
    fixed = simulate(system.masses, system.positions, system.velocities, 1.05, DEFAULT_ETAS[arm])
    assert np.allclose(result["positions"], fixed.positions, atol=1e-6)
    assert abs(result["energy_error"]) < 1e-8


def test_trained_tuner_round_trips_through_the_tuner_file(tmp_path):
    tuner = StepSizeTuner.train("tunegym/ODEStep-v0", "linucb", steps=300, seed=0)
    tuner.save(tmp_path / "step.pt")
    loaded = load_tuner(tmp_path / "step.pt")
    assert isinstance(loaded, StepSizeTuner) and loaded.provenance["train_steps"] == 300
    problem = make_problem("van_der_pol", mu=3.0)
    first = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0)
    again = loaded.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0)
    assert first["rhs_evaluations"] == again["rhs_evaluations"] and np.array_equal(first["y"], again["y"])


def test_wrong_problem_kind_is_a_config_error():
    with pytest.raises(ConfigError):
        StepSizeTuner(ConstantPolicy(0), env_id="tunegym/SOR-v0")
    ode = StepSizeTuner(ConstantPolicy(0), env_id="tunegym/ODEStep-v0")
    with pytest.raises(ConfigError):
        ode.integrate([1.0, 1.0], [[0, 0, 0], [1, 0, 0]], np.zeros((2, 3)), 1.0)
    with pytest.raises(ConfigError):  # another integrator than the one the tuner drives
        ode.solve_ivp(lambda t, y: -y, (0.0, 1.0), [1.0], method="Radau")


def test_ppo_trained_from_the_cli_deploys_as_a_step_size_tuner(tmp_path, capsys):
    import json

    from tunegym.tuning.cli import main

    config = tmp_path / "ppo.json"
    config.write_text(json.dumps({"n_steps": 64, "batch_size": 64, "n_epochs": 1}))
    assert main(["train", "--env", "tunegym/ODEStep-v0", "--agent", "ppo", "--config", str(config), "--steps", "128",
                 "--run-dir", str(tmp_path / "run"), "--device", "cpu", "--no-progress"]) == 0
    assert main(["deploy", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "ode-ppo.pt")]) == 0
    tuner = StepSizeTuner(load_tuner(tmp_path / "ode-ppo.pt"), env_id="tunegym/ODEStep-v0")
    problem = make_problem("lotka_volterra")
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, problem_family=problem.family)
    assert result.success and result["rhs_evaluations"] > 0


def test_pretrained_ode_tuner_is_as_cheap_as_pi_at_similar_accuracy():
    import math

    from tunegym.envs.core.seeding import stream
    from tunegym.envs.timestep.ode import (
        ODEProblemDistribution,
        PIController,
        global_error,
        integrate,
    )

    tuner = load_tuner("pretrained:step-size-ode")
    distribution = ODEProblemDistribution()
    problems = [distribution.sample(stream(seed, "instances")) for seed in range(100, 104)]
    tuned, pi = [], []
    for problem in problems:
        result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-6,
                                 problem_family=problem.family)
        tuned.append((result["rhs_evaluations"], math.log10(global_error(problem, result.y[:, -1]))))
        baseline = integrate(problem, controller=PIController(), rtol=1e-6)
        pi.append((baseline.rhs_evaluations, math.log10(baseline.global_error)))
    # test seeds 100-103: 0.93x PI's evaluations, median error 0.1 decades worse
    assert sum(c for c, _ in tuned) <= 1.0 * sum(c for c, _ in pi)
    assert np.median([e for _, e in tuned]) <= np.median([e for _, e in pi]) + 0.3


def test_pi_knob_tuner_outside_the_gym_loop_equals_the_env():
    problem = make_problem("van_der_pol", mu=5.0)
    tuner = StepSizeTuner(ConstantPolicy(DEFAULT_SAFETIES.index(0.8)), env_id="tunegym/ODEStep-v0",
                          env_kwargs={"knob": "pi_safety", "rtol": 1e-6})
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, max_attempts=100_000)
    from tunegym.envs.timestep.ode_env import make_ode_step

    env = make_ode_step(knob="pi_safety", rtol=1e-6, max_attempts=100_000)
    env.reset(options={"instance": problem})
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(DEFAULT_SAFETIES.index(0.8))
        done = terminated or truncated
    assert result.stop_reason == "finished" and result.status == 0
    assert result["rhs_evaluations"] == info["total_rhs_evaluations"] and np.array_equal(result.y[:, -1], env.solver.y)
