"""How many sweeps ``SORTuner.solve`` spends before it calls a matrix just past indefinite ``"diverged"`` (issue #19:
within 1,000), with and without the spectral check of its fallback ω (``agents/sor_tuner.py``,
``RADIUS_CHECK_SWEEPS``).

Matrices: the 5-point Laplacian of an ``m x m`` grid shifted by ``-f λ_min`` (``f`` slightly above 1: just past
indefinite) plus a skew part ``s (E - E^T)`` on the first off-diagonal, so that no symmetric theorem applies and the
tuner sweeps; right-hand sides standard normal (seeds 0-2). Tuners: the README's (``SORTuner.train("tunegym/SOR-v0",
agent="spectral", steps=500, seed=0)``) and a dynamic one (``SORDynamic-v0``, ``chebcb``, 300 steps, seed 0). "without
the check" sets ``RADIUS_CHECK_SWEEPS = 0``, which turns it off. Usage::

    python benchmarks/sor_divergence.py --out benchmarks/sor_divergence.json     # about 10 min on one core
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import tunegym.agents.sor_tuner as sor_tuner
from tunegym.agents import SORTuner
from tunegym.agents.tuner_io import versions
from tunegym.envs.sor import poisson2d
from tunegym.tuning.suites import git_commit

#: (grid side m, shift factor f, skew s)
MATRICES = ((40, 1.0228, 1e-4), (100, 1.02, 1e-5), (200, 1.05, 1e-5), (300, 1.1, 1e-5))


def matrix(m: int, factor: float, skew: float) -> sp.csr_matrix:
    """``poisson2d(m) - factor λ_min I + skew (E - E^T)``, ``λ_min = 8 sin²(π / (2 (m + 1)))``."""
    n = m * m
    smallest = 8.0 * np.sin(np.pi / (2 * (m + 1))) ** 2
    ones = np.ones(n - 1)
    return (poisson2d(m) - factor * smallest * sp.identity(n) + skew * sp.diags([ones, -ones], [1, -1])).tocsr()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", default=",".join(str(m) for m, _, _ in MATRICES),
                        help="comma list of grid sides among those in MATRICES")
    parser.add_argument("--seeds", type=int, default=3, help="right-hand sides per matrix")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    args = parser.parse_args(argv)
    grids = {int(m) for m in args.grids.split(",")}
    start = time.perf_counter()
    tuners = {"static": SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0),
              "dynamic": SORTuner.train("tunegym/SORDynamic-v0", agent="chebcb", steps=300, seed=0)}
    rows = []
    default = sor_tuner.RADIUS_CHECK_SWEEPS
    for m, factor, skew in MATRICES:
        if m not in grids:
            continue
        A = matrix(m, factor, skew)
        for name, tuner in tuners.items():
            for seed in range(args.seeds):
                b = np.random.default_rng(seed).standard_normal(A.shape[0])
                row = {"grid": m, "shift_factor": factor, "skew": skew, "tuner": name, "seed": seed}
                for label, check in (("with_check", default), ("without_check", 0)):
                    sor_tuner.RADIUS_CHECK_SWEEPS = check
                    try:
                        t0 = time.perf_counter()
                        result = copy.deepcopy(tuner).solve(A, b)
                        row[label] = {"status": result.status, "sweeps": int(result.sweeps),
                                      "attempts": [(float(np.mean(w)), int(k), st) for w, k, st in result.attempts],
                                      "seconds": time.perf_counter() - t0}
                    finally:
                        sor_tuner.RADIUS_CHECK_SWEEPS = default
                rows.append(row)
                print(f"{m}x{m} {name} b{seed}: " + ", ".join(
                    f"{label} {row[label]['status']} {row[label]['sweeps']}"
                    for label in ("with_check", "without_check")), flush=True)
    result = {"matrices": [list(entry) for entry in MATRICES], "rows": rows,
              "wall_time_s": time.perf_counter() - start,
              "command": " ".join(["python", "benchmarks/sor_divergence.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "commit": git_commit(), "versions": versions()}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
