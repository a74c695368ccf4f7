"""``tunegym mip solve FILE``: anytime LNS on an MPS/LP file; prints objective, gap, status; writes values.

Bad models (unreadable, infeasible, unbounded, no integer variables) end with the typed error's message and
exit code 2 (through :func:`tunegym.tuning.cli.main`); no feasible point in time: status ``no_solution``, 1.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mip", help="MIP tools: adaptive LNS on HiGHS")
    sub = parser.add_subparsers(dest="mip_command", metavar="ACTION")
    sub.required = True
    solve = sub.add_parser("solve", help="improve a MIP (MPS/LP file) by LNS within a time limit")
    solve.add_argument("file")
    solve.add_argument("--tuner", default=None, help="operator tuner file (SB3 policy or bandit), or pretrained:mip-lns (the shipped PPO "
                            "policy); default: Balans-style Softmax bandit over graded rewards")
    solve.add_argument("--time-limit", type=float, default=10.0,
                       help="wall-clock seconds for the whole run: start, LP relaxation and every sub-MIP")
    solve.add_argument("--out", default=None, help="solution file (JSON, column name -> value)")
    solve.add_argument("--seed", type=int, default=0)
    solve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.lns_solver import LNSSolver

    solver = LNSSolver(args.tuner, seed=args.seed)
    sol = solver.solve(args.file, time_limit=args.time_limit)
    gap = "n/a" if sol.primal_gap is None else f"{sol.primal_gap:.4%}"
    print(f"status: {sol.status}\nobjective: {sol.objective}\ngap (vs LP bound): {gap}\n"
          f"iterations: {sol.iterations}  wall: {sol.wall_time:.2f}s  in HiGHS: {sol.highs_time:.2f}s")
    if args.out:
        solver.write_solution(sol, args.out)
        print(f"wrote {args.out}")
    return 0 if sol.status != "no_solution" else 1
