"""Evaluate a deployed time-step policy (``tunegym deploy`` output or any tuner file) on the bench's test set.

Runs the policy through :class:`tunegym.agents.StepSizeTuner` (the deployable path, outside the gym loop) on the
instances ``tunegym bench timestep`` uses: ODEs = two problems per test seed 100-109 (seeds s and s+1000) at
``--rtol``; three-body = test seeds 100-109 for ``--years`` (30 = 300 actions of 0.1 yr). Prints mean cost and
median log10 error, the bench's two numbers.

    tunegym train --env tunegym/ODEStep-v0 --agent ppo --steps 30000 --seed 0 --run-dir runs/ode-ppo
    tunegym deploy --run-dir runs/ode-ppo --out runs/ode-ppo.pt
    python benchmarks/timestep_policy_eval.py runs/ode-ppo.pt --env tunegym/ODEStep-v0
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from tunegym.agents import StepSizeTuner, load_tuner
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.ode import ODEProblemDistribution, global_error

TEST_SEEDS = range(100, 110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tuner", help="tuner file (an SB3 policy or bandit trained on the env)")
    parser.add_argument("--env", required=True, help="tunegym/ODEStep-v0 or tunegym/ThreeBody-v0")
    parser.add_argument("--env-kwargs", default="{}", help="the env kwargs it was trained with (JSON)")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--years", type=float, default=30.0)
    args = parser.parse_args()
    policy = load_tuner(args.tuner)
    tuner = policy if isinstance(policy, StepSizeTuner) else StepSizeTuner(
        policy, env_id=args.env, env_kwargs=json.loads(args.env_kwargs))
    costs, errors = [], []
    if tuner.env_id.startswith("tunegym/ODEStep"):
        dist = ODEProblemDistribution()
        problems = [dist.sample(stream(s, "instances")) for s in TEST_SEEDS]
        problems += [dist.sample(stream(s + 1000, "instances")) for s in TEST_SEEDS]
        for problem in problems:
            result = tuner.solve_ivp(problem.rhs, (0.0, problem.t_end), problem.y0, rtol=args.rtol,
                                     problem_family=problem.family)
            costs.append(result["rhs_evaluations"])
            errors.append(global_error(problem, result.y[:, -1]) if result.success else 1.0)
        unit = "RHS evaluations"
    else:
        dist = PaperThreeBodyDistribution()
        for seed in TEST_SEEDS:
            system = dist.sample(stream(seed, "instances"))
            result = tuner.integrate(system.masses, system.positions, system.velocities, args.years, G=system.G)
            costs.append(result["force_evaluations"])
            errors.append(abs(result["energy_error"]) if result["status"] == "ok" else 1.0)
        unit = "force evaluations"
    print(f"{args.tuner} on {tuner.env_id}: mean {unit} {np.mean(costs):,.0f}, median log10 error "
          f"{np.median([math.log10(max(e, 1e-300)) for e in errors]):.2f} ({len(costs)} test instances)")


if __name__ == "__main__":
    main()
