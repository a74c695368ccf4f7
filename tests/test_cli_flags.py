"""One flag vocabulary: --out, --seeds, --device, --config, --resume everywhere; old spellings still work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunegym.tuning.cli import build_parser, main
from tunegym.tuning.commands.common import evaluation_seeds, seed_split


def _parse(capsys, argv):
    args = build_parser().parse_args(argv)
    return args, capsys.readouterr().err


@pytest.mark.parametrize("old, new, dest, value", [
    (["train", "--run-dir", "R"], ["train", "--out", "R"], "out", "R"),
    (["eval", "--run-dir", "R"], ["eval", "--run", "R"], "run", "R"),
    (["deploy", "--run-dir", "R", "--out", "f.pt"], ["deploy", "--run", "R", "--out", "f.pt"], "run", "R"),
    (["quickstart", "--test-seeds", "3"], ["quickstart", "--seeds", "tune=0,test=100-102"], "seeds",
     "tune=0,test=100-102"),
    (["bench", "mip", "--test-seeds", "3"], ["bench", "mip", "--seeds", "test=100-102"], "seeds", "test=100-102"),
    (["bench", "timestep", "--test-start", "400", "--test-seeds", "5"], ["bench", "timestep", "--seeds", "test=400-404"],
     "seeds", "test=400-404"),
])
def test_old_spellings_map_onto_the_new_flags_with_one_deprecation_line_each(capsys, old, new, dest, value):
    old_args, err = _parse(capsys, old)
    new_args, new_err = _parse(capsys, new)
    assert getattr(old_args, dest) == getattr(new_args, dest) == value
    assert new_err == ""
    lines = err.strip().splitlines()
    assert lines and all("is deprecated" in line for line in lines)
    assert len(lines) == sum(flag.startswith("--") and flag not in new for flag in old)


def test_mip_solve_is_a_deprecated_alias_of_solve_mip(capsys):
    old, _ = _parse(capsys, ["mip", "solve", "m.mps", "--time-limit", "2", "--out", "s.json"])
    new, _ = _parse(capsys, ["solve", "mip", "m.mps", "--time-limit", "2", "--out", "s.json"])
    assert (old.file, old.time_limit, old.out) == (new.file, new.time_limit, new.out)
    assert main(["mip", "solve", "/no/such/model.mps"]) == 2
    err = capsys.readouterr().err
    assert "`tunegym mip solve` is deprecated" in err and "error:" in err


def test_seed_flags_take_a_split_or_a_suite_name():
    assert seed_split("default").as_dict() == {"tune": list(range(10)), "test": list(range(100, 110))}
    assert seed_split("tune=0-2,test=50").as_dict() == {"tune": [0, 1, 2], "test": [50]}
    assert evaluation_seeds("test") == list(range(100, 110))
    assert evaluation_seeds("test=100-102") == evaluation_seeds("100-102") == [100, 101, 102]
    assert evaluation_seeds("tune=0-1") == [0, 1]
    assert evaluation_seeds("1,5") == [1, 5]


@pytest.mark.parametrize("command", [["train"], ["quickstart"], ["tune"], ["bench", "hpo"]])
def test_device_is_accepted_wherever_a_model_trains(command):
    actions = {a.dest for a in _subparser(command)._actions}
    assert "device" in actions


def _subparser(path):
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[name]
    return parser


@pytest.mark.parametrize("command", [["train"], ["eval"], ["deploy"], ["tune"], ["quickstart"], ["solve", "mip"],
                                     ["solve", "sor"], ["solve", "ode"], ["bench", "hpo"], ["bench", "lr"],
                                     ["bench", "mip"], ["bench", "timestep"], ["bench", "learning-to-relax"]])
def test_every_output_is_out_and_every_flag_has_help(command):
    parser = _subparser(command)
    flags = {opt for a in parser._actions for opt in a.option_strings if a.help != "==SUPPRESS=="}
    assert "--out" in flags and not {"--run-dir", "--json-out", "--test-seeds", "--test-start"} & flags
    if command[0] != "bench":  # the benches' own knobs are theirs to document
        undocumented = [a.option_strings for a in parser._actions if a.option_strings and not a.help]
        assert undocumented == []


def test_solve_sor_picks_omega_and_writes_the_solution(tmp_path, capsys):
    import scipy.sparse as sp

    from tunegym.envs.sor.instances import load_matrix

    n = 6
    grid = sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n))
    matrix = sp.kron(sp.eye(n), grid) + sp.kron(sp.diags([-1.0, -1.0], [-1, 1], shape=(n, n)), sp.eye(n))
    sp.save_npz(tmp_path / "A.npz", sp.csr_matrix(matrix))
    np.save(tmp_path / "b.npy", np.arange(n * n, dtype=float))
    out = tmp_path / "x.json"
    assert main(["solve", "sor", str(tmp_path / "A.npz"), "--rhs", str(tmp_path / "b.npy"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["converged"] and 1.0 <= report["omega"] < 2.0
    x = np.array(report["x"])
    residual = np.linalg.norm(load_matrix(tmp_path / "A.npz") @ x - np.arange(n * n)) / np.linalg.norm(np.arange(n * n))
    assert residual < 1e-7
    assert "omega:" in capsys.readouterr().out


def test_solve_sor_on_a_bad_matrix_is_a_one_line_error(tmp_path, capsys):
    import scipy.sparse as sp

    sp.save_npz(tmp_path / "A.npz", sp.csr_matrix(np.ones((2, 3))))
    assert main(["solve", "sor", str(tmp_path / "A.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "square" in err


def test_solve_ode_integrates_a_builtin_problem_with_the_pretrained_tuner(tmp_path, capsys):
    out = tmp_path / "y.json"
    assert main(["solve", "ode", "lotka_volterra", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["status"] == "finished" and len(report["y"]) == 2 and report["rhs_evaluations"] > 0


def test_deploy_wraps_a_time_step_run_as_a_step_size_tuner(tmp_path, capsys):
    from tunegym.agents.step_size_tuner import StepSizeTuner
    from tunegym.agents.tuners import load_tuner

    run = tmp_path / "run"
    assert main(["train", "--env", "tunegym/ODEStep-v0", "--agent", "linucb", "--steps", "40", "--out", str(run),
                 "--no-progress"]) == 0
    out = tmp_path / "ode.pt"
    assert main(["deploy", "--run", str(run), "--wrap", "step-size", "--out", str(out)]) == 0
    tuner = load_tuner(out)
    assert isinstance(tuner, StepSizeTuner) and tuner.env_id == "tunegym/ODEStep-v0"
    result = tuner.solve_ivp(lambda t, y: -y, (0.0, 1.0), [1.0])
    assert result.success and result.stop_reason == "finished"


def test_step_size_tuner_module_main_is_a_deprecated_shim(tmp_path, capsys):
    from tunegym.agents.step_size_tuner import main as legacy_main

    assert legacy_main(["--steps", "30", "--out", str(tmp_path / "t.pt")]) == 0
    assert "tunegym deploy --run RUN --wrap step-size" in capsys.readouterr().err
    assert (tmp_path / "t.pt").is_file()
