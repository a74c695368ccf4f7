"""``tunegym bench krylov``: preconditioner choice over sequences of SPD systems (issue #20, DESIGN §3.5).

The command line of the Krylov suite (``krylov-sequences``, spec in :mod:`tunegym.tuning.suite_specs.krylov`);
the protocol, methods, claims and outputs are those of :mod:`tunegym.tuning.benches.krylov_suite`, the runner
``tunegym bench all`` calls. ``--grid``, ``--length`` and ``--families`` override the scale's sizes for a custom
run (a custom run is not the suite's published configuration: its report says the sizes it ran).

``tunegym bench krylov --scale smoke --out DIR`` (about a minute), ``--scale full`` (10^4 unknowns, hours on one
core: every arm is priced once per system and cached under ``DIR/cache``, so a rerun is fast). ``--solver gmres``
runs the non-symmetric suite (``krylov-gmres-sequences``: convection-diffusion, GMRES) instead.
"""

from __future__ import annotations

import argparse

from tunegym.tuning.benches.krylov_suite import (  # noqa: F401  (re-exported for callers of the first round)
    break_even,
    family_systems,
    price_sequence,
    run_learners,
    suite,
    train_tuner,
)

__all__ = ["register", "main", "run", "suite"]


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out

    parser = subparsers.add_parser("krylov", help="preconditioned Krylov: learned preconditioner choice vs fixed, "
                                                  "oracle, PyAMG default and PCGBandit")
    _arguments(parser, add_out)
    parser.set_defaults(func=run)


def _arguments(parser: argparse.ArgumentParser, add_out) -> None:
    parser.add_argument("--scale", choices=["smoke", "full"], default="smoke")
    parser.add_argument("--solver", choices=["cg", "gmres"], default="cg",
                        help="cg: suite krylov-sequences (SPD, CG); gmres: krylov-gmres-sequences (convection, GMRES)")
    parser.add_argument("--split", choices=["dev_test", "final_test"], default="dev_test",
                        help="test split (final_test is logged in the final-test ledger)")
    parser.add_argument("--length", type=int, default=None, help="systems per sequence (default: the scale's)")
    parser.add_argument("--grid", type=int, default=None, help="2-D grid side (3-D: about as many unknowns)")
    parser.add_argument("--families", default=None, help="comma list (default: the scale's)")
    parser.add_argument("--tune", type=int, default=None, help="tune sequences per family (default: the scale's)")
    parser.add_argument("--test", type=int, default=None, help="test sequences per family (default: the scale's)")
    parser.add_argument("--save-tuner", default=None, metavar="FILE", help="also save our trained tuner here")
    add_out(parser, required=True, help="output directory (krylov.md, krylov.json, cumulative.png, arms.png)")


def main(argv: list[str] | None = None) -> int:
    from tunegym.tuning.commands.common import add_out

    parser = argparse.ArgumentParser(prog="tunegym bench krylov")
    _arguments(parser, add_out)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from tunegym.tuning.benches.krylov_suite import run as run_suite_command

    return run_suite_command(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
