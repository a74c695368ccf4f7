"""Time-step suites: the deployed ODE step-size tuner against SciPy's RK45 on DETEST classes A–E (issue 19).

One instance is one randomised DETEST problem (:class:`~tunegym.envs.timestep.detest.DetestDistribution`, one class
per family, drawn from ``stream(seed, "instances")``), solved at each tolerance of ``rtols``. The claim at a
tolerance pairs, per problem, the method's RHS evaluations with what SciPy's ``solve_ivp(method="RK45")`` needs for
the same global error: RK45 runs over ``curve_rtols`` (atol = rtol·1e-3 throughout), its non-dominated (nfev, error)
points are interpolated log-log, and the method's error is looked up there (:mod:`tunegym.tuning.benches.
timestep_suite`). Ratio < 1: the method's point lies below RK45's work–precision curve on that problem. Errors are
relative 2-norm global errors at ``t_end`` against DOP853 at rtol 1e-13.

The tuner is ``pretrained:step-size-ode`` (or ``--tuner``), trained on ODEStep-v0's own stream of tune seed 0
(DETEST draws that are not per-seed draws of any test seed); it is never fitted to dev-test or final-test problems.
"""

_CLASSES = ("A", "B", "C", "D", "E")

SPECS = [
    {
        "name": "timestep-detest",
        "version": 1,
        "domain": "timestep",
        "description": (
            "Deployed ODE step-size tuner (StepSizeTuner.solve_ivp, Dormand-Prince 5(4)) vs SciPy RK45's "
            "work-precision curve on randomised DETEST problems (Hull et al. 1972, classes A-E): per problem and "
            "tolerance, method RHS evaluations / RK45's interpolated RHS evaluations at the method's global error "
            "(reference DOP853 at rtol 1e-13). Families (strata): the DETEST classes."
        ),
        "instances": {
            "distribution": "tunegym.envs.timestep.detest:DetestDistribution",
            "params": {},
            "families": {c: {"classes": [c]} for c in _CLASSES},
        },
        "tune_seeds": range(0, 100),
        "dev_test_seeds": range(1000, 1040),
        "final_test_seeds": range(2000, 2040),
        "methods": ("tuner", "pi", "rk45"),
        "scale": {
            # Smoke: 2 problems per class at two tolerances, RK45 curve on a coarse grid (< 60 s on one core).
            "smoke": {"tune": 2, "dev_test": 2, "final_test": 2, "rtols": [1e-3, 1e-6],
                      "curve_rtols": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]},
            # Full: 24 problems per class (n = 120 per tolerance), 8 tolerances, RK45 at half-decade rtols.
            "full": {"tune": 100, "dev_test": 24, "final_test": 24,
                     "rtols": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10],
                     "curve_rtols": [10.0 ** (-k / 2) for k in range(2, 25)]},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI);
        # set around the smoke values of 1c7fab3: tuner/RK45 1.092 (rtol 1e-3), 1.057 (rtol 1e-6). Wall-time claims have no band.
        "bands": {
            'pretrained:step-size-ode rtol=1e-03/SciPy RK45 curve/rhs_evals_vs_rk45_at_equal_error': (1.0, 1.2),
            'pretrained:step-size-ode rtol=1e-06/SciPy RK45 curve/rhs_evals_vs_rk45_at_equal_error': (0.95, 1.16),
        },
    },
]
