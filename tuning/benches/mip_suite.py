"""The MIP suite runner of ``tunegym bench all``: suite ``mip-deploy-heldout`` (issue #19, the deploy path).

Per test seed and held-out family: generate the instance, write it to MPS with highspy's ``writeModel`` and
solve the *file* as a user would, four times:

- ``highs_default``: ``highspy.Highs`` reads the file, ``threads=1``, under the node budget (``mip_max_nodes``)
  and, separately, under the wall-time budget (``time_limit``); its improving solutions are traced by
  ``cbMipImprovingSolution``.
- ``lns_interleaved``: ``LNSSolver()`` (the shipped default: Softmax bandit, LNS interleaved with HiGHS on the
  full model) under the node budget (``work_limit``, ``time_limit=None``: deterministic) and under the wall
  budget (``time_limit``).

Reference objective of an instance: the best any of its runs found (a proven optimum where a run proved one).
Primal integral: the primal gap (Berthold) integrated over the budget axis, divided by the budget (1 before the
first solution), so it lies in [0, 1]. "Hard" instances are those HiGHS default does not close (status
optimal) within the budget, separately for each budget; the others are "solved".

Claims (one report, Holm-corrected together, strata = families): ``lns_interleaved`` against
``highs_default`` on the primal integral of hard instances and on the final gap of solved instances, for the
node budget (``*_work``) and the wall budget (``*_wall``). Goal figures beside them: the share of hard
instances where the LNS's integral is below HiGHS's (goal >= 70%) and the solved instances where the LNS's
final gap exceeds 1.2x HiGHS's (goal: none). Writes ``mip.md``, ``mip.json`` and ``mip_integral.png``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_suite", "highs_default", "lns_interleaved", "score", "GOAL_SHARE", "GOAL_FACTOR"]

GOAL_SHARE = 0.7  # share of hard instances on which the LNS's primal integral must be below HiGHS's
GOAL_FACTOR = 1.2  # the LNS's final gap at most this times HiGHS's on solved instances
INTEGRAL_SHIFT, GAP_SHIFT = 1e-3, 1e-4  # published with the claims: integrals and gaps can be 0


def highs_default(path: str | Path, *, time_limit: float | None = None, work_limit: int | None = None) -> dict:
    """HiGHS default (threads=1) on a model file, as a user runs it: trace, status, final objective."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.readModel(str(path))
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if work_limit is not None:
        h.setOptionValue("mip_max_nodes", int(work_limit))
    trace: list[tuple[float, int, float]] = []
    t0 = time.perf_counter()

    def on_improve(event):
        out = event.data_out
        trace.append((time.perf_counter() - t0, max(int(out.mip_node_count), 1), float(out.objective_function_value)))

    h.cbMipImprovingSolution.subscribe(on_improve)
    h.run()
    info = h.getInfo()
    wall = time.perf_counter() - t0
    return {"trace": trace, "optimal": h.getModelStatus() == highspy.HighsModelStatus.kOptimal, "wall": wall,
            "work": max(int(info.mip_node_count), 1), "objective": float(info.objective_function_value)
            if info.primal_solution_status == 2 else None,
            "dual_bound": float(info.mip_dual_bound), "lp_iterations": int(info.simplex_iteration_count)}


def lns_interleaved(path: str | Path, *, time_limit: float | None = None, work_limit: int | None = None) -> dict:
    """The shipped default ``LNSSolver`` (interleaved with HiGHS) on a model file: trace, status, objective."""
    from tunegym.agents.lns_solver import LNSSolver

    solver = LNSSolver(seed=0, sub_time_limit=None if time_limit is None else 1.0)
    sol = solver.solve(path, time_limit=time_limit, work_limit=work_limit)
    trace = [(t, int(work_of_value(sol.work_trace, v)), float(v)) for t, v in sol.trace]
    return {"trace": trace, "optimal": sol.status == "optimal", "wall": sol.wall_time, "work": sol.work,
            "objective": sol.objective, "dual_bound": sol.dual_bound, "iterations": sol.iterations,
            "highs_solutions": sol.highs_solutions, "operator_counts": sol.operator_counts}


def work_of_value(work_trace: Sequence[tuple[int, float]], value: float) -> int:
    """The work at which ``value`` entered the best-solution trace."""
    for work, v in work_trace:
        if v == value:
            return work
    return work_trace[-1][0] if work_trace else 0


def _curve_integral(points: Sequence[tuple[float, float]], reference: float, budget: float) -> tuple[float, float]:
    """(primal integral / budget, final gap) of a trace of (axis, minimisation objective) points."""
    from tunegym.envs.mip.lns import primal_gap

    points = sorted((min(max(float(a), 0.0), budget), float(v)) for a, v in points)
    total, last_axis, gap = 0.0, 0.0, 1.0
    for axis, value in points:
        total += gap * (axis - last_axis)
        last_axis = axis
        gap = min(gap, primal_gap(value, reference))
    total += gap * (budget - last_axis)
    return total / budget, gap


