"""SOR relaxation: the solver, matrix loading and features, and the environments that choose ω.

``solve(A, b, omega)`` is usable on its own; the envs (``tunegym/SOR-v0``, ``tunegym/SORMatrix-v0``,
``tunegym/SORDynamic-v0``) wrap it, and :class:`tunegym.agents.SORTuner` deploys a learned choice of ω.
"""

from tunegym.envs.sor.actions import DEFAULT_ARMS, OmegaKnob
from tunegym.envs.sor.features import matrix_features, young_omega
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
    load_matrix,
    poisson2d,
)
from tunegym.envs.sor.solver import PreparedMatrix, SORResult, prepare_matrix, solve, solve_prepared

__all__ = [
    "DEFAULT_ARMS",
    "LaplacianFamilyDistribution",
    "LinearSystem",
    "MatrixFileDistribution",
    "OmegaKnob",
    "PreparedMatrix",
    "SORResult",
    "ShiftedLaplacianDistribution",
    "load_matrix",
    "matrix_features",
    "poisson2d",
    "prepare_matrix",
    "solve",
    "solve_prepared",
    "young_omega",
]
