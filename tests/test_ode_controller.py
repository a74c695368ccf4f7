"""ODEController-v0 and the deployed ODE tuner (issue 19): SciPy parity of the I rule, the env's reward, the deployed
``solve_ivp`` equal to the env's rollout, and the shipped tuner below RK45's work–precision curve on held-out
problems."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import tunegym.envs  # noqa: F401  (registers the ids)
from tunegym.agents import StepSizeTuner, load_tuner
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.detest import DetestDistribution
from tunegym.envs.timestep.ode import IController, integrate
from tunegym.envs.timestep.ode_controller import ODEControllerRun, rk45_curve, rk45_nfev_at_error


def _problems(seeds, classes=("A", "B", "C", "D", "E")):
    return [DetestDistribution([c]).sample(stream(seed, "instances")) for c in classes for seed in seeds]


@pytest.mark.parametrize("rtol", [1e-3, 1e-7])
def test_the_i_rule_at_0_9_is_scipys_rk45_step_for_step(rtol):
    """Same RHS evaluations as ``solve_ivp(method="RK45")`` on every problem: the initial step, the cap after a
    rejection and the clipped last step all follow SciPy."""
    for problem in _problems([900, 901]):
        scipy_run = solve_ivp(problem.rhs, (0.0, problem.t_end), np.asarray(problem.y0, float), method="RK45",
                              rtol=rtol, atol=rtol * 1e-3)
        ours = integrate(problem, controller=IController(), rtol=rtol)
        assert ours.rhs_evaluations == scipy_run.nfev, problem.problem
        env = gym.make("tunegym/ODEController-v0", rtol=rtol, rtol_range=None)
        env.reset(options={"instance": problem})
        _, reward, terminated, _, info = env.step(env.unwrapped.knob.encode({"rule": "I", "safety": 0.9}))
        assert terminated and info["rhs_evaluations"] == scipy_run.nfev
        assert reward <= 1e-6  # on RK45's curve, or above it where another rtol's RK45 run dominates this one
        # equal up to round-off (summation order), which orbits amplify
        np.testing.assert_allclose(env.unwrapped.solver.y, scipy_run.y[:, -1], rtol=1e-5)


def test_rk45_nfev_at_error_interpolates_the_non_dominated_curve():
    curve = [(100, 1e-3), (200, 1e-5), (150, 1e-2), (400, 1e-7)]  # (150, 1e-2) is dominated by (100, 1e-3)
    assert rk45_nfev_at_error(curve, 1e-3) == pytest.approx(100)
    assert rk45_nfev_at_error(curve, 1e-4) == pytest.approx(np.sqrt(100 * 200))
    assert rk45_nfev_at_error(curve, 1e-1) == pytest.approx(100)  # beyond the least accurate point: its nfev
    assert rk45_nfev_at_error(curve, 1e-9) == pytest.approx(400)  # beyond the most accurate point: no credit
    flat_tail = [(100, 1e-3), (200, 1e-15), (210, 0.9999e-15)]  # round-off: the last segment is nearly flat
    assert rk45_nfev_at_error(flat_tail, 1e-16) == pytest.approx(210)  # no overflow, no 10^40


def test_reward_is_minus_log2_of_work_over_rk45_at_the_same_error():
    problem = _problems([905], classes=("D",))[0]
    env = gym.make("tunegym/ODEController-v0", rtol=1e-5, rtol_range=None)
    env.reset(options={"instance": problem})
    _, reward, _, _, info = env.step(env.unwrapped.knob.encode({"rule": "PI", "safety": 0.7}))
    rtols = sorted({min(1e-5 * 10.0 ** (j / 2), 0.1) for j in range(3, -6, -1)}, reverse=True)
    rk45 = rk45_nfev_at_error(rk45_curve(problem, rtols), info["global_error"])
    assert info["rk45_rhs_evaluations"] == pytest.approx(rk45)
    assert reward == pytest.approx(-np.log2(info["rhs_evaluations"] / rk45))


def test_a_bad_controller_is_a_config_error_and_a_stiff_solve_ends_with_the_failure_penalty():
    run = ODEControllerRun(rtol=1e-3)
    run.start(_problems([906], classes=("A",))[0])
    with pytest.raises(ConfigError):
        run.advance({"rule": "PID", "safety": 0.9})
    with pytest.raises(ConfigError):
        run.advance({"rule": "I", "safety": float("nan")})
    from tunegym.envs.timestep.ode import make_problem

    env = gym.make("tunegym/ODEController-v0", rtol=1e-6, rtol_range=None, max_attempts=5_000)
    env.reset(options={"instance": make_problem("robertson", t_end=100.0)})
    _, reward, terminated, _, info = env.step(0)
    assert terminated and info["status"] == "stiff" and reward == -4.0


def test_deployed_controller_tuner_solve_ivp_equals_the_env_rollout():
    tuner = load_tuner("pretrained:step-size-ode")
    assert tuner.env_id == "tunegym/ODEController-v0"
    for problem in _problems([910]):
        env = gym.make(tuner.env_id, **{**tuner.env_kwargs, "rtol": 1e-6, "rtol_range": None})
        obs, _ = env.reset(options={"instance": problem})
        action = tuner.tuner.act(obs)[0]
        _, _, _, _, info = env.step(action)
        result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-6)
        assert result.knob_values == [info["knob"]]
        assert result.nfev == info["rhs_evaluations"]
        assert np.array_equal(result.y[:, -1], env.unwrapped.solver.y)


def test_shipped_tuner_is_below_rk45s_curve_on_held_out_problems():
    """Held-out DETEST draws (seeds no tuning saw), rtol 1e-4 and 1e-8: the geometric mean of (tuner RHS
    evaluations) / (RK45's at the tuner's error) is below 1 — the suite's claim (``tunegym bench all --domain
    timestep``) in miniature."""
    tuner = load_tuner("pretrained:step-size-ode")
    curve_rtols = [10.0 ** (-k / 2) for k in range(4, 22)]
    for rtol in (1e-4, 1e-8):
        ratios = []
        for problem in _problems([950, 951, 952]):
            result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=rtol)
            from tunegym.envs.timestep.ode_controller import run_error

            error = run_error(problem, result.y[:, -1], result.success)
            ratios.append(result.nfev / rk45_nfev_at_error(rk45_curve(problem, curve_rtols), error))
        assert float(np.exp(np.mean(np.log(ratios)))) < 1.0, (rtol, ratios)


def test_controller_tuner_round_trips_and_keeps_scipys_result_fields(tmp_path):
    tuner = load_tuner("pretrained:step-size-ode")
    path = tmp_path / "ode.pt"
    tuner.save(path)
    again = StepSizeTuner.load(path)
    problem = _problems([960], classes=("E",))[0]
    a = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-5, t_eval=[1.0, 2.0],
                        dense_output=True)
    b = again.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=1e-5, t_eval=[1.0, 2.0])
    assert a.success and a.status == 0 and a.y.shape == (len(problem.y0), 2) and a.sol is not None
    np.testing.assert_array_equal(a.y, b.y)
    assert a.nfev == b.nfev == a.rhs_evaluations


def test_the_ode_example_runs_as_a_user_runs_it():
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "ode_step_size.py"
    run = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "RK45 nfev at that error" in run.stdout and "stiff: False" in run.stdout


def test_solve_ivp_takes_scipys_args_and_per_component_atol_and_a_complex_y0():
    tuner = load_tuner("pretrained:step-size-ode")

    def damped(t, y, k, c):
        return np.array([y[1], -k * y[0] - c * y[1]])

    with_args = tuner.solve_ivp(damped, (0.0, 10.0), [1.0, 0.0], rtol=1e-6, args=(4.0, 0.1))
    closure = tuner.solve_ivp(lambda t, y: damped(t, y, 4.0, 0.1), (0.0, 10.0), [1.0, 0.0], rtol=1e-6)
    assert with_args.success and np.array_equal(with_args.y, closure.y) and with_args.nfev == closure.nfev
    per_component = tuner.solve_ivp(damped, (0.0, 10.0), [1.0, 0.0], rtol=1e-6, atol=[1e-9, 1e-9], args=(4.0, 0.1))
    assert np.array_equal(per_component.y, with_args.y)  # the same atol, given per component
    looser = tuner.solve_ivp(damped, (0.0, 10.0), [1.0, 0.0], rtol=1e-6, atol=[1e-3, 1e-9], args=(4.0, 0.1))
    assert looser.success and looser.nfev <= with_args.nfev
    with pytest.raises(ConfigError):
        tuner.solve_ivp(damped, (0.0, 10.0), [1.0, 0.0], atol=[1e-9, 1e-9, 1e-9], args=(4.0, 0.1))
    rotating = tuner.solve_ivp(lambda t, y: 1j * y, (0.0, 2.0), [1.0 + 0j], rtol=1e-8, dense_output=True)
    assert rotating.success and np.iscomplexobj(rotating.y) and rotating.y.shape == (1, rotating.t.size)
    np.testing.assert_allclose(rotating.y[0], np.exp(1j * rotating.t), atol=1e-6)  # y = e^{it}, as SciPy's RK45
    np.testing.assert_allclose(rotating.sol(1.3), [np.exp(1.3j)], atol=1e-6)
    with pytest.raises(ConfigError):
        tuner.solve_ivp(lambda t, y: 1j * y, (0.0, 1.0), [1.0 + 0j], atol=[1e-9, 1e-9])


def test_an_untrained_tolerance_or_size_is_decided_as_at_the_nearest_trained_one():
    from tunegym.envs.timestep.ode_controller import ODEProblemFeatures
    from tunegym.envs.timestep.process import ODEProblem

    features = ODEProblemFeatures()
    problem = ODEProblem(lambda t, y: -y, tuple(np.ones(400)), 1.0)
    for rtol, expected in ((1e-12, -10.0), (1e-1, -3.0), (1e-6, -6.0)):
        run = ODEControllerRun(rtol=rtol, rk45_reference=False)
        run.start(problem)
        observation = features.observation(run)
        assert observation[0] == pytest.approx(expected) and observation[1] == pytest.approx(np.log10(51))
        assert features.space.contains(observation.astype(np.float32))


def test_a_call_written_for_scipy_fails_clearly_on_what_the_tuner_cannot_honour():
    tuner = load_tuner("pretrained:step-size-ode")

    def decay(t, y):
        return -y

    ok = tuner.solve_ivp(decay, (0.0, 1.0), [1.0], method="RK45", vectorized=True)
    assert ok.success
    for kwargs in ({"method": "Radau"}, {"events": lambda t, y: y[0] - 0.5}, {"max_step": 0.1}, {"first_step": 1e-3}):
        with pytest.raises(ConfigError):
            tuner.solve_ivp(decay, (0.0, 1.0), [1.0], **kwargs)
    with pytest.warns(UserWarning, match="no effect"):
        assert tuner.solve_ivp(decay, (0.0, 1.0), [1.0], jac=lambda t, y: -np.eye(1)).success