def score(runs: Mapping[str, dict], sign: float, budget: float, axis: int) -> dict[str, dict[str, float]]:
    """Primal integral and final gap of each method's run against the best objective any run found."""
    values = [sign * p[2] for r in runs.values() for p in r["trace"]]
    values += [sign * r["objective"] for r in runs.values() if r["objective"] is not None]
    reference = min(values) if values else None
    out = {}
    for name, run in runs.items():
        points = [(p[axis], sign * p[2]) for p in run["trace"]]
        if reference is None:
            out[name] = {"integral": 1.0, "final_gap": 1.0}
            continue
        integral, gap = _curve_integral(points, reference, budget)
        if run["objective"] is not None:  # the final objective is known even where the trace missed a point
            from tunegym.envs.mip.lns import primal_gap

            gap = min(gap, primal_gap(sign * run["objective"], reference))
        out[name] = {"integral": integral, "final_gap": gap}
    return out


def _plot(rows: Sequence[dict], path: Path, title: str) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the MIP suite's plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, budget in zip(axes, ("work", "wall")):
        for family in sorted({r["family"] for r in rows}):
            pts = [(r[budget]["highs_default"]["integral"], r[budget]["lns_interleaved"]["integral"])
                   for r in rows if r["family"] == family]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=family, s=18)
        hi = max([1e-3] + [max(r[budget]["highs_default"]["integral"], r[budget]["lns_interleaved"]["integral"])
                           for r in rows])
        ax.plot([0, hi], [0, hi], color="gray", lw=0.8)
        ax.set(xlabel="HiGHS default primal integral", ylabel="LNS (interleaved) primal integral",
               title=f"{budget} budget (below the diagonal: LNS better)")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _claims(rows: Sequence[dict], suite: Any, split: str) -> tuple[list[Any], dict[str, Any]]:
    from tunegym.tuning.stats import finalize_claims, paired_claim

    raw, goals = [], {}
    for budget in ("work", "wall"):
        hard = [r for r in rows if not r[budget]["highs_optimal"]]
        solved = [r for r in rows if r[budget]["highs_optimal"]]
        for subset, metric, shift, label in ((hard, "integral", INTEGRAL_SHIFT, "primal_integral_hard"),
                                             (solved, "final_gap", GAP_SHIFT, "final_gap_solved")):
            if not subset:
                continue
            raw.append(paired_claim(
                [r[budget]["lns_interleaved"][metric] for r in subset],
                [r[budget]["highs_default"][metric] for r in subset],
                strata=[r["family"] for r in subset], shift=shift, seed=len(raw), method_name="lns_interleaved",
                baseline_name="highs_default", metric=f"{label}_{budget}", domain=suite.domain, suite=suite.name,
                suite_version=suite.version, split=split))
        wins = [r[budget]["lns_interleaved"]["integral"] < r[budget]["highs_default"]["integral"] for r in hard]
        over = [r["instance"] for r in solved
                if r[budget]["lns_interleaved"]["final_gap"] > GOAL_FACTOR * r[budget]["highs_default"]["final_gap"]
                + 1e-12]
        worst = max([r[budget]["lns_interleaved"]["final_gap"] - GOAL_FACTOR * r[budget]["highs_default"]["final_gap"]
                     for r in solved], default=0.0)
        goals[budget] = {"hard": len(hard), "solved": len(solved),
                         "hard_share_lns_better": float(np.mean(wins)) if wins else None,
                         "solved_over_1.2x": over, "solved_worst_excess_gap": worst,
                         "lns_optimal_on_solved": sum(r[budget]["lns_optimal"] for r in solved),
                         "lns_wall_over_highs_on_solved": [r[budget]["lns_wall"] / max(r[budget]["highs_wall"], 1e-9)
                                                           for r in solved]}
    return finalize_claims(raw), goals


