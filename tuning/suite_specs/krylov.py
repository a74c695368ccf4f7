"""Krylov suite: preconditioner (or reuse) per CG solve over sequences of implicit time steps (issue #20, DESIGN §3.5).

One instance is one seed's sequence of ``length`` SPD systems of a family, solved by CG to 1e-8; every method
meets the same systems in the same order (runner :mod:`tunegym.tuning.benches.krylov_suite`). Within each run
of 50 steps the dimensionless time step grows 1000x (mass-dominated, Jacobi/ILU territory, to
stiffness-dominated, multigrid territory) and each run draws a new coefficient field whose log10 contrast is
drawn over decades, so the best preconditioner changes along a sequence and reusing the last one pays only
while the matrix drifts slowly. Families are the strata of the claims.

Protocol: ``best_fixed`` is the fixed arm with the least total work on the family's tune sequences; our
learner (``krylov_tuner``) trains online on the same tune sequences (all families interleaved), with full
information from their price tables (what every fresh arm cost on every tune system, the data ``best_fixed`` is
chosen on), then is
deployed with ``learn=True`` on each test sequence; ``pcgbandit`` learns from scratch on each test sequence;
``oracle`` is the greedy hindsight choice per system among every fresh arm and reusing its own kept
preconditioner; ``pyamg_default`` is ``pyamg.smoothed_aggregation_solver(A).solve(b, accel="cg")`` per system.

Version 2 (second round of #20): the spec moved here from ``tuning/benches/krylov.py``; contrast drawn over
0.5-4 decades; elasticity dropped for 3-D diffusion; sizes of 10^4 unknowns at full scale. Third round (same
instances, version 2; its final-test split first read after this change): the learner trains with full information
and sees an 18th feature (the first-off-diagonal share); bands re-set.

Version 3 (fourth round): same instance distribution; the learner keeps a residual memory within a run and
amortises setup over 2 solves instead of 4 (both chosen on dev-test), and trains on 4 tune sequences per family
instead of 2. Version 2's final-test seeds 1000-1009 were read once; version 3 draws its final-test seeds from
1100-1199, never read before.

Suite ``krylov-gmres-sequences`` (version 1, issue #20's non-symmetric solver): the same protocol on
convection-diffusion sequences solved by restarted GMRES (``tunegym/PGMRES-v0``): upwind convection with a wind
that turns over each run and a Péclet number drawn per run (10^±0.5 around 50), implicit time steps whose
dimensionless step grows 1000x over a run, as above. Baselines are GMRES's: plain ``scipy.sparse.linalg.gmres``
and PyAMG's default solver with ``accel="gmres"``; PCGBandit is built for the GMRES env. Its learner is trained on
its own tune sequences (no CG data).
"""

#: both suites' seed splits (each suite's own: a seed names a different sequence in each) and methods
_SPLITS_AND_METHODS = {
    "tune_seeds": range(0, 10),
    "dev_test_seeds": range(100, 150),
    "final_test_seeds": range(1100, 1200),
    "methods": ("fixed", "best_fixed", "oracle", "pyamg_default", "pcgbandit", "krylov_tuner"),
}

SPECS = [
    {
        "name": "krylov-sequences",
        "version": 3,
        "domain": "krylov",
        "description": (
            "Preconditioner (or reuse) per CG solve over sequences of implicit time steps: 2-D and 3-D diffusion "
            "with log10 coefficient contrast drawn per run over 0.5-4 decades (drifting +-30% within a run), "
            "rotating anisotropic diffusion (epsilon 0.01); the time step grows 1000x over each run of 50 steps; "
            "cost = flops of setup + iterations (tunegym.envs.krylov.precond). Families are the strata."
        ),
        "instances": {
            "distribution": "tunegym.envs.krylov.instances:PDESequence",
            "params": {"run_length": 50, "nu_range": [0.3, 300.0], "contrast": [0.5, 4.0]},
            "families": {"diffusion": {"kind": "diffusion"}, "diffusion3d": {"kind": "diffusion", "dim": 3},
                         "anisotropic": {"kind": "anisotropic"}},
        },
        **_SPLITS_AND_METHODS,
        "scale": {
            # Smoke: about 30-60 s on one busy core; 2-D families only, runs of 20 steps.
            "smoke": {"tune": 1, "dev_test": 2, "final_test": 2, "length": 40, "run_length": 20, "grid": 24,
                      "grid3d": 8, "families": ["diffusion", "anisotropic"]},
            # Full: 10^4 unknowns (grid 100 2-D, 22^3 3-D), 200 systems (4 runs) per sequence; 4 tune sequences
            # a family.
            "full": {"tune": 4, "dev_test": 4, "final_test": 10, "length": 200, "run_length": 50, "grid": 100,
                     "grid3d": 22, "families": ["diffusion", "diffusion3d", "anisotropic"]},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI);
        # set around the smoke values of the version-3 learner (residual memory, horizon 2): learner/best fixed
        # 0.969, /oracle 1.243, /PCGBandit 0.541. Wall-time claims have no band.
        "bands": {
            'krylov_tuner/best_fixed/work': (0.91, 1.03),
            'krylov_tuner/oracle/work': (1.17, 1.32),
            'krylov_tuner/pcgbandit/work': (0.49, 0.60),
        },
    },
    {
        "name": "krylov-gmres-sequences",
        "version": 1,
        "domain": "krylov",
        "description": (
            "Preconditioner (or reuse) per GMRES solve over sequences of implicit time steps of 2-D upwind "
            "convection-diffusion: the wind turns by 0.5-2 half-turns over each run of 50 steps, the Peclet number is "
            "drawn per run (10^+-0.5 around 50), the time step grows 1000x over a run; cost = flops of setup + "
            "iterations (tunegym.envs.krylov.precond); baselines plain GMRES and PyAMG's default with accel='gmres'."
        ),
        "instances": {
            "distribution": "tunegym.envs.krylov.instances:PDESequence",
            "params": {"run_length": 50, "nu_range": [0.3, 300.0], "peclet": 50.0},
            "families": {"convection": {"kind": "convection"}},
        },
        **_SPLITS_AND_METHODS,
        "scale": {
            # Smoke: about 30 s on one busy core.
            "smoke": {"tune": 1, "dev_test": 2, "final_test": 2, "length": 40, "run_length": 20, "grid": 24,
                      "families": ["convection"]},
            # Full: 10^4 unknowns (grid 100), 100 systems (2 runs) per sequence; every arm is priced per system
            # (PyAMG's non-symmetric smoothed aggregation takes about 0.3-0.6 s a build here), so sequences are half
            # the CG suite's length and the final test has 10 of them (n = 10: the fewest whose exact Wilcoxon p can
            # pass Holm's correction over the report's claims).
            "full": {"tune": 3, "dev_test": 3, "final_test": 10, "length": 100, "run_length": 50, "grid": 100,
                     "families": ["convection"]},
        },
        # Set around the first smoke run's values (learner / best fixed 0.697, / oracle 1.296, / PCGBandit 0.397).
        "bands": {
            'krylov_tuner/best_fixed/work': (0.65, 0.75),
            'krylov_tuner/oracle/work': (1.21, 1.38),
            'krylov_tuner/pcgbandit/work': (0.36, 0.44),
        },
    },
]
