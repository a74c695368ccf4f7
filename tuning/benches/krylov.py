"""``tunegym bench krylov``: preconditioner choice over sequences of SPD systems (issue #20, DESIGN §3.5).

Suite ``krylov-sequences`` (registered here): one instance is one seed's sequence of ``length`` systems of a
family (diffusion with drifting coefficients, rotating anisotropic diffusion, elasticity towards
incompressibility; implicit time steps whose size grows over each run), solved by CG to 1e-8. Every method
meets the same systems in the same order, live:

- ``fixed:<arm>``: every arm of the env's grid held throughout (``fixed:reuse`` = smoothed aggregation built
  on the first system and reused for all others); ``best_fixed``: the fixed arm with the least total work on
  the family's *tune* sequences, evaluated on the test sequences;
- ``oracle``: per system the cheapest of every freshly built arm and of reusing the oracle's own previous
  preconditioner (hindsight, greedy over the sequence);
- ``pyamg_default``: ``pyamg.smoothed_aggregation_solver(A).solve(b, tol, accel="cg")`` per system;
  ``fixed:none`` is plain CG;
- ``pcgbandit``: PCGBandit's learner (Tsallis-INF on the work; :func:`tunegym.agents.krylov_tuner.pcgbandit`),
  learning from scratch on each test sequence through :class:`~tunegym.agents.KrylovTuner`;
- ``krylov_tuner`` (ours): a contextual bandit (``--agent``, LinUCB by default) trained online on the tune
  sequences, then deployed with ``KrylovTuner.solve(..., learn=True)`` on each test sequence.

Claims (``tunegym.tuning.stats``, paired per test sequence, strata = family, Holm-corrected): total work
against ``best_fixed`` and ``oracle``; wall time of the tuner against the faster of ``pyamg_default`` and
plain CG. Also reported: break-even solve against ``best_fixed``, the tuner's overhead share of wall time,
and R² of wall time against work over every solve (how well the work model predicts time on this machine).
Writes ``results.json``, ``results.md``, ``cumulative.png``, ``arms.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SPEC", "register", "run", "main", "run_sequence", "suite"]

SPEC: dict[str, Any] = {
    "name": "krylov-sequences",
    "version": 1,
    "domain": "krylov",
    "description": (
        "Preconditioner (or reuse) per CG solve over sequences of implicit time steps: diffusion with drifting "
        "log-coefficient contrast, rotating anisotropic diffusion (epsilon 0.01), Q1 elasticity towards "
        "incompressibility; the time step grows 1000x over each run of 50 steps; cost = flops of setup + "
        "iterations (tunegym.envs.krylov.precond). Families are the strata."
    ),
    "instances": {
        "distribution": "tunegym.envs.krylov.instances:PDESequence",
        "params": {"run_length": 50, "nu_range": [0.3, 300.0]},
        "families": {"diffusion": {"kind": "diffusion"}, "anisotropic": {"kind": "anisotropic"},
                     "elasticity": {"kind": "elasticity"}},
    },
    "tune_seeds": range(0, 10),
    "dev_test_seeds": range(100, 150),
    "final_test_seeds": range(1000, 1100),
    "methods": ("fixed", "best_fixed", "oracle", "pyamg_default", "pcgbandit", "krylov_tuner"),
    "scale": {
        "smoke": {"tune": 1, "dev_test": 2, "final_test": 2, "length": 60, "grid": 24, "elasticity_grid": 16},
        "full": {"tune": 2, "dev_test": 4, "final_test": 10, "length": 200, "grid": 100, "elasticity_grid": 70},
    },
    "bands": {},
}


def suite():
    from tunegym.tuning.suites import SUITES, register_suite

    return SUITES.get(SPEC["name"]) or register_suite(SPEC)


def _systems(family_params: dict[str, Any], seed: int, length: int) -> list[Any]:
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.krylov.instances import PDESequence

    dist = PDESequence(**family_params)
    return list(dist.sequence(stream(seed, "instances"), length=length))


def _pyamg_default(system: Any, tol: float, maxiter: int) -> dict[str, float]:
    import pyamg

    from tunegym.envs.krylov.precond import _fixed_global_rng, amg_work

    start = time.perf_counter()
    with _fixed_global_rng():
        ml = pyamg.smoothed_aggregation_solver(system.A, B=system.near_null_space)
    residuals: list[float] = []
    x = ml.solve(system.b, tol=tol, accel="cg", maxiter=maxiter, residuals=residuals)
    wall = time.perf_counter() - start
    setup, apply = amg_work(ml, aggregation=True, sweep=2.0)
    iterations = max(len(residuals) - 1, 0)
    work = setup + iterations * (apply + system.nnz + 7.0 * system.n)
    rel = float(np.linalg.norm(system.b - system.A @ x) / np.linalg.norm(system.b))
    return {"cost": work, "work": work, "wall": wall, "iterations": iterations, "residual": rel}


def _tuner_copy(path: Path) -> Any:
    from tunegym.agents.krylov_tuner import KrylovTuner

    return KrylovTuner.load(path)


def run_sequence(systems: list[Any], *, arms: tuple, tuner_file: Path | None, seed: int,
                 env_kwargs: dict[str, Any], with_learners: bool = True) -> dict[str, dict[str, list]]:
    """Live per-system figures (cost, work, wall, arm) of every method on one sequence."""
    from tunegym.agents.krylov_tuner import KrylovTuner
    from tunegym.envs.krylov.precond import REUSE, arm_label
    from tunegym.envs.krylov.process import KrylovSolve

    def new() -> dict[str, list]:
        return {"cost": [], "work": [], "wall": [], "arm": [], "tuner_wall": []}

    out: dict[str, dict[str, list]] = {f"fixed:{arm_label(a)}": new() for a in arms}
    procs = {a: KrylovSolve(solver="cg") for a in arms}
    oracle, oracle_proc = new(), KrylovSolve(solver="cg")
    pyamg_default = new()
    learners: dict[str, Any] = {}
    if with_learners:
        learners["pcgbandit"] = KrylovTuner.pcgbandit("tunegym/PCG-v0", seed=seed, **env_kwargs)
        if tuner_file is not None:
            learners["krylov_tuner"] = _tuner_copy(tuner_file)
    results = {name: new() for name in learners}
    for system in systems:
        fresh: dict[tuple, tuple[float, Any]] = {}
        for arm, proc in procs.items():
            proc.start(system)
            rec = proc.advance(arm)
            entry = out[f"fixed:{arm_label(arm)}"]
            entry["cost"].append(rec.cost), entry["work"].append(rec.extra["work"])
            entry["wall"].append(rec.wall_time), entry["arm"].append(arm_label(arm)), entry["tuner_wall"].append(0.0)
            if arm != REUSE:
                fresh[arm] = (rec.cost, proc.preconditioner, rec)
        # the oracle: every fresh arm, or reusing its own previous preconditioner
        best_arm = min(fresh, key=lambda a: fresh[a][0])
        best_cost, best_pre, best_rec = fresh[best_arm]
        choice, chosen_rec = best_arm, best_rec
        if oracle_proc.kept is not None:
            oracle_proc.start(system)
            rec = oracle_proc.advance(REUSE)
            if rec.cost < best_cost:
                choice, chosen_rec = REUSE, rec
        if choice != REUSE:
            oracle_proc.kept, oracle_proc.kept_age = best_pre, 0
        oracle["cost"].append(chosen_rec.cost), oracle["work"].append(chosen_rec.extra["work"])
        oracle["wall"].append(chosen_rec.wall_time), oracle["arm"].append(arm_label(choice))
        oracle["tuner_wall"].append(0.0)
        figures = _pyamg_default(system, 1e-8, 1000)
        pyamg_default["cost"].append(figures["cost"]), pyamg_default["work"].append(figures["work"])
        pyamg_default["wall"].append(figures["wall"]), pyamg_default["arm"].append("pyamg-sa")
        pyamg_default["tuner_wall"].append(0.0)
        for name, tuner in learners.items():
            result = tuner.solve_system(system, learn=True)
            entry = results[name]
            entry["cost"].append(result.cost), entry["work"].append(result.work)
            entry["wall"].append(result.wall_time + result.tuner_time), entry["arm"].append(arm_label(result.arm))
            entry["tuner_wall"].append(result.tuner_time)
    out["oracle"], out["pyamg_default"] = oracle, pyamg_default
    out.update(results)
    return out


def train_tuner(sequences: list[list[Any]], *, agent: str, config: dict[str, Any], seed: int,
                env_kwargs: dict[str, Any]) -> Any:
    """Our tuner: ``agent`` learning online over the tune sequences (a fresh episode per sequence)."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.bandits import make_bandit
    from tunegym.agents.krylov_tuner import KrylovTuner

    env = gym.make("tunegym/PCG-v0", **env_kwargs)
    policy = make_bandit(agent, env, config, seed=seed)
    tuner = KrylovTuner.from_env(policy, env, provenance={"agent": agent, "config": config, "seed": seed,
                                                           "trained_on": "krylov-sequences tune seeds"})
    for systems in sequences:
        tuner.forget()
        for system in systems:
            tuner.solve_system(system, learn=True)
    return tuner


