"""Why a state-dependent η does not beat fixed η on ThreeBody-v0: switching η costs accuracy by itself.

Integrates test seeds 100-119 for 300 intervals of 0.1 yr with fixed η and with η switched between two grid values
(every interval, or every 10 intervals), and prints the mean force evaluations, the median final |ΔE/E0| and the
median of Σ_i |δE_i| (the sum of the per-interval changes, what a per-interval reward sees).

    nice python benchmarks/timestep_switching.py        # ≈1.5 min
"""

from __future__ import annotations

import math

import numpy as np
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.nbody import HermiteState

SCHEDULES = {
    "fixed η=1e-3": [1e-3],
    "fixed η=1.47e-3": [1.4678e-3],
    "fixed η=2.15e-3": [2.154e-3],
    "alternate 1e-3 / 2.15e-3 every interval": [1e-3, 2.154e-3],
    "alternate 1e-3 / 2.15e-3 every 10 intervals": [1e-3] * 10 + [2.154e-3] * 10,
}


def run(system, etas: list[float], intervals: int = 300) -> tuple[int, float, float]:
    """Force evaluations, final |ΔE/E0| and Σ|δE_i| of one run with η cycling through ``etas``."""
    state = HermiteState(system.masses, system.positions, system.velocities, G=system.G)
    summed = 0.0
    for k in range(intervals):
        before = state.energy_error
        state.advance(0.1, etas[k % len(etas)])
        summed += abs(state.energy_error - before)
    return state.force_evaluations, abs(state.energy_error), summed


def main() -> None:
    dist = PaperThreeBodyDistribution()
    systems = [dist.sample(stream(seed, "instances")) for seed in range(100, 120)]
    print("| schedule | mean force evals | median log10 abs dE | median log10 Σ abs dE_i |\n|---|---:|---:|---:|")
    for name, etas in SCHEDULES.items():
        runs = [run(system, etas) for system in systems]
        print(f"| {name} | {np.mean([r[0] for r in runs]):,.0f} | {np.median([math.log10(r[1]) for r in runs]):.2f} | "
              f"{np.median([math.log10(r[2]) for r in runs]):.2f} |", flush=True)


if __name__ == "__main__":
    main()
