"""Time-step suites: the deployed ODE step-size tuner against SciPy's RK45 on DETEST classes A–E (issue 19).

One instance is one randomised DETEST problem (:class:`~tunegym.envs.timestep.detest.DetestDistribution`, one class
per family, drawn from ``stream(seed, "instances")``), solved at each tolerance of ``rtols``. The claim at a
tolerance pairs, per problem, the method's RHS evaluations with what SciPy's ``solve_ivp(method="RK45")`` needs for
the same global error: RK45 runs over ``curve_rtols`` (atol = rtol·1e-3 throughout), its non-dominated (nfev, error)
points are interpolated log-log, and the method's error is looked up there (:mod:`tunegym.tuning.benches.
timestep_suite`). Ratio < 1: the method's point lies below RK45's work–precision curve on that problem. Errors are
relative 2-norm global errors at ``t_end`` against DOP853 at rtol 1e-13.

The tuner is ``pretrained:step-size-ode`` (or ``--tuner``), trained on ODEController-v0's own stream of tune seed 0
(DETEST draws that are not per-seed draws of any test seed); it is never fitted to dev-test or final-test problems.
v1 judged the first, per-attempt tuner (ODEStep-v0) and its final-test split was read once; v2 had fresh dev-test
and final-test seeds for the second tuner; v3 fixes the curve's extrapolation (no credit below RK45's most accurate
point) and has fresh final-test seeds.
"""

_CLASSES = ("A", "B", "C", "D", "E")

_DESCRIPTION = (
    "Deployed ODE step-size tuner (StepSizeTuner.solve_ivp, Dormand-Prince 5(4)) vs SciPy RK45's work-precision "
    "curve on randomised DETEST problems (Hull et al. 1972, classes A-E): per problem and tolerance, method RHS "
    "evaluations / RK45's interpolated RHS evaluations at the method's global error (reference DOP853 at rtol "
    "1e-13). Families (strata): the DETEST classes. v2: fresh dev-test and final-test seeds for the second tuner "
    "(tunegym/ODEController-v0: the controller of a whole solve; the process's I rule at 0.9 is now SciPy's RK45 step "
    "for step). v3: an error below RK45's most accurate point counts at that point's nfev (no extrapolation), "
    "fresh final-test seeds."
)

SPECS = [
    {
        "name": "timestep-detest",
        "version": 3,
        "domain": "timestep",
        "description": _DESCRIPTION,
        "instances": {
            "distribution": "tunegym.envs.timestep.detest:DetestDistribution",
            "params": {},
            "families": {c: {"classes": [c]} for c in _CLASSES},
        },
        "tune_seeds": range(0, 100),
        # v1 (dev-test 1000+, final-test 2000+, read once with the first, per-attempt tuner at a3eb34e; report
        # benchmarks/timestep_suite_results) is retired. v2 (dev-test 1100+, final-test 3000+, read once at 865b373,
        # benchmarks/timestep_suite_v2) extrapolated RK45's curve below its most accurate point, which overflowed in
        # training and gave round-off errors unearned credit; v3 gives none there, with fresh final-test seeds
        # (the dev-test seeds stay: that split is for choosing)
        "dev_test_seeds": range(1100, 1140),
        "final_test_seeds": range(4000, 4040),
        "methods": ("tuner", "fixed", "pi", "rk45"),
        "scale": {
            "smoke": {"tune": 2, "dev_test": 2, "final_test": 2, "rtols": [1e-3, 1e-6],
                      "curve_rtols": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]},
            "full": {"tune": 100, "dev_test": 24, "final_test": 24,
                     "rtols": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10],
                     "curve_rtols": [10.0 ** (-k / 2) for k in range(2, 25)]},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI); set around
        # the smoke values of the ODEController-v0 tuner: 0.967 (rtol 1e-3), 0.938 (rtol 1e-6).
        "bands": {
            'pretrained:step-size-ode rtol=1e-03/SciPy RK45 curve/rhs_evals_vs_rk45_at_equal_error': (0.88, 1.06),
            'pretrained:step-size-ode rtol=1e-06/SciPy RK45 curve/rhs_evals_vs_rk45_at_equal_error': (0.86, 1.03),
        },
    },
]
