"""Map the top-level folders onto the ``tunegym`` import package.

``envs/`` is ``tunegym.envs``, ``agents/`` is ``tunegym.agents`` and ``tuning/`` is ``tunegym.tuning``
(the project card fixes the folder names). Subpackages are discovered, so adding ``envs/foo/`` needs no
edit here. All other metadata lives in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

package_dir = {"tunegym": "tunegym"}
for top in ("envs", "agents", "tuning"):
    package_dir[f"tunegym.{top}"] = top
    for sub in find_packages(top):
        package_dir[f"tunegym.{top}.{sub}"] = f"{top}/{sub.replace('.', '/')}"

setup(packages=sorted(package_dir), package_dir=package_dir)
