"""``tunegym quickstart``: train a tuner on SOR and compare it with the baselines on test seeds.

The main job on embedded defaults, no server needed: learn ω online with a contextual bandit on the tune
seed of ``tunegym/SOR-v0`` (the Learning to Relax setting A, with a progress bar showing steps and the
running mean sweep count), then evaluate it frozen on the test seeds against ω = 1, Young's ω* and the
per-instance grid oracle. Prints the table and writes ``quickstart.md``, ``quickstart.json`` and
``quickstart.png`` (sweeps per method and test seed; skipped with a note without matplotlib) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_OUT = "runs/quickstart"


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_deprecated, add_device, add_out, add_seeds, merge_seed_text, \
        seed_range_text

    parser = subparsers.add_parser("quickstart", help="train a SOR tuner and compare it with baselines (defaults)")
    parser.add_argument("--variance", default="high", choices=["high", "low"],
                        help="SOR-v0 instance variance (Learning to Relax setting A; default high)")
    parser.add_argument("--agent", default="chebcb", help="any agent name from `tunegym.agents.registry`")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (systems solved)")
    add_seeds(parser, default="tune=0,test=100-104",
              help="tune=SEED (the first tune seed trains) and test=LOW-HIGH (evaluation); default "
                   "tune=0,test=100-104")
    add_deprecated(parser, "--seed", "seeds", "--seeds tune=SEED", type=int,
                   convert=lambda seed, current: merge_seed_text(current, "tune", str(seed)))
    add_deprecated(parser, "--test-seeds", "seeds", "--seeds test=100-...", type=int,
                   convert=lambda n, current: merge_seed_text(current, "test", seed_range_text(n)))
    add_out(parser, default=DEFAULT_OUT, help="directory for quickstart.md, quickstart.json and quickstart.png")
    add_deprecated(parser, "--json", "json_file", "--out DIR (it writes DIR/quickstart.json)", metavar="FILE")
    add_device(parser, default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.baselines import FixedOmega, GridOracle, YoungOmega
    from tunegym.agents.registry import make_agent
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.commands.common import seed_split
    from tunegym.tuning.commands.train import _ProgressWrapper
    from tunegym.tuning.evaluation import evaluate_methods, markdown_table

    if args.steps < 1:
        raise ConfigError(f"--steps must be positive, got {args.steps}", value=args.steps)
    split = seed_split(args.seeds)
    train_seed, test_seeds = split.tune[0], list(split.test)
    env_id, env_kwargs = "tunegym/SOR-v0", {"variance": args.variance}
    out = Path(args.out or DEFAULT_OUT)
    train_env = gym.make(env_id, **env_kwargs)
    train_env.reset(seed=train_seed)
    agent = make_agent(args.agent, train_env, {}, seed=train_seed, device=args.device or "cpu")
    start = time.perf_counter()
    print(f"training {args.agent} on {env_id} ({args.variance} variance) for {args.steps} systems on tune seed "
          f"{train_seed}...", file=sys.stderr)
    wrapped = _ProgressWrapper.wrap(train_env, args.steps, args.no_progress, f"{args.agent} {env_id}")
    try:
        agent.learn(wrapped, total_timesteps=args.steps)
    finally:
        wrapped.bar.close()
    train_time = time.perf_counter() - start

    learned = f"{args.agent} (learned)"
    results = evaluate_methods(
        env_id,
        {
            "omega=1 (Gauss-Seidel)": lambda env: FixedOmega(env, 1.0),
            learned: lambda env: agent,
            "Young's omega* (oracle)": YoungOmega,
            "grid oracle": GridOracle,
        },
        test_seeds,
        env_kwargs=env_kwargs,
    )
    seeds_text = f"{test_seeds[0]}..{test_seeds[-1]}" if len(test_seeds) > 1 else str(test_seeds[0])
    heading = (f"SOR sweeps per system to 1e-8 on test seeds {seeds_text} (100 systems each; {args.agent} trained "
               f"for {args.steps} systems on tune seed {train_seed} in {train_time:.1f} s):")
    table = markdown_table(results, reference="omega=1 (Gauss-Seidel)", unit="sweeps")
    print(f"\n{heading}\n\n{table}")
    payload = {
        "env_id": env_id, "env_kwargs": env_kwargs, "agent": args.agent, "train_seed": train_seed,
        "train_steps": args.steps, "train_time_s": train_time, "test_seeds": test_seeds, "seeds": split.as_dict(),
        "versions": versions(), "results": [r.as_dict() for r in results],
    }
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "quickstart.md", out / "quickstart.json"]
    atomic_write_bytes(written[0], f"# tunegym quickstart\n\n{heading}\n\n{table}\n".encode())
    atomic_write_bytes(written[1], json.dumps(payload, indent=2).encode())
    if getattr(args, "json_file", None):
        atomic_write_bytes(args.json_file, json.dumps(payload, indent=2).encode())
        written.append(Path(args.json_file))
    note = _plot(payload["results"], out / "quickstart.png", heading)
    if note is None:
        written.insert(2, out / "quickstart.png")
    print(f"\nwrote {', '.join(str(p) for p in written)}" + (f" ({note})" if note else ""))
    return 0


def _plot(results: list[dict[str, Any]], path: Path, title: str) -> str | None:
    """A box plot of the per-test-seed sweeps of each method; returns why it was skipped, or ``None``."""
    try:
        import matplotlib
    except ImportError:
        return 'no plot: matplotlib is not installed (pip install "tunegym[report]")'
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    names = [r["method"] for r in results]
    try:
        ax.boxplot([r["per_seed_cost"] for r in results], orientation="horizontal")
    except TypeError:  # matplotlib < 3.10
        ax.boxplot([r["per_seed_cost"] for r in results], vert=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.scatter([r["mean_cost"] for r in results], range(1, len(names) + 1), marker="D", color="black", zorder=3,
               label="mean")
    ax.set_xscale("log")
    ax.set_xlabel("SOR sweeps per system (per test seed)")
    ax.set_title(title.split(" (")[0], fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
