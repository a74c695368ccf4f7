"""Deploy an SOR tuner on your own matrix: a file, a sequence of shifted systems, learning as it goes.

Run: ``python examples/sor_tuner.py`` (about half a minute on one core). What a user does:

1. has a matrix in a MatrixMarket file (here we write one: linear elasticity from PyAMG's gallery);
2. trains the tuner the README's way (or loads a saved one) and calls ``tuner.solve(A, b, learn=True)`` on each
   system of their sequence (here: shifts ``A + c I``, scalings, new right-hand sides);
3. compares with what they would otherwise write: a fixed ω, PyAMG's ``sor`` relaxation, SciPy's ``spsolve``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyamg
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.agents import SORTuner, load_tuner
from tunegym.envs.sor import load_matrix, solve


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    # 1. The user's matrix, from a file.
    scipy.io.mmwrite(str(folder / "mine.mtx"), pyamg.gallery.linear_elasticity((14, 14), format="csr")[0],
                     symmetry="symmetric")
    A = load_matrix(folder / "mine.mtx")
    n = A.shape[0]
    d = A.diagonal().mean()

    # 2. The shipped recipe: learn on the Learning to Relax sequence, save, load.
    tuner = SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0)
    tuner.save(folder / "sor-tuner.pt")
    tuner = load_tuner(folder / "sor-tuner.pt")

    # 3. The user's sequence: 120 shifted / scaled systems with new right-hand sides, solved in order.
    rng = np.random.default_rng(0)
    totals = {"tuner (learn=True)": 0, "fixed omega=1.5": 0, "Gauss-Seidel": 0}
    for t in range(120):
        shift, scale = 0.03 * d * rng.beta(0.5, 1.5), 10 ** rng.uniform(-1, 1)
        At = scale * (A + shift * sp.identity(n))
        b = rng.standard_normal(n)
        result = tuner.solve(At, b, learn=True)
        if t >= 60:  # score the second half, once the tuner has seen your sequence
            totals["tuner (learn=True)"] += result.sweeps
            totals["fixed omega=1.5"] += solve(At, b, 1.5).sweeps
            totals["Gauss-Seidel"] += solve(At, b, 1.0).sweeps
        if t % 30 == 0 or t == 119:
            print(f"system {t:3d}: omega = {result.omega:.3f}, {result.sweeps} sweeps, {result.status}")
    for label, sweeps in totals.items():
        print(f"{label:20s} {sweeps:6d} sweeps over systems 61-120")

    # 4. What the same last system costs with the usual calls.
    x = np.zeros(n)
    start = time.perf_counter()
    pyamg.relaxation.relaxation.sor(At.tocsr(), x, b, omega=result.omega, iterations=result.sweeps)
    print(f"PyAMG sor at the tuned omega, {result.sweeps} sweeps: residual "
          f"{np.linalg.norm(b - At @ x) / np.linalg.norm(b):.1e} ({time.perf_counter() - start:.3f} s)")
    exact = spla.spsolve(sp.csc_matrix(At), b)
    print(f"SciPy spsolve: max |x_sor - x_direct| = {np.max(np.abs(result.x - exact)):.1e}")

    # 5. A matrix SOR cannot solve is refused quickly, with the reason.
    bad = tuner.solve(A - 0.5 * d * sp.identity(n), np.ones(n))
    print(f"indefinite matrix: {bad.status} after {bad.sweeps} sweeps ({bad.reason[:60]}...)")
    tuner.save(folder / "sor-tuner.pt")  # keeps what it learned on your sequence


if __name__ == "__main__":
    main()
