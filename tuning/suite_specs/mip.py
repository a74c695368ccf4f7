"""MIP suite: the deployed LNS (``tunegym solve mip`` / ``LNSSolver``, interleaved with HiGHS) against HiGHS
default on held-out workloads, loaded from MPS files (issue #19).

One instance is one seed of one held-out family (multidimensional knapsack, generalized assignment type D,
weighted max-cut; none of them is a family any tuner was trained or tuned on, and no size either), written
to MPS with highspy's ``writeModel`` and read back through the user path. Both methods run single-threaded.
Primary measure: a deterministic work budget (``work_nodes``: branch-and-bound nodes over every HiGHS run,
each run's root counted as one; every other limit is a count, so a run is reproducible); beside it the
wall-clock budget ``budget_s`` a user experiences. Nothing is tuned here: the tune seeds are unused, the
shipped default solver runs as a user would run it.
"""

SPECS = [
    {
        "name": "mip-deploy-heldout",
        "version": 1,
        "domain": "mip",
        "description": (
            "Deployed LNS (tunegym solve mip: LNS interleaved with HiGHS on the full model, default settings) "
            "against HiGHS default (threads=1) on held-out MIP families read from MPS files: multidimensional "
            "knapsack 100 items x 5 constraints, generalized assignment type D 10 agents x 60 jobs, weighted "
            "max-cut on G(40, 0.3). Metrics: primal integral (gap to the best known objective, integrated over "
            "the budget and divided by it) and final primal gap, under a deterministic node budget and a "
            "wall-time budget."
        ),
        "instances": {
            "distribution": "tunegym.envs.mip.instances:HeldOutFamilyDistribution",
            "params": {},
            "families": {
                "mknap": {"family": "mknap", "n_items": 100, "n_knapsacks": 5},
                "gap": {"family": "gap", "n_agents": 10, "n_jobs": 60},
                "maxcut": {"family": "maxcut", "n_nodes": 40, "edge_prob": 0.3},
            },
        },
        "tune_seeds": range(0, 10),
        "dev_test_seeds": range(100, 150),
        "final_test_seeds": range(1000, 1100),
        "methods": ("lns_interleaved", "highs_default"),
        "scale": {
            # Smoke: one instance per family, short budgets (about 30 s in all on one core).
            "smoke": {"dev_test": 1, "final_test": 1, "budget_s": 2.0,
                      "work_nodes": {"mknap": 400, "gap": 20, "maxcut": 60}},
            # Full: 10 instances per family; node budgets take HiGHS a few seconds per instance.
            "full": {"dev_test": 10, "final_test": 10, "budget_s": 10.0,
                     "work_nodes": {"mknap": 5000, "gap": 200, "maxcut": 600}},
        },
        # Regression bands of deterministic smoke claims, checked by `tunegym bench all --scale smoke` (CI);
        # set around the smoke values of 1c7fab3: interleaved LNS/HiGHS 1.000 (node budget). Wall-time claims have no band.
        "bands": {
            'lns_interleaved/highs_default/primal_integral_hard_work': (0.95, 1.05),
        },
    },
]
