"""The flags every ``tunegym`` subcommand shares, defined once so that they read the same everywhere.

The vocabulary (the README's "Command-line flags" section says it for users):

- ``--out PATH``: where results go; a directory for runs and benchmarks, a file for ``deploy`` and solves.
- ``--seeds tune=0-9,test=100-109`` (or a suite name: ``default``, ``tune``, ``test``): the seed split, or
  the seeds evaluated where a command only evaluates.
- ``--device auto|cpu|cuda[:N]`` wherever a model trains; ``--config FILE`` (YAML/JSON); ``--resume``.

Old spellings (``--run-dir``, ``--json FILE``, ``--test-seeds N``...) stay for one release through
:class:`DeprecatedAlias`, which prints one line on stderr and stores the value under the new flag.

This module must stay cheap to import: ``tunegym --help`` builds every parser, so nothing heavier than
argparse is imported at module level (no torch, numpy, gymnasium).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "DeprecatedAlias",
    "add_config",
    "add_deprecated",
    "add_device",
    "add_out",
    "add_resume",
    "add_seeds",
    "evaluation_seeds",
    "merge_seed_text",
    "seed_split",
]

DEFAULT_SPLIT = "tune=0-9,test=100-109"
#: suite names accepted by ``--seeds`` in place of a split
SEED_SUITES = {"default": DEFAULT_SPLIT, "tune": "tune=0-9", "test": "test=100-109"}


class DeprecatedAlias(argparse.Action):
    """An old spelling of a flag: warns once on stderr, then stores ``convert(value)`` under the new dest.

    ``convert`` receives ``(value, current)`` where ``current`` is what the new flag holds so far, so an
    alias can fill in one part of a value (``--test-seeds 3`` sets only the test part of ``--seeds``).
    """

    def __init__(self, option_strings: list[str], dest: str, *, new_flag: str,
                 convert: Callable[[Any, Any], Any] | None = None, **kwargs: Any) -> None:
        self.new_flag = new_flag
        self.convert = convert
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.new_flag}", file=sys.stderr)
        current = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, self.convert(values, current) if self.convert else values)


def add_deprecated(parser: argparse.ArgumentParser, old: str, dest: str, new_flag: str, *,
                   convert: Callable[[Any, Any], Any] | None = None, nargs: Any = None, type: Any = None,
                   metavar: str | None = None) -> None:
    """Register ``old`` as a deprecated spelling of the flag stored in ``dest`` (hidden from ``--help``)."""
    parser.add_argument(old, dest=dest, action=DeprecatedAlias, new_flag=new_flag, convert=convert, nargs=nargs,
                        type=type, metavar=metavar, help=argparse.SUPPRESS, default=argparse.SUPPRESS)


def add_out(parser: argparse.ArgumentParser, *, kind: str = "dir", required: bool = False,
            default: str | None = None, help: str | None = None, old: tuple[str, ...] = ()) -> None:
    """``--out PATH``: a directory (runs, benchmarks) or a file (deploy, solves); ``old`` are deprecated spellings."""
    if help is None:
        help = "output directory" if kind == "dir" else "output file"
    if default is not None:
        help += f" (default {default})"
    parser.add_argument("--out", required=required and not old, default=default,
                        metavar="DIR" if kind == "dir" else "FILE", help=help)
    for flag in old:
        add_deprecated(parser, flag, "out", "--out")


def require_out(parser_prog: str, args: argparse.Namespace) -> None:
    """For commands whose ``--out`` is required but that keep a deprecated spelling: argparse cannot say it."""
    if getattr(args, "out", None) in (None, ""):
        from tunegym.envs.core.errors import ConfigError

        raise ConfigError("the following arguments are required: --out", value=None)


def add_seeds(parser: argparse.ArgumentParser, *, default: str = DEFAULT_SPLIT, help: str | None = None) -> None:
    """``--seeds tune=…,test=…`` or a suite name (:data:`SEED_SUITES`)."""
    parser.add_argument("--seeds", default=default, metavar="SPLIT",
                        help=help or f"seed split tune=LOW-HIGH,test=LOW-HIGH or a suite name "
                                     f"({', '.join(SEED_SUITES)}); default {default}")


def add_device(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    parser.add_argument("--device", default=default, metavar="DEVICE",
                        help="where models train: auto (CUDA when present), cpu or cuda[:N]"
                             + (f" (default {default})" if default else " (default auto)"))


def add_config(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help=help or "agent config file: a YAML or JSON mapping of config keys")


def add_resume(parser: argparse.ArgumentParser, *, help: str) -> None:
    parser.add_argument("--resume", action="store_true", help=help)


# ---- seeds ------------------------------------------------------------------------------------------------
def _split_parts(text: str) -> dict[str, str]:
    """``"tune=0-3,test=100,101"`` → ``{"tune": "0-3", "test": "100,101"}``; a suite name expands first."""
    text = SEED_SUITES.get(text.strip(), text.strip())
    parts: dict[str, str] = {}
    current = None
    for token in text.split(","):
        token = token.strip()
        if "=" in token:
            current, value = (p.strip() for p in token.split("=", 1))
            parts[current] = value
        elif current is not None and token:
            parts[current] += "," + token
    return parts


def merge_seed_text(base: str | None, part: str, value: str) -> str:
    """``base`` with its ``part`` (``"tune"``/``"test"``) replaced by ``value``: how old seed flags map in."""
    parts = _split_parts(base or "") if base and "=" in SEED_SUITES.get(base.strip(), base) else {}
    parts[part] = value
    return ",".join(f"{k}={v}" for k, v in parts.items())


def seed_range_text(count: int, start: int = 100) -> str:
    """``--test-seeds N`` (and ``--test-start S``) as the ``test=`` part of ``--seeds``."""
    count = int(count)
    if count < 1:
        from tunegym.envs.core.errors import ConfigError

        raise ConfigError(f"--test-seeds must be at least 1, got {count}", value=count)
    return f"{start}-{start + count - 1}" if count > 1 else str(start)


def seed_split(text: str) -> Any:
    """``--seeds`` as a :class:`~tunegym.tuning.seeds.SeedSplit` (a suite name or ``tune=…,test=…``)."""
    from tunegym.tuning.seeds import SeedSplit

    return SeedSplit.parse(SEED_SUITES.get(text.strip(), text))


def evaluation_seeds(text: str) -> list[int]:
    """The seeds a command that only evaluates runs on.

    ``test=100-104`` (the test part of a split; the tune part when there is no test part), a suite name
    (``test``, ``tune``), ``LOW-HIGH`` or a comma list.
    """
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.seeds import parse_seed_list

    stripped = text.strip()
    if stripped in ("test", "tune"):
        stripped = SEED_SUITES[stripped]
    if "=" in stripped:
        parts = _split_parts(stripped)
        unknown = sorted(set(parts) - {"tune", "test"})
        if unknown:
            raise ConfigError(f"--seeds names tune= and test=, got {unknown}", value=text)
        chosen = parts.get("test", parts.get("tune"))
    else:
        chosen = stripped
    try:
        seeds = list(parse_seed_list(chosen)) if chosen else []
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad --seeds {text!r}: use test=100-104, a suite name, LOW-HIGH or a comma list",
                          value=text) from exc
    if not seeds:
        raise ConfigError(f"--seeds {text!r} names no seed", value=text)
    return seeds


# ---- lazy subcommands -------------------------------------------------------------------------------------
class _LazyParsers(dict):
    """The name → parser map of a subparsers action that fills a command's parser on first use.

    ``tunegym --help`` lists every command from its one-line help without importing any command module;
    the module (and whatever it imports at top level) loads only when its command is parsed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, str] = {}

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        parser = super().__getitem__(name)
        module = self.pending.pop(name, None)
        if module is not None:
            import importlib

            importlib.import_module(module).register(_Into(parser))
        return parser


class _Into:
    """A stand-in for a subparsers action whose ``add_parser`` hands back an existing (placeholder) parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        for key in ("description", "epilog", "formatter_class", "usage"):
            if key in kwargs:
                setattr(self.parser, key, kwargs[key])
        return self.parser


def add_lazy_subcommands(subparsers: argparse._SubParsersAction, table: dict[str, tuple[str, str]]) -> None:
    """Add ``name → (module, one-line help)``; each module's ``register(subparsers)`` runs when it is chosen."""
    lazy = subparsers._name_parser_map
    if not isinstance(lazy, _LazyParsers):
        lazy = _LazyParsers()
        lazy.update(subparsers._name_parser_map)
        subparsers._name_parser_map = subparsers.choices = lazy
    for name, (module, help_text) in table.items():
        subparsers.add_parser(name, help=help_text)
        lazy.pending[name] = module
