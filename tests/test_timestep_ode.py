"""The embedded RK pairs reach their orders and agree with solve_ivp; the controllers are sane; ODEStep-v0
uses given instances, replays from a seed and rejects bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from tunegym.envs.core.errors import ActionError, ConfigError, InstanceError
from tunegym.envs.timestep.ode import (
    METHODS,
    PROBLEMS,
    IController,
    PIController,
    integrate,
    make_problem,
    reference_solution,
    solve_ivp_baseline,
)
from tunegym.envs.timestep.ode_env import make_ode_step, make_ode_step_continuous


def fixed_step_error(method: str, steps: int) -> float:
    inst = make_problem("kepler", e=0.3)
    solver = METHODS[method](inst.rhs, 0.0, inst.y0, inst.t_end, rtol=1e3, atol=1e3)  # huge tol: all accepted
    h = inst.t_end / steps
    while not solver.finished:
        assert solver.attempt(h)[0]
    return float(np.linalg.norm(solver.y - reference_solution(inst)))


@pytest.mark.parametrize("method, order", [("RK45", 5), ("RK23", 3)])
def test_pairs_converge_at_their_order(method, order):
    ratio = fixed_step_error(method, 200) / fixed_step_error(method, 400)
    assert 2 ** (order - 0.5) < ratio < 2 ** (order + 0.5), ratio


@pytest.mark.parametrize("method", ["RK45", "RK23"])
@pytest.mark.parametrize("family", ["van_der_pol", "brusselator", "arenstorf"])
def test_pairs_match_solve_ivp(method, family):
    inst = make_problem(family)
    ours = integrate(inst, method=method, rtol=1e-6)
    sol = solve_ivp(inst.rhs, (0, inst.t_end), np.array(inst.y0), method=method, rtol=1e-6, atol=1e-9)
    assert ours.status == "ok"
    # same pair, same error norm and the same I-controller rule: the same accepted steps up to rejections
    assert abs(ours.accepted - (sol.t.size - 1)) <= 0.1 * (sol.t.size - 1)
    scale = np.linalg.norm(sol.y[:, -1])
    assert np.linalg.norm(ours.y_end - sol.y[:, -1]) / scale < 5e-2
    tight = integrate(inst, method=method, rtol=1e-10)
    assert tight.global_error < 1e-6


def test_every_problem_integrates_and_pi_rejects_less_than_i():
    rejected_i = rejected_pi = 0
    for family in PROBLEMS:
        inst = make_problem(family)
        i_run = integrate(inst, controller=IController(), rtol=1e-6)
        pi_run = integrate(inst, controller=PIController(), rtol=1e-6)
        assert i_run.status == pi_run.status == "ok"
        assert i_run.global_error < 1e-1 and pi_run.global_error < 1e-1
        rejected_i += i_run.rejected
        rejected_pi += pi_run.rejected
    assert rejected_pi < rejected_i
    baseline = solve_ivp_baseline(make_problem("van_der_pol"), rtol=1e-6)
    assert baseline.status == "ok" and baseline.rhs_evaluations > 0


def test_bad_problems_and_settings_raise_typed_errors():
    with pytest.raises(InstanceError):
        make_problem("lorenz")
    with pytest.raises(InstanceError):
        make_problem("kepler", e=1.2)
    with pytest.raises(ConfigError):
        integrate(make_problem("kepler"), method="Euler")
    with pytest.raises(ConfigError):
        METHODS["RK45"](make_problem("kepler").rhs, 0.0, [1, 0, 0, 1], 1.0).attempt(float("nan"))


def test_ode_env_uses_given_instance_and_replays():
    inst = make_problem("kepler", e=0.7)
    env = make_ode_step()
    _, info = env.reset(seed=0, options={"instance": inst})
    assert info["instance_id"] == inst.instance_id and env.unwrapped.instance is inst
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(6)  # safety 0.9: the I controller
        done = terminated or truncated
    assert info["status"] in ("finished", "max_attempts")

    def run(seed):
        e = make_ode_step_continuous()
        e.action_space.seed(seed)
        obs, _ = e.reset(seed=seed)
        out = [obs.tolist()]
        for _ in range(30):
            obs, reward, terminated, truncated, info = e.step(e.action_space.sample())
            out.append((obs.tolist(), reward, info["total_rhs_evaluations"]))
            if terminated or truncated:
                e.reset()
        return out

    assert run(3) == run(3)


def test_ode_env_rejects_bad_actions_and_instances():
    env = make_ode_step()
    env.reset(seed=0)
    for bad in (99, -1):
        with pytest.raises(ActionError):
            env.step(bad)
    with pytest.raises(ConfigError):
        env.reset(options={"instance": object()})
    with pytest.raises(ConfigError):
        make_ode_step(method="Euler")


@pytest.mark.parametrize("family", ["van_der_pol", "arenstorf", "brusselator"])
def test_pi_knob_at_constant_safety_is_the_pi_controller_attempt_for_attempt(family):
    # The "pi_safety" knob lets an agent modulate Gustafsson's PI rule; playing its default (0.9) must *be* the
    # PI baseline, so a learned gain can only improve on it by deviating, never by a different driver.
    from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES

    inst = make_problem(family)
    for rtol in (1e-4, 1e-8):
        reference = integrate(inst, controller=PIController(), rtol=rtol)
        env = make_ode_step(knob="pi_safety", rtol=rtol, max_attempts=100_000)
        env.reset(options={"instance": inst})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(DEFAULT_SAFETIES.index(0.9))
            done = terminated or truncated
        assert info["status"] == "finished"
        assert (info["total_rhs_evaluations"], env.solver.rejected) == (reference.rhs_evaluations, reference.rejected)
        assert info["global_error"] == reference.global_error
    with pytest.raises(ConfigError, match="knob"):
        make_ode_step(knob="pid")
