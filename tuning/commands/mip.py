"""``tunegym mip solve FILE``: the old spelling of ``tunegym solve mip FILE`` (deprecated; removed next release).

Same flags and behaviour as :func:`tunegym.tuning.commands.solve.run_mip`, plus one deprecation line on stderr.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.solve import add_mip_arguments

    parser = subparsers.add_parser("mip", help="deprecated: use `tunegym solve mip FILE`",
                                   description="Deprecated: use `tunegym solve mip FILE` (same flags).")
    sub = parser.add_subparsers(dest="mip_command", metavar="ACTION")
    sub.required = True
    solve = sub.add_parser("solve", help="deprecated: use `tunegym solve mip FILE`")
    add_mip_arguments(solve)
    solve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.tuning.commands.solve import run_mip

    print("tunegym: warning: `tunegym mip solve` is deprecated and will be removed in the next release; use "
          "`tunegym solve mip FILE`", file=sys.stderr)
    return run_mip(args)
