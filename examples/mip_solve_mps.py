"""Solve your own MPS file with tunegym's deployed MIP solver, and HiGHS default beside it.

    python examples/mip_solve_mps.py my_model.mps [seconds]

Without an argument the script writes a small generalized-assignment model to ``model.mps`` first, so it runs
as is. It writes tunegym's solution to ``solution.json`` (both files in the current directory). The same from
the shell: ``tunegym solve mip my_model.mps --time-limit 10 --out solution.json``.
"""

import sys
import time

import highspy
import numpy as np

from tunegym.agents.lns_solver import LNSSolver

if len(sys.argv) > 1:
    path = sys.argv[1]
else:  # stand-in for the user's file
    from tunegym.envs.mip.instances import generalized_assignment

    path = "model.mps"
    generalized_assignment(np.random.default_rng(0), n_agents=10, n_jobs=60).to_highs().writeModel(path)
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0

# tunegym: LNS interleaved with HiGHS on the full model, one thread; stops as soon as it proves optimality.
# LNSSolver("pretrained:mip-lns") uses the shipped PPO operator policy instead of the default Softmax bandit.
solver = LNSSolver()
solution = solver.solve(path, time_limit=seconds)
print(f"tunegym: {solution.status}, objective {solution.objective}, dual bound {solution.dual_bound}, "
      f"{solution.wall_time:.2f} s, {solution.iterations} LNS steps")
solver.write_solution(solution, "solution.json")  # {"status", "objective", "values": {column name: value}}
print("wrote solution.json")

# HiGHS default on the same file, same thread count and time limit.
h = highspy.Highs()
h.setOptionValue("output_flag", False)
h.setOptionValue("threads", 1)
h.setOptionValue("time_limit", seconds)
h.readModel(path)
start = time.perf_counter()
h.run()
info = h.getInfo()
print(f"HiGHS:   {h.modelStatusToString(h.getModelStatus())}, objective {info.objective_function_value}, "
      f"dual bound {info.mip_dual_bound}, {time.perf_counter() - start:.2f} s")
