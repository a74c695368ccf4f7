"""LNS iterations per second by instance size, and the share of wall time spent outside HiGHS.

Run: ``nice python benchmarks/mip_speed.py [--steps 20]``; writes benchmarks/mip_speed.json and prints a
Markdown table (copied into benchmarks/mip_speed.md). The goal (issue 10) is < 10% of time outside HiGHS.
The LNS settings are those of ``LNSSolver`` and ``tunegym bench mip``: destroy rate 0.5, sub-MIP node limit
200 and a 1 s wall-clock cap per sub-MIP, the nine operators in turn, start from the generator's point.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tunegym.envs.mip.instances import GENERATORS
from tunegym.envs.mip.lns import OPERATORS, LNSConfig, LNSProcess

from tunegym.tuning.benches.mip import BENCH_SIZES

# Per family: the env's tiny default, a mid size, and the size ``tunegym bench mip`` uses.
CASES = [("setcover", dict(n_rows=60, n_cols=120)), ("setcover", dict(n_rows=500, n_cols=1000)),
         ("setcover", BENCH_SIZES["setcover"]),
         ("auction", dict(n_items=25, n_bids=100)), ("auction", dict(n_items=200, n_bids=1000)),
         ("auction", BENCH_SIZES["auction"]),
         ("indset", dict(n_nodes=80)), ("indset", dict(n_nodes=1500)), ("indset", BENCH_SIZES["indset"]),
         ("facility", dict(n_customers=15, n_facilities=10)), ("facility", dict(n_customers=100, n_facilities=100)),
         ("facility", BENCH_SIZES["facility"])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--sub-nodes", type=int, default=200)
    parser.add_argument("--sub-time", type=float, default=1.0)
    args = parser.parse_args()
    rows = []
    for family, size in CASES:
        inst = GENERATORS[family](np.random.default_rng(0), **size)
        proc = LNSProcess(LNSConfig(sub_nodes=args.sub_nodes), reference=None)
        proc.start(inst, np.random.default_rng(0))
        t0, h0 = time.perf_counter(), proc.highs_time
        for k in range(args.steps):
            proc.advance({"operator": OPERATORS[k % len(OPERATORS)], "destroy_rate": args.rate},
                         time_limit=args.sub_time)
        wall = time.perf_counter() - t0
        highs = proc.highs_time - h0
        rows.append({"family": family, "size": size, "cols": inst.num_cols, "rows": inst.num_rows,
                     "iterations_per_s": args.steps / wall, "outside_highs_share": 1 - highs / wall})
        print(f"| {family} | {inst.num_rows}x{inst.num_cols} | {args.steps / wall:.1f} | {1 - highs / wall:.1%} |",
              flush=True)
    Path(__file__).with_name("mip_speed.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
