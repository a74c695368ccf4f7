"""``tunegym mip solve FILE``: anytime LNS on an MPS/LP file; prints objective, gap, status; writes values."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mip", help="MIP tools: adaptive LNS on HiGHS")
    sub = parser.add_subparsers(dest="mip_command", metavar="ACTION")
    sub.required = True
    solve = sub.add_parser("solve", help="improve a MIP (MPS/LP file) by LNS within a time limit")
    solve.add_argument("file")
    solve.add_argument("--tuner", default=None, help="bandit tuner file, or pretrained:mip-lns (for now the untrained Balans-style Softmax bandit, also the default)")
    solve.add_argument("--time-limit", type=float, default=10.0)
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
