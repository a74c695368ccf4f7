"""The ``tunegym`` command line: one console script, one subcommand per job.

Each subcommand lives in its own module under :mod:`tunegym.tuning.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (taking the parsed ``argparse.Namespace``
and returning an exit code). Errors that tunegym raises on purpose (:class:`TunegymError`) and bad
arguments print one line naming the problem and exit with status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tunegym.envs.core.errors import TunegymError

__all__ = ["main", "build_parser", "COMMANDS"]

#: Subcommand modules under ``tunegym.tuning.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("quickstart", "list_envs", "train", "eval", "deploy", "tune", "bench", "mip")


def build_parser() -> argparse.ArgumentParser:
    import tunegym

    parser = argparse.ArgumentParser(
        prog="tunegym", description="Reinforcement learning that tunes numerical algorithms."
    )
    parser.add_argument("--version", action="version", version=f"tunegym {tunegym.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"tunegym.tuning.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tunegym`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TunegymError as exc:
        print(f"tunegym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tunegym {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
