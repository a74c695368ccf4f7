"""Ablation of the Krylov learner's fourth round (issue #20): residual memory and setup horizon, on dev-test.

One tuner trained as the suite trains it (``krylov_suite.train_tuner`` with full information on the tune sequences'
price tables), or the one a suite run saved (``--tuner``), is deployed with ``learn=True`` on every dev-test
sequence under each decision rule below; only the decision changes (``with_config``), the learned regressions are
the same. Reported per rule: mean total work / the greedy oracle's and / the best fixed arm's (chosen on the tune
sequences), per family and over all sequences.

- ``round 3``: no memory, setup amortised over 4 solves (the third round's rule);
- ``horizon 2``: no memory, over 2 solves;
- ``memory, horizon 4``: residual memory (decay 0.7), over 4 solves;
- ``shipped``: residual memory (decay 0.7), over 2 solves (``AGENT_CONFIG``).

Prices come from (or go to) ``--cache`` under the names ``tunegym bench krylov`` uses, so a directory priced by a
full-scale dev-test run is reused (``DIR/krylov/cache`` of ``tunegym bench all``). Never reads the final-test
split. Usage::

    python benchmarks/krylov_memory_ablation.py --cache DIR/krylov/cache --tuner DIR/krylov/krylov_tuner.pt \\
        --out benchmarks/krylov_memory_ablation.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import tunegym.tuning.benches.krylov_suite as K
from tunegym.agents.krylov_tuner import KrylovTuner

RULES = {
    "round 3": {"residual_decay": 0.0, "horizon": 4.0},
    "horizon 2": {"residual_decay": 0.0, "horizon": 2.0},
    "memory, horizon 4": {"residual_decay": 0.7, "horizon": 4.0},
    "shipped": {"residual_decay": 0.7, "horizon": 2.0},
}


def deployed_work(tuner_file: Path, rule: dict, systems) -> float:
    """Total work of the tuner in ``tuner_file`` under decision ``rule``, learning online over ``systems``."""
    tuner = KrylovTuner.load(tuner_file)
    tuner.tuner.policy = tuner.tuner.policy.with_config(**rule)
    return float(sum(tuner.solve_system(system, learn=True, fallback=False).cost for system in systems))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["smoke", "full"], default="full", help="the suite's scale (default full)")
    parser.add_argument("--cache", type=Path, required=True, help="price cache directory (read, or written)")
    parser.add_argument("--tuner", type=Path, help="a trained tuner file (default: train one as the suite does)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    args = parser.parse_args(argv)
    s = K.suite()
    fams, length = K._families(s, args.scale, grid=None, length=None, families=None)
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        tune = [(f, *K.priced_sequence(s, fams, length, args.cache, f, seed))
                for f in fams for seed in s.seeds("tune", args.scale)]
        best_fixed = {family: K.best_fixed_arm([table for f, _, table in tune if f == family]) for family in fams}
        tuner_file = args.tuner
        if tuner_file is None:
            order = np.random.default_rng(0).permutation(len(tune))
            trained = K.train_tuner([tune[i][1] for i in order], config=K.AGENT_CONFIG, seed=0,
                                    env_kwargs={"grid": 8}, tables=[tune[i][2] for i in order])
            tuner_file = Path(tmp) / "tuner.pt"
            trained.save(tuner_file)
        del tune
        ratios: dict[str, dict[str, dict[str, list[float]]]] = {r: {"oracle": {}, "best_fixed": {}} for r in RULES}
        for family in fams:
            for seed in s.seeds("dev_test", args.scale):
                systems, table = K.priced_sequence(s, fams, length, args.cache, family, seed)
                oracle = float(np.sum(table["oracle"]["cost"]))
                fixed = float(np.sum(table[best_fixed[family]]["cost"]))
                for name, rule in RULES.items():
                    work = deployed_work(tuner_file, rule, systems)
                    ratios[name]["oracle"].setdefault(family, []).append(work / oracle)
                    ratios[name]["best_fixed"].setdefault(family, []).append(work / fixed)
                print(f"{family} {seed}: " + ", ".join(f"{n} {ratios[n]['oracle'][family][-1]:.3f}" for n in RULES),
                      flush=True)

    def summary(per_family: dict[str, list[float]]) -> dict[str, float]:
        return {f: float(np.mean(r)) for f, r in per_family.items()} | {
            "all": float(np.mean([x for r in per_family.values() for x in r]))}

    result = {"suite": s.key, "scale": args.scale, "split": "dev_test", "best_fixed": best_fixed,
              "tuner": str(args.tuner) if args.tuner else "trained here (AGENT_CONFIG, full information)",
              "rules": RULES,
              "work_over_oracle": {n: summary(r["oracle"]) for n, r in ratios.items()},
              "work_over_best_fixed": {n: summary(r["best_fixed"]) for n, r in ratios.items()}}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
