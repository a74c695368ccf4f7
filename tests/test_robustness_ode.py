"""The deployed ODE tuner against what users bring (robustness review of ``StepSizeTuner.solve_ivp`` and ``tunegym
solve ode``): inputs SciPy's ``solve_ivp`` accepts are accepted with SciPy's result shapes, or refused with a typed
error before any step; nothing ends in a raw NumPy traceback or runs unbounded."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tunegym.agents import load_tuner
from tunegym.agents.step_size_tuner import RTOL_FLOOR
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.tuning.cli import main


@pytest.fixture(scope="module")
def tuner():
    return load_tuner("pretrained:step-size-ode")


def _decay(t, y):
    return -y


def _oscillator(t, y):
    return np.array([y[1], -y[0]])


@pytest.mark.parametrize("fun, y0, kwargs", [
    (_oscillator, [1, 0], {}),  # int y0: upcast, as SciPy
    (lambda t, y: [y[1], -y[0]], (1.0, 0.0), {}),  # fun returns a list, y0 a tuple
    (lambda t, y: (y[1], -y[0]), np.array([1.0, 0.0], dtype=np.float32), {}),
    (lambda t, y: -y[0], [1.0], {}),  # a scalar for one equation
    (lambda t, y, a, b: -a * y + b, [1.0], {"args": (2.0, 0.5)}),
    (_oscillator, [1.0, 0.0], {"t_eval": [0.0, 0.25, 1.0], "dense_output": True}),
    (_oscillator, [1.0, 0.0], {"atol": [1e-6, 1e-8], "rtol": np.array([1e-5])}),
])
def test_inputs_scipy_accepts_give_scipys_shapes_and_types(tuner, fun, y0, kwargs):
    ours = tuner.solve_ivp(fun, (0.0, 1.0), y0, **kwargs)
    theirs = solve_ivp(fun, (0.0, 1.0), y0, method="RK45", **kwargs)
    assert ours.success and ours.status == 0 and ours.t[-1] == theirs.t[-1] == 1.0
    assert ours.y.shape == (np.size(y0), ours.t.size) and ours.y.dtype == theirs.y.dtype == np.float64
    assert type(ours.nfev) is int and type(ours.status) is int and type(ours.success) is bool
    assert np.allclose(ours.y[:, -1], theirs.y[:, -1], rtol=1e-2, atol=1e-4)
    if "t_eval" in kwargs:
        assert np.array_equal(ours.t, theirs.t) and callable(ours.sol)


def test_non_callable_fun_and_bad_args_are_config_errors(tuner):
    with pytest.raises(ConfigError, match="callable"):
        tuner.solve_ivp(None, (0.0, 1.0), [1.0])
    with pytest.raises(ConfigError, match="args must be a tuple"):
        tuner.solve_ivp(lambda t, y, a: -a * y, (0.0, 1.0), [1.0], args=2.0)


def test_y0_that_is_not_numbers_is_an_instance_error(tuner):
    for y0 in ("ab", ["a"], [[1.0], [1.0, 2.0]]):
        with pytest.raises(InstanceError, match="vector of numbers"):
            tuner.solve_ivp(_decay, (0.0, 1.0), y0)
    with pytest.raises(InstanceError, match="finite"):
        tuner.solve_ivp(_decay, (0.0, 1.0), [1.0, np.nan])


def test_fun_returning_no_numbers_is_an_instance_error(tuner):
    with pytest.raises(InstanceError, match="returned a str"):
        tuner.solve_ivp(lambda t, y: "abc", (0.0, 1.0), [1.0])
    with pytest.raises(InstanceError, match="returned None"):
        tuner.solve_ivp(lambda t, y: None, (0.0, 1.0), [1.0])


def test_tolerances_of_the_wrong_type_are_config_errors(tuner):
    with pytest.raises(ConfigError, match="per-component rtol"):
        tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], rtol=[1e-3, 1e-4])
    for bad in ({"rtol": "a"}, {"atol": "x"}, {"rtol": -1.0}, {"atol": 0.0}):
        with pytest.raises(ConfigError):
            tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], **bad)


def test_rtol_below_100_eps_is_raised_to_it_with_a_warning_as_scipy_does(tuner):
    floor = tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], rtol=RTOL_FLOOR)
    for rtol in (1e-20, 0.0):
        with pytest.warns(UserWarning, match="100 \\* machine epsilon"):
            tiny = tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], rtol=rtol)
        assert tiny.success and tiny.nfev == floor.nfev


def test_t_eval_that_is_not_finite_numbers_is_a_config_error(tuner):
    with pytest.raises(ConfigError, match="t_eval must be finite"):
        tuner.solve_ivp(_decay, (0.0, 1.0), [1.0], t_eval=[np.nan])
    with pytest.raises(ConfigError, match="t_eval must be numbers"):
        tuner.solve_ivp(_decay, (0.0, 1.0), [1.0], t_eval="ab")


def test_a_backward_t_span_integrates_backwards_as_scipy_does(tuner):
    """``t_span = (t0, tf)`` with ``tf < t0``: the solution at decreasing times, ``t_eval`` decreasing, a dense
    output in the user's time, and SciPy's values to the tolerance; a ``t_eval`` in the wrong direction is refused."""
    from scipy.integrate import solve_ivp

    def oscillator(t, y):
        return [y[1], -y[0] + 0.1 * np.sin(t)]

    t_eval = np.linspace(3.0, -2.0, 11)
    ours = tuner.solve_ivp(oscillator, (3.0, -2.0), [1.0, 0.5], rtol=1e-9, t_eval=t_eval, dense_output=True)
    ref = solve_ivp(oscillator, (3.0, -2.0), [1.0, 0.5], rtol=1e-12, atol=1e-14, t_eval=t_eval)
    assert ours.success and np.array_equal(ours.t, t_eval) and ours.y.shape == (2, 11)
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-7)
    np.testing.assert_allclose(ours.sol(-1.3), solve_ivp(oscillator, (3.0, -1.3), [1.0, 0.5], rtol=1e-12,
                                                          atol=1e-14).y[:, -1], atol=1e-7)
    steps = tuner.solve_ivp(oscillator, (3.0, -2.0), [1.0, 0.5], rtol=1e-6)
    assert steps.t[0] == 3.0 and steps.t[-1] == -2.0 and np.all(np.diff(steps.t) < 0)
    with pytest.raises(ConfigError, match="direction"):
        tuner.solve_ivp(oscillator, (3.0, -2.0), [1.0, 0.5], t_eval=[-1.0, 0.0])


def test_t_span_checks_overflowing_intervals(tuner):
    with pytest.raises(ConfigError, match="difference is finite"):
        tuner.solve_ivp(_decay, (-1e308, 1e308), [1.0])


def test_an_empty_interval_returns_y0_as_scipy_does(tuner):
    ours = tuner.solve_ivp(_decay, (2.0, 2.0), [1.0, 3.0], dense_output=True)
    theirs = solve_ivp(_decay, (2.0, 2.0), [1.0, 3.0], dense_output=True)
    assert ours.success and ours.status == 0 and ours.nfev == theirs.nfev == 1
    assert np.array_equal(ours.t, theirs.t) and np.array_equal(ours.y, theirs.y)
    assert np.array_equal(ours.sol(2.0), [1.0, 3.0])
    at = tuner.solve_ivp(_decay, (2.0, 2.0), [1.0], t_eval=[2.0])
    assert at.t.tolist() == [2.0] and at.y.shape == (1, 1)


def test_scipys_default_step_options_are_accepted(tuner):
    plain = tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0])
    for options in ({"first_step": None}, {"max_step": np.inf}, {"max_step": 5.0}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], **options)
        assert result.success and result.nfev == plain.nfev
    for options in ({"first_step": 0.01}, {"max_step": 0.1}):
        with pytest.raises(ConfigError, match="cannot be honoured"):
            tuner.solve_ivp(_oscillator, (0.0, 1.0), [1.0, 0.0], **options)


def test_max_attempts_of_the_wrong_type_is_a_config_error(tuner):
    for bad in ("x", None, 0, np.inf):
        with pytest.raises(ConfigError, match="max_attempts"):
            tuner.solve_ivp(_decay, (0.0, 1.0), [1.0], max_attempts=bad)


def test_dense_output_without_an_accepted_step_is_still_callable(tuner):
    result = tuner.solve_ivp(lambda t, y: np.array([np.nan if t > 0 else -y[0]]), (0.0, 1.0), [1.0],
                             dense_output=True)
    assert not result.success and result.accepted == 0 and "non-finite" in result.message
    assert np.array_equal(result.sol(0.0), [1.0]) and result.y.shape == (1, 1)


def test_the_last_time_is_t_span_end_exactly(tuner):
    seen = []

    def fun(t, y):
        seen.append(t)
        return -y

    result = tuner.solve_ivp(fun, (-0.3, 0.9), [1.0], dense_output=True)
    assert result.t[-1] == 0.9 and result.sol.t_max == 0.9 and max(seen) == 0.9


def test_hard_problems_end_in_bounded_time_with_success_false(tuner):
    started = time.perf_counter()
    vdp = tuner.solve_ivp(lambda t, y: np.array([y[1], 1000.0 * (1 - y[0] ** 2) * y[1] - y[0]]), (0.0, 3000.0),
                          [2.0, 0.0])
    blow_up = tuner.solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), [1.0], dense_output=True)
    assert time.perf_counter() - started < 10.0
    assert not vdp.success and vdp.stop_reason == "stiff" and "Radau" in vdp.message
    assert not blow_up.success and blow_up.t[-1] < 1.0 and blow_up.y.shape == (1, blow_up.t.size)


def _one_line_error(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_solve_ode_cli_refuses_bad_rhs_and_out_in_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "user_rhs_robustness.py").write_text("import numpy as np\nnot_a_function = 3\n"
                                                     "def decay(t, y):\n    return -y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    span = ["--t-span", "0,1", "--y0", "1"]
    _one_line_error(capsys, ["solve", "ode", "user_rhs_robustness:not_a_function", *span], "not callable")
    _one_line_error(capsys, ["solve", "ode", ":decay", *span], "module:function")
    _one_line_error(capsys, ["solve", "ode", "kepler", "--y0", "1,2"], "needs 4 values")
    _one_line_error(capsys, ["solve", "ode", "user_rhs_robustness:decay", *span, "--out", str(tmp_path)],
                    "is a directory")
    (tmp_path / "a_file").write_text("")
    _one_line_error(capsys, ["solve", "ode", "user_rhs_robustness:decay", *span, "--out",
                             str(tmp_path / "a_file" / "y.json")], "is a file, not a directory")
    out = tmp_path / "empty.json"
    assert main(["solve", "ode", "user_rhs_robustness:decay", "--t-span", "1,1", "--y0", "2", "--out", str(out)]) == 0
    assert '"y": [\n  2.0\n ]' in out.read_text()


def test_a_complex_problem_checks_its_rhs_like_a_real_one(tuner):
    """A complex y0 is solved as the real system of its parts; a right-hand side that returns nothing, text or the
    wrong size is still a typed error naming the complex size, and a backward complex solve works too."""
    for bad, needle in ((lambda t, y: None, "returned None"), (lambda t, y: "ab", "must return 1 numbers"),
                        (lambda t, y: np.ones(3) * 1j, r"returned shape \(3,\)")):
        with pytest.raises(InstanceError, match=needle):
            tuner.solve_ivp(bad, (0.0, 1.0), [1.0 + 1.0j])
    back = tuner.solve_ivp(lambda t, y: 1j * y, (1.0, 0.0), [1.0 + 0j], t_eval=[1.0, 0.5, 0.0], rtol=1e-8)
    np.testing.assert_allclose(back.y[0], np.exp(1j * (back.t - 1.0)), atol=1e-6)
