"""Where the GMRES learner loses to the greedy oracle (issue #20: within 10% of it is the goal; the final test gave
1.30), and whether more tune sequences or a shorter setup horizon close the gap. Dev-test only.

For each variant (number of tune sequences the learner trains on, decision horizon), a learner is trained as the
suite trains it (``krylov_suite.train_tuner``, full information from the tune sequences' price tables) and deployed
with ``learn=True`` on the dev-test sequences of suite ``krylov-gmres-sequences`` (``fallback=False``, as the suite
runs it). Per sequence: total work / the oracle's, and the excess over the oracle split by what the learner did on
each system where it paid more than the oracle:

- ``failed``: the learner's solve failed (its cost carries the failure charge, ``cost > work``);
- ``reuse``: it reused its kept preconditioner and paid more than the oracle;
- ``fresh``: it built a preconditioner and paid more than the oracle.

Also per fixed arm: how many tune and dev-test systems it fails on, and at which steps of their runs. Prices come from (or go to) ``--cache`` under the names
``tunegym bench krylov --solver gmres`` uses. Never reads the final-test split. Usage::

    python benchmarks/krylov_gmres_gap.py --cache DIR/cache --dev 10 --out benchmarks/krylov_gmres_gap.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import tunegym.tuning.benches.krylov_suite as K
from tunegym.agents.tuner_io import versions
from tunegym.tuning.suites import git_commit

#: (tune sequences, AGENT_CONFIG changes): the suite's recipe first
VARIANTS = {
    "suite (3 tune sequences)": (3, {}),
    "10 tune sequences": (10, {}),
    "10 tune sequences + horizon 1": (10, {"horizon": 1.0}),
}


def failed(cost: Any, work: Any) -> Any:
    """Whether a solve failed: its cost carries the failure charge on top of its work (elementwise on arrays)."""
    return np.asarray(cost) > np.asarray(work) * (1 + 1e-9)


def excess(learner: dict[str, list], table: dict[str, dict[str, list]]) -> dict[str, float]:
    """The learner's excess work over the oracle's, by kind (see the module docstring), over the oracle's total."""
    oracle = np.asarray(table["oracle"]["cost"], dtype=float)
    parts = {"failed": 0.0, "reuse": 0.0, "fresh": 0.0}
    for cost, work, arm, best in zip(learner["cost"], learner["work"], learner["arm"], oracle):
        if cost <= best:
            continue
        kind = "failed" if failed(cost, work) else "reuse" if arm == "reuse" else "fresh"
        parts[kind] += cost - best
    return {kind: value / float(oracle.sum()) for kind, value in parts.items()}


def failures(tables: list[dict[str, dict[str, list]]], run_length: int) -> dict[str, dict[str, object]]:
    """Per fixed arm over ``tables``: how many systems it failed on, of how many, and at which steps of their runs
    (``t mod run_length``, counted)."""
    counts: dict[str, dict[str, object]] = {}
    for table in tables:
        for name, entry in table.items():
            if name.startswith("fixed:") and name != "fixed:reuse":
                where = np.flatnonzero(failed(entry["cost"], entry["work"]))
                count = counts.setdefault(name[len("fixed:"):], {"failed": 0, "systems": 0, "steps": {}})
                count["failed"] += len(where)
                count["systems"] += len(entry["cost"])
                for step in where % run_length:
                    count["steps"][int(step)] = count["steps"].get(int(step), 0) + 1
    for count in counts.values():
        count["steps"] = dict(sorted(count["steps"].items()))
    return counts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["smoke", "full"], default="full", help="the suite's scale (default full)")
    parser.add_argument("--cache", type=Path, required=True, help="price cache directory (read, or written)")
    parser.add_argument("--dev", type=int, default=10, help="dev-test sequences (the split's first seeds)")
    parser.add_argument("--variants", help="comma list of variant names (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    args = parser.parse_args(argv)
    s = K.suite(K.GMRES_SUITE_NAME)
    fams, length = K._families(s, args.scale, grid=None, length=None, families=None)
    run_length = int(next(iter(fams.values()))["run_length"])
    env_id = K.ENV_IDS[K.suite_solver(fams)]
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    variants = {name: VARIANTS[name] for name in names}
    start = time.perf_counter()
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        tune = {seed: K.priced_sequence(s, fams, length, args.cache, family, seed)
                for family in fams for seed in s.tune_seeds[:max(count for count, _ in variants.values())]}
        dev = [(seed, *K.priced_sequence(s, fams, length, args.cache, family, seed))
               for family in fams for seed in s.dev_test_seeds[:args.dev]]
        results: dict[str, dict] = {}
        for name, (count, changes) in variants.items():
            seeds = list(tune)[:count]
            order = np.random.default_rng(0).permutation(len(seeds))
            tuner = K.train_tuner([tune[seeds[i]][0] for i in order], config={**K.AGENT_CONFIG, **changes}, seed=0,
                                  env_kwargs={"grid": 8}, tables=[tune[seeds[i]][1] for i in order], env_id=env_id)
            per_sequence = []
            tuner_file = Path(tmp) / f"tuner-{len(results)}.pt"
            tuner.save(tuner_file)
            for seed, systems, table in dev:
                learner = K.run_learners(systems, tuner_file=tuner_file, seed=seed, env_kwargs={"grid": 8},
                                         pcgbandit=False, env_id=env_id)["krylov_tuner"]
                ratio = float(np.sum(learner["cost"]) / np.sum(table["oracle"]["cost"]))
                per_sequence.append({"seed": seed, "work_over_oracle": ratio, "excess": excess(learner, table),
                                     "failed_solves": int(np.sum(failed(learner["cost"], learner["work"])))})
                print(f"{name}: seed {seed} {ratio:.3f} {per_sequence[-1]['excess']}", flush=True)
            results[name] = {
                "tune_seeds": seeds, "agent_config": {**K.AGENT_CONFIG, **changes},
                "work_over_oracle": float(np.mean([p["work_over_oracle"] for p in per_sequence])),
                "excess": {kind: float(np.mean([p["excess"][kind] for p in per_sequence]))
                           for kind in ("failed", "reuse", "fresh")},
                "per_sequence": per_sequence}
    result = {"suite": s.key, "scale": args.scale, "split": "dev_test", "dev_seeds": [seed for seed, _, _ in dev], "length": length,
              "tune_failures": failures([table for _, table in tune.values()], run_length),
              "dev_failures": failures([table for _, _, table in dev], run_length),
              "variants": results, "wall_time_s": time.perf_counter() - start,
              "command": " ".join(["python", "benchmarks/krylov_gmres_gap.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "commit": git_commit(), "versions": versions()}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, entry in results.items():
        print(f"{name}: work / oracle {entry['work_over_oracle']:.3f}, excess {entry['excess']}")
    return result


if __name__ == "__main__":
    main()
