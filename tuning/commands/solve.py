"""``tunegym solve mip|sor|ode``: use a deployed tuner on the user's own problem and write the solution.

- ``solve mip FILE``: anytime LNS on an MPS/LP file (:class:`~tunegym.agents.lns_solver.LNSSolver`),
  interleaved with HiGHS on the full model (``--no-interleave``: the LNS alone); stops as soon as the best
  solution is proven optimal (status ``optimal``); prints status, objective, dual bound and gap; ``--out``
  gets column name → value as JSON.
- ``solve sor MATRIX``: ω chosen by a SOR tuner for a MatrixMarket/``.npz`` matrix, then SOR
  (:class:`~tunegym.agents.sor_tuner.SORTuner`); ``--rhs`` from ``.npy``, ``.mtx`` or text (default: all ones);
  ``--out`` gets ``x`` (``.npy``) or a JSON report with ``x``.
- ``solve ode RHS``: a step-size tuner integrates ``y' = f(t, y)``
  (:meth:`~tunegym.agents.step_size_tuner.StepSizeTuner.solve_ivp`); ``RHS`` is ``module:function`` or a
  built-in problem family (``lotka_volterra``...), ``--out`` gets a JSON report with ``y(t_end)``.

Typed errors (bad file, bad matrix, bad tuner) end as one line with exit status 2 through
:func:`tunegym.tuning.cli.main`. Policies run on the CPU: there is no ``--device`` here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register", "add_mip_arguments", "run_mip", "run_sor", "run_ode"]


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out

    parser = subparsers.add_parser("solve", help="solve a problem file with a tuner: mip, sor or ode",
                                   description="Solve your own problem with a deployed tuner and write the "
                                               "solution to --out.")
    kinds = parser.add_subparsers(dest="solve_kind", metavar="KIND")
    kinds.required = True
    mip = kinds.add_parser("mip", help="solve a MIP (MPS/LP file): LNS interleaved with HiGHS, stops when optimal")
    add_mip_arguments(mip)

    sor = kinds.add_parser("sor", help="solve A x = b by SOR with the relaxation factor a tuner picks")
    sor.add_argument("matrix", metavar="MATRIX", help="MatrixMarket (.mtx, .mtx.gz, .mtx.bz2) or SciPy .npz matrix A")
    sor.add_argument("--rhs", metavar="FILE", default=None,
                     help="right-hand side b: .npy, MatrixMarket .mtx or a text file of numbers (default: all ones)")
    sor.add_argument("--tuner", default="pretrained:sor-ppo",
                     help="SOR tuner file, a deployed SOR policy, or pretrained:NAME (default pretrained:sor-ppo)")
    sor.add_argument("--tol", type=float, default=1e-8, help="relative residual to reach (default 1e-8)")
    sor.add_argument("--max-sweeps", type=int, default=100_000, help="sweep limit (default 100000)")
    add_out(sor, kind="file", help="solution file: x as .npy, or a JSON report with x (any other suffix)")
    sor.set_defaults(func=run_sor)

    ode = kinds.add_parser("ode", help="integrate y' = f(t, y) with a step-size tuner choosing every step")
    ode.add_argument("rhs", metavar="RHS", help="f as module:function (called f(t, y)) or a built-in problem "
                                                "family (van_der_pol, robertson, brusselator, lotka_volterra, "
                                                "kepler, arenstorf)")
    ode.add_argument("--t-span", default=None, metavar="T0,T1", help="interval (required for module:function)")
    ode.add_argument("--y0", default=None, metavar="V,V,...", help="initial value (required for module:function)")
    ode.add_argument("--tuner", default="pretrained:step-size-ode",
                     help="step-size tuner file or pretrained:NAME (default pretrained:step-size-ode)")
    ode.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: the tuner's)")
    add_out(ode, kind="file", help="JSON report with y at the end of the interval")
    ode.set_defaults(func=run_ode)


def add_mip_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``solve mip`` (shared with the deprecated ``mip solve``)."""
    from tunegym.tuning.commands.common import add_out

    parser.add_argument("file", metavar="FILE", help="MIP model as MPS or LP")
    parser.add_argument("--tuner", default=None,
                        help="operator tuner file (SB3 policy or bandit), or pretrained:mip-lns (the shipped PPO "
                             "policy); default: Balans-style Softmax bandit over graded rewards")
    parser.add_argument("--time-limit", type=float, default=10.0,
                        help="wall-clock seconds at most for the solve, from reading the model on (it ends earlier "
                             "once the solution is proven optimal; the command's start-up, about 2 s of imports, "
                             "comes before)")
    parser.add_argument("--no-interleave", dest="interleave", action="store_false",
                        help="run the LNS alone (a short HiGHS start, then sub-MIPs until the time limit; it "
                             "never proves optimality) instead of interleaving it with HiGHS on the full model")
    add_out(parser, kind="file", help="solution file (JSON, column name -> value)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the operator choices")
    parser.set_defaults(func=run_mip)


