"""Map the top-level folders onto the ``tunegym`` import package.

``envs/`` is ``tunegym.envs``, ``agents/`` is ``tunegym.agents`` and ``tuning/`` is ``tunegym.tuning`` (the
project card fixes the folder names). ``tunegym/envs``, ``tunegym/agents`` and ``tunegym/tuning`` are relative
symlinks to those folders, so ``tunegym/`` is an ordinary package tree: a wheel holds each file once under
``tunegym/...``, and pyright/mypy resolve ``tunegym.*`` from the repository root without following
setuptools' editable import hook (docs/architecture.md, "Layout and static analysis"). Subpackages are
discovered through the symlinks, so adding ``envs/foo/`` needs no edit here. All other metadata lives in
``pyproject.toml``.
"""

from setuptools import find_packages, setup

# find_packages walks with followlinks=True, so it sees tunegym/envs/sor/ through the symlink.
packages = ["tunegym", *(f"tunegym.{name}" for name in find_packages("tunegym"))]

setup(packages=packages)
