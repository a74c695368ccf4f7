"""LNS iterations per second by instance size, and the share of wall time spent outside HiGHS.

Run: ``nice python benchmarks/mip_speed.py [--steps 30]``; writes benchmarks/mip_speed.json and prints a
Markdown table (copied into benchmarks/mip_speed.md). The goal (issue 10) is < 10% of time outside HiGHS.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tunegym.envs.mip.instances import GENERATORS
from tunegym.envs.mip.lns import OPERATORS, LNSConfig, LNSProcess

CASES = [("setcover", dict(n_rows=60, n_cols=120)), ("setcover", dict(n_rows=500, n_cols=1000)),
         ("auction", dict(n_items=25, n_bids=100)), ("auction", dict(n_items=200, n_bids=1000)),
         ("indset", dict(n_nodes=80)), ("indset", dict(n_nodes=1500)),
         ("facility", dict(n_customers=15, n_facilities=10)), ("facility", dict(n_customers=50, n_facilities=50))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for family, size in CASES:
        inst = GENERATORS[family](np.random.default_rng(0), **size)
        proc = LNSProcess(inst, np.random.default_rng(0), LNSConfig(sub_nodes=50))
        t0, h0 = time.perf_counter(), proc.highs_time
        for k in range(args.steps):
            proc.step(OPERATORS[k % len(OPERATORS)], 0.3)
        wall = time.perf_counter() - t0
        highs = proc.highs_time - h0
        rows.append({"family": family, "size": size, "cols": inst.num_cols, "rows": inst.num_rows,
                     "iterations_per_s": args.steps / wall, "outside_highs_share": 1 - highs / wall})
        print(f"| {family} | {inst.num_rows}x{inst.num_cols} | {args.steps / wall:.1f} | {1 - highs / wall:.1%} |",
              flush=True)
    Path(__file__).with_name("mip_speed.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
