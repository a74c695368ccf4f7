"""Choose preconditioners for a sequence of linear systems with ``KrylovTuner`` (issue #20).

A user's simulation solves one SPD system per implicit time step. The tuner picks, per system, a
preconditioner (Jacobi, SSOR, incomplete factorisation, PyAMG smoothed aggregation or Ruge–Stüben) or
reuses the previous one, and keeps learning from each solve's work. Run: ``python examples/krylov_solver.py``.
On these small systems (1,600 unknowns) ``pretrained:krylov``, which decides on time, keeps plain CG (``none``)
on every step; ``KrylovTuner.load("pretrained:krylov", objective="work")`` decides on flops and picks ILU, SSOR
and AMG.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tunegym.agents import KrylovTuner


def heat_step_matrix(grid: int, dt_over_h2: float) -> sp.csr_matrix:
    """``I / ν + L``: one implicit Euler step of the heat equation on a ``grid x grid`` mesh."""
    one = np.ones(grid)
    t = sp.diags([-one[:-1], 2 * one, -one[:-1]], [-1, 0, 1])
    lap = sp.kron(sp.identity(grid), t) + sp.kron(t, sp.identity(grid))
    return (lap + sp.identity(grid * grid) / dt_over_h2).tocsr()


def main(grid: int = 40, steps: int = 30) -> None:
    try:
        tuner = KrylovTuner.load("pretrained:krylov")  # trained by `tunegym bench krylov` (see its card)
    except Exception as error:  # noqa: BLE001 - a checkout without the shipped file: an untrained PCGBandit learner
        print(f"pretrained:krylov not loaded ({error}); starting an untrained PCGBandit learner")
        tuner = KrylovTuner.pcgbandit(seed=0)
    rng = np.random.default_rng(0)
    u = rng.standard_normal(grid * grid)
    total_work = 0.0
    for step in range(steps):
        nu = 0.3 * 1.3 ** step  # the time step grows as the solution smooths out
        result = tuner.solve(heat_step_matrix(grid, nu), u / nu, learn=True, symmetric=True)
        u = result.x
        total_work += result.work
        print(f"step {step:2d}  nu={nu:8.2f}  {result.preconditioner:24s} reused={result.reused!s:5}  "
              f"iterations={result.iterations:3d}  status={result.status}")
    print(f"total work {total_work:.3g} flops")


if __name__ == "__main__":
    main()
