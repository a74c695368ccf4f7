"""``tunegym quickstart``: train a tuner on SOR and compare it with the baselines on test seeds.

The main job on embedded defaults, no server and no files needed: learn ω online with a contextual
bandit on tune seed 0 of ``tunegym/SOR-v0`` (the Learning to Relax setting A), then evaluate it frozen
on test seeds 100.. against ω = 1, Young's ω* and the per-instance grid oracle, and print a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("quickstart", help="train a SOR tuner and compare it with baselines (defaults)")
    parser.add_argument("--variance", default="high", choices=["high", "low"])
    parser.add_argument("--agent", default="chebcb", help="any agent name from `tunegym.agents.registry`")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (systems solved)")
    parser.add_argument("--seed", type=int, default=0, help="tune seed used for training")
    parser.add_argument("--test-seeds", type=int, default=5, help="number of test seeds (100, 101, ...)")
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.baselines import FixedOmega, GridOracle, YoungOmega
    from tunegym.agents.registry import make_agent
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.evaluation import evaluate_methods, markdown_table

    env_id, env_kwargs = "tunegym/SOR-v0", {"variance": args.variance}
    test_seeds = list(range(100, 100 + args.test_seeds))
    train_env = gym.make(env_id, **env_kwargs)
    train_env.reset(seed=args.seed)
    agent = make_agent(args.agent, train_env, {}, seed=args.seed, device="cpu")
    start = time.perf_counter()
    print(f"training {args.agent} on {env_id} ({args.variance} variance) for {args.steps} systems...", file=sys.stderr)
    agent.learn(train_env, total_timesteps=args.steps)
    train_time = time.perf_counter() - start

    results = evaluate_methods(
        env_id,
        {
            "omega=1 (Gauss-Seidel)": lambda env: FixedOmega(env, 1.0),
            f"{args.agent} (learned)": lambda env: agent,
            "Young's omega* (oracle)": YoungOmega,
            "grid oracle": GridOracle,
        },
        test_seeds,
        env_kwargs=env_kwargs,
    )
    print(f"\nSOR sweeps per system to 1e-8 on test seeds {test_seeds[0]}..{test_seeds[-1]} "
          f"(100 systems each; training took {train_time:.1f} s):\n")
    print(markdown_table(results, reference="omega=1 (Gauss-Seidel)", unit="sweeps"))
    if args.json:
        payload = {
            "env_id": env_id, "env_kwargs": env_kwargs, "agent": args.agent, "train_seed": args.seed,
            "train_steps": args.steps, "test_seeds": test_seeds, "versions": versions(),
            "results": [r.as_dict() for r in results],
        }
        atomic_write_bytes(args.json, json.dumps(payload, indent=2).encode())
    return 0
