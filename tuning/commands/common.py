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
import os
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
    "check_device",
    "check_out",
    "check_seed",
    "evaluation_seeds",
    "merge_seed_text",
    "parse_seeds_strict",
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


def check_out(path: Any, *, kind: str = "dir", create: bool = True) -> Any:
    """``--out`` as a ``Path`` that can be written: a directory (``kind="dir"``, created) or a file's path.

    A directory ``--out`` that is an existing file, a file ``--out`` that is a directory or empty, or a
    folder that cannot be created raise :class:`ConfigError` naming it (instead of an ``OSError`` traceback
    from deep inside the first write). ``create=False`` checks without creating anything.
    """
    from pathlib import Path

    from tunegym.envs.core.errors import ConfigError

    if path is None or not str(path).strip():
        raise ConfigError("--out is empty; give a " + ("directory" if kind == "dir" else "file path"), value=path)
    out = Path(path)
    if kind == "dir" and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a directory; choose another --out", value=str(out))
    if kind != "dir" and (out.is_dir() or str(path).endswith(("/", "\\"))):
        raise ConfigError(f"--out {str(out)!r} is a directory; give the file to write, e.g. "
                          f"{str(out / 'tuner.pt')!r}", value=str(out))
    folder = out if kind == "dir" else out.parent
    if not create:  # checked only (a command that validates more before it writes): the nearest existing folder
        existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot create --out {str(out)!r}: {str(existing)!r} is not a writable folder",
                              value=str(out))
        return out
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --out folder {str(folder)!r}: {exc.strerror or exc}",
                          value=str(out)) from None
    return out


def check_seed(value: Any, flag: str = "--seed") -> int:
    """A run seed: a whole number in 0 ... 2**32 - 1 (NumPy's legacy seeding, which SB3 and the samplers use)."""
    from tunegym.envs.core.errors import ConfigError

    from tunegym.tuning.seeds import MAX_SEED

    if value is None or isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{flag} must be a whole number in 0 ... 2**32 - 1, got {value!r}", value=value)
    return value


def check_device(device: str | None) -> str:
    """``--device`` checked before anything is built or written (:func:`tunegym.agents.config.check_device`:
    ``auto``, ``cpu`` or ``cuda[:N]`` with a GPU visible); the flag's text is returned unchanged."""
    from tunegym.agents.config import check_device as check

    return check("auto" if device is None else device, "--device")


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
    """``"tune=0-3,test=100,101"`` → ``{"tune": "0-3", "test": "100,101"}``; a suite name expands first
    (:func:`tunegym.tuning.seeds.split_parts`: a part named twice, or seeds before any ``name=``, are refused)."""
    from tunegym.tuning.seeds import split_parts

    return split_parts(SEED_SUITES.get(text.strip(), text.strip()), label="--seeds")


def parse_seeds_strict(text: str, flag_text: str | None = None) -> tuple[int, ...]:
    """``"0-9"``, ``"1,2,5"`` or ``"0-3,7"`` → seeds, as strictly as :func:`tunegym.tuning.seeds.parse_seed_list`
    (non-negative, at most 2**32 - 1, no reversed range, no repeat, at most 100,000); ``flag_text`` is the whole
    flag value, for messages."""
    from tunegym.tuning.seeds import parse_seed_list

    return parse_seed_list(text, shown=flag_text, label="--seeds")


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
    """``--seeds`` as a :class:`~tunegym.tuning.seeds.SeedSplit` (a suite name or ``tune=…,test=…``).

    A part left out takes its default (tune 0-9, test 100-109); overlapping parts are refused by
    :class:`SeedSplit` (nothing tuned may see a test seed), and so is every malformed part and an empty value
    (:meth:`SeedSplit.parse`).
    """
    from tunegym.tuning.seeds import SeedSplit

    return SeedSplit.parse(SEED_SUITES.get(text.strip(), text), label="--seeds")


def evaluation_seeds(text: str) -> list[int]:
    """The seeds a command that only evaluates runs on.

    ``test=100-104`` (the test part of a split; the tune part when there is no test part), a suite name
    (``test``, ``tune``, ``default``: its test part), ``LOW-HIGH`` or a comma list. Malformed seeds are refused
    as in :func:`parse_seeds_strict`.
    """
    from tunegym.envs.core.errors import ConfigError

    if not isinstance(text, str):  # argparse hands ``--seeds=--`` over as a list
        raise ConfigError(f"bad --seeds {text!r}", value=text)
    stripped = SEED_SUITES.get(text.strip(), text.strip())
    if "=" in stripped:
        parts = _split_parts(stripped)
        unknown = sorted(set(parts) - {"tune", "test"})
        if unknown:
            raise ConfigError(f"--seeds names tune= and test=, got {unknown}", value=text)
        chosen = parts.get("test", parts.get("tune"))
    else:
        chosen = stripped
    seeds = list(parse_seeds_strict(chosen, text)) if chosen else []
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
