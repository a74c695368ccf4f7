"""Solve your own ODE with the shipped step-size tuner, beside ``scipy.integrate.solve_ivp``.

``load_tuner("pretrained:step-size-ode").solve_ivp`` takes SciPy's arguments and returns SciPy's result fields
(``t``, ``y`` of shape (n, len(t)), ``nfev``, ``status``, ``success``, ``message``, ``sol`` with ``dense_output``,
``t_eval``). It runs Dormand–Prince 5(4) (SciPy's RK45 pair) with the step-size controller (I or PI rule, safety
factor) that a LinUCB tuner picks for the tolerance, trained on randomised DETEST problems for every rtol in
1e-10…1e-3. Measured result on 120 held-out problems per tolerance (``benchmarks/timestep.md``, "Deployed on your
ODE"): 1.4–6.2% fewer RHS evaluations than RK45 *at equal global error* at each rtol 1e-3…1e-10. At the same rtol it
usually spends more evaluations than RK45 and reaches a smaller error, so the comparison below reads RK45's
work–precision curve at the tuner's error. A non-finite or wrong-shaped right-hand side and a stiff problem end with a
typed error or ``success=False`` and a message, never a hang.

Run: ``python examples/ode_step_size.py`` (a few seconds).
"""

import numpy as np
from scipy.integrate import solve_ivp

from tunegym.agents import load_tuner
from tunegym.envs.timestep.ode_controller import rk45_nfev_at_error


def forced_pendulum(t, y):
    """A damped, periodically forced pendulum: your right-hand side, nothing tunegym-specific."""
    theta, omega = y
    return np.array([omega, -0.2 * omega - 9.81 * np.sin(theta) + 1.5 * np.cos(1.3 * t)])


def rk45_nfev_at(fun, t_span, y0, reference, error: float) -> float:
    """What SciPy's RK45 spends for ``error``: its (nfev, error) points over rtols 1e-2 … 1e-12, read off with
    the suite's own curve interpolation (``rk45_nfev_at_error``)."""
    curve = []
    for rtol in 10.0 ** -np.arange(2.0, 12.5, 0.5):
        run = solve_ivp(fun, t_span, y0, method="RK45", rtol=rtol, atol=rtol * 1e-3)
        curve.append((run.nfev, np.linalg.norm(run.y[:, -1] - reference) / np.linalg.norm(reference)))
    return rk45_nfev_at_error(curve, error)


def main() -> None:
    tuner = load_tuner("pretrained:step-size-ode")
    t_span, y0 = (0.0, 20.0), [1.0, 0.0]
    reference = solve_ivp(forced_pendulum, t_span, y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    print(f"{'rtol':>7} | {'controller':>14} {'tuner nfev':>10} {'error':>9} | {'RK45 nfev at that error':>23}")
    for rtol in (1e-3, 1e-6, 1e-9):
        ours = tuner.solve_ivp(forced_pendulum, t_span, y0, rtol=rtol, atol=rtol * 1e-3)
        assert ours.success, ours.message
        error = np.linalg.norm(ours.y[:, -1] - reference) / np.linalg.norm(reference)
        rk45 = rk45_nfev_at(forced_pendulum, t_span, y0, reference, error)
        rule = f"{ours.knob_values[0]['rule']} rule, {ours.knob_values[0]['safety']}"
        print(f"{rtol:7.0e} | {rule:>14} {ours.nfev:10d} {error:9.1e} | {rk45:23.0f}")

    # Dense output and t_eval work as in SciPy (the pair's own interpolant, no extra RHS evaluations).
    dense = tuner.solve_ivp(forced_pendulum, t_span, y0, rtol=1e-8, t_eval=np.linspace(0, 20, 5), dense_output=True)
    print("theta at t = 0, 5, 10, 15, 20:", np.round(dense.y[0], 6), "| theta(7.5) =", round(float(dense.sol(7.5)[0]), 6))

    # What goes wrong is reported, not crashed through.
    blow_up = tuner.solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), [1.0])  # y = 1/(1 - t): infinite at t = 1
    print("blow-up:", blow_up.success, "-", blow_up.message)
    robertson = tuner.solve_ivp(lambda t, y: np.array([-0.04 * y[0] + 1e4 * y[1] * y[2],
                                                        0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                                                        3e7 * y[1] ** 2]), (0.0, 100.0), [1.0, 0.0, 0.0])
    print("stiff:", robertson.success, "-", robertson.message)


if __name__ == "__main__":
    main()
