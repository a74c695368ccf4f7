"""The deployed StepSizeTuner and the envs make the same decisions on the same instance: same knob values, same
cost. It drives the env's own process and features (no env built), so these are exact equalities."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the ids)
from tunegym.agents import StepSizeTuner, load_tuner
from tunegym.agents.tuner import Tuner
from tunegym.envs.core.errors import TunerMismatchError
from tunegym.envs.core.knob import ArmKnob
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.ode import ODEProblemDistribution


class ObservationPolicy:
    """A deterministic policy whose action depends on the observation (so a wrong observation shows up)."""

    def __init__(self, discrete: int | None) -> None:
        self.discrete = discrete

    def predict(self, observation, deterministic=True):
        signal = float(np.sin(7.0 * np.sum(np.asarray(observation, dtype=np.float64))))
        if self.discrete is not None:
            return int((signal + 1.0) / 2.0 * (self.discrete - 1) + 0.5), None
        return np.array([signal], dtype=np.float32), None


def _env_rollout(env: gym.Env, instance, act, limit: int = 100_000):
    obs, _ = env.reset(seed=123, options={"instance": instance})
    values, info = [], {}
    for _ in range(limit):
        obs, _, terminated, truncated, info = env.step(act(obs))
        values.append(info["knob"])
        if terminated or truncated:
            break
    return values, info


def _ode_problem(seed: int):
    return ODEProblemDistribution().sample(stream(seed, "instances"))


@pytest.mark.parametrize("seed", [100, 101, 102, 103])
def test_pretrained_ode_tuner_solve_ivp_equals_the_env_rollout(seed):
    tuner = load_tuner("pretrained:step-size-ode")
    problem = _ode_problem(seed)
    env = gym.make(tuner.env_id, **tuner.env_kwargs)
    values, info = _env_rollout(env, problem, lambda obs: tuner.tuner.act(obs)[0])
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, problem_family=problem.family)
    assert result["knob_values"] == values
    assert result["rhs_evaluations"] == result.nfev == info["total_rhs_evaluations"]
    assert np.array_equal(result.y[:, -1], env.unwrapped.solver.y)


@pytest.mark.parametrize("env_id, env_kwargs, arms", [
    ("tunegym/ODEStep-v0", {"knob": "pi_safety", "rtol": 1e-8, "max_attempts": 3000}, 10),
    ("tunegym/ODEStep-v0", {"knob": "factor", "max_attempts": 3000}, 10),
    ("tunegym/ODEStepContinuous-v0", {"max_attempts": 3000}, None),
    ("tunegym/ODEStepContinuous-v0", {"knob": "factor", "rtol": 1e-4, "max_attempts": 3000}, None),
])
def test_ode_tuner_and_env_apply_the_same_knob_values_and_rhs_count(env_id, env_kwargs, arms):
    policy = ObservationPolicy(arms)
    tuner = StepSizeTuner(policy, env_id=env_id, env_kwargs=env_kwargs)
    for seed in (104, 105):
        problem = _ode_problem(seed)
        env = gym.make(env_id, **env_kwargs)
        values, info = _env_rollout(env, problem, lambda obs: policy.predict(obs)[0])
        result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, problem_family=problem.family,
                                 max_attempts=env_kwargs["max_attempts"], detect_stiffness=False)
        assert result["knob_values"] == values and len(values) > 3
        assert result["rhs_evaluations"] == info["total_rhs_evaluations"]
        assert result.stop_reason == info["status"]


@pytest.mark.parametrize("env_id, arms", [("tunegym/ThreeBody-v0", 10), ("tunegym/ThreeBodyContinuous-v0", None)])
def test_integrate_and_three_body_env_choose_the_same_etas_and_force_evaluations(env_id, arms):
    policy = ObservationPolicy(arms)
    tuner = StepSizeTuner(policy, env_id=env_id)
    instance = PaperThreeBodyDistribution().sample(stream(301, "instances"))
    env = gym.make(env_id, episode_length=12)
    etas, info = _env_rollout(env, instance, lambda obs: policy.predict(obs)[0])
    result = tuner.integrate(instance.masses, instance.positions, instance.velocities, t_end=1.2)
    assert result["etas"] == etas and len(set(etas)) > 1
    assert result["force_evaluations"] == info["total_force_evaluations"]
    assert result["energy_error"] == info["energy_error"] and result["status"] == info["status"]


def test_pretrained_three_body_tuner_integrate_equals_the_commit_env():
    tuner = load_tuner("pretrained:step-size-three-body")
    instance = PaperThreeBodyDistribution().sample(stream(302, "instances"))
    env = gym.make(tuner.env_id, **{**tuner.env_kwargs, "horizon": 30})
    values, info = _env_rollout(env, instance, lambda obs: tuner.tuner.act(obs)[0])
    result = tuner.integrate(instance.masses, instance.positions, instance.velocities, t_end=3.0)
    assert (result["etas"][0], result["criterion_exponent"]) == (values[0]["eta"], values[0]["criterion_exponent"])
    assert result["force_evaluations"] == info["cost"] == info["force_evaluations"]
    assert abs(result["energy_error"]) == info["energy_error"]


def test_a_tuner_of_another_domain_is_refused_with_one_typed_line(tmp_path):
    inner = load_tuner("pretrained:step-size-ode").policy  # any saveable policy
    sor = Tuner(inner, domain="sor", env_id="tunegym/SOR-v0", knob=ArmKnob("omega", [1.0, 1.5]),
                features={"name": "sor.context", "params": {}, "shape": [1]})
    with pytest.raises(TunerMismatchError, match="'timestep'"):
        StepSizeTuner(sor)
    sor.save(tmp_path / "sor.pt")
    with pytest.raises(TunerMismatchError, match="'timestep'"):
        StepSizeTuner.load(tmp_path / "sor.pt")
    # a core Tuner of this domain is accepted and acts as the step-size file does
    ode = load_tuner("pretrained:step-size-ode")
    ode.tuner.save(tmp_path / "ode.pt")
    again = StepSizeTuner.load(tmp_path / "ode.pt")
    problem = _ode_problem(106)
    runs = [t.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, detect_stiffness=False) for t in (ode, again)]
    assert runs[0]["knob_values"] == runs[1]["knob_values"]


@pytest.mark.parametrize("seed", [110, 111, 112])
def test_tolerance_tuner_and_detest_env_agree_at_the_episode_rtol(seed):
    """An ``ode.controller_tol`` env draws a DETEST problem with its own rtol; solve_ivp at that rtol decides alike."""
    env_kwargs = {"problems": "detest", "rtol_range": [1e-9, 1e-4], "features": "controller_tol",
                  "knob": "pi_safety", "max_attempts": 5000, "stiffness_detection": True}
    policy = ObservationPolicy(10)
    tuner = StepSizeTuner(policy, env_id="tunegym/ODEStep-v0", env_kwargs=env_kwargs)
    env = gym.make("tunegym/ODEStep-v0", **env_kwargs)
    env.reset(seed=seed)
    problem = env.unwrapped.instance
    values, info = _env_rollout(env, problem, lambda obs: policy.predict(obs)[0])
    process = env.unwrapped.process  # the episode's tolerances (atol keeps the env's atol/rtol ratio)
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=process.run_rtol,
                             atol=process.run_atol, max_attempts=5000)
    assert result["knob_values"] == values and len(values) > 3
    assert result.nfev == info["total_rhs_evaluations"] and result.stop_reason == info["status"] == "finished"
    assert np.array_equal(result.y[:, -1], env.unwrapped.solver.y)


def test_stiffness_stop_is_the_same_in_the_env_and_the_tuner():
    from tunegym.envs.timestep.ode import make_problem

    env_kwargs = {"knob": "pi_safety", "max_attempts": 100_000, "stiffness_detection": True}
    policy = ObservationPolicy(10)
    tuner = StepSizeTuner(policy, env_id="tunegym/ODEStep-v0", env_kwargs=env_kwargs)
    problem = make_problem("robertson", t_end=100.0)
    env = gym.make("tunegym/ODEStep-v0", **env_kwargs)
    values, info = _env_rollout(env, problem, lambda obs: policy.predict(obs)[0])
    result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, problem_family="robertson",
                             max_attempts=100_000)
    assert info["status"] == result.stop_reason == "stiff" and len(values) < 2000
    assert result["knob_values"] == values and result.nfev == info["total_rhs_evaluations"]
