"""Speed of the time-step processes: Hermite body-steps/s (one system, a batch) and ThreeBody-v0 env steps/s.

Run: ``nice python benchmarks/timestep_speed.py [--quick]``. Prints a Markdown table and writes
``benchmarks/timestep_speed.json``. Wall time is measured here only; envs count force evaluations.
A "body-step" is one body advanced by one Hermite step (steps × bodies); numba compilation is excluded
(a warm-up call runs first). Single-threaded: numba's kernels do not use threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.env import make_three_body
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.nbody import simulate


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    dist = PaperThreeBodyDistribution()
    systems = [dist.sample(stream(seed, "instances")) for seed in range(256 if not args.quick else 16)]
    m = np.stack([s.masses for s in systems])
    x = np.stack([s.positions for s in systems])
    v = np.stack([s.velocities for s in systems])
    eta, t_end = 1e-2, 5.0 if not args.quick else 1.0
    simulate(m[:2], x[:2], v[:2], 0.1, eta)  # warm-up (numba compile / cache load)

    rows = {}
    single = simulate(m[0], x[0], v[0], t_end, eta)
    sec = _best_of(lambda: simulate(m[0], x[0], v[0], t_end, eta), 3)
    rows["hermite single system (3 bodies)"] = single.steps * 3 / sec
    batch = simulate(m, x, v, t_end, eta)
    sec = _best_of(lambda: simulate(m, x, v, t_end, eta), 3)
    rows[f"hermite batch of {len(systems)} systems (3 bodies)"] = int(batch.steps.sum()) * 3 / sec

    env = make_three_body(episode_length=100)
    for label, action in (("ThreeBody-v0 env, fixed eta=2.15e-3", 4), ("ThreeBody-v0 env, fixed eta=1e-1", 9)):
        env.reset(seed=0)
        steps, start = 0, time.perf_counter()
        for _ in range(300 if not args.quick else 50):
            _, _, terminated, truncated, _ = env.step(action)
            steps += 1
            if terminated or truncated:
                env.reset()
        rows[label] = steps / (time.perf_counter() - start)

    print("| measurement | rate |\n|---|---:|")
    for name, rate in rows.items():
        unit = "body-steps/s" if name.startswith("hermite") else "env steps/s"
        print(f"| {name} | {rate:,.0f} {unit} |")
    out = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "rates": rows, "quick": args.quick}
    Path(__file__).with_suffix(".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
