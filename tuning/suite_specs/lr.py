"""LR suite: a deployed LR scheduler at the user's own learning rate (issue #19).

One instance is one training task (a model, its data, SGD with momentum or AdamW, a step budget) *and the
user's learning rate*, drawn log-uniformly over three decades (1e-4 … 1e-1) for both optimizers. Every method
trains run 0 of the task in a plain torch loop at that LR, as a user would: no schedule (constant), cosine
(``CosineAnnealingLR``), linear decay (``LinearLR`` to 0), schedule-free (``schedulefree``'s AdamW or SGD at that
LR), and the shipped scheduler (``LearnedLRScheduler`` with the tuner trained on the tune tasks).

Families: ``tune`` (MLPs on blobs, 8x8 digits, wine and a generated regression, small CNNs on digits; label
noise 0/10/20 %) is read on tune seeds only and trains the tuner and picks the baseline; the other five
families are the **unseen** test families (never read while tuning): MLPs on breast-cancer and diabetes
(bundled data), on generated 3-class spirals and Friedman #1 regression, and the character model on generated
Markov sequences. Test seeds draw one task per family each; the test families are the claims' strata.

Runner: :mod:`tunegym.tuning.benches.lr_suite` (``tunegym bench all``, or ``tunegym bench lr --suite``).
Version 1's sizes were fixed with its first runner, before any result or final-test ledger entry existed.
"""

_TUNE_FAMILIES = (("mlp", ("blobs",)), ("mlp", ("digits",)), ("mlp", ("wine",)), ("mlp", ("teacher",)), ("cnn", ("digits",)))

SPECS = [
    {
        "name": "lr-user-rate",
        "version": 1,
        "domain": "lr",
        "description": (
            "The LR schedule of a training run at the user's own learning rate (log-uniform 1e-4 … 1e-1, "
            "SGD+momentum or AdamW): the shipped LearnedLRScheduler against no schedule, cosine, linear decay and "
            "schedule-free at that LR, in plain torch loops; metric = final validation loss (NaN/inf or >= 10 "
            "counts as 10). Tuned on the `tune` family only; tested on five unseen families (breast-cancer, "
            "diabetes, spirals, Friedman #1, char model)."
        ),
        "instances": {
            "distribution": "tunegym.envs.lr.tasks:LRTaskDistribution",
            "params": {
                "widths": (16, 32, 64), "cnn_channels": (4, 8), "depths": (1, 2, 3), "batch_sizes": (16, 32, 64),
                "optimizers": ("sgd", "adamw"), "step_budget": (150, 300), "n_samples": 512,
                "lr_range": (1e-4, 1e-1), "label_noises": (0.0, 0.1, 0.2),
            },
            "families": {
                "tune": {"families": _TUNE_FAMILIES, "label": "user-rate-tune"},
                "breast_cancer": {"families": (("mlp", ("breast_cancer",)),), "label": "user-rate-breast_cancer"},
                "diabetes": {"families": (("mlp", ("diabetes",)),), "label": "user-rate-diabetes"},
                "spirals": {"families": (("mlp", ("spirals",)),), "label": "user-rate-spirals"},
                "friedman": {"families": (("mlp", ("friedman",)),), "label": "user-rate-friedman"},
                "charseq": {"families": (("char", ("charseq",)),), "label": "user-rate-charseq"},
            },
        },
        "tune_seeds": range(0, 200),
        "dev_test_seeds": range(1000, 1200),
        "final_test_seeds": range(5000, 5400),
        "methods": ("constant", "cosine", "linear", "schedulefree", "learned"),
        "scale": {
            # Smoke (< 60 s on one core): 3 tune tasks of 40-60 steps, one test task per unseen family.
            "smoke": {"tune": 3, "dev_test": 1, "final_test": 1, "runs": 1, "rounds": 200,
                      "step_budget": (40, 60), "n_samples": 256},
            # Full: 40 tune tasks x 1 run; 12 test tasks per unseen family (60), 150-300 steps each.
            "full": {"tune": 40, "dev_test": 12, "final_test": 40, "runs": 1, "rounds": 4000,
                     "step_budget": (150, 300), "n_samples": 512},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI);
        # set around the smoke values of 1c7fab3: learned/constant 0.909, learned/cosine 0.846. Wall-time claims have no band.
        "bands": {
            'learned/best_on_tune_constant/val_loss': (0.8, 1.02),
            'learned/cosine/val_loss': (0.72, 0.97),
        },
    },
]
