"""``tunegym bench NAME``: the benchmark suites (reproductions, HPO comparisons, domain reports).

Each benchmark is a module under :mod:`tunegym.tuning.benches` exposing ``register(subparsers)``; it is
imported only when its benchmark is chosen, so ``tunegym bench --help`` stays fast.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "BENCHES"]

#: benchmark name -> (module under ``tunegym.tuning.benches``, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "learning-to-relax": ("learning_to_relax",
                          "Learning to Relax (Khodak et al. 2024) setting A or B, all methods online"),
    "timestep": ("timestep", "time-step control: three-body and ODE cost-accuracy fronts"),
    "hpo": ("hpo", "compare HPO methods over independent runs, scored on test seeds"),
    "mip": ("mip", "MIP LNS: operator policies vs HiGHS default at equal wall time"),
    "lr": ("lr", "LR schedules (tuned peak per optimizer) vs a bandit-learned LR scheduler"),
    "krylov": ("krylov", "preconditioned Krylov: learned preconditioner per solve vs fixed arms, oracle, PyAMG default, "
                         "PCGBandit"),
    "sor-deploy": ("sor_deploy", "the deployed SORTuner on user sequences of held-out matrices vs the per-system best omega"),
    "all": ("all", "every domain's suite: paired claims, reports, summary.json (bands checked at smoke scale)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_lazy_subcommands

    parser = subparsers.add_parser("bench", help="run a benchmark suite and write JSON, Markdown and plots",
                                   description="Run a benchmark suite; each writes JSON, Markdown and plots under "
                                               "--out and prints where.")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")
    benches.required = True
    add_lazy_subcommands(benches, {name: (f"tunegym.tuning.benches.{module}", help_text)
                                   for name, (module, help_text) in BENCHES.items()})
