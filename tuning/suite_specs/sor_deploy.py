"""SOR deploy suite: the README's tuner on the user's own sequences of related systems (issue #19).

One instance is one user sequence: a base matrix from a family the package never trained on (2-D/3-D
Laplacians of other sizes, anisotropic and variable-coefficient diffusion, PyAMG's rotated anisotropic FE
stencil, linear elasticity written to and read from a MatrixMarket file), then ``sequence_length`` systems
``s_t (A + c_t d I) x = b_t`` with shifts ``c_t``, scalings ``s_t`` and right-hand sides changing along it
(``tunegym.tuning.benches.sor_deploy.UserSequence``). The families are the strata of the claims' bootstrap.

Protocol (runner :mod:`tunegym.tuning.benches.sor_deploy`): the tuner is trained once as the README does,
``SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0)`` (setting A only: no test family is
seen in training), and each sequence starts from a copy of it and calls ``solve(A, b, learn=True)`` on every
system in order. The score of a method on a sequence is its total sweeps on systems ``learn_length + 1`` to
``sequence_length`` (every attempt charged); the per-system best ω on the 0.01 grid in (0, 2) is found by brute
force on the same systems. The goal of issue #19 is ``deployed / oracle <= 1.05``.
"""

SPECS = [
    {
        "name": "sor-deploy",
        "version": 1,
        "domain": "sor",
        "description": (
            "The deployed SORTuner (README recipe: spectral agent trained 500 steps on SOR-v0, then "
            "solve(learn=True)) on user sequences of shifted/scaled systems with changing right-hand sides "
            "built from held-out matrices; cost = sweeps (all attempts) on the second half of each sequence, "
            "paired against the per-system best omega on a 0.01 grid, Young's rules, Gauss-Seidel and the "
            "trained policy alone."
        ),
        "instances": {
            "distribution": "tunegym.tuning.benches.sor_deploy:UserSequence",
            "params": {"shift_scale": 0.03},
            "families": {
                "lap2d": {"family": "lap2d"},
                "lap3d": {"family": "lap3d"},
                "aniso": {"family": "aniso"},
                "varcoef": {"family": "varcoef"},
                "fe_rotated": {"family": "fe_rotated"},
                "elasticity_mtx": {"family": "elasticity_mtx"},
            },
        },
        "tune_seeds": range(0, 10),
        "dev_test_seeds": range(100, 150),
        "final_test_seeds": range(1000, 1100),
        "methods": ("deployed", "oracle", "young_sor_radius", "young_rho_j", "gauss_seidel", "policy_only"),
        "scale": {
            # Smoke: 3 families x 1 sequence of 40 systems (second half scored), under a minute on one core.
            "smoke": {"dev_test": 1, "final_test": 1, "sequence_length": 40, "learn_length": 20,
                      "families": ["lap2d", "fe_rotated", "elasticity_mtx"]},
            # Full: 6 families x 4 sequences of 200 systems, systems 101-200 scored.
            "full": {"dev_test": 4, "final_test": 8, "sequence_length": 200, "learn_length": 100},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI);
        # set around the smoke values of 1c7fab3: deployed/oracle 1.074, /Young 0.990, /Gauss-Seidel 0.182. Wall-time claims have no band.
        "bands": {
            'deployed/oracle/sweeps': (1.0, 1.12),
            'deployed/young_sor_radius/sweeps': (0.93, 1.05),
            'deployed/gauss_seidel/sweeps': (0.1, 0.3),
        },
    },
]
