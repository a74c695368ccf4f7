"""Tune a bandit's hyperparameters on SOR with a strict tune/test seed split, then compare HPO methods.

Run: ``python examples/hpo_sor_bandit.py`` (about a minute on one core). The same through the CLI:

    tunegym tune --env tunegym/SOR-v0 --agent linucb --method tpe --trials 12 --budget 1000 --out runs/tune
    tunegym bench hpo --env tunegym/SOR-v0 --agent linucb --methods random,tpe,hyperband,pbt --runs 3 --out runs/hpo
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tunegym.tuning import METHODS, Objective, SeedSplit, default_space, run_pbt, run_study


def main() -> None:
    split = SeedSplit(tune=range(0, 10), test=range(100, 110))  # disjoint; tuning never sees 100-109
    objective = Objective("tunegym/SOR-v0", "linucb", budget=600, split=split, eval_steps=100)
    space = default_space("linucb")  # alpha (log-uniform) and the Chebyshev degree
    print("search space:", space)
    workdir = Path(tempfile.mkdtemp())
    # Every method below starts from the same random draws of sampler seed 0 (TPE's first 5 proposals are random,
    # Hyperband samples randomly and prunes, PBT draws its population so): at 8 trials they often pick the same config.
    for name in ("random", "tpe", "hyperband"):
        study = run_study(objective, space, METHODS[name], n_trials=8, storage=f"sqlite:///{workdir / name}.db",
                          study_name=name, seed=0, progress=False)
        best = study.best_trial
        final = objective.final_score(best.params)  # the only place test seeds are used
        print(f"{name:>9}: best {best.params} validation {best.value:.1f} sweeps/system, "
              f"test seeds {final['test_score']:.1f}")
    # PBT: a population of 8 trains in budget slices; weak members take over strong members' learned state.
    pbt = run_pbt(objective, space, size=8, seed=0, progress=False)
    final = objective.final_score(pbt["config"])
    print(f"{'pbt':>9}: best {pbt['config']} validation {pbt['validation_score']:.1f} sweeps/system, "
          f"test seeds {final['test_score']:.1f}")
    print("(same sampler seed, same first proposals: equal lines are expected at 8 trials; "
          "`tunegym bench hpo` compares methods over independent runs)")


if __name__ == "__main__":
    main()
