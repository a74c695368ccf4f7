"""Does the ODE tuner's context pay? Every controller arm of ``tunegym/ODEController-v0`` on the same tune solves.

For ``--n`` DETEST draws of the env's own distribution (rtol log-uniform in 1e-10…1e-3, stream ``tune-context`` of
``--seed``: tune problems, no suite test seed), each of the 8 arms (I/PI rule × safety 0.6…0.9) solves the problem
and gets the env's reward, −log2(RHS evaluations / RK45's at the same error). Then, on the first 70% of draws, a
ridge model per arm on Chebyshev features (degree 1–4) of the context (log10 rtol; + dimension; + initial step)
picks an arm for each of the last 30%, against the best fixed arm per rtol bin chosen on the same 70%, and the
per-solve oracle. Figures are mean rewards (log2 units, higher = further below RK45's curve) on the held-out 30%.

    python benchmarks/timestep_controller_context.py --n 1000 --out benchmarks/timestep_controller_context.json

(≈4 min on 2 cores.)
"""

from __future__ import annotations

import argparse
import json
from multiprocessing import Pool

import numpy as np

BINS = ((-10.0, -8.0), (-8.0, -6.0), (-6.0, -4.5), (-4.5, -3.0))


def _solve_all_arms(args: tuple[int, int]) -> dict:
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.timestep.detest import DETEST_CLASSES, DetestDistribution

    seed, index = args
    instance = DetestDistribution(DETEST_CLASSES, (1e-10, 1e-3)).sample(stream(seed, f"tune-context-{index}"))
    env = gym.make("tunegym/ODEController-v0")
    rewards = []
    for arm in range(env.action_space.n):
        obs, _ = env.reset(options={"instance": instance})
        rewards.append(float(env.step(arm)[1]))
    return {"obs": obs.tolist(), "rewards": rewards, "problem": instance.problem}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/timestep_controller_context.json")
    args = parser.parse_args(argv)
    from tunegym.agents.bandits.contextual import chebyshev_features
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.timestep.ode_controller import ODEProblemFeatures

    with Pool(args.workers) as pool:
        rows = pool.map(_solve_all_arms, [(args.seed, i) for i in range(args.n)], chunksize=4)
    X = np.array([r["obs"] for r in rows])
    R = np.array([r["rewards"] for r in rows])
    space = ODEProblemFeatures().space
    Z = 2 * (X - space.low) / (space.high - space.low) - 1
    split = int(0.7 * len(rows))
    train, test = slice(0, split), slice(split, None)
    result: dict = {"n": len(rows), "train": split, "seed": args.seed, "versions": versions(),
                    "oracle": float(R[test].max(1).mean()), "ridge": {}}
    fixed = []
    for low, high in BINS:
        in_bin = (X[:, 0] >= low) & (X[:, 0] < high)
        best = int(R[:split][in_bin[:split]].mean(0).argmax())
        fixed.append(R[split:][in_bin[split:], best])
    result["best_fixed_per_rtol_bin"] = float(np.concatenate(fixed).mean())
    for degree in (1, 2, 3, 4):
        for name, cols in (("rtol", [0]), ("rtol+dim", [0, 1]), ("rtol+dim+h0", [0, 1, 2])):
            P = np.array([chebyshev_features(z[cols], degree) for z in Z])
            theta = [np.linalg.solve(P[train].T @ P[train] + np.eye(P.shape[1]), P[train].T @ R[train, a])
                     for a in range(R.shape[1])]
            choice = np.stack([P[test] @ t for t in theta], 1).argmax(1)
            result["ridge"][f"{name}, degree {degree}"] = float(R[test][np.arange(len(choice)), choice].mean())
    atomic_write_bytes(args.out, json.dumps(result, indent=1).encode())
    print(f"held-out mean reward (log2): oracle {result['oracle']:+.3f}, best fixed per rtol bin "
          f"{result['best_fixed_per_rtol_bin']:+.3f}")
    for key, value in result["ridge"].items():
        print(f"  ridge on {key}: {value:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
