"""PPO training throughput through the path users run: ``tunegym train`` (the CLI), SOR-v0 against CartPole-v1.

Each case is one ``tunegym train --env ENV --agent ppo --steps S --n-envs N --device cpu --no-progress`` in a
fresh subprocess (exactly what a user types, default config and flags otherwise), and its figure is the
``time/fps`` SB3 logs in the run's ``progress.csv`` on its last row: env steps per second since ``learn``
started, PPO updates, logging, checkpoints and callbacks included (interpreter start and imports are not).
The cases run interleaved, SOR-v0 then CartPole-v1 in each round, so a ratio is taken between neighbouring
runs on the same machine load; the report gives every run, the median over rounds, and the 1-minute load
average around each run (CPU timings on a shared machine are noisy: read ratios, not absolute figures).

``--n-envs 2`` is the vectorised case: two env copies per policy call in the learner process (config
``vec_env: native``), tunegym envs stepping on two threads (the SOR solve is a numba kernel that releases the
GIL). ``2 / 1`` is its speed-up over one copy.

    python benchmarks/deeprl_throughput.py --out benchmarks/deeprl_throughput.md
    python benchmarks/deeprl_throughput.py --smoke          # a few seconds per run, no files
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENVS = ("tunegym/SOR-v0", "CartPole-v1")


def final_fps(progress_csv: Path) -> float:
    """The last ``time/fps`` SB3 logged in a run's ``progress.csv``."""
    with open(progress_csv, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("time/fps")]
    if not rows:
        raise RuntimeError(f"{progress_csv} has no time/fps row")
    return float(rows[-1]["time/fps"])


