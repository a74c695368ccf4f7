"""The ``tunegym`` command line: one console script, one subcommand per job.

Each subcommand lives in its own module under :mod:`tunegym.tuning.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (taking the parsed ``argparse.Namespace``
and returning an exit code). Errors that tunegym raises on purpose (:class:`TunegymError`) and bad
arguments print one line naming the problem and exit with status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "COMMANDS"]

#: command -> (module under ``tunegym.tuning.commands``, one-line help), in the order ``--help`` lists them.
#: A module is imported only when its command is parsed (see :func:`~tunegym.tuning.commands.common.add_lazy_subcommands`),
#: so ``tunegym --help``, ``tunegym list`` and argument errors never import torch, SB3, HiGHS, Optuna or Ray.
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("quickstart", "train a SOR tuner and compare it with baselines (defaults; results in --out)"),
    "list": ("list_envs", "list the registered environments"),
    "train": ("train", "train an agent on an env into a resumable run directory (--out)"),
    "eval": ("eval", "evaluate a trained run against baselines on test seeds"),
    "deploy": ("deploy", "export a trained run's policy as a tuner file (--out)"),
    "tune": ("tune", "tune an agent's hyperparameters with a strict tune/test split"),
    "bench": ("bench", "run a benchmark suite and write JSON, Markdown and plots to --out"),
    "solve": ("solve", "solve a problem file with a tuner: mip (MPS/LP), sor (matrix + rhs), ode (a Python rhs)"),
    "mip": ("mip", "deprecated: use `tunegym solve mip FILE`"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``tunegym`` parser; cheap: no command module is imported until its command is parsed."""
    import tunegym
    from tunegym.tuning.commands.common import add_lazy_subcommands

    parser = argparse.ArgumentParser(
        prog="tunegym", description="Reinforcement learning that tunes numerical algorithms.",
        epilog="Flags read the same in every command: --out PATH, --seeds tune=...,test=..., --device, --config, "
               "--resume (README, 'Command-line flags').",
    )
    parser.add_argument("--version", action="version", version=f"tunegym {tunegym.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    add_lazy_subcommands(subparsers, {name: (f"tunegym.tuning.commands.{module}", help_text)
                                      for name, (module, help_text) in COMMANDS.items()})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tunegym`` console script; returns the process exit code."""
    try:
        code = _run(argv)
        if argv is None:
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit (a traceback there)
    except BrokenPipeError:  # `tunegym list | head -2`: the reader has gone; say nothing more, as `ls | head` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's own flush at exit writes nowhere
        code = 141  # 128 + SIGPIPE, the shell's status for a command the pipe ended
    if argv is None:  # the console script (tests call main([...]) in their own process)
        _exit_if_a_factorisation_is_stuck(code)
    return code


def _exit_if_a_factorisation_is_stuck(code: int) -> None:
    """End the process now, with ``code``, when an incomplete factorisation was given up as stuck
    (:data:`tunegym.envs.krylov.precond.STUCK_FACTORISATIONS`): CPython's shutdown with such a thread still inside
    SuperLU ends with status 120 instead of the command's own."""
    precond = sys.modules.get("tunegym.envs.krylov.precond")
    if precond is None or not any(thread.is_alive() for thread in precond.STUCK_FACTORISATIONS):
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def _run(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run its command; one line and status 2 for tunegym's own errors."""
    from tunegym.envs.core.errors import TunegymError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except TunegymError as exc:  # a flag's value that a deprecated alias could not translate
        print(f"tunegym: error: {exc}", file=sys.stderr)
        return 2
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
