"""``tunegym bench mip``: anytime primal gap of LNS policies vs HiGHS default at equal wall-time budgets.

Test-seed instances (seeds from 100) per generator family; each method gets the same wall-clock budget
per instance (the only honest budget across HiGHS and LNS). Every LNS method runs through the deploy path
(:class:`tunegym.agents.LNSSolver`, start and LP relaxation inside the budget). Reference objective: the
best found by any method on the instance. Writes JSON, Markdown and a gap-over-time plot. Wall time makes the numbers machine-load dependent: run it niced on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


__all__ = ["register", "run"]

TEST_SEEDS = tuple(range(100, 110))
# Sized so that HiGHS (threads=1) does not close them in a 30 s budget on this machine (probed on seed 100:
# benchmarks/mip.md lists HiGHS's gap at the limit).
BENCH_SIZES = {"setcover": dict(n_rows=4000, n_cols=2000), "auction": dict(n_items=600, n_bids=3000),
               "facility": dict(n_customers=400, n_facilities=100), "indset": dict(n_nodes=15000)}


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_deprecated, add_out, add_seeds, merge_seed_text, seed_range_text

    parser = subparsers.add_parser("mip", help="MIP LNS: operator policies vs HiGHS default at equal wall time")
    add_out(parser, default="runs/bench-mip")
    parser.add_argument("--families", default="auction,indset,setcover,facility")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per instance and method")
    add_seeds(parser, default="test=100-101",
              help="test seeds, one instance per family each: test=LOW-HIGH (default test=100-101)")
    add_deprecated(parser, "--test-seeds", "seeds", "--seeds test=100-...", type=int,
                   convert=lambda n, current: merge_seed_text(current, "test", seed_range_text(n)))
    parser.add_argument("--methods", default=None, help="comma list of method names (default: all but singles)")
    parser.add_argument("--singles", action="store_true", help="also run each single operator")
    parser.add_argument("--ppo", default="pretrained:mip-lns", help="operator policy file for the 'ppo' method")
    parser.add_argument("--destroy-rate", type=float, default=0.5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                        help="combine earlier --out DIRs (e.g. a --singles run) into --out, re-scored on one reference")
    parser.set_defaults(func=run)


def _highs_default(inst, budget):
    from tunegym.envs.mip.instances import new_highs  # noqa: F401

    h = inst.to_highs(time_limit=float(budget))
    trace, t0 = [], time.perf_counter()

    def on_improve(event):
        trace.append((time.perf_counter() - t0, float(event.data_out.objective_function_value)))

    h.cbMipImprovingSolution.subscribe(on_improve)
    h.run()
    return trace


def _highs_greedy_start(inst, budget):
    """HiGHS default given the same start as the LNS (the generator's greedy point, via ``setSolution``):
    separates what the start is worth from what the search adds."""
    if inst.feasible_point is None:
        return _highs_default(inst, budget)
    h = inst.to_highs(time_limit=float(budget))
    t0 = time.perf_counter()
    start = np.asarray(inst.feasible_point, dtype=float)
    trace = [(time.perf_counter() - t0, float(inst.cost @ start))]

    def on_improve(event):
        trace.append((time.perf_counter() - t0, float(event.data_out.objective_function_value)))

    h.cbMipImprovingSolution.subscribe(on_improve)
    h.setSolution(inst.num_cols, np.arange(inst.num_cols, dtype=np.int32), start)
    h.run()
    return trace


def _balans_available() -> bool:
    try:
        import balans.solver  # noqa: F401
        import pyscipopt  # noqa: F401
    except Exception:  # noqa: BLE001 - an optional peer
        return False
    return True


def _balans(inst, budget, seed):
    """The Balans package (SCIP sub-MIPs, its default config: 16 arms, Softmax-style MAB, graded rewards)
    with its per-iteration time limits scaled down to the budget (paper: 60 s per sub-MIP, 1 h)."""
    import tempfile

    from alns.stop import MaxRuntime
    from balans.solver import Balans

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.mps"
        inst.to_highs().writeModel(path)
        first = min(1.0, budget / 5)
        solver = Balans(seed=seed + 1, stop=MaxRuntime(budget - first), mip_solver="scip", n_mip_jobs=1,
                        timelimit_first_solution=first, timelimit_alns_iteration=min(1.0, budget / 5),
                        timelimit_local_branching_iteration=min(1.0, budget / 5),
                        timelimit_crossover_random_feasible=min(1.0, budget / 5))
        t0 = time.perf_counter()
        result = solver.solve(path)
        total = time.perf_counter() - t0
    times = np.cumsum(result.statistics.runtimes)
    objectives = np.minimum.accumulate(np.asarray(result.statistics.objectives, float)[-len(times):])
    times = times * (total / max(times[-1], 1e-9)) if len(times) else times  # include setup time
    return [(float(t), float(v)) for t, v in zip(times, objectives)]


class _Fixed:
    def __init__(self, arm):
        self.arm = arm

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return self.arm, state


class _Random:
    def __init__(self, n, seed):
        self.n, self.rng = n, np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return int(self.rng.integers(self.n)), state


def _lns(inst, budget, tuner, seed, destroy_rate, reward="graded", levels=None, interleave=False):
    """One LNS run through the deploy path (:class:`LNSSolver`): trace of (seconds, best objective), in
    minimisation form like HiGHS's trace. ``interleave=False`` (every method but ``lns_interleaved``): the LNS
    alone, as published in ``benchmarks/mip.md``; the interleaved solver's own comparison is the suite
    ``mip-deploy-heldout`` (:mod:`tunegym.tuning.benches.mip_suite`)."""
    from tunegym.agents.lns_solver import LNSSolver, lns_tuner
    from tunegym.agents.tuner import Tuner
    from tunegym.envs.mip.env import BALANS_REWARDS

    if not isinstance(tuner, Tuner) and not getattr(tuner, "env_id", None):  # a policy made here: record its env
        tuner = lns_tuner(tuner, reward=reward, reward_levels=levels or BALANS_REWARDS, destroy_rate=destroy_rate)
    solver = LNSSolver(tuner, destroy_rate=destroy_rate, seed=seed, interleave=interleave)
    sol = solver.solve(inst, time_limit=budget)
    return [(t, inst.objective_sign * v) for t, v in sol.trace], sol


def _gap_curve(trace, reference, grid):
    from tunegym.envs.mip.lns import primal_gap

    out = []
    for t in grid:
        vals = [v for (s, v) in trace if s <= t]
        out.append(primal_gap(min(vals) if vals else None, reference))
    return np.array(out)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.bandits.classic import UCB1, EpsilonGreedy, Softmax, ThompsonSampling
    from tunegym.agents.tuners import load_tuner
    from tunegym.envs.mip.instances import GENERATORS
    from tunegym.envs.mip.lns import OPERATORS

    out = Path(args.out)
    if args.merge:
        return merge(args.merge, out)
    out.mkdir(parents=True, exist_ok=True)
    families = [f for f in args.families.split(",") if f]
    budget = 1.0 if args.smoke else args.budget
    from tunegym.envs.mip.instances import TINY

    sizes = TINY if args.smoke else BENCH_SIZES
    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.tuning.commands.common import evaluation_seeds

    seeds = evaluation_seeds(getattr(args, "seeds", None) or f"test=100-{99 + getattr(args, 'test_seeds', 2)}")
    seeds = tuple(seeds[:1] if args.smoke else seeds)
    n = len(OPERATORS)
    methods = {
        "highs_default": None,
        "highs_greedy_start": "highs_greedy_start",
        "random_operator": lambda s: (_Random(n, s), "graded", None),
        "balans_softmax_8421": lambda s: (Softmax(n, seed=s), "graded", (8, 4, 2, 1)),
        "balans_thompson_1100": lambda s: (ThompsonSampling(n, seed=s), "graded", (1, 1, 0, 0)),
        "ours_epsilon_greedy": lambda s: (EpsilonGreedy(n, {"epsilon": 0.1}, seed=s), "improvement", None),
        "ours_ucb1": lambda s: (UCB1(n, seed=s), "improvement", None),
        "ppo": lambda s: (load_tuner(args.ppo), "graded", None),
        # the deploy default: Balans's Softmax interleaved with HiGHS on the full model (issue #19)
        "lns_interleaved": lambda s: (Softmax(n, seed=s), "graded", (8, 4, 2, 1), True),
    }
    if _balans_available():
        methods["balans_package_scip"] = "balans"
    if args.singles:
        for k, op in enumerate(OPERATORS):
            methods[f"single_{op}"] = (lambda k: lambda s: (_Fixed(k), "graded", None))(k)
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - set(methods))
        if unknown:
            from tunegym.envs.core.errors import ConfigError
            raise ConfigError(f"unknown methods {unknown}; choices: {sorted(methods)}", value=unknown)
        methods = {k: v for k, v in methods.items() if k in wanted}
    results = {}
    for family in families:
        for seed in seeds:
            inst = GENERATORS[family](np.random.default_rng(seed), **sizes[family])
            traces, meta = {}, {}
            for name, make in methods.items():
                if make is None:
                    traces[name] = _highs_default(inst, budget)
                elif make == "highs_greedy_start":
                    traces[name] = _highs_greedy_start(inst, budget)
                elif make == "balans":
                    try:
                        traces[name] = _balans(inst, budget, seed)
                    except Exception as exc:  # noqa: BLE001 - a peer package's crash is a result, not ours
                        traces[name] = []
                        meta[name] = {"error": f"{type(exc).__name__}: {exc}"}
                else:
                    policy, reward, levels, *interleave = make(seed)
                    traces[name], sol = _lns(inst, budget, policy, seed, args.destroy_rate, reward, levels,
                                             bool(interleave and interleave[0]))
                    meta[name] = {"iterations": sol.iterations, "wall_time": sol.wall_time,
                                  "highs_time": sol.highs_time, "operator_counts": sol.operator_counts}
                print(f"{family} seed {seed} {name}: best {min([v for _, v in traces[name]], default=None)}"
                      f"{' ' + meta[name]['error'] if 'error' in meta.get(name, {}) else ''}", flush=True)
            for name, tr in traces.items():
                results.setdefault(family, {}).setdefault(name, []).append(
                    {"seed": seed, "instance_id": inst.instance_id, "trace": tr, **meta.get(name, {})})
            # partial results after every instance: a crash later does not lose the finished ones
            atomic_write_bytes(out / "mip.partial.json", json.dumps({"budget": budget, "results": results}).encode())
    header = (f"destroy rate {args.destroy_rate}; ppo = {args.ppo}; test seeds {list(seeds)}; sizes "
              f"{json.dumps({f: sizes[f] for f in families})}. Balans package (SCIP): "
              f"{'run' if _balans_available() else 'not installed, not run'}.")
    write_report(out, results, budget, header, {"seeds": list(seeds), "sizes": {f: sizes[f] for f in families},
                                                 "destroy_rate": args.destroy_rate, "ppo": args.ppo})
    (out / "mip.partial.json").unlink(missing_ok=True)  # the report now holds every result
    print(f"results in {out}/: mip.json, mip.md" + (", mip_gap.png" if (out / "mip_gap.png").is_file() else ""))
    return 0


def score_runs(results: dict, budget: float) -> dict:
    """Gap curves and primal integrals against each instance's reference: the best objective any method found.

    ``results[family][method]`` is a list of runs ``{"seed", "trace": [(t, objective), ...], ...}``; the
    reference is recomputed over every method present, so results of separate invocations (``--merge``)
    are scored on one scale.
    """
    grid = np.linspace(0, budget, 51)
    for family, by_method in results.items():
        seeds = sorted({r["seed"] for runs in by_method.values() for r in runs})
        for seed in seeds:
            runs = [r for rs in by_method.values() for r in rs if r["seed"] == seed]
            ref = min((v for r in runs for _, v in r["trace"]), default=None)
            for r in runs:
                curve = _gap_curve(r["trace"], ref, grid)
                trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
                r.update(reference=ref, curve=curve.tolist(), final_gap=float(curve[-1]),
                         primal_integral=float(trapezoid(curve, grid)))
    return results


def write_report(out: Path, results: dict, budget: float, header: str, meta: dict) -> None:
    """Score ``results`` and write ``mip.json``, ``mip.md`` (atomically) and ``mip_gap.png``."""
    import os

    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.stats import iqm, stratified_bootstrap_ci

    score_runs(results, budget)
    load = os.getloadavg()
    lines = ["# tunegym bench mip\n", f"budget {budget} s per instance and method; load average at the end "
             f"{load[0]:.2f} (1 min) on {os.cpu_count()} cores; {header}\n",
             "| family | method | final gap IQM [95% CI] | primal integral (s) IQM [95% CI] |", "|---|---|---|---|"]
    summary = {}
    for family, by_method in results.items():
        for name, runs in by_method.items():
            g = np.array([r["final_gap"] for r in runs])
            pi = np.array([r["primal_integral"] for r in runs])
            gl, gh = stratified_bootstrap_ci(g) if len(g) > 1 else (g[0], g[0])
            pl, ph = stratified_bootstrap_ci(pi) if len(pi) > 1 else (pi[0], pi[0])
            summary[f"{family}/{name}"] = {"final_gap_iqm": iqm(g), "primal_integral_iqm": iqm(pi)}
            lines.append(f"| {family} | {name} | {iqm(g):.4f} [{gl:.4f}, {gh:.4f}] | "
                         f"{iqm(pi):.3f} [{pl:.3f}, {ph:.3f}] |")
    report = {"budget": budget, **meta, "summary": summary, "versions": versions(), "results": results}
    atomic_write_bytes(out / "mip.json", json.dumps(report, indent=1, default=str).encode())
    atomic_write_bytes(out / "mip.md", ("\n".join(lines) + "\n").encode())
    try:
        from tunegym.envs.core.extras import require

        matplotlib = require("matplotlib", "report", "the bench's plots")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        grid = np.linspace(0, budget, 51)
        fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
        for ax, (family, by_method) in zip(axes[0], results.items()):
            for name, runs in by_method.items():
                ax.plot(grid, np.mean([r["curve"] for r in runs], axis=0), label=name)
            ax.set(title=family, xlabel="wall time (s)", ylabel="mean primal gap", yscale="symlog")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "mip_gap.png", dpi=100)
    except Exception as exc:  # noqa: BLE001 - plotting is optional
        print(f"no plot: {exc}")
    print("\n".join(lines))


def merge(dirs: list[str], out: Path) -> int:
    """Combine the ``mip.json`` of separate runs (same budget and seeds) and re-score on one reference."""
    from tunegym.envs.core.errors import ConfigError

    merged: dict = {}
    budgets, metas = set(), []
    for d in dirs:
        path = Path(d) / "mip.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {str(path)!r}: {exc}", value=str(path)) from exc
        budgets.add(float(data["budget"]))
        metas.append({k: data.get(k) for k in ("seeds", "sizes", "destroy_rate", "ppo")})
        for family, by_method in data["results"].items():
            for name, runs in by_method.items():
                merged.setdefault(family, {}).setdefault(name, []).extend(runs)
    if len(budgets) != 1 or any(m["sizes"] != metas[0]["sizes"] for m in metas):
        raise ConfigError(f"--merge needs runs with one budget and the same sizes, got budgets {sorted(budgets)}",
                          value=dirs)
    out.mkdir(parents=True, exist_ok=True)
    header = (f"merged from {', '.join(dirs)} (reference re-computed over all of them); destroy rate "
              f"{metas[0]['destroy_rate']}; ppo = {metas[0]['ppo']}; test seeds {metas[0]['seeds']}; sizes "
              f"{json.dumps(metas[0]['sizes'])}.")
    write_report(out, merged, budgets.pop(), header, {**metas[0], "merged_from": dirs})
    return 0