def _break_even(method: np.ndarray, baseline: np.ndarray) -> int | None:
    """First solve index (1-based) from which the method's cumulative work stays at or below the baseline's."""
    worse = np.flatnonzero(np.cumsum(method) > np.cumsum(baseline))
    if worse.size == 0:
        return 1
    return None if worse[-1] + 1 >= method.size else int(worse[-1] + 2)


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    A = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    return float(1.0 - resid @ resid / np.sum((y - y.mean()) ** 2))


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out

    parser = subparsers.add_parser("krylov", help="preconditioned Krylov: learned preconditioner choice vs fixed, "
                                                  "oracle, PyAMG default and PCGBandit")
    _arguments(parser, add_out)
    parser.set_defaults(func=run)


def _arguments(parser: argparse.ArgumentParser, add_out: Any) -> None:
    parser.add_argument("--scale", choices=["smoke", "full"], default="smoke")
    parser.add_argument("--split", choices=["dev_test", "final_test"], default="dev_test",
                        help="test split (final_test is logged in the final-test ledger)")
    parser.add_argument("--length", type=int, default=None, help="systems per sequence (default: the scale's)")
    parser.add_argument("--grid", type=int, default=None, help="grid side (default: the scale's)")
    parser.add_argument("--families", default=None, help="comma list (default: all)")
    parser.add_argument("--agent", default="linucb", help="our tuner's bandit (default linucb)")
    parser.add_argument("--save-tuner", default=None, metavar="FILE", help="also save our trained tuner here")
    add_out(parser, required=True, help="output directory (results.json, results.md, cumulative.png, arms.png)")