def _markdown(suite: Any, payload: Mapping[str, Any], claims: Sequence[Any], header: str) -> str:
    from tunegym.tuning.stats import claims_to_markdown

    config, goals = payload["config"], payload["goals"]
    lines = [f"# MIP suite `{suite.key}` — {config['split']}", "", header, "", suite.description, "",
             f"Test seeds {config['test_seeds']} per family; node budgets {config['work_nodes']}; wall budget "
             f"{config['budget_s']} s; every instance written to MPS and read back. Primal integral = gap "
             "integrated over the budget / budget (in [0, 1]).", "", "## Claims", "",
             "Ratio: IQM over instances of (LNS + shift) / (HiGHS + shift); CI: bootstrap within families; p: "
             "Wilcoxon signed-rank, Holm-adjusted over this report. `_work`: deterministic node budget (primary); "
             "`_wall`: wall-time budget (what a user experiences, load-dependent).", "",
             claims_to_markdown(claims) if claims else "No claims (no instance in either group).\n",
             "## Goals", "",
             "| budget | hard (HiGHS not closed) | LNS integral below HiGHS on hard (goal ≥ 70%) | solved by HiGHS | "
             "solved with LNS gap > 1.2× HiGHS's (goal: none) | LNS proved optimal on solved | LNS wall / HiGHS "
             "wall on solved (median) |", "|---|---:|---:|---:|---|---:|---:|"]
    for budget in ("work", "wall"):
        g = goals[budget]
        share = "–" if g["hard_share_lns_better"] is None else f"{g['hard_share_lns_better']:.0%}"
        ratios = g["lns_wall_over_highs_on_solved"]
        lines.append(f"| {budget} | {g['hard']} | {share} | {g['solved']} | "
                     f"{', '.join(g['solved_over_1.2x']) or 'none'} | {g['lns_optimal_on_solved']} | "
                     f"{np.median(ratios):.2f} |" if ratios else
                     f"| {budget} | {g['hard']} | {share} | {g['solved']} | "
                     f"{', '.join(g['solved_over_1.2x']) or 'none'} | {g['lns_optimal_on_solved']} | – |")
    lines += ["", "## Per instance", "",
              "| instance | budget | HiGHS closed | HiGHS integral | LNS integral | HiGHS final gap | LNS final gap | "
              "HiGHS wall (s) | LNS wall (s) | LNS status |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in payload["rows"]:
        for budget in ("work", "wall"):
            b = r[budget]
            lines.append(f"| {r['instance']} | {budget} | {'yes' if b['highs_optimal'] else 'no'} | "
                         f"{b['highs_default']['integral']:.4f} | {b['lns_interleaved']['integral']:.4f} | "
                         f"{b['highs_default']['final_gap']:.2e} | {b['lns_interleaved']['final_gap']:.2e} | "
                         f"{b['highs_wall']:.2f} | {b['lns_wall']:.2f} | {'optimal' if b['lns_optimal'] else '–'} |")
    lines += ["", "![primal integrals](mip_integral.png)", ""]
    return "\n".join(lines) + "\n"


def run_suite(suite: Any, scale: str, out_dir: str | Path, *, final: bool = False) -> list[Any]:
    """Run ``mip-deploy-heldout`` at ``scale``; write ``mip.md``, ``mip.json``, ``mip_integral.png`` into
    ``out_dir``; return the report's Holm-finalized claims (``final_test`` seeds when ``final``)."""
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.benches.all import report_header

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = "final_test" if final else "dev_test"
    seeds = list(suite.seeds(split, scale, final=final))
    budget_s = float(suite.size("budget_s", scale))
    work_nodes = dict(suite.size("work_nodes", scale))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, dist in suite.make_distributions().items():
            for seed in seeds:
                inst = dist.sample(np.random.default_rng(seed))
                path = Path(tmp) / f"{family}-{seed}.mps"
                inst.to_highs().writeModel(str(path))  # the user's file; from here on only the file is used
                row: dict[str, Any] = {"instance": f"{family}-{seed}", "family": family, "seed": seed,
                                       "cols": inst.num_cols, "rows": inst.num_rows}
                for budget, kwargs, axis, size in (("work", {"work_limit": work_nodes[family]}, 1,
                                                    float(work_nodes[family])),
                                                   ("wall", {"time_limit": budget_s}, 0, budget_s)):
                    runs = {"highs_default": highs_default(path, **kwargs),
                            "lns_interleaved": lns_interleaved(path, **kwargs)}
                    scores = score(runs, inst.objective_sign, size, axis)
                    row[budget] = {**scores, "highs_optimal": runs["highs_default"]["optimal"],
                                   "lns_optimal": runs["lns_interleaved"]["optimal"],
                                   "highs_wall": runs["highs_default"]["wall"], "lns_wall": runs["lns_interleaved"]["wall"],
                                   "runs": runs}
                    print(f"mip suite: {row['instance']} {budget}: HiGHS {scores['highs_default']['integral']:.4f} "
                          f"(closed {runs['highs_default']['optimal']}) LNS {scores['lns_interleaved']['integral']:.4f}"
                          f" ({'optimal' if runs['lns_interleaved']['optimal'] else 'open'})", flush=True)
                rows.append(row)
                atomic_write_bytes(out / "mip.partial.json", json.dumps(rows, default=str).encode())
    claims, goals = _claims(rows, suite, split)
    duration = time.perf_counter() - started
    header = report_header(suite, scale, duration, final=final)
    config = {"suite": suite.key, "scale": scale, "split": split, "test_seeds": seeds, "budget_s": budget_s,
              "work_nodes": work_nodes, "families": suite.families(), "methods": list(suite.methods)}
    payload = {"config": config, "provenance": header, "versions": versions(), "rows": rows, "goals": goals,
               "claims": [c.to_dict() for c in claims], "wall_time_s": duration, "spec": suite.to_dict()}
    atomic_write_bytes(out / "mip.json", json.dumps(payload, indent=1, default=str).encode())
    try:
        _plot(rows, out / "mip_integral.png", f"{suite.key} {split}, {scale}")
    except Exception as exc:  # noqa: BLE001 - the plot is optional
        print(f"mip suite: no plot: {exc}")
    atomic_write_bytes(out / "mip.md", _markdown(suite, payload, claims, header["markdown"]).encode())
    (out / "mip.partial.json").unlink(missing_ok=True)
    return claims