def _check_out(out: str | None, what: str) -> None:
    """A :class:`ConfigError` line, before any solving, for an ``--out`` that cannot become a file (an existing
    directory, or a path under a file): found only by the write after the solve, it would lose the result.
    ``what``: the file expected, for the message."""
    from tunegym.envs.core.errors import ConfigError

    if not out:
        return
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file path ({what})", value=out)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--out {out}: {parent} is a file, not a directory", value=out)
            break


def run_mip(args: argparse.Namespace) -> int:
    from tunegym.agents.lns_solver import LNSSolver
    from tunegym.envs.core.errors import ConfigError

    _check_out(args.out, "the solution JSON")
    try:  # the solver's messages name its keywords; a command-line user typed flags
        solver = LNSSolver(args.tuner, seed=args.seed, interleave=getattr(args, "interleave", True))
        sol = solver.solve(args.file, time_limit=args.time_limit)
    except ConfigError as exc:
        text = str(exc)
        for keyword, flag in (("time_limit", "--time-limit"), ("seed", "--seed")):
            if text.startswith(keyword + " "):
                text = flag + text[len(keyword):]
        if text == str(exc):
            raise
        raise ConfigError(text, value=exc.value) from exc
    gap = "n/a" if sol.primal_gap is None else f"{sol.primal_gap:.4%}"
    print(f"status: {sol.status}\nobjective: {sol.objective}\ndual bound: {sol.dual_bound}\n"
          f"gap (vs dual bound): {gap}\n"
          f"LNS iterations: {sol.iterations}  wall: {sol.wall_time:.2f}s  in HiGHS: {sol.highs_time:.2f}s")
    if sol.message:
        print(f"message: {sol.message}")
    if args.out:
        try:
            solver.write_solution(sol, args.out)
        except OSError as exc:  # e.g. no permission: one line (status and objective are printed above)
            raise ConfigError(f"cannot write --out {args.out}: {exc.strerror or exc}", value=args.out) from exc
        print(f"wrote {args.out}")
    return 0 if sol.status != "no_solution" else 1


def _load_vector(path: str, n: int) -> Any:
    import numpy as np

    from tunegym.envs.core.errors import InstanceError

    file = Path(path)
    if not file.is_file():
        raise InstanceError(f"no right-hand side file at {path!r}", value=path)
    try:
        if file.name.lower().endswith((".mtx", ".mtx.gz", ".mtx.bz2")):  # SuiteSparse ships b as NAME_b.mtx
            import scipy.io

            values = scipy.io.mmread(str(file))
            values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
        else:
            values = np.load(file) if file.suffix == ".npy" else np.loadtxt(file, dtype=np.float64, ndmin=1)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty .npy
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InstanceError(f"cannot read right-hand side {path!r}: {first}", value=path) from exc
    if np.iscomplexobj(values):  # float64 would drop the imaginary part and solve another system
        raise InstanceError(f"right-hand side {path!r} is complex; tunegym's SOR solves real systems only",
                            value=path)
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # a .npy of strings, an .npz archive under a .npy name
        raise InstanceError(f"right-hand side {path!r} is not numeric: {exc}", value=path) from exc
    if values.ndim > 2 or (values.ndim == 2 and 1 not in values.shape):  # flattening would mix up the entries
        raise InstanceError(f"right-hand side {path!r} must be a vector (one column or row), got shape "
                            f"{values.shape}", value=values.shape)
    values = values.reshape(-1)
    if values.size != n:
        raise InstanceError(f"right-hand side {path!r} has {values.size} entries, the matrix has {n} rows",
                            value=values.size)
    return values


def _sor_tuner(name: str) -> Any:
    from tunegym.agents.sor_tuner import SORTuner
    from tunegym.agents.tuners import load_tuner

    loaded = load_tuner(name)
    return loaded if isinstance(loaded, SORTuner) else SORTuner.from_policy(loaded)


