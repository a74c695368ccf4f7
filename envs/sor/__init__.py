"""SOR relaxation: the solver, matrix loading and features, the processes, and the environments that choose ω.

``solve(A, b, omega)`` is usable on its own. The processes (:class:`SORSolve`: one solve per decision;
:class:`SORBlockSolve`: ω changed every ``block`` sweeps; :class:`HeatSolve`: one SSOR-PCG solve per time
step of a heat simulation) are what the envs (``tunegym/SOR-v0``, ``SORMatrix-v0``, ``SORDynamic-v0``,
``SORHeat-v0``, and the PettingZoo ``BlockSOR-v0``) and :class:`tunegym.agents.SORTuner` drive; ω is the
knob of :func:`omega_knob`. Env classes are imported from their modules (``tunegym.envs.sor.env``,
``.dynamic``, ``.heat``) so that importing this package stays light.
"""

from tunegym.envs.sor.env import DEFAULT_ARMS, omega_knob
from tunegym.envs.sor.features import matrix_features, young_omega
from tunegym.envs.sor.instances import (
    LaplacianFamilyDistribution,
    LinearSystem,
    MatrixFileDistribution,
    ShiftedLaplacianDistribution,
    load_matrix,
    poisson2d,
)
from tunegym.envs.sor.process import SORSolve, SystemContext
from tunegym.envs.sor.solver import PreparedMatrix, SORResult, prepare_matrix, solve, solve_prepared

__all__ = [
    "DEFAULT_ARMS",
    "LaplacianFamilyDistribution",
    "LinearSystem",
    "MatrixFileDistribution",
    "PreparedMatrix",
    "SORResult",
    "SORSolve",
    "ShiftedLaplacianDistribution",
    "SystemContext",
    "load_matrix",
    "matrix_features",
    "omega_knob",
    "poisson2d",
    "prepare_matrix",
    "solve",
    "solve_prepared",
    "young_omega",
]
