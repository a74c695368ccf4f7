"""``tunegym bench learning-to-relax``: the Learning to Relax experiments, reproduced and extended.

Setting A (``--setting shifted``, the paper's main table): one sequence of ``length`` shifted-Laplacian
systems per seed, every method learning online from the first system on, all methods meeting the same
systems. Setting B (``--setting heat``): the heat-equation sequence of ``tunegym/SORHeat-v0``.

Setting A is computed exactly and fast: every system is solved once with every arm of the grid (their
sweep counts and residual-rate feedback go into a table), and the bandits replay the sequence reading
their cost from the table; this gives the same numbers as stepping the env, at one solve per arm per system.
Methods that choose ω off the grid (the continuous spectral agent, Young's ω*, the fine oracle) solve live.

Writes ``DIR/results.json`` (config, seeds, versions, per-method mean / 95% CI / per-seed figures),
``DIR/results.md`` and ``DIR/cumulative.png`` (mean cumulative sweeps over the sequence).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["register", "run_shifted", "run_heat", "summarize", "METHODS_SHIFTED", "METHODS_HEAT", "PAPER"]

#: The paper's figures, re-run from the authors' code (DESIGN §3.1): mean sweeps per instance, T = 5000.
PAPER = {
    "high": {"omega=1": 611, "best_fixed": 103.0, "tsallis_inf": 117.9, "chebcb": 65.8, "young": 56.2,
             "oracle_fine": 55.0},
    "low": {"omega=1": 272, "best_fixed": 59.3, "tsallis_inf": 68.1, "chebcb": 46.9, "young": 41.8,
            "oracle_fine": 41.2},
}

#: name -> (description, feedback it learns from)
METHODS_SHIFTED: dict[str, tuple[str, str]] = {
    "omega=1": ("Gauss-Seidel", "none"),
    "best_fixed": ("best single arm in hindsight (oracle)", "oracle"),
    "tsallis_inf": ("Tsallis-INF (paper's implementation)", "sweep count"),
    "chebcb": ("ChebCB (paper's implementation)", "sweep count"),
    "linucb": ("LinUCB, Chebyshev degree 4", "sweep count"),
    "eps_regressor": ("epsilon-greedy ridge regressor", "sweep count"),
    "spectral": ("ours: Young's omega from learned Jacobi radius, 20 arms", "residual history"),
    "spectral_continuous": ("ours: the same, continuous omega", "residual history"),
    "young": ("Young's omega* per instance (oracle: exact rho_J)", "oracle"),
    "oracle": ("per-instance best of the 20 arms (oracle)", "oracle"),
    "oracle_fine": ("per-instance best on a 0.01 grid + omega* (oracle; the paper's optimum)", "oracle"),
}

METHODS_HEAT: dict[str, tuple[str, str]] = {
    "omega=1": ("SSOR with omega=1", "none"),
    "best_fixed": ("best single arm in hindsight (oracle)", "oracle"),
    "tsallis_inf": ("Tsallis-INF", "iteration count"),
    "chebcb": ("ChebCB on the heat context", "iteration count"),
    "linucb": ("LinUCB, Chebyshev degree 2", "iteration count"),
    "oracle": ("per-step best of the 20 arms (oracle)", "oracle"),
}

_AGENT_CONFIG = {"linucb": {"degree": 4}}
_REWARD_SCALE = 100.0


def _fine_oracle(system: Any, arm_costs: np.ndarray, arms: np.ndarray, tol: float, max_sweeps: int) -> float:
    """Best sweeps on the 0.01 grid over [1, 1.99] plus ω*, searched within ±0.05 of the best arm and of ω*."""
    from tunegym.envs.sor.features import young_omega
    from tunegym.envs.sor.solver import solve_prepared

    w_star = young_omega(system.jacobi_radius)
    best = float(arm_costs.min())
    centres = {round(float(arms[int(np.argmin(arm_costs))]), 2), round(w_star, 2)}
    candidates = {w_star} | {round(c + d, 2) for c in centres for d in np.arange(-0.05, 0.051, 0.01)}
    for omega in sorted(w for w in candidates if 1.0 <= w <= 1.99):
        result = solve_prepared(system.matrix, system.b, omega, tol=tol, max_sweeps=max_sweeps)
        if result.converged:
            best = min(best, float(result.sweeps))
    return best


def run_shifted(variance: str, length: int, seed: int, methods: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-instance sweeps of each method on one seed's sequence of setting A."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.registry import make_agent
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.sor.features import young_omega
    from tunegym.envs.sor.solver import solve_prepared

    env = gym.make("tunegym/SOR-v0", variance=variance)
    base = env.unwrapped
    process = base.process  # the env's own solve: its cost and feedback are what the env step reports
    arms, tol, max_sweeps = np.asarray(base.knob.arms), process.tol, process.max_sweeps

    def solve_live(system: Any, omega: float) -> Any:
        process.start(system)
        return process.advance(omega)

    rng = stream(seed, "instances")  # the env's own stream for reset(seed=seed)
    systems = [base.distribution.sample(rng) for _ in range(length)]
    costs = np.empty((length, arms.size))
    radius = np.full((length, arms.size), np.nan)
    for t, system in enumerate(systems):
        for a, omega in enumerate(arms):
            record = solve_live(system, float(omega))
            costs[t, a] = record.cost
            rho = record.extra["jacobi_radius_estimate"]
            radius[t, a] = np.nan if rho is None else rho

    out: dict[str, np.ndarray] = {}
    for name in methods:
        if name == "omega=1":
            out[name] = costs[:, int(np.argmin(np.abs(arms - 1.0)))]
        elif name == "best_fixed":
            out[name] = costs[:, int(np.argmin(costs.mean(axis=0)))]
        elif name == "oracle":
            out[name] = costs.min(axis=1)
        elif name == "oracle_fine":
            out[name] = np.array([_fine_oracle(s, costs[t], arms, tol, max_sweeps) for t, s in enumerate(systems)])
        elif name == "young":
            out[name] = np.array([
                solve_prepared(s.matrix, s.b, young_omega(s.jacobi_radius), tol=tol, max_sweeps=max_sweeps).sweeps
                for s in systems
            ], dtype=float)
        elif name == "spectral_continuous":
            cenv = gym.make("tunegym/SOR-v0", variance=variance, action="continuous")
            agent = make_agent("spectral", cenv, {}, seed=seed)
            series = np.empty(length)
            for t, system in enumerate(systems):
                action = agent.select(system.context)
                record = solve_live(system, cenv.unwrapped.knob.decode(action))
                info = {"sweeps": record.cost, "jacobi_radius_estimate": record.extra["jacobi_radius_estimate"]}
                agent.observe(system.context, action, -record.cost / _REWARD_SCALE, info)
                series[t] = record.cost
            out[name] = series
        else:  # a registered agent over the 20 arms, replayed through the table
            agent = make_agent(name, env, _AGENT_CONFIG.get(name, {}), seed=seed)
            series = np.empty(length)
            for t, system in enumerate(systems):
                arm = int(agent.select(system.context))
                rho = radius[t, arm]
                info = {"sweeps": costs[t, arm], "jacobi_radius_estimate": rho if math.isfinite(rho) else None}
                agent.observe(system.context, arm, -costs[t, arm] / _REWARD_SCALE, info)
                series[t] = costs[t, arm]
            out[name] = series
    return out


def run_heat(length: int, seed: int, methods: Sequence[str], grid: int = 32) -> dict[str, np.ndarray]:
    """Per-step CG iterations of each method along one seed's heat-equation episode (live env)."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.baselines import FixedOmega
    from tunegym.agents.registry import make_agent
    from tunegym.envs.sor.heat import HeatStepOracle

    def make_env():
        return gym.make("tunegym/SORHeat-v0", grid=grid, n_steps=length, max_episode_steps=length)

    def episode(policy_for: Callable[[Any], Any], learn: bool) -> np.ndarray:
        env = make_env()
        policy = policy_for(env)
        obs, _ = env.reset(seed=seed)
        series = []
        for _ in range(length):
            action = policy.select(obs) if learn else policy.predict(obs)[0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            if learn:
                policy.observe(obs, action, reward, info)
            series.append(info["cost"])
            obs = next_obs
            if terminated or truncated:
                break
        return np.asarray(series, dtype=float)

    out: dict[str, np.ndarray] = {}
    fixed_runs: dict[int, np.ndarray] = {}
    for name in methods:
        if name in ("omega=1", "best_fixed"):
            arms = np.asarray(make_env().unwrapped.knob.arms)
            if not fixed_runs:
                for a, omega in enumerate(arms):
                    fixed_runs[a] = episode(lambda env, w=omega: FixedOmega(env, w), learn=False)
            if name == "omega=1":
                out[name] = fixed_runs[int(np.argmin(np.abs(arms - 1.0)))]
            else:
                out[name] = min(fixed_runs.values(), key=lambda s: s.mean())
        elif name == "oracle":
            out[name] = episode(HeatStepOracle, learn=False)
        else:
            config = {"degree": 2} if name == "linucb" else {}
            out[name] = episode(lambda env, n=name, c=config: make_agent(n, env, c, seed=seed), learn=True)
    return out


def summarize(per_seed: list[dict[str, np.ndarray]], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Mean over seeds of the per-seed mean cost, with a t-based 95% CI (normal if one seed)."""
    from scipy import stats

    summary = {}
    for name in methods:
        means = np.array([run[name].mean() for run in per_seed])
        half = float(stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1) / math.sqrt(len(means))) \
            if len(means) > 1 else 0.0
        summary[name] = {"mean_iterations": float(means.mean()), "ci95": [float(means.mean() - half),
                                                                         float(means.mean() + half)],
                         "per_seed": means.tolist()}
    return summary


def _markdown(config: dict[str, Any], summary: dict[str, dict[str, Any]], catalogue: dict[str, tuple[str, str]],
              paper: dict[str, float] | None, reference: str | None) -> str:
    unit = "sweeps" if config["setting"] == "shifted" else "CG iterations"
    ref = summary.get(reference, {}).get("mean_iterations") if reference else None
    where = (f"setting A, {config['variance']} variance" if config["setting"] == "shifted"
             else f"setting B (heat equation, grid {config['grid']})")
    # Header, separator and rows are built from one column list so that they always have the same cells
    # (the heat table's header used to end in a dangling "| ", an empty extra column).
    columns = ["method", "learns from", "mean", "95% CI"] + (["vs per-instance optimum"] if ref else []) \
        + (["paper"] if paper else [])
    lines = [f"Mean {unit} per system, {where}, T={config['length']}, seeds {config['seeds']}:", "",
             "| " + " | ".join(columns) + " |",
             "|" + "|".join("---" if c in ("method", "learns from") else "---:" for c in columns) + "|"]
    for name, entry in summary.items():
        description, feedback = catalogue.get(name, (name, ""))
        lo, hi = entry["ci95"]
        row = f"| `{name}` {description} | {feedback} | {entry['mean_iterations']:.1f} | {lo:.1f}–{hi:.1f} |"
        if ref:
            row += f" {100 * (entry['mean_iterations'] / ref - 1):+.1f}% |"
        if paper:
            row += f" {paper[name]} |" if name in paper else " – |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _plot(per_seed: list[dict[str, np.ndarray]], methods: Sequence[str], path: Path, title: str,
          reference: str | None) -> None:
    """Cumulative cost over the sequence, as a ratio to the per-instance optimum's when one is present."""
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the bench's plots")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    length = min(len(run[name]) for run in per_seed for name in methods)
    curves = {name: np.mean([np.cumsum(run[name][:length]) for run in per_seed], axis=0) for name in methods}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab20")
    for index, name in enumerate(methods):
        curve = curves[name] / curves[reference] if reference else curves[name]
        ax.plot(np.arange(1, length + 1), curve, label=name, color=colours(index % 20),
                linestyle="--" if name.startswith(("oracle", "young", "best_fixed")) else "-")
    ax.set_xlabel("instance")
    if reference:
        ax.set_ylabel(f"cumulative cost / {reference}'s")
        ax.set_yscale("log")
    else:
        ax.set_ylabel("cumulative cost (mean over seeds)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out, add_seeds

    parser = subparsers.add_parser(
        "learning-to-relax", help="Learning to Relax (Khodak et al. 2024) setting A or B, all methods online")
    parser.add_argument("--setting", choices=["shifted", "heat"], default="shifted")
    parser.add_argument("--variance", choices=["high", "low"], default="high")
    parser.add_argument("--length", type=int, default=5000, help="systems per sequence (T)")
    add_seeds(parser, default="0,1,2",
              help="sequence seeds, one online sequence each: test=LOW-HIGH, LOW-HIGH or a comma list (default "
                   "0,1,2; online methods have no tune/test split)")
    parser.add_argument("--seed", type=int, default=None, help="a single seed (overrides --seeds)")
    parser.add_argument("--methods", default=None, help="comma list (default: all for the setting)")
    parser.add_argument("--grid", type=int, default=32, help="heat setting: grid intervals per side")
    parser.add_argument("--workers", type=int, default=1, help="seeds run in parallel processes")
    add_out(parser, required=True, help="output directory (results.json, results.md, cumulative.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.commands.common import evaluation_seeds

    seeds = [args.seed] if args.seed is not None else evaluation_seeds(args.seeds)
    catalogue = METHODS_SHIFTED if args.setting == "shifted" else METHODS_HEAT
    methods = list(catalogue) if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in catalogue]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown} for the {args.setting} setting; choices: {list(catalogue)}")
    if args.length < 1:
        raise ConfigError(f"--length must be positive, got {args.length}", value=args.length)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.setting == "shifted":
        jobs = [(run_shifted, (args.variance, args.length, s, methods)) for s in seeds]
    else:
        jobs = [(run_heat, (args.length, s, methods, args.grid)) for s in seeds]
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            per_seed = list(pool.map(_call, jobs))
    else:
        per_seed = []
        for index, job in enumerate(jobs):
            print(f"seed {seeds[index]} ({index + 1}/{len(jobs)})...", file=sys.stderr)
            per_seed.append(_call(job))
    summary = summarize(per_seed, methods)
    config = {"setting": args.setting, "length": args.length, "seeds": seeds, "methods": methods,
              "reward_scale": _REWARD_SCALE, "tol": 1e-8, "arms": "linspace(1, 1.95, 20)"}
    if args.setting == "shifted":
        config["variance"] = args.variance
    else:
        config["grid"] = args.grid
    payload = {"config": config, "seeds": seeds, "versions": versions(), "methods": summary,
               "wall_time_s": time.perf_counter() - start}
    atomic_write_bytes(out / "results.json", json.dumps(payload, indent=2).encode())
    paper = PAPER.get(args.variance) if args.setting == "shifted" else None
    reference = "oracle_fine" if "oracle_fine" in summary else ("oracle" if "oracle" in summary else None)
    table = _markdown(config, summary, catalogue, paper, reference)
    atomic_write_bytes(out / "results.md", table.encode())
    title = (f"setting A, {args.variance} variance" if args.setting == "shifted" else "setting B (heat)")
    _plot(per_seed, methods, out / "cumulative.png", title, reference)
    print(table)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'cumulative.png'}")
    return 0


def _call(job: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    function, arguments = job
    return function(*arguments)