def train_through_cli(env_id: str, steps: int, n_envs: int, workdir: Path, extra: list[str]) -> dict:
    """One ``tunegym train`` subprocess; returns its ``time/fps``, wall time and the load around it."""
    out = workdir / f"{env_id.replace('/', '_')}-n{n_envs}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "tunegym.tuning.cli", "train", "--env", env_id, "--agent", "ppo",
               "--steps", str(steps), "--n-envs", str(n_envs), "--seed", "0", "--device", "cpu", "--no-progress",
               "--out", str(out), *extra]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {"env": env_id, "n_envs": n_envs, "fps": final_fps(out / "tb" / "progress.csv"), "wall_s": wall,
            "load_before": load_before, "load_after": os.getloadavg()[0], "command": " ".join(command[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16384, help="--steps of each tunegym train run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (SOR-v0 then CartPole-v1)")
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 2], help="--n-envs values to measure")
    parser.add_argument("--smoke", action="store_true", help="tiny runs (2 rollouts of 256 steps), no report")
    parser.add_argument("--out", help="write a Markdown report here (and JSON beside it)")
    args = parser.parse_args()
    extra: list[str] = []
    steps = args.steps
    workdir_handle = tempfile.TemporaryDirectory(prefix="tunegym-throughput-")
    workdir = Path(workdir_handle.name)
    if args.smoke:
        steps, args.rounds = 512, 1
        config = workdir / "smoke.yaml"
        config.write_text("n_steps: 128\n")
        extra = ["--config", str(config)]

    runs = []
    for round_index in range(args.rounds):
        for n_envs in args.n_envs:
            for env_id in ENVS:
                row = train_through_cli(env_id, steps, n_envs, workdir, extra)
                row["round"] = round_index
                runs.append(row)
                print(f"round {round_index} {env_id:<16} --n-envs {n_envs}: {row['fps']:6.0f} fps "
                      f"(wall {row['wall_s']:.1f} s, load {row['load_before']:.2f} -> {row['load_after']:.2f})",
                      flush=True)

    def fps(env_id: str, n_envs: int, round_index: int) -> float:
        return next(r["fps"] for r in runs if (r["env"], r["n_envs"], r["round"]) == (env_id, n_envs, round_index))

    rounds = range(args.rounds)
    ratios = {n: [fps(ENVS[0], n, i) / fps(ENVS[1], n, i) for i in rounds] for n in args.n_envs}
    medians = {(env_id, n): statistics.median(fps(env_id, n, i) for i in rounds) for env_id in ENVS for n in args.n_envs}
    for n, values in ratios.items():
        print(f"SOR-v0 / CartPole-v1 through the CLI, --n-envs {n}: "
              f"{', '.join(f'{v:.2f}' for v in values)} (median {statistics.median(values):.2f})")
    if 1 in args.n_envs and 2 in args.n_envs:
        for env_id in ENVS:
            print(f"{env_id}: --n-envs 2 / --n-envs 1 = {medians[(env_id, 2)] / medians[(env_id, 1)]:.2f}")
    workdir_handle.cleanup()
    if not args.out or args.smoke:
        return

    import stable_baselines3
    import torch

    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    lines = [
        "# PPO training throughput through `tunegym train`: tunegym/SOR-v0 vs CartPole-v1",
        "",
        f"Made by `python benchmarks/deeprl_throughput.py --steps {args.steps} --rounds {args.rounds} "
        f"--n-envs {' '.join(map(str, args.n_envs))} --out {args.out}`.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, shared "
        f"(1-minute load average {min(loads):.1f} to {max(loads):.1f} during the runs); torch {torch.__version__}, "
        f"stable-baselines3 {stable_baselines3.__version__}, Python {platform.python_version()}.",
        "",
        "Each cell is one `tunegym train --env ENV --agent ppo --steps "
        f"{args.steps} --n-envs N --seed 0 --device cpu --no-progress --out DIR` subprocess (PPO defaults: "
        "n_steps 2048 per env copy, batch 64, 10 epochs, one torch thread): the last `time/fps` of its "
        "`progress.csv`, i.e. env steps per second of `learn` with PPO updates, logging, callbacks and "
        "checkpoints included. Rounds interleave the two envs so each ratio compares neighbouring runs.",
        "",
        "| round | --n-envs | SOR-v0 fps | CartPole-v1 fps | SOR-v0 / CartPole-v1 | load (1 min) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for i in rounds:
        for n in args.n_envs:
            sor = next(r for r in runs if (r["env"], r["n_envs"], r["round"]) == (ENVS[0], n, i))
            cart = next(r for r in runs if (r["env"], r["n_envs"], r["round"]) == (ENVS[1], n, i))
            lines.append(f"| {i} | {n} | {sor['fps']:.0f} | {cart['fps']:.0f} | {sor['fps'] / cart['fps']:.2f} | "
                         f"{sor['load_before']:.1f}-{cart['load_after']:.1f} |")
    lines += [""]
    for n, values in ratios.items():
        lines.append(f"SOR-v0 / CartPole-v1, `--n-envs {n}`: **{statistics.median(values):.2f}** (median of "
                     f"{len(values)} rounds; {', '.join(f'{v:.2f}' for v in values)}).")
    if 1 in args.n_envs and 2 in args.n_envs:
        lines += ["", "Scaling of `--n-envs 2` over `--n-envs 1` (median fps): " + "; ".join(
            f"{env_id} {medians[(env_id, 2)] / medians[(env_id, 1)]:.2f}x" for env_id in ENVS) + ". Two copies "
            "halve the policy calls per env step; SOR-v0's two solves also overlap on two threads when a second "
            "core is free. Caveat: SB3 logs `time/fps` after each rollout and before its update, so the last row "
            f"of a run of {args.steps} steps counts every rollout but one update fewer; with 2 copies there are "
            "half as many (longer) rollouts, which flatters `--n-envs 2` by up to one update's share."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    Path(os.path.splitext(args.out)[0] + ".json").write_text(json.dumps(
        {"args": vars(args), "runs": runs, "ratios": {str(n): v for n, v in ratios.items()}}, indent=2))


if __name__ == "__main__":
    main()
