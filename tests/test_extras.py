"""A missing optional package fails in one typed line naming the extra to install (envs/core/extras.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

from tunegym.envs.core.errors import MissingExtraError, TunegymError
from tunegym.envs.core.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):
    """Make ``import NAME`` fail as if NAME were not installed (``sys.modules[NAME] = None``), and drop the
    listed tunegym modules so they are imported afresh; monkeypatch restores everything afterwards."""

    def hide(module: str, *reimport: str) -> None:
        monkeypatch.setitem(sys.modules, module, None)
        for name in list(sys.modules):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in reimport):
                monkeypatch.delitem(sys.modules, name)

    return hide


def test_require_returns_the_installed_module() -> None:
    assert require("json", extra="report") is sys.modules["json"]


def test_missing_module_raises_one_typed_line_naming_the_extra(without) -> None:
    without("highspy")
    with pytest.raises(MissingExtraError) as info:
        require("highspy", feature="the MIP environments")
    err = info.value
    assert isinstance(err, TunegymError) and isinstance(err, ImportError)
    assert str(err) == 'the MIP environments: highspy is not installed; run: pip install "tunegym[mip]"'
    assert (err.value, err.name, err.extra) == ("highspy", "highspy", "mip")
    assert err.__cause__ is None and err.__suppress_context__  # raised from None: no chained traceback


def test_missing_dependency_inside_an_installed_package_is_not_blamed_on_the_extra(tmp_path, monkeypatch) -> None:
    (tmp_path / "tunegym_fake_optional.py").write_text("import tunegym_not_a_real_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("tunegym_fake_optional", extra="report")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "tunegym_not_a_real_dependency"


def test_make_mip_env_without_highspy_raises_missing_extra(without) -> None:
    without("highspy", "tunegym.envs.mip", "tunegym.envs.multiagent.mip", "tunegym.agents.lns_solver")
    with pytest.raises(MissingExtraError, match=r'pip install "tunegym\[mip\]"'):
        gym.make("tunegym/MIPLNS-v0")


def test_hpo_methods_without_optuna_or_cmaes_raise_missing_extra(without) -> None:
    from tunegym.tuning.methods import get_method

    space = {"alpha": {"type": "float", "low": 0.1, "high": 1.0}}
    without("cmaes")
    with pytest.raises(MissingExtraError, match=r'the cmaes method: cmaes .*tunegym\[hpo\]'):
        get_method("cmaes").sampler(space, 0)
    without("optuna")
    with pytest.raises(MissingExtraError, match=r'optuna is not installed; run: pip install "tunegym\[hpo\]"'):
        get_method("tpe").sampler(space, 0)


def test_bench_plots_without_matplotlib_raise_missing_extra(without, tmp_path) -> None:
    from tunegym.tuning.benches.timestep import _plot

    without("matplotlib")
    with pytest.raises(MissingExtraError, match=r'tunegym\[report\]'):
        _plot({}, {}, tmp_path / "plot.png")


def test_every_mapped_extra_is_declared_in_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(declared)
    for module, extra in EXTRAS.items():
        # the extra lists a distribution whose name starts like the module (psycopg[binary], ray[tune], ...)
        assert any(req.lower().startswith(module) for req in declared[extra]), (module, extra)


def test_the_user_sees_one_line_and_no_chained_module_not_found_error() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["highspy"] = None
        import gymnasium as gym
        import tunegym.envs
        gym.make("tunegym/MIPLNS-v0")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "tunegym.envs.core.errors.MissingExtraError: the MIP environments (tunegym/MIPLNS-v0, LNSSolver): "
        'highspy is not installed; run: pip install "tunegym[mip]"')
    assert "ModuleNotFoundError" not in proc.stderr and "During handling" not in proc.stderr
