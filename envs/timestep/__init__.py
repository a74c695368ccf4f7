"""Time-step control: the chaotic three-body problem (Hermite, ``tunegym/ThreeBody-v0``) and classic ODEs
with embedded Runge–Kutta pairs (``tunegym/ODEStep-v0``: the controller knob per attempt;
``tunegym/ODEController-v0``: the controller of a whole solve, what ``pretrained:step-size-ode`` deploys). See
DESIGN §3.2 and arXiv 2502.12809.

Importing this package is cheap apart from numba's kernel cache (compiled on first use, cached on disk).
"""

from tunegym.envs.timestep.commit import (
    COMMIT_ETAS,
    ThreeBodyCommitEnv,
    make_three_body_commit,
)
from tunegym.envs.timestep.env import (
    DEFAULT_ETAS,
    OBSERVATION_NAMES,
    ThreeBodyEnv,
    energy_reward,
    make_three_body,
)
from tunegym.envs.timestep.instances import (
    FixedSystemsDistribution,
    NBodyInstance,
    PaperThreeBodyDistribution,
    load_initial_conditions,
)
from tunegym.envs.timestep.nbody import (
    G_AU_MSUN_YR,
    G_NBODY,
    HermiteState,
    SimulationResult,
    simulate,
    timestep_criterion,
    total_energy,
)
from tunegym.envs.timestep.ode_controller import (
    ODEControllerEnv,
    ODEControllerRun,
    ODEProblemFeatures,
    make_ode_controller,
)
from tunegym.envs.timestep.ode import (
    METHODS,
    PROBLEMS,
    BogackiShampine32,
    DormandPrince54,
    IController,
    ODEInstance,
    ODEProblemDistribution,
    PIController,
    integrate,
    make_problem,
    reference_solution,
    solve_ivp_baseline,
)
from tunegym.envs.timestep.ode_env import ODEStepEnv, make_ode_step
from tunegym.envs.timestep.process import (
    CommittedEtaRun,
    ODEIntegration,
    ODEProblem,
    ThreeBodyIntegration,
)

__all__ = [
    "COMMIT_ETAS",
    "DEFAULT_ETAS",
    "G_AU_MSUN_YR",
    "G_NBODY",
    "METHODS",
    "OBSERVATION_NAMES",
    "PROBLEMS",
    "BogackiShampine32",
    "CommittedEtaRun",
    "DormandPrince54",
    "FixedSystemsDistribution",
    "ODEControllerEnv",
    "ODEControllerRun",
    "ODEProblemFeatures",
    "make_ode_controller",
    "HermiteState",
    "IController",
    "NBodyInstance",
    "ODEInstance",
    "ODEIntegration",
    "ODEProblem",
    "ODEProblemDistribution",
    "ODEStepEnv",
    "PIController",
    "PaperThreeBodyDistribution",
    "SimulationResult",
    "ThreeBodyCommitEnv",
    "ThreeBodyEnv",
    "ThreeBodyIntegration",
    "energy_reward",
    "integrate",
    "load_initial_conditions",
    "make_ode_step",
    "make_problem",
    "make_three_body",
    "make_three_body_commit",
    "reference_solution",
    "simulate",
    "solve_ivp_baseline",
    "timestep_criterion",
    "total_energy",
]
