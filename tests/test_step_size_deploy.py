"""Issue 19: the deployed ODE tuner as a user calls it — SciPy's signature and result, clear failures, the suite."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tunegym.agents import load_tuner
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.detest import DETEST, DetestDistribution, make_detest
from tunegym.envs.timestep.ode import reference_solution


@pytest.fixture(scope="module")
def tuner():
    return load_tuner("pretrained:step-size-ode")


def _oscillator(t, y):
    return np.array([y[1], -y[0]])


def test_result_has_scipys_fields_and_shapes(tuner):
    result = tuner.solve_ivp(_oscillator, (1.0, 7.0), [1.0, 0.0], rtol=1e-8)
    assert result.success and result.status == 0 and "successfully" in result.message
    assert result.t[0] == 1.0 and result.t[-1] == pytest.approx(7.0) and np.all(np.diff(result.t) > 0)
    assert result.y.shape == (2, result.t.size) and result.nfev == result["rhs_evaluations"] > 0
    assert result.sol is None and result.njev == result.nlu == 0 and result.t_events is None
    exact = np.array([np.cos(6.0), -np.sin(6.0)])
    assert np.linalg.norm(result.y[:, -1] - exact) < 1e-6


def test_t_eval_and_dense_output_follow_the_pairs_interpolant(tuner):
    t_eval = np.linspace(0.0, 6.0, 7)
    ours = tuner.solve_ivp(_oscillator, (0.0, 6.0), [1.0, 0.0], rtol=1e-9, t_eval=t_eval, dense_output=True)
    assert np.array_equal(ours.t, t_eval) and ours.y.shape == (2, 7)
    assert np.allclose(ours.y, np.vstack([np.cos(t_eval), -np.sin(t_eval)]), atol=1e-7)
    assert np.allclose(ours.sol(2.5), [np.cos(2.5), -np.sin(2.5)], atol=1e-7)
    plain = tuner.solve_ivp(_oscillator, (0.0, 6.0), [1.0, 0.0], rtol=1e-9)
    assert plain.nfev == ours.nfev  # the interpolant costs no RHS evaluation


def test_wrong_shape_and_nan_at_the_start_are_typed_errors(tuner):
    with pytest.raises(InstanceError, match="must return 2 values"):
        tuner.solve_ivp(lambda t, y: np.ones(3), (0.0, 1.0), [1.0, 2.0])
    with pytest.raises(InstanceError, match="non-finite"):
        tuner.solve_ivp(lambda t, y: np.array([np.nan]), (0.0, 1.0), [1.0])
    with pytest.raises(ConfigError):
        tuner.solve_ivp(lambda t, y: -y, (0.0, 1.0), [1.0], t_eval=[0.5, 0.25])  # not in the direction of time
    with pytest.raises(InstanceError):
        tuner.solve_ivp(lambda t, y: -y, (0.0, 1.0), [np.inf])


def test_nan_midway_and_blow_up_end_with_success_false_and_a_message(tuner):
    result = tuner.solve_ivp(lambda t, y: np.array([np.nan if t > 0.5 else -y[0]]), (0.0, 1.0), [1.0])
    # the first non-finite value comes from a stage beyond t = 0.5 (where the first rejected step tried to go); the
    # steps collapse at 0.5
    assert not result.success and result.status == -1 and "non-finite values (first at t=" in result.message
    assert "at t=0.5 " in result.message
    blow_up = tuner.solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), [1.0])
    assert not blow_up.success and blow_up.t[-1] < 1.0


def test_stiff_robertson_stops_early_with_a_pointer_to_implicit_methods(tuner):
    def robertson(t, y):
        return np.array([-0.04 * y[0] + 1e4 * y[1] * y[2], 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                         3e7 * y[1] ** 2])

    started = time.perf_counter()
    result = tuner.solve_ivp(robertson, (0.0, 100.0), [1.0, 0.0, 0.0])
    assert time.perf_counter() - started < 10.0
    assert not result.success and result.stop_reason == "stiff" and "Radau" in result.message
    # a bounded run without the check ends at max_attempts, also with success=False
    bounded = tuner.solve_ivp(robertson, (0.0, 100.0), [1.0, 0.0, 0.0], detect_stiffness=False, max_attempts=300)
    assert not bounded.success and bounded.stop_reason == "max_attempts" and "max_attempts=300" in bounded.message


def test_detest_problems_are_well_posed_and_draws_reproducible():
    for name in DETEST:
        instance = make_detest(name)
        assert np.all(np.isfinite(reference_solution(instance)))
    dist = DetestDistribution(rtol_range=(1e-10, 1e-3))
    first, again = dist.sample(stream(5, "instances")), dist.sample(stream(5, "instances"))
    assert first == again and first.instance_id == again.instance_id and 1e-10 <= first.rtol <= 1e-3
    assert first.reference_key == first.with_rtol(None).instance_id
    sol = solve_ivp(first.rhs, (0.0, first.t_end), np.array(first.y0), method="RK45", rtol=1e-6)
    assert sol.success


def test_timestep_suite_smoke_writes_claims(tmp_path):
    from tunegym.tuning.benches.timestep_suite import run_suite
    from tunegym.tuning.suites import get_suite

    claims = run_suite(get_suite("timestep-detest"), "smoke", tmp_path)
    # tuner, tuned fixed controller and PI at the smoke scale's two tolerances
    assert len(claims) == 6 and all(c.n == 10 and c.verdict in ("win", "tie", "loss") for c in claims)
    assert sum("tuned fixed controller" in c.method for c in claims) == 2
    assert (tmp_path / "timestep_suite.md").is_file() and (tmp_path / "timestep_suite.json").is_file()


def test_detest_all_tolerance_env_passes_the_conformance_checker():
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.envs.testing import check_tunegym_env

    env = gym.make("tunegym/ODEStep-v0", problems="detest", rtol_range=[1e-8, 1e-3], features="controller_tol",
                   knob="pi_safety", max_attempts=60, stiffness_detection=True)
    check_tunegym_env(env)
