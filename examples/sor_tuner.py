"""Train an SOR tuner, save it, load it, and solve a system it has never seen.

Run: ``python examples/sor_tuner.py`` (about 10 s on one core).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tunegym.agents import SORTuner, load_tuner
from tunegym.envs.sor import poisson2d, solve


def main() -> None:
    # 1. Learn omega online on the Learning to Relax sequence (setting A), from the residual feedback.
    tuner = SORTuner.train("tunegym/SOR-v0", agent="spectral", steps=500, seed=0)

    # 2. Save it to one file (tensors + JSON provenance; nothing is pickled) and load it back.
    path = Path(tempfile.mkdtemp()) / "sor-tuner.pt"
    tuner.save(path)
    tuner = load_tuner(path)
    print(f"loaded {tuner} from {path}")

    # 3. Solve a bigger system than any it was trained on: a 40x40 shifted Laplacian.
    A = sp.csr_matrix(poisson2d(40) + 0.01 * sp.identity(1600))
    b = np.random.default_rng(7).standard_normal(1600)
    tuned = tuner.solve(A, b)
    gauss_seidel = solve(A, b, 1.0)
    print(f"tuned:        omega = {tuned.omega:.3f}, {tuned.sweeps} sweeps, residual {tuned.residual:.1e}")
    print(f"Gauss-Seidel: omega = 1.000, {gauss_seidel.sweeps} sweeps")

    # 4. Keep learning online while solving a sequence of related systems (the paper's setting).
    for shift in (0.0, 0.02, 0.05):
        result = tuner.solve(poisson2d(40) + shift * sp.identity(1600), b, learn=True)
        print(f"shift {shift:.2f}: omega = {result.omega:.3f}, {result.sweeps} sweeps")


if __name__ == "__main__":
    main()
