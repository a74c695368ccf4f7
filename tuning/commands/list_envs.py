"""``tunegym list``: the registered environments (single- and multi-agent) with a one-line summary each."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list the registered environments")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.envs import ENVS
    from tunegym.envs.multiagent import MULTIAGENT_ENVS

    rows = [{"id": spec.id, "summary": spec.summary, "kwargs": spec.kwargs} for spec in ENVS + MULTIAGENT_ENVS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        print(f"{row['id']:<{width}}  {row['summary']}")
    return 0
