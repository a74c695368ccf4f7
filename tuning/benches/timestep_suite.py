"""The time-step suite runner of ``tunegym bench all``: suite ``timestep-detest`` (issue 19).

Protocol (also in the suite spec, :mod:`tunegym.tuning.suite_specs.timestep`):

1. **Instances**: per DETEST class (the family, the bootstrap's stratum) and test seed, one randomised problem
   ``DetestDistribution([class]).sample(stream(seed, "instances"))``; dev-test seeds, or final-test seeds with
   ``final=True`` (logged in the ledger by ``tunegym bench all --final``).
2. **RK45's work–precision curve** per problem: SciPy ``solve_ivp(method="RK45", rtol=r, atol=r·1e-3)`` for every
   ``r`` of the scale's ``curve_rtols``; global error = relative 2-norm error at ``t_end`` against DOP853 at rtol
   1e-13. :func:`rk45_nfev_at_error` keeps the curve's non-dominated points and interpolates ``log nfev`` linearly
   in ``log error`` (beyond the least accurate point: its nfev; beyond the most accurate point: its nfev, no credit
   for an error RK45 never reaches — until the fix of 2026-12-01 the last segment was extrapolated there).
   Both live in :mod:`tunegym.envs.timestep.ode_controller`, whose training reward uses the same curve.
3. **Methods** at each tolerance of ``rtols`` (atol = rtol·1e-3): ``tuner`` is the deployed tuner
   (``StepSizeTuner.solve_ivp``, default ``pretrained:step-size-ode``); ``fixed`` is the tuned fixed controller
   (:func:`tuned_fixed_controllers`: per rtol, the best of ODEController-v0's arms on the first tune seeds); ``pi``
   is Gustafsson's PI controller (gain 0.9) on the same pair. A failed run counts with error 1.
4. **Claims**: per tolerance and method, ratio = method nfev / RK45 nfev at the method's error, per problem;
   IQM with a stratified bootstrap CI, Wilcoxon p, Holm-corrected across the report (:func:`finalize_claims`).

Writes ``timestep_suite.md``, ``timestep_suite.json`` and ``timestep_suite.png`` into ``out_dir``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.timestep.ode_controller import RK45_ATOL_RATIO as ATOL_RATIO
from tunegym.envs.timestep.ode_controller import rk45_curve, rk45_nfev_at_error
from tunegym.envs.timestep.ode_controller import run_error

__all__ = ["run_suite", "rk45_curve", "rk45_nfev_at_error", "suite_instances", "tuner_point", "pi_point",
           "DEFAULT_TUNER", "METRIC"]

DEFAULT_TUNER = "pretrained:step-size-ode"
METRIC = "rhs_evals_vs_rk45_at_equal_error"


def suite_instances(suite: Any, seeds: Sequence[int]) -> list[Any]:
    """One problem per (family, seed), families in the spec's order."""
    from tunegym.envs.core.seeding import stream

    return [dist.sample(stream(int(seed), "instances"))
            for dist in suite.make_distributions().values() for seed in seeds]


def tuner_point(tuner: Any, instance: Any, rtol: float) -> tuple[int, float, str]:
    """(nfev, global error, stop reason) of the deployed tuner on ``instance`` at ``rtol``."""
    result = tuner.solve_ivp(instance.rhs, (0.0, instance.t_end), instance.y0, rtol=rtol, atol=rtol * ATOL_RATIO)
    return int(result.nfev), run_error(instance, result.y[:, -1], result.success), result.stop_reason


def controller_point(instance: Any, rtol: float, controller: dict[str, Any]) -> tuple[int, float, str]:
    """(nfev, global error, status) of one fixed controller ``{"rule", "safety"}`` of ODEController-v0's arms (the
    process the deployed tuner runs, with its defaults: stiffness detection, 100,000 attempts)."""
    from tunegym.envs.timestep.ode_controller import ODEControllerRun

    run = ODEControllerRun(rtol=rtol, atol=rtol * ATOL_RATIO, rk45_reference=False)
    run.start(instance)
    record = run.solve(controller)
    return int(record.cost), run_error(instance, run.solver.y, record.status == "finished"), record.status


