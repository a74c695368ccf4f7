"""Optional dependencies: import one by name or fail with one line naming the extra that installs it.

The base install (``pip install tunegym``) runs the main job and every env except MIP; each optional package
belongs to one extra declared in ``pyproject.toml`` (``mip``, ``hpo``, ``report``, ``timestep``, ``ray``).
Modules import such a package through :func:`require` at the point of use, never at module import time, so
``import tunegym.envs`` and the CLI stay importable without any extra. This module must not import an
optional package itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tunegym.envs.core.errors import MissingExtraError

__all__ = ["EXTRAS", "require"]

#: The extra that provides each optional top-level module (the single place that maps modules onto extras).
EXTRAS: dict[str, str] = {
    "highspy": "mip",
    "optuna": "hpo",
    "cmaes": "hpo",
    "psycopg": "hpo",
    "dehb": "hpo",
    "smac": "hpo",
    "matplotlib": "report",
    "rebound": "timestep",
    "ray": "ray",
}


def require(module: str, extra: str | None = None, feature: str | None = None) -> ModuleType:
    """Import ``module`` (dotted names allowed) and return it.

    If its package is not installed, raise :class:`MissingExtraError` with one line, e.g.
    ``the MIP environments (...): highspy is not installed; run: pip install "tunegym[mip]"``. ``extra``
    defaults to the entry for the top-level package in :data:`EXTRAS`; ``feature`` names what needed it
    (default: the module). The error is raised ``from None``: the ModuleNotFoundError behind it adds nothing.
    """
    top = module.partition(".")[0]
    extra = extra or EXTRAS.get(top)
    if extra is None:
        raise KeyError(f"no extra is known for optional module {module!r}; pass extra=")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only the optional package itself missing is an extra to install; a dependency missing from inside
        # an installed package (or any other ImportError: a broken build) is re-raised as it is.
        if (exc.name or "").partition(".")[0] != top:
            raise
    raise MissingExtraError(
        f'{feature or module}: {top} is not installed; run: pip install "tunegym[{extra}]"',
        value=top,
        extra=extra,
    ) from None