def main(argv: list[str] | None = None) -> int:
    from tunegym.tuning.commands.common import add_out

    parser = argparse.ArgumentParser(prog="tunegym bench krylov")
    _arguments(parser, add_out)
    return run(parser.parse_args(argv))


_AGENT_CONFIG = {"linucb": {"alpha": 0.3, "degree": 1}, "eps_regressor": {"epsilon": 0.05, "degree": 2}}


def run(args: argparse.Namespace) -> int:
    """One BLAS thread: wall times then measure the algorithms, not thread contention on a shared machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy's usual stacks
        return _run(args)
    with threadpool_limits(1):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.envs.krylov.precond import DEFAULT_ARMS, arm_label
    from tunegym.tuning.stats import claims_to_markdown, finalize_claims, paired_claim
    from tunegym.tuning.suites import Ledger

    s = suite()
    final = args.split == "final_test"
    length = args.length or s.size("length", args.scale)
    families = s.families()
    if args.families:
        wanted = [f.strip() for f in args.families.split(",") if f.strip()]
        unknown = sorted(set(wanted) - set(families))
        if unknown:
            raise ConfigError(f"unknown families {unknown}; choices {sorted(families)}", value=unknown)
        families = {f: families[f] for f in wanted}
    for name, params in families.items():
        key = "elasticity_grid" if name == "elasticity" else "grid"
        params["grid"] = args.grid or s.size(key, args.scale)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env_kwargs: dict[str, Any] = {"grid": 8}
    tune_seeds = s.seeds("tune", args.scale)
    test_seeds = s.seeds(args.split, args.scale, final=final)

    # tune: the fixed arms' totals (best fixed per family) and our tuner's training, on the same sequences
    best_fixed: dict[str, str] = {}
    tune_sequences = []
    for family, params in families.items():
        totals: dict[str, float] = {}
        for seed in tune_seeds:
            print(f"tune {family} seed {seed}...", file=sys.stderr)
            systems = _systems(params, seed, length)
            tune_sequences.append(systems)
            figures = run_sequence(systems, arms=DEFAULT_ARMS, tuner_file=None, seed=seed, env_kwargs=env_kwargs,
                                   with_learners=False)
            for name, entry in figures.items():
                if name.startswith("fixed:"):
                    totals[name] = totals.get(name, 0.0) + float(np.sum(entry["cost"]))
        best_fixed[family] = min(totals, key=totals.get)
    order = np.random.default_rng(0).permutation(len(tune_sequences))  # interleave families in training
    tuner = train_tuner([tune_sequences[i] for i in order], agent=args.agent,
                        config=_AGENT_CONFIG.get(args.agent, {}), seed=0, env_kwargs=env_kwargs)
    tuner_file = out / "krylov_tuner.pt"
    tuner.save(tuner_file)
    if args.save_tuner:
        tuner.save(args.save_tuner)

    per_sequence: list[dict[str, Any]] = []
    for family, params in families.items():
        for seed in test_seeds:
            print(f"{args.split} {family} seed {seed}...", file=sys.stderr)
            systems = _systems(params, seed, length)
            figures = run_sequence(systems, arms=DEFAULT_ARMS, tuner_file=tuner_file, seed=seed,
                                   env_kwargs=env_kwargs)
            figures["best_fixed"] = figures[best_fixed[family]]
            per_sequence.append({"family": family, "seed": seed, "n": systems[0].n, "figures": figures})

    methods = list(per_sequence[0]["figures"])
    strata = [p["family"] for p in per_sequence]

    def total(method: str, key: str = "cost", upto: int | None = None) -> np.ndarray:
        return np.array([float(np.sum(p["figures"][method][key][:upto])) for p in per_sequence])

    common = dict(strata=strata, domain="krylov", suite=s.name, suite_version=s.version, split=args.split)
    faster = np.minimum(total("pyamg_default", "wall"), total("fixed:none", "wall"))
    claims = [
        paired_claim(total("krylov_tuner"), total("best_fixed"), method_name="krylov_tuner", baseline_name="best_fixed",
                     metric="work", **common),
        paired_claim(total("krylov_tuner"), total("oracle"), method_name="krylov_tuner", baseline_name="oracle",
                     metric="work", **common),
        paired_claim(total("pcgbandit"), total("best_fixed"), method_name="pcgbandit", baseline_name="best_fixed",
                     metric="work", **common),
        paired_claim(total("krylov_tuner"), total("pcgbandit"), method_name="krylov_tuner", baseline_name="pcgbandit",
                     metric="work", **common),
        paired_claim(total("krylov_tuner", "wall"), faster, method_name="krylov_tuner",
                     baseline_name="min(pyamg_default, plain CG)", metric="wall_time", **common),
        paired_claim(total("krylov_tuner", "wall"), total("best_fixed", "wall"), method_name="krylov_tuner",
                     baseline_name="best_fixed", metric="wall_time", **common),
    ]
    claims = finalize_claims(claims)
    if length > 100:
        claims_100 = paired_claim(total("krylov_tuner", upto=100), total("best_fixed", upto=100),
                                  method_name="krylov_tuner", baseline_name="best_fixed",
                                  metric="work_first_100", **common)
    else:
        claims_100 = None
    break_even = [_break_even(np.asarray(p["figures"]["krylov_tuner"]["cost"]),
                              np.asarray(p["figures"]["best_fixed"]["cost"])) for p in per_sequence]
    overhead = float(total("krylov_tuner", "tuner_wall").sum() / total("krylov_tuner", "wall").sum())
    work_all, wall_all = [], []
    for p in per_sequence:
        for name in methods:
            if name.startswith("fixed:") or name in ("pyamg_default",):
                work_all += p["figures"][name]["work"]
                wall_all += p["figures"][name]["wall"]
    work_all, wall_all = np.asarray(work_all), np.asarray(wall_all)
    r2 = _r2(work_all, wall_all)
    r2_log = _r2(np.log(work_all + 1.0), np.log(wall_all + 1e-9))
    seconds_per_gflop = float(np.sum(wall_all) / np.sum(work_all) * 1e9)
    ratio_table = {m: float(np.mean(total(m) / total("oracle"))) for m in methods}
    wall_table = {m: float(np.mean(total(m, "wall"))) for m in methods}
    payload = {
        "suite": s.to_dict(), "scale": args.scale, "split": args.split, "length": length,
        "families": families, "tune_seeds": list(tune_seeds), "test_seeds": list(test_seeds),
        "best_fixed": best_fixed, "agent": args.agent, "agent_config": _AGENT_CONFIG.get(args.agent, {}),
        "claims": [c.to_dict() for c in claims], "claim_first_100": claims_100.to_dict() if claims_100 else None,
        "break_even": break_even, "tuner_overhead_share": overhead, "work_time_r2": r2, "work_time_r2_log": r2_log,
        "seconds_per_gflop": seconds_per_gflop, "work_over_oracle": ratio_table, "mean_wall_s": wall_table,
        "per_sequence": [{"family": p["family"], "seed": p["seed"], "n": p["n"],
                          "totals": {m: float(np.sum(p["figures"][m]["cost"])) for m in methods},
                          "walls": {m: float(np.sum(p["figures"][m]["wall"])) for m in methods},
                          "arms": {m: p["figures"][m]["arm"] for m in ("krylov_tuner", "pcgbandit", "oracle")}}
                         for p in per_sequence],
        "versions": versions(), "wall_time_s": time.perf_counter() - start,
        "argv": sys.argv[1:],
    }
    atomic_write_bytes(out / "results.json", json.dumps(payload, indent=2, default=str).encode())
    table = _markdown(payload, claims, claims_100, methods)
    atomic_write_bytes(out / "results.md", table.encode())
    _plots(per_sequence, out)
    if final:
        Ledger(out).record(s, s.methods, claims=claims, note=f"scale={args.scale} length={length}")
    print(table)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'cumulative.png'}, {out / 'arms.png'}")
    return 0


def _markdown(payload: dict[str, Any], claims: list[Any], claim_100: Any, methods: list[str]) -> str:
    from tunegym.tuning.stats import claims_to_markdown

    lines = [f"# tunegym bench krylov — {payload['suite']['name']} v{payload['suite']['version']}, "
             f"{payload['scale']} scale, split {payload['split']}", "",
             f"Sequences of {payload['length']} systems; families and grids: "
             + ", ".join(f"{f} (grid {p['grid']})" for f, p in payload["families"].items())
             + f"; tune seeds {payload['tune_seeds']}, test seeds {payload['test_seeds']}.",
             f"Best fixed arm per family (chosen on tune sequences): {payload['best_fixed']}.", "",
             "## Claims (paired per test sequence, Holm-corrected)", "", claims_to_markdown(claims)]
    if claim_100 is not None:
        lines += ["First 100 solves only (raw p):", "", claims_to_markdown([claim_100])]
    be = payload["break_even"]
    lines += [f"Break-even against best_fixed (first solve from which cumulative work stays at or below): "
              f"{be} (None: not within the sequence).", "",
              f"Tuner overhead (features + policy + learning) = {100 * payload['tuner_overhead_share']:.2f}% of "
              "the tuner's wall time.", "",
              f"Work model vs wall time over every fixed-arm and PyAMG solve: R² = {payload['work_time_r2']:.3f} "
              f"(log-log R² = {payload['work_time_r2_log']:.3f}); {payload['seconds_per_gflop']:.3g} s per 10⁹ "
              "work units on this machine.", "",
              "## Mean total work / oracle's, and mean wall time per sequence", "",
              "| method | work / oracle | wall s |", "|---|---:|---:|"]
    for m in sorted(methods, key=lambda m: payload["work_over_oracle"][m]):
        lines.append(f"| `{m}` | {payload['work_over_oracle'][m]:.3f} | {payload['mean_wall_s'][m]:.3f} |")
    lines += ["", "`cumulative.png`: cumulative work over the sequence (mean over test sequences, per family); "
              "`arms.png`: how often each arm was chosen."]
    return "\n".join(lines) + "\n"


def _plots(per_sequence: list[dict[str, Any]], out: Path) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the bench's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({p["family"] for p in per_sequence})
    shown = ["krylov_tuner", "pcgbandit", "best_fixed", "oracle", "pyamg_default", "fixed:none"]
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 4), squeeze=False)
    for ax, family in zip(axes[0], families):
        runs = [p for p in per_sequence if p["family"] == family]
        for name in shown:
            curve = np.mean([np.cumsum(p["figures"][name]["cost"]) for p in runs], axis=0)
            ax.plot(np.arange(1, curve.size + 1), curve, label=name,
                    linestyle="--" if name in ("oracle", "best_fixed") else "-")
        ax.set_title(family)
        ax.set_xlabel("solve")
        ax.set_ylabel("cumulative work (flops)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "cumulative.png", dpi=80)
    plt.close(fig)

    labels = sorted({a for p in per_sequence for m in ("krylov_tuner", "pcgbandit", "oracle")
                     for a in p["figures"][m]["arm"]})
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.27
    for k, name in enumerate(("krylov_tuner", "pcgbandit", "oracle")):
        arms = [a for p in per_sequence for a in p["figures"][name]["arm"]]
        freq = [arms.count(label) / len(arms) for label in labels]
        ax.bar(np.arange(len(labels)) + (k - 1) * width, freq, width, label=name)
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("choice frequency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "arms.png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
