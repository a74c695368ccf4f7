"""SOR suites: Learning to Relax setting A (Khodak et al., ICLR 2024), DESIGN §3.1.

One instance is one seed's sequence of ``sequence_length`` shifted-Laplacian systems ``A = L + cI``
(10 x 10 grid), solved by every method in the same order; the two offset distributions (Beta(0.5, 1.5),
"high" variance, and Beta(2, 6), "low") are the families, i.e. the strata of the claims' bootstrap.
"""

SPECS = [
    {
        "name": "sor-setting-a",
        "version": 1,
        "domain": "sor",
        "description": (
            "Learning to Relax setting A: online choice of the SOR relaxation factor over a sequence of "
            "shifted 2-D Laplacian systems A = L + cI, c = -0.15 + 0.6 Beta; cost = SOR sweeps to tolerance. "
            "Families: high-variance Beta(0.5, 1.5) and low-variance Beta(2, 6) offsets."
        ),
        "instances": {
            "distribution": "tunegym.envs.sor.instances:ShiftedLaplacianDistribution",
            "params": {"grid": 10, "offset_low": -0.15, "offset_scale": 0.6},
            "families": {"high": {"variance": "high"}, "low": {"variance": "low"}},
        },
        "tune_seeds": range(0, 10),
        "dev_test_seeds": range(100, 150),
        "final_test_seeds": range(1000, 1200),
        "methods": ("omega=1", "best_fixed", "tsallis_inf", "chebcb", "spectral", "young"),
        "scale": {
            "smoke": {"tune": 2, "dev_test": 5, "final_test": 5, "sequence_length": 50},
            # Full: the paper's T = 5000 systems per sequence; all 200 final-test seeds per family.
            "full": {"tune": 10, "dev_test": 50, "final_test": 200, "sequence_length": 5000},
        },
        "bands": {},
    },
]
