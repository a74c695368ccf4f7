"""The time-step suite runner of ``tunegym bench all``: suite ``timestep-detest`` (issue 19).

Protocol (also in the suite spec, :mod:`tunegym.tuning.suite_specs.timestep`):

1. **Instances**: per DETEST class (the family, the bootstrap's stratum) and test seed, one randomised problem
   ``DetestDistribution([class]).sample(stream(seed, "instances"))``; dev-test seeds, or final-test seeds with
   ``final=True`` (logged in the ledger by ``tunegym bench all --final``).
2. **RK45's work–precision curve** per problem: SciPy ``solve_ivp(method="RK45", rtol=r, atol=r·1e-3)`` for every
   ``r`` of the scale's ``curve_rtols``; global error = relative 2-norm error at ``t_end`` against DOP853 at rtol
   1e-13. :func:`rk45_nfev_at_error` keeps the curve's non-dominated points and interpolates ``log nfev`` linearly
   in ``log error`` (beyond the most accurate point: the last segment's slope; beyond the least accurate: its nfev).
3. **Methods** at each tolerance of ``rtols`` (atol = rtol·1e-3): ``tuner`` is the deployed tuner
   (``StepSizeTuner.solve_ivp``, default ``pretrained:step-size-ode``), ``pi`` is Gustafsson's PI controller
   (gain 0.9) on the same pair. A failed run counts with error 1.
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

__all__ = ["run_suite", "rk45_curve", "rk45_nfev_at_error", "suite_instances", "tuner_point", "pi_point",
           "DEFAULT_TUNER", "METRIC"]

DEFAULT_TUNER = "pretrained:step-size-ode"
METRIC = "rhs_evals_vs_rk45_at_equal_error"
ATOL_RATIO = 1e-3
#: errors below this are round-off: floored so that a log stays finite
ERROR_FLOOR = 1e-16


def suite_instances(suite: Any, seeds: Sequence[int]) -> list[Any]:
    """One problem per (family, seed), families in the spec's order."""
    from tunegym.envs.core.seeding import stream

    return [dist.sample(stream(int(seed), "instances"))
            for dist in suite.make_distributions().values() for seed in seeds]


def _error(instance: Any, y_end: Any, success: bool) -> float:
    from tunegym.envs.timestep.ode import global_error

    return max(global_error(instance, y_end), ERROR_FLOOR) if success else 1.0


#: RK45 steps after which a curve run counts as failed (error 1): at rtol 1e-1 SciPy's RK45 can leave a
#: DETEST B1 orbit, grow without bound and crawl on (solve_ivp has no step limit); such a point is dominated anyway
RK45_MAX_STEPS = 100_000


def rk45_curve(instance: Any, rtols: Sequence[float]) -> list[tuple[int, float]]:
    """(nfev, global error) of SciPy RK45 at each rtol (atol = rtol·1e-3): ``solve_ivp``'s own loop over
    :class:`scipy.integrate.RK45` steps, bounded by :data:`RK45_MAX_STEPS`."""
    from scipy.integrate import RK45

    points = []
    for rtol in rtols:
        solver = RK45(instance.rhs, 0.0, np.asarray(instance.y0, float), instance.t_end, rtol=rtol,
                      atol=rtol * ATOL_RATIO)
        steps = 0
        while solver.status == "running" and steps < RK45_MAX_STEPS:
            solver.step()
            steps += 1
        points.append((int(solver.nfev), _error(instance, solver.y, solver.status == "finished")))
    return points


def rk45_nfev_at_error(curve: Sequence[tuple[int, float]], error: float) -> float:
    """RK45's RHS evaluations for ``error`` on its work–precision curve ``curve`` (see the module docstring)."""
    envelope: list[tuple[int, float]] = []
    for nfev, err in sorted(curve):
        if not envelope or err < envelope[-1][1]:
            envelope.append((nfev, err))
    log_err = np.log([e for _, e in envelope])
    log_nfev = np.log([n for n, _ in envelope])
    x = math.log(max(error, ERROR_FLOOR))
    if x >= log_err[0]:
        return float(math.exp(log_nfev[0]))
    if x <= log_err[-1]:
        if len(envelope) == 1:
            return float(math.exp(log_nfev[-1]))
        slope = (log_nfev[-1] - log_nfev[-2]) / (log_err[-1] - log_err[-2])
        return float(math.exp(log_nfev[-1] + slope * (x - log_err[-1])))
    return float(math.exp(np.interp(x, log_err[::-1], log_nfev[::-1])))


def tuner_point(tuner: Any, instance: Any, rtol: float) -> tuple[int, float, str]:
    """(nfev, global error, stop reason) of the deployed tuner on ``instance`` at ``rtol``."""
    result = tuner.solve_ivp(instance.rhs, (0.0, instance.t_end), instance.y0, rtol=rtol, atol=rtol * ATOL_RATIO)
    return int(result.nfev), _error(instance, result.y[:, -1], result.success), result.stop_reason


def pi_point(instance: Any, rtol: float) -> tuple[int, float, str]:
    """(nfev, global error, status) of Gustafsson's PI controller (gain 0.9) on Dormand–Prince 5(4)."""
    from tunegym.envs.timestep.ode import PIController, integrate

    run = integrate(instance, controller=PIController(), rtol=rtol, atol=rtol * ATOL_RATIO, max_steps=100_000)
    return int(run.rhs_evaluations), _error(instance, run.y_end, run.status == "ok"), run.status


def _plot(rows: dict[str, dict[str, list[float]]], rtols: Sequence[float], path: Path, title: str) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the time-step suite's plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tunegym.tuning.stats import iqm

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method, marker in (("tuner", "o-"), ("pi", "s--")):
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
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"tuner": {}, "pi": {}}
    ratios: dict[str, dict[str, list[float]]] = {"tuner": {}, "pi": {}}
    raw = []
    for rtol in rtols:
        key = f"{rtol:.0e}"
        for method in ("tuner", "pi"):
            points = [tuner_point(deployed, inst, rtol) if method == "tuner" else pi_point(inst, rtol)
                      for inst in instances]
            rk45 = [rk45_nfev_at_error(curve, err) for curve, (_, err, _) in zip(curves, points)]
            runs[method][key] = [{"instance_id": inst.instance_id, "problem": inst.problem, "nfev": n,
                                  "error": e, "status": s, "rk45_nfev_at_error": r}
                                 for inst, (n, e, s), r in zip(instances, points, rk45)]
            ratios[method][key] = [n / r for (n, _, _), r in zip(points, rk45)]
            name = "pretrained:step-size-ode" if method == "tuner" and tuner == DEFAULT_TUNER else (
                f"tuner {Path(str(tuner)).name}" if method == "tuner" else "PI controller (gain 0.9)")
            raw.append(paired_claim([n for n, _, _ in points], rk45, strata=strata, seed=len(raw),
                                    method_name=f"{name} rtol={key}", baseline_name="SciPy RK45 curve",
                                    metric=METRIC, domain=suite.domain, suite=suite.name,
                                    suite_version=suite.version, split=split))
    claims = finalize_claims(raw)
    duration = time.perf_counter() - started
    header = report_header(suite, scale, duration, final=final)
    config = {"suite": suite.key, "scale": scale, "split": split, "seeds": seeds, "rtols": rtols,
              "curve_rtols": curve_rtols, "atol": "rtol * 1e-3", "tuner": str(tuner),
              "tuner_env_kwargs": deployed.env_kwargs, "n_per_rtol": len(instances)}
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
             "signed-rank, Holm-adjusted over this report.", "", claims_to_markdown(claims),
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