def tuned_fixed_controllers(instances: Sequence[Any], curves: Sequence[Any], rtols: Sequence[float]
                            ) -> dict[str, dict[str, Any]]:
    """Per rtol, the fixed controller (of ODEController-v0's default arms) with the lowest IQM ratio to RK45's curve
    on ``instances`` (tune problems): the baseline with the tuner's own tuning data source and a comparable budget
    (arms × problems solves per rtol), which shows what the tuner's context adds over one tuned controller."""
    from tunegym.envs.timestep.ode_controller import ode_controller_settings
    from tunegym.tuning.stats import iqm

    knob = ode_controller_settings().knob  # the env's own arms, in its order
    arms = [knob.decode(i) for i in range(knob.space.n)]
    best = {}
    for rtol in rtols:
        scores = []
        for arm in arms:
            ratios = [n / rk45_nfev_at_error(c, e) for (n, e, _), c in
                      zip((controller_point(inst, rtol, arm) for inst in instances), curves)]
            scores.append(float(iqm(np.asarray(ratios))))
        best[f"{rtol:.0e}"] = {**arms[int(np.argmin(scores))], "tune_iqm": float(min(scores))}
    return best


def pi_point(instance: Any, rtol: float) -> tuple[int, float, str]:
    """(nfev, global error, status) of Gustafsson's PI controller (gain 0.9) on Dormand–Prince 5(4)."""
    from tunegym.envs.timestep.ode import PIController, integrate

    run = integrate(instance, controller=PIController(), rtol=rtol, atol=rtol * ATOL_RATIO, max_steps=100_000)
    return int(run.rhs_evaluations), run_error(instance, run.y_end, run.status == "ok"), run.status


