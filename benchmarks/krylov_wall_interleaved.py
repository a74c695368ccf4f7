"""Wall time of the Krylov tuner against PyAMG's default solver and plain CG, measured in one run (issue #20).

Times a suite run's trained tuner with :func:`tunegym.tuning.benches.krylov_suite.interleaved_walls`, the same
measurement the suite runner makes on its test sequences, on sequences the run did not price: other seeds, or
sizes where pricing every arm would take hours (10^6 unknowns). Per system, the time-weighted tuner
(``tuner.solve(A, b)`` learning online: validation, features, decision and learning included), plain CG
(``scipy.sparse.linalg.cg``) and PyAMG's default solver each solve it, in a random order drawn per system. Each is
called once on a small system first (one-time kernel loads and imports are not timed). One BLAS thread. Claims
(paired per sequence, strata = families, Holm over the three): the tuner's total wall (its own overhead included)
against the faster of the two per sequence, against plain CG, and against PyAMG default.

Reads the tuner and its weights from a suite run's output (``DIR/krylov/krylov_tuner.pt`` and ``krylov.json``).
The final-test split is read only with ``--final`` and the use is logged in ``--ledger``'s final-test ledger.
``--grid``/``--length``/``--families``/``--test`` repeat a custom suite run's sizes (``tunegym bench krylov
--grid 316 ...``), e.g. at 10^5 unknowns; ``--offset`` skips the split's first seeds, to confirm a figure on sequences
that no earlier measurement (and no change made after one) has seen. Usage::

    python benchmarks/krylov_wall_interleaved.py --run DIR/krylov --split dev_test --out OUT.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import tunegym.tuning.benches.krylov_suite as K
from tunegym.agents.krylov_tuner import KrylovTuner
from tunegym.tuning.stats import claims_to_markdown, finalize_claims

METHODS = K.INTERLEAVED


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a suite run's krylov folder (tuner and weights)")
    parser.add_argument("--split", choices=["dev_test", "final_test"], default="dev_test")
    parser.add_argument("--final", action="store_true", help="allow the final-test split (logged in --ledger)")
    parser.add_argument("--ledger", type=Path, help="folder of the final-test ledger to log a final-test use in")
    parser.add_argument("--scale", choices=["smoke", "full"], default="full")
    parser.add_argument("--grid", type=int, help="custom run: 2-D grid side (as `tunegym bench krylov --grid`)")
    parser.add_argument("--length", type=int, help="custom run: systems per sequence")
    parser.add_argument("--families", help="custom run: comma list of families")
    parser.add_argument("--test", type=int, help="custom run: test sequences per family")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip this many of the split's seeds: sequences no earlier measurement chose on")
    parser.add_argument("--out", type=Path, required=True, help="Markdown report (a JSON file beside it)")
    args = parser.parse_args(argv)
    s = K.suite()
    run = json.loads((args.run / "krylov.json").read_text())
    weights = run["time_weights"]
    tuner_file = args.run / "krylov_tuner.pt"
    families = args.families.split(",") if args.families else None
    fams, length = K._families(s, args.scale, grid=args.grid, length=args.length, families=families)
    seeds = s.seeds(args.split, args.scale, final=args.final)
    if args.test is not None or args.offset:
        count = args.test if args.test is not None else len(seeds)
        seeds = getattr(s, f"{args.split}_seeds")[args.offset: args.offset + count]
    if args.split == "final_test":
        from tunegym.tuning.suites import Ledger

        if args.ledger is None:
            parser.error("--split final_test needs --ledger (the folder whose final-test ledger logs this use)")
        Ledger(args.ledger).record(s, METHODS, note="benchmarks/krylov_wall_interleaved.py: wall time only, "
                                                   f"tuner of {args.run}, families {list(fams)}, "
                                                   f"grid {[p['grid'] for p in fams.values()]}, length {length}, "
                                                   f"final-test seeds {list(seeds)}")
    start = time.perf_counter()
    rows = []
    with threadpool_limits(1):
        K.warm_up(tuner_file)
        for family, params in fams.items():
            for seed in seeds:
                systems = K.family_systems(params, seed, length)
                tuner = KrylovTuner.load(tuner_file).weigh_arms({k: v for k, v in weights.items() if k != "reuse"})
                totals = K.interleaved_walls(systems, tuner, seed=seed)
                rows.append({"family": family, "seed": seed, **totals})
                print(f"{family} {seed}: " + ", ".join(f"{m} {totals[m]:.2f} s" for m in METHODS), flush=True)
    strata = [r["family"] for r in rows]
    tuner_wall = np.array([r["krylov_tuner_time"] for r in rows])
    cg, amg = np.array([r["plain_cg"] for r in rows]), np.array([r["pyamg_default"] for r in rows])
    claims = finalize_claims(K.wall_claims(tuner_wall, cg, amg, strata=strata, domain="krylov", suite=s.name,
                                           suite_version=s.version, split=args.split))
    took = time.perf_counter() - start
    overhead = sum(r["overhead"] for r in rows) / max(float(tuner_wall.sum()), 1e-12)
    validation = sum(r["validation"] for r in rows) / max(float(tuner_wall.sum()), 1e-12)
    command = "python benchmarks/krylov_wall_interleaved.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Krylov wall time, interleaved in one run — `{s.key}`, {args.scale}, {args.split}", "",
             f"Command `{command}`; {took:.0f} s. Tuner: `{tuner_file}` deciding on time-weighted work "
             f"(weights from that run's tune sequences). n = {len(rows)} sequences of {length} systems.", "",
             claims_to_markdown(claims), "",
             f"Tuner overhead (features, decision and learning; `KrylovResult.tuner_time`) = "
             f"{100 * overhead:.2f}% of the tuner's wall time (all sequences); validating the arrays each call is "
             f"given (finiteness, shapes; `KrylovResult.check_time`) another {100 * validation:.2f}%.", "",
             "| family | seed | tuner (time-weighted) s | of which overhead s | plain CG s | PyAMG default s | "
             "failed solves |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['family']} | {r['seed']} | {r['krylov_tuner_time']:.2f} | {r['overhead']:.3f} | "
              f"{r['plain_cg']:.2f} | {r['pyamg_default']:.2f} | {r['failed']} |" for r in rows]
    result = {"suite": s.key, "scale": args.scale, "split": args.split, "tuner": str(tuner_file), "rows": rows,
              "claims": [c.to_dict() for c in claims], "overhead_share": overhead, "validation_share": validation,
              "seconds": took}
    K.write_report(args.out, lines, result, echo=8)
    return result


if __name__ == "__main__":
    main()
