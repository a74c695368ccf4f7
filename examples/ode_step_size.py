"""Solve your own ODE with the shipped step-size tuner, beside ``scipy.integrate.solve_ivp``.

``load_tuner("pretrained:step-size-ode").solve_ivp`` takes SciPy's arguments and returns SciPy's result fields
(``t``, ``y`` of shape (n, len(t)), ``nfev``, ``status``, ``success``, ``message``, ``sol`` with ``dense_output``,
``t_eval``). It runs Dormand–Prince 5(4) (SciPy's RK45 pair) with a learned step-size controller trained on
randomised DETEST problems for every rtol in 1e-10…1e-3. Measured result on held-out problems
(``benchmarks/timestep.md``, "Deployed on your ODE"): it lies below RK45's work–precision curve only at rtol 1e-9 and
1e-10 (3–5% fewer RHS evaluations at equal error), on it at 1e-5…1e-8 and 5–6% above it at 1e-3/1e-4; read the
numbers there before relying on it for speed. A non-finite or wrong-shaped right-hand side and a stiff problem
end with a typed error or ``success=False`` and a message, never a hang.

Run: ``python examples/ode_step_size.py`` (a few seconds).
"""

import numpy as np
from scipy.integrate import solve_ivp

from tunegym.agents import load_tuner


def forced_pendulum(t, y):
    """A damped, periodically forced pendulum: your right-hand side, nothing tunegym-specific."""
    theta, omega = y
    return np.array([omega, -0.2 * omega - 9.81 * np.sin(theta) + 1.5 * np.cos(1.3 * t)])


def main() -> None:
    tuner = load_tuner("pretrained:step-size-ode")
    t_span, y0 = (0.0, 20.0), [1.0, 0.0]
    reference = solve_ivp(forced_pendulum, t_span, y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    print(f"{'rtol':>7} | {'tuner nfev':>10} {'error':>9} | {'RK45 nfev':>9} {'error':>9}")
    for rtol in (1e-3, 1e-6, 1e-9):
        ours = tuner.solve_ivp(forced_pendulum, t_span, y0, rtol=rtol, atol=rtol * 1e-3)
        scipy = solve_ivp(forced_pendulum, t_span, y0, method="RK45", rtol=rtol, atol=rtol * 1e-3)
        assert ours.success, ours.message
        err_ours = np.linalg.norm(ours.y[:, -1] - reference) / np.linalg.norm(reference)
        err_scipy = np.linalg.norm(scipy.y[:, -1] - reference) / np.linalg.norm(reference)
        print(f"{rtol:7.0e} | {ours.nfev:10d} {err_ours:9.1e} | {scipy.nfev:9d} {err_scipy:9.1e}")

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