def run_sor(args: argparse.Namespace) -> int:
    import numpy as np

    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.envs.sor.instances import load_matrix

    _check_out(args.out, ".npy or .json")
    matrix = load_matrix(args.matrix)
    b = np.ones(matrix.shape[0]) if args.rhs is None else _load_vector(args.rhs, matrix.shape[0])
    tuner = _sor_tuner(args.tuner)
    result = tuner.solve(matrix, b, tol=args.tol, max_sweeps=args.max_sweeps)
    print(f"status: {result.status}\nomega: {float(np.mean(result.omega)):.4f}\nsweeps: {result.sweeps}\n"
          f"relative residual: {result.residual:.3e}  wall: {result.wall_time:.2f}s")
    if args.out:
        out = Path(args.out)
        if out.suffix == ".npy":
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out, result.x)
        else:
            report = {"matrix": str(args.matrix), "rhs": args.rhs or "ones", "tuner": args.tuner,
                      "status": result.status, "converged": result.converged, "omega": float(np.mean(result.omega)),
                      "sweeps": result.sweeps, "residual": result.residual, "tol": args.tol, "x": result.x.tolist()}
            atomic_write_bytes(out, json.dumps(report, indent=1).encode())
        print(f"wrote {out}")
    return 0 if result.converged else 1


def _numbers(text: str, flag: str) -> list[float]:
    from tunegym.envs.core.errors import ConfigError

    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"{flag} must be comma-separated numbers, got {text!r}", value=text) from exc


def _ode_problem(args: argparse.Namespace) -> tuple[Any, tuple[float, float], list[float], str | None]:
    """``(f, t_span, y0, problem_family)`` from the RHS argument and the flags."""
    import importlib

    from tunegym.envs.core.errors import ConfigError
    from tunegym.envs.timestep.ode import PROBLEMS, make_problem

    if args.rhs in PROBLEMS:
        problem = make_problem(args.rhs)
        t_span = tuple(_numbers(args.t_span, "--t-span")) if args.t_span else (0.0, problem.t_end)
        y0 = _numbers(args.y0, "--y0") if args.y0 else list(problem.y0)
        if len(y0) != len(problem.y0):  # the family's f indexes its own components: say so, not an IndexError
            raise ConfigError(f"--y0 for {args.rhs} needs {len(problem.y0)} values, got {len(y0)}", value=args.y0)
        return problem.rhs, t_span, y0, problem.family
    module_name, _, function_name = args.rhs.partition(":")
    if not (module_name and function_name):
        raise ConfigError(f"RHS must be module:function or one of {PROBLEMS}, got {args.rhs!r}", value=args.rhs)
    if not (args.t_span and args.y0):
        raise ConfigError("--t-span and --y0 are needed with a module:function right-hand side", value=args.rhs)
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot load {args.rhs!r}: {exc}", value=args.rhs) from exc
    if not callable(function):
        raise ConfigError(f"{args.rhs!r} is not callable ({type(function).__name__}): RHS must name a function f(t, y)",
                          value=args.rhs)
    return function, tuple(_numbers(args.t_span, "--t-span")), _numbers(args.y0, "--y0"), None


def run_ode(args: argparse.Namespace) -> int:
    from tunegym.agents.step_size_tuner import StepSizeTuner
    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.agents.tuners import load_tuner
    from tunegym.envs.core.errors import ConfigError

    function, t_span, y0, family = _ode_problem(args)
    if len(t_span) != 2:
        raise ConfigError(f"--t-span needs two numbers T0,T1, got {t_span!r}", value=t_span)
    _check_out(args.out, "the JSON report")
    tuner = load_tuner(args.tuner)
    if not isinstance(tuner, StepSizeTuner):
        raise ConfigError(f"{args.tuner!r} holds a {type(tuner).__name__}, not a step-size tuner", value=args.tuner)
    result = tuner.solve_ivp(function, t_span, y0, rtol=args.rtol, problem_family=family)
    y_end = [float(v) for v in result.y[:, -1]]  # StepSizeTuner.solve_ivp returns SciPy's result (issue 19)
    print(f"status: {result.stop_reason}\nt: {result.t[-1]:.6g}\ny: {y_end}\n"
          f"RHS evaluations: {result.nfev}  accepted: {result.accepted}  rejected: {result.rejected}")
    if args.out:
        report = {"rhs": args.rhs, "t_span": list(t_span), "y0": list(y0), "tuner": args.tuner,
                  "status": result.stop_reason, "message": result.message, "t": float(result.t[-1]), "y": y_end,
                  "rhs_evaluations": result.nfev, "accepted": result.accepted, "rejected": result.rejected,
                  "knob_values": result.knob_values}
        try:
            atomic_write_bytes(args.out, json.dumps(report, indent=1).encode())
        except OSError as exc:  # e.g. a parent that is a file, no permission: one line (the result is printed above)
            raise ConfigError(f"cannot write --out {args.out}: {exc.strerror or exc}", value=args.out) from exc
        print(f"wrote {args.out}")
    return 0 if result.success else 1
