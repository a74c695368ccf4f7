"""SOR suites: Learning to Relax setting A (Khodak et al., ICLR 2024), DESIGN §3.1.

One instance is one seed's sequence of ``sequence_length`` shifted-Laplacian systems ``A = L + cI``
(10 x 10 grid), solved by every method in the same order; the two offset distributions (Beta(0.5, 1.5),
"high" variance, and Beta(2, 6), "low") are the families, i.e. the strata of the claims' bootstrap.

Protocol (``tunegym bench all``, runner :mod:`tunegym.tuning.benches.sor_suite`): every choice is made on the
tune seeds only, with equal budgets: each learner (``spectral``, ``chebcb``, ``tsallis_inf``) trains online on
the first ``tune`` tune seeds' sequences of ``tune_length`` systems, and ``best_fixed`` is the arm of the same
20-arm grid with the lowest mean sweeps on those same systems. Then every method is deployed frozen on each
dev-test (or final-test) seed's sequence of ``sequence_length`` systems. ``young`` (Young's ω* from the exact
Jacobi radius, on the arm grid) is a rule, ``oracle`` (the per-instance best arm) a bound.

Version 1's sizes were fixed by the first runner of this suite, before any result or final-test ledger entry
existed (the paper's T = 5000 became the learners' tune budget at full scale, 10 seeds x 500 systems).
"""

SPECS = [
    {
        "name": "sor-setting-a",
        "version": 1,
        "domain": "sor",
        "description": (
            "Learning to Relax setting A: the SOR relaxation factor for each of a sequence of shifted 2-D "
            "Laplacian systems A = L + cI, c = -0.15 + 0.6 Beta; cost = SOR sweeps to a relative residual of "
            "1e-8. Families: high-variance Beta(0.5, 1.5) and low-variance Beta(2, 6) offsets. Learners and the "
            "best fixed omega are chosen on the same tune systems, then deployed frozen on test sequences."
        ),
        "instances": {
            "distribution": "tunegym.envs.sor.instances:ShiftedLaplacianDistribution",
            "params": {"grid": 10, "offset_low": -0.15, "offset_scale": 0.6},
            "families": {"high": {"variance": "high"}, "low": {"variance": "low"}},
        },
        "tune_seeds": range(0, 10),
        "dev_test_seeds": range(100, 150),
        "final_test_seeds": range(1000, 1200),
        "methods": ("omega=1", "best_fixed", "tsallis_inf", "chebcb", "spectral", "young", "oracle"),
        "scale": {
            # Smoke: about 10 s on one core; the claims' n is 2 families x 5 sequences.
            "smoke": {"tune": 2, "dev_test": 5, "final_test": 5, "tune_length": 50, "sequence_length": 50},
            # Full: learners train on 10 x 500 = 5000 systems (the paper's T); 50 (200 final) test sequences
            # of 500 systems per family.
            "full": {"tune": 10, "dev_test": 50, "final_test": 200, "tune_length": 500, "sequence_length": 500},
        },
        # Regression bands of the smoke claims (ratio = IQM over sequences of method/baseline mean sweeps),
        # checked by `tunegym bench all --scale smoke` (CI). The smoke run is seeded, so its ratios move only
        # when code does; smoke values at commit 631c4eb: spectral/best_fixed 0.666, spectral/chebcb 0.910,
        # spectral/oracle 1.036, spectral/young 1.001. A uniformly random arm gives about 3 against the oracle.
        "bands": {
            "spectral/best_fixed/sweeps": (0.60, 0.73),
            "spectral/chebcb/sweeps": (0.80, 0.98),
            "spectral/oracle/sweeps": (1.00, 1.07),
            "spectral/young/sweeps": (0.97, 1.04),
        },
    },
]
