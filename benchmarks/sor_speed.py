"""SOR speed report: env steps/s on tunegym/SOR-v0 and the fused solver against a bare PyAMG loop.

Run: ``python benchmarks/sor_speed.py --out benchmarks/sor_speed.md`` (pin to one core with
``taskset -c 0`` for the one-core figure). Goals (issue 4): >= 5,000 env steps/s on one core;
``solve`` <= 0.7x a bare loop of PyAMG's compiled SOR sweep plus a NumPy residual norm per sweep, on a
10^4-unknown Poisson matrix. Medians of repeated timings; the machine and versions are written in the report.
The last table times the level-scheduled sweep (``tunegym.envs.sor.solver.Schedule``) against the
natural-order one on the same matrices; both give the same iterates and sweep counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import gymnasium as gym
import numpy as np
import pyamg
import tunegym.envs  # noqa: F401
from pyamg import amg_core
from tunegym.agents.tuner_io import atomic_write_bytes, versions
from tunegym.envs.sor import solve, young_omega
from tunegym.envs.sor.instances import poisson2d
from tunegym.envs.sor.solver import prepare_matrix, solve_prepared


def env_steps_per_second(policy: str, steps: int, repeats: int) -> tuple[float, float]:
    """Steps/s under a random policy, a fixed arm, or Young's ω* per system (what a trained tuner costs)."""
    env = gym.make("tunegym/SOR-v0", variance="high", action="continuous" if policy == "young" else "discrete")
    base = env.unwrapped
    rates, sweeps = [], []
    for repeat in range(repeats):
        env.action_space.seed(repeat)
        env.reset(seed=repeat)
        total = 0
        start = time.perf_counter()
        for _ in range(steps):
            if policy == "random":
                action = env.action_space.sample()
            elif policy == "young":
                action = base.knob.encode(young_omega(base.instance.jacobi_radius))
            else:
                action = 16  # arm 16 = omega 1.8
            _, _, _, _, info = env.step(action)
            total += info["sweeps"]
        rates.append(steps / (time.perf_counter() - start))
        sweeps.append(total / steps)
    return statistics.median(rates), statistics.median(sweeps)


def pyamg_loop(A, b, omega: float, tol: float) -> tuple[int, float]:
    """The reference: PyAMG's compiled forward SOR sweep, then a NumPy residual norm, until tol."""
    x = np.zeros_like(b)
    n = A.shape[0]
    bnorm = np.linalg.norm(b)
    sweeps = 0
    start = time.perf_counter()
    while np.linalg.norm(b - A @ x) / bnorm >= tol:
        if omega == 1.0:
            amg_core.gauss_seidel(A.indptr, A.indices, A.data, x, b, 0, n, 1)
        else:
            amg_core.sor_gauss_seidel(A.indptr, A.indices, A.data, x, b, 0, n, 1, omega)
        sweeps += 1
    return sweeps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    lines = ["# SOR speed", "",
             "Made by `taskset -c 0 python benchmarks/sor_speed.py --repeats 5 --out benchmarks/sor_speed.md` "
             "(one core). Goals: >= 5,000 env steps/s; solve() <= 0.7x the PyAMG loop.", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared, noisy: medians of {args.repeats}), "
             f"Python {platform.python_version()}; versions: {versions()}", "",
             "Reading: the env's cost is the solve, so steps/s scale with the sweeps a policy spends (a trained "
             "tuner spends about Young's 56 sweeps per system, a uniformly random policy 277, many near "
             "omega=1). The fused residual and the level-scheduled sweep (last table) make solve() a fraction "
             "of the time of PyAMG's compiled sweep plus a NumPy residual per sweep.", ""]
    solve(pyamg.gallery.poisson((4, 4), format="csr"), np.ones(16), 1.5)  # compile outside the timing

    lines += ["## Env steps per second, tunegym/SOR-v0 (variance=high)", "",
              "| policy | mean sweeps/step | env steps/s (median) |", "|---|---:|---:|"]
    for policy in ("random", "omega=1.8", "young"):
        rate, sweeps = env_steps_per_second(policy, 2000, args.repeats)
        lines.append(f"| {policy} | {sweeps:.1f} | {rate:,.0f} |")

    A = pyamg.gallery.poisson((100, 100), format="csr")
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    lines += ["", "## solve() vs a bare PyAMG sweep loop, 10^4-unknown Poisson, tol 1e-8", "",
              "| omega | sweeps | PyAMG loop s | tunegym solve s | ratio |", "|---:|---:|---:|---:|---:|"]
    for omega in (1.0, 1.8, 1.94):
        ref_times, our_times = [], []
        for _ in range(args.repeats):
            ref_sweeps, ref_time = pyamg_loop(A, b, omega, 1e-8)
            start = time.perf_counter()
            result = solve(A, b, omega, tol=1e-8)
            our_times.append(time.perf_counter() - start)
            ref_times.append(ref_time)
        assert result.sweeps == ref_sweeps, (result.sweeps, ref_sweeps)
        ref, ours = statistics.median(ref_times), statistics.median(our_times)
        lines.append(f"| {omega} | {ref_sweeps} | {ref:.3f} | {ours:.3f} | {ours / ref:.2f} |")
    lines += ["", "## Level-scheduled sweep vs natural order (same iterates), shifted 2-D Laplacians, omega 1.5", "",
              "| grid | unknowns | levels | sweeps | natural s | scheduled s | speed-up |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for grid in (10, 32, 100, 300):
        prepared = prepare_matrix(poisson2d(grid)).shifted(0.2)
        natural = prepared.natural_order()
        rhs = np.random.default_rng(grid).standard_normal(prepared.n)
        reps = max(1, 200_000 // prepared.n)
        timings: dict[str, list[float]] = {"natural": [], "scheduled": []}
        for _ in range(args.repeats):
            for name, matrix in (("natural", natural), ("scheduled", prepared)):
                start = time.perf_counter()
                for _ in range(reps):
                    result = solve_prepared(matrix, rhs, 1.5)
                timings[name].append((time.perf_counter() - start) / reps)
        t_nat, t_sched = statistics.median(timings["natural"]), statistics.median(timings["scheduled"])
        levels = prepared.schedule.levels if prepared.schedule is not None else prepared.n
        lines.append(f"| {grid} | {prepared.n} | {levels} | {result.sweeps} | {t_nat:.2e} | {t_sched:.2e} | "
                     f"{t_nat / t_sched:.2f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        atomic_write_bytes(args.out, report.encode())


if __name__ == "__main__":
    main()
