"""Paired claims for the three-body result on seeds 400-499, from the shipped per-instance runs.

The report's earlier "Pareto-dominates" rested on means and medians; this applies the project's verdict rule
(:mod:`tunegym.tuning.stats`) to the same per-instance data: force evaluations and |ΔE/E0| of the learned
per-instance η against the best fixed η chosen on tune seeds, paired by instance, Holm-corrected over the two.

    python benchmarks/timestep_three_body_paired.py
"""

from __future__ import annotations

import json
from pathlib import Path

from tunegym.tuning.stats import claims_to_markdown, finalize_claims, paired_claim

RESULTS = Path(__file__).resolve().parent / "timestep_results_seeds400" / "timestep.json"
LEARNED = "learned per-instance eta (ThreeBodyCommit-v0, eps_regressor, mu=45000)"
FIXED = "fixed eta=1.00e-03"
ERROR_SHIFT = 1e-16  # |ΔE/E0| can be exactly 0; published with the claim


def main() -> None:
    data = json.loads(RESULTS.read_text())
    runs = data["three_body"]["runs"]
    pairs = [(a, b) for a, b in zip(runs[LEARNED], runs[FIXED]) if a["status"] == "ok" and b["status"] == "ok"]
    common = dict(domain="timestep", suite="three-body-seeds400", suite_version=0, split="test (seeds 400-499)",
                  method="learned per-instance eta", baseline="best fixed eta (1e-3, tune-chosen)")
    claims = finalize_claims([
        paired_claim([a["force_evaluations"] for a, _ in pairs], [b["force_evaluations"] for _, b in pairs],
                     metric="force_evaluations", **{k: v for k, v in common.items() if k not in ("method", "baseline")},
                     method_name=common["method"], baseline_name=common["baseline"]),
        paired_claim([abs(a["energy_error"]) for a, _ in pairs], [abs(b["energy_error"]) for _, b in pairs],
                     shift=ERROR_SHIFT, metric="abs_energy_error",
                     **{k: v for k, v in common.items() if k not in ("method", "baseline")},
                     method_name=common["method"], baseline_name=common["baseline"]),
    ])
    print(f"{len(pairs)} instances where both runs finished (of {len(runs[LEARNED])})\n")
    print(claims_to_markdown(claims))


if __name__ == "__main__":
    main()
