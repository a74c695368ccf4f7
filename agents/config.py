"""Frozen dataclass configs: one per agent, mapped from YAML, CLI flags and HPO search spaces alike.

``build_config(Config, mapping)`` is the single place where user input becomes a config: unknown keys and
mistyped values raise :class:`~tunegym.envs.core.errors.ConfigError` naming the key, the value and the
choices, instead of surfacing later as a ``TypeError`` deep inside an agent.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from tunegym.envs.core.errors import ConfigError

__all__ = ["build_config", "config_to_dict"]

C = TypeVar("C")


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation)]
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(name, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key {name!r}: {value!r} matches none of {annotation}", value=value)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"config key {name!r} must be one of {list(choices)}, got {value!r}", value=value)
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {name!r} must be a list, got {value!r}", value=value)
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        items = [_coerce(name, v, inner) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {name!r} must be true or false, got {value!r}", value=value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"config key {name!r} must be an integer, got {value!r}", value=value)
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {name!r} must be a number, got {value!r}", value=value)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {name!r} must be a string, got {value!r}", value=value)
        return value
    return value


def build_config(config_type: type[C], mapping: Mapping[str, Any] | None = None, **overrides: Any) -> C:
    """Build a frozen dataclass ``config_type`` from ``mapping`` plus keyword overrides, with checks."""
    if not dataclasses.is_dataclass(config_type):
        raise TypeError(f"{config_type!r} is not a dataclass")
    values = {**(mapping or {}), **overrides}
    hints = typing.get_type_hints(config_type)
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} for {config_type.__name__}; choices: {sorted(fields)}", value=unknown
        )
    coerced = {key: _coerce(key, value, hints.get(key, Any)) for key, value in values.items()}
    try:
        return config_type(**coerced)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{config_type.__name__}: {exc}", value=values) from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def check_device(device: Any, label: str = "device") -> str:
    """``device`` as a checked name: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` with a CUDA GPU visible; a
    ``torch.device`` is taken by its name. Anything else, or CUDA without a GPU, is a :class:`ConfigError`
    (``label`` words it, e.g. ``"--device"``). Every agent and command checks its device here; torch is imported
    only to ask for a GPU."""
    import re

    name = str(device) if type(device).__name__ == "device" else device  # a torch.device, without importing torch
    if not isinstance(name, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise ConfigError(f"{label} must be auto, cpu or cuda[:N], got {device!r}", value=device)
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{label} {name!r} requested but no CUDA GPU is visible; use auto or cpu",
                              value=device)
    return name

