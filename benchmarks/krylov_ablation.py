"""Ablations of the Krylov learner's third round (issue #20), on the suite's tune and dev-test sequences.

1. Offline, fresh-arm choice only: fit each arm's regressions with full information on the tune sequences'
   price tables (``KrylovReuseBandit.observe_fresh``), pick the arm with the least predicted amortised work on
   every dev-test system, and report the mean regret (true amortised work of the pick / the best arm's), per
   family, with the ``offdiag_band1_fraction`` feature as measured and with it blanked to 0 (no information).
2. Live: the suite's training with full information (``train_tuner(tables=...)``) against bandit-only training
   (``tables=None``), each deployed with ``learn=True`` on every dev-test sequence: mean total work / best fixed.

Prices come from (or go to) ``--cache`` under the names ``tunegym bench krylov`` uses, so a directory priced by
a full-scale dev-test run is reused (pricing from scratch takes about 30 min on one core). Never reads the
final-test split. Usage::

    python benchmarks/krylov_ablation.py --cache DIR/krylov/cache --out benchmarks/krylov_ablation.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import tunegym.tuning.benches.krylov_suite as K
from tunegym.agents.krylov_tuner import KrylovReuseBandit
from tunegym.envs.krylov.precond import DEFAULT_ARMS, REUSE, arm_label
from tunegym.envs.krylov.process import FEATURE_NAMES, KrylovFeatures

BAND = FEATURE_NAMES.index("offdiag_band1_fraction")


def offline_regret(tune, dev, *, blank_band: bool) -> dict[str, float]:
    """Mean amortised regret of the greedy fresh-arm pick on dev-test systems, per family."""
    fresh = [(i, arm_label(a)) for i, a in enumerate(DEFAULT_ARMS) if a != REUSE]
    bandit = KrylovReuseBandit(len(DEFAULT_ARMS), dict(K.AGENT_CONFIG), seed=0,
                               context_low=KrylovFeatures().space.low, context_high=KrylovFeatures().space.high)
    horizon = K.AGENT_CONFIG["horizon"]

    def context(features: KrylovFeatures, system) -> np.ndarray:
        x = np.zeros(len(FEATURE_NAMES))
        x[: len(features.matrix_features(system))] = features.matrix_features(system)
        if blank_band:
            x[BAND] = 0.0
        return x

    for _, systems, table in tune:
        features = KrylovFeatures()
        for t, system in enumerate(systems):
            ctx = context(features, system)
            for index, label in fresh:
                entry = table[f"fixed:{label}"]
                bandit.observe_fresh(ctx, index, setup_work=entry["setup"][t], cost=entry["cost"][t], nnz=system.nnz)
    regrets: dict[str, list[float]] = {}
    for family, systems, table in dev:
        features = KrylovFeatures()
        for t, system in enumerate(systems):
            predicted, _ = bandit.predicted_work(context(features, system))
            true = {i: table[f"fixed:{label}"]["setup"][t] / horizon
                    + (table[f"fixed:{label}"]["cost"][t] - table[f"fixed:{label}"]["setup"][t]) for i, label in fresh}
            pick = min(true, key=lambda i: predicted[i])
            regrets.setdefault(family, []).append(true[pick] / min(true.values()))
    return {family: float(np.mean(r)) for family, r in regrets.items()} | {
        "all": float(np.mean([x for r in regrets.values() for x in r]))}


def live(tune, dev, best_fixed, *, full_information: bool) -> dict[str, float]:
    """Mean total work / best fixed over the dev-test sequences, per family, of the deployed trained tuner."""
    order = np.random.default_rng(0).permutation(len(tune))
    tuner = K.train_tuner([tune[i][1] for i in order], config=K.AGENT_CONFIG, seed=0, env_kwargs={"grid": 8},
                          tables=[tune[i][2] for i in order] if full_information else None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tuner.pt"
        tuner.save(path)
        return _deployed(path, dev, best_fixed)


def _deployed(path: Path, dev, best_fixed) -> dict[str, float]:
    ratios: dict[str, list[float]] = {}
    for family, systems, table in dev:
        run = K.run_learners(systems, tuner_file=path, seed=0, env_kwargs={"grid": 8}, pcgbandit=False)
        ratios.setdefault(family, []).append(sum(run["krylov_tuner"]["cost"]) / sum(table[best_fixed[family]]["cost"]))
    return {family: float(np.mean(r)) for family, r in ratios.items()} | {
        "all": float(np.mean([x for r in ratios.values() for x in r]))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["smoke", "full"], default="full", help="the suite's scale (default full)")
    parser.add_argument("--cache", type=Path, required=True, help="price cache directory (read, or written)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    args = parser.parse_args(argv)
    s = K.suite()
    fams, length = K._families(s, args.scale, grid=None, length=None, families=None)
    with threadpool_limits(1):
        tune = [(f, *K.priced_sequence(s, fams, length, args.cache, f, seed))
                for f in fams for seed in s.seeds("tune", args.scale)]
        dev = [(f, *K.priced_sequence(s, fams, length, args.cache, f, seed))
               for f in fams for seed in s.seeds("dev_test", args.scale)]
        best_fixed = {family: K.best_fixed_arm([table for f, _, table in tune if f == family]) for family in fams}
        result = {
            "suite": s.key, "scale": args.scale, "split": "dev_test", "best_fixed": best_fixed,
            "offline_regret": {"with_band_feature": offline_regret(tune, dev, blank_band=False),
                               "band_feature_blanked": offline_regret(tune, dev, blank_band=True)},
            "live_work_over_best_fixed": {"full_information": live(tune, dev, best_fixed, full_information=True),
                                          "bandit_only": live(tune, dev, best_fixed, full_information=False)},
        }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