def _plot(rows: dict[str, dict[str, list[float]]], rtols: Sequence[float], path: Path, title: str) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the time-step suite's plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tunegym.tuning.stats import iqm

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method, marker in (("tuner", "o-"), ("fixed", "^-."), ("pi", "s--")):
        ax.plot(rtols, [iqm(np.asarray(rows[method][f"{r:.0e}"])) for r in rtols], marker, label=method)
    ax.axhline(1.0, color="grey", linestyle=":", label="RK45's curve")
    ax.set_xscale("log")
    ax.set_xlabel("rtol")
    ax.set_ylabel("IQM of nfev / RK45 nfev at equal error")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_suite(suite: Any, scale: str, out_dir: str | Path, *, final: bool = False,
              tuner: str | Any = DEFAULT_TUNER) -> list[Any]:
    """Run ``suite`` (``timestep-detest``) at ``scale``; write the report into ``out_dir``; return the Holm-finalized
    claims (``final_test`` split when ``final``, else ``dev_test``)."""
    from tunegym.agents.step_size_tuner import StepSizeTuner
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.agents.tuners import load_tuner
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.all import ledger_markdown, report_header
    from tunegym.tuning.stats import claims_to_markdown, finalize_claims, paired_claim

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = "final_test" if final else "dev_test"
    seeds = list(suite.seeds(split, scale, final=final))
    rtols = [float(r) for r in suite.size("rtols", scale)]
    curve_rtols = [float(r) for r in suite.size("curve_rtols", scale)]
    deployed = load_tuner(tuner) if isinstance(tuner, (str, Path)) else tuner
    if not isinstance(deployed, StepSizeTuner):
        raise ConfigError(f"{tuner!r} is not a step-size tuner", value=str(tuner))
    instances = suite_instances(suite, seeds)
    strata = [inst.family for inst in instances]
    curves = [rk45_curve(inst, curve_rtols) for inst in instances]
    # the tuned fixed controller: chosen per rtol on as many tune problems as there are test problems
    tune_instances = suite_instances(suite, list(suite.seeds("tune", scale))[:len(seeds)])
    fixed = tuned_fixed_controllers(tune_instances, [rk45_curve(inst, curve_rtols) for inst in tune_instances],
                                    rtols)
    methods = ("tuner", "fixed", "pi")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {m: {} for m in methods}
    ratios: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    raw = []
    for rtol in rtols:
        key = f"{rtol:.0e}"
        for method in methods:
            points = [tuner_point(deployed, inst, rtol) if method == "tuner" else pi_point(inst, rtol)
                      if method == "pi" else controller_point(inst, rtol, fixed[key]) for inst in instances]
            rk45 = [rk45_nfev_at_error(curve, err) for curve, (_, err, _) in zip(curves, points)]
            runs[method][key] = [{"instance_id": inst.instance_id, "problem": inst.problem, "nfev": n,
                                  "error": e, "status": s, "rk45_nfev_at_error": r}
                                 for inst, (n, e, s), r in zip(instances, points, rk45)]
            ratios[method][key] = [n / r for (n, _, _), r in zip(points, rk45)]
            if method == "tuner":
                name = "pretrained:step-size-ode" if tuner == DEFAULT_TUNER else f"tuner {Path(str(tuner)).name}"
            elif method == "fixed":
                name = f"tuned fixed controller ({fixed[key]['rule']} rule, safety {fixed[key]['safety']})"
            else:
                name = "PI controller (gain 0.9)"
            raw.append(paired_claim([n for n, _, _ in points], rk45, strata=strata, seed=len(raw),
                                    method_name=f"{name} rtol={key}", baseline_name="SciPy RK45 curve",
                                    metric=METRIC, domain=suite.domain, suite=suite.name,
                                    suite_version=suite.version, split=split))
    claims = finalize_claims(raw)
    duration = time.perf_counter() - started
    header = report_header(suite, scale, duration, final=final)
    config = {"suite": suite.key, "scale": scale, "split": split, "seeds": seeds, "rtols": rtols,
              "curve_rtols": curve_rtols, "atol": "rtol * 1e-3", "tuner": str(tuner),
              "tuner_env_kwargs": deployed.env_kwargs, "n_per_rtol": len(instances),
              "tuned_fixed_controllers": fixed, "tuned_fixed_tune_seeds": list(suite.seeds("tune", scale))[:len(seeds)]}
    payload = {"config": config, "provenance": header, "versions": versions(),
               "curves": {inst.instance_id: c for inst, c in zip(instances, curves)}, "runs": runs,
               "claims": [c.to_dict() for c in claims], "wall_time_s": duration, "spec": suite.to_dict()}
    atomic_write_bytes(out / "timestep_suite.json", json.dumps(payload, indent=1).encode())
    title = f"{suite.key} {split}, {scale}: {len(instances)} DETEST problems per rtol"
    _plot(ratios, rtols, out / "timestep_suite.png", title)
    lines = [f"# Time-step suite `{suite.key}` — {split}", "", header["markdown"], "", suite.description, "",
             f"{len(instances)} problems per tolerance ({len(seeds)} per DETEST class), tolerances "
             f"{', '.join(f'{r:.0e}' for r in rtols)}, atol = rtol·1e-3; RK45's curve through rtol "
             f"{curve_rtols[0]:.0e}…{curve_rtols[-1]:.0e} ({len(curve_rtols)} runs per problem). Tuner: `{tuner}`.", "",
             "## Claims", "",
             "Ratio: IQM over problems of (method RHS evaluations) / (RK45's RHS evaluations at the method's global "
             "error); < 1 = below RK45's work–precision curve. CI: bootstrap within DETEST classes; p: Wilcoxon "
             "signed-rank, Holm-adjusted over this report. Beside the tuner: the *tuned fixed controller*, per rtol "
             "the one of ODEController-v0's arms (rule × safety) with the lowest IQM ratio on as many tune problems "
             "as there are test problems (what the tuner's context adds over one tuned controller), and "
             "Gustafsson's PI controller.", "", claims_to_markdown(claims),
             "## Per class (tuner, IQM ratio)", "",
             "| rtol | " + " | ".join(sorted(set(strata))) + " | failures |", "|---|" + "---:|" * (len(set(strata)) + 1)]
    for rtol in rtols:
        key = f"{rtol:.0e}"
        cells = []
        for family in sorted(set(strata)):
            values = [v for v, f in zip(ratios["tuner"][key], strata) if f == family]
            cells.append(f"{np.exp(np.mean(np.log(values))):.3f}" if values else "–")
        failures = sum(r["status"] != "finished" for r in runs["tuner"][key])
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {failures} |")
    lines += ["", "(geometric mean per class.)", "", "![ratios](timestep_suite.png)", ""]
    if final:
        lines += ["## Final-test ledger", "", ledger_markdown(out.parent)]
    atomic_write_bytes(out / "timestep_suite.md", "\n".join(lines).encode())
    return claims
