"""Search spaces: YAML (or a dict) of parameters, each ``float``/``int``/``categorical``, optionally
conditional, mapped onto Optuna's ``trial.suggest_*``.

```yaml
epsilon: {type: float, low: 0.01, high: 0.5, log: true}
degree:  {type: int, low: 1, high: 6}
policy:  {type: categorical, choices: [a, b]}
alpha:   {type: float, low: 0.1, high: 10, log: true, when: {policy: a}}   # only sampled when policy == a
```
Every agent's config class has ``default_search_space()`` in this format; it is used when no file is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tunegym.envs.core.errors import ConfigError

__all__ = ["load_space", "validate_space", "default_space", "suggest", "grid_values"]

_TYPES = ("float", "int", "categorical")


def validate_space(space: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check a space and return it as a plain dict; :class:`ConfigError` names the bad parameter."""
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("a search space must be a non-empty mapping of parameter -> spec", value=space)
    out: dict[str, dict[str, Any]] = {}
    for name, spec in space.items():
        if not isinstance(spec, Mapping) or spec.get("type") not in _TYPES:
            raise ConfigError(f"search space parameter {name!r}: 'type' must be one of {list(_TYPES)}", value=spec)
        spec = dict(spec)
        if spec["type"] == "categorical":
            if not isinstance(spec.get("choices"), list) or not spec["choices"]:
                raise ConfigError(f"search space parameter {name!r}: categorical needs a non-empty 'choices' list")
        else:
            try:
                low, high = float(spec["low"]), float(spec["high"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"search space parameter {name!r}: needs numeric 'low' and 'high'") from exc
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ConfigError(f"search space parameter {name!r}: needs low <= high, got {low}, {high}")
            if spec.get("log") and low <= 0:
                raise ConfigError(f"search space parameter {name!r}: log scale needs low > 0")
        when = spec.get("when")
        if when is not None and (not isinstance(when, Mapping) or not set(when) <= set(space)):
            raise ConfigError(f"search space parameter {name!r}: 'when' must map other parameters to values")
        out[str(name)] = spec
    return out


def load_space(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a YAML search-space file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no search-space file at {str(path)!r}", value=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"search-space file {str(path)!r} is not UTF-8 text (byte {exc.start})",
                          value=str(path)) from exc
    except yaml.YAMLError as exc:  # one line: where, and what (PyYAML's message spans several)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed search-space YAML {str(path)!r}{where}: {what}", value=str(path)) from exc
    return validate_space(data)


def default_space(agent: str) -> dict[str, dict[str, Any]]:
    """The agent's own default search space (from its config class)."""
    from tunegym.agents.registry import agent_names

    config_class = None
    try:
        from tunegym.agents.bandits import BANDITS

        if agent in BANDITS:
            config_class = BANDITS[agent].config_class
    except ImportError:  # pragma: no cover
        pass
    if config_class is None:
        try:
            from tunegym.agents.deeprl import CONFIGS

            config_class = CONFIGS.get(agent)
        except ImportError:  # pragma: no cover
            pass
    if config_class is None:
        raise ConfigError(f"unknown agent {agent!r}; choices: {agent_names()}", value=agent)
    return validate_space(config_class.default_search_space())


def _active(spec: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    when = spec.get("when")
    return when is None or all(values.get(key) == value for key, value in when.items())


def suggest(trial: Any, space: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Sample a config from ``space`` through an Optuna trial (conditional parameters after their parents)."""
    values: dict[str, Any] = {}
    pending = dict(space)
    while pending:
        progressed = False
        for name, spec in list(pending.items()):
            when = spec.get("when") or {}
            if any(key in pending for key in when):
                continue  # parent not decided yet
            del pending[name]
            progressed = True
            if not _active(spec, values):
                continue
            if spec["type"] == "float":
                values[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                                   log=bool(spec.get("log", False)))
            elif spec["type"] == "int":
                values[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                                 log=bool(spec.get("log", False)))
            else:
                values[name] = trial.suggest_categorical(name, list(spec["choices"]))
        if not progressed:
            raise ConfigError("search space has a cycle in its 'when' conditions", value=list(pending))
    return values


def grid_values(space: Mapping[str, dict[str, Any]], points: int = 4) -> dict[str, list[Any]]:
    """A finite grid for grid search: ``points`` values per numeric parameter (log-spaced if ``log``)."""
    import numpy as np

    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec["type"] == "categorical":
            grid[name] = list(spec["choices"])
        elif spec["type"] == "int":
            low, high = int(spec["low"]), int(spec["high"])
            values = np.unique(np.round(np.geomspace(low, high, points) if spec.get("log") else
                                        np.linspace(low, high, points)).astype(int))
            grid[name] = [int(v) for v in values]
        else:
            low, high = float(spec["low"]), float(spec["high"])
            values = np.geomspace(low, high, points) if spec.get("log") else np.linspace(low, high, points)
            grid[name] = [float(v) for v in values]
    return grid
