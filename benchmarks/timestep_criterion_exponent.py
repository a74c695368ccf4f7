"""Is ``dt = η·τ`` the right shape of step criterion? A state-dependent family ``dt = η·τ·(τ/t_ref)^β`` (issue 8).

``τ`` is the Hermite kernel's criterion (min over pairs of collision and free-fall time, ``envs/timestep/nbody.py``)
and ``t_ref = G M^{5/2} / (2|E0|)^{3/2}`` the system's crossing time, so ``β`` is scale-free: ``β > 0`` spends
relatively more steps when ``τ`` is short (close encounters, pericentres), ``β < 0`` fewer. ``β = 0`` is the fixed-η
criterion of ThreeBody-v0. Unlike switching η between 0.1 yr intervals (``timestep_switching.py``), ``β`` changes
the step as a smooth function of the state, the way the criterion itself does, so it does not pay the switching
cost; it is the natural family a learned per-step controller would explore. For each ``β`` an η grid traces a
cost–accuracy front (30 yr, paper instances, tune seeds only); the gap is the median log10 |ΔE/E0| minus the β=0
front's at the same mean cost (log-log interpolation; negative = better than fixed η).

    nice python benchmarks/timestep_criterion_exponent.py --out benchmarks/timestep_results   # ≈6 min here

The family is the integrator's own ``criterion_exponent`` (``simulate(..., criterion_exponent=β)``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from tunegym.agents.tuner_io import atomic_write_bytes
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.nbody import simulate


def per_instance_oracle(runs: list[dict], betas: list[float], eta_ref: float = 1e-3) -> dict[str, float]:
    """Per instance, at the force count β=0 spends with ``eta_ref``: the log10 error each β's own η-curve reaches at
    that same count (log-log interpolation), minus β=0's. Medians over instances per β, and of the best β per
    instance (the hindsight oracle of a controller that picks β, and η to match the cost, per instance)."""
    gains: dict[float, list[float]] = {b: [] for b in betas}
    best: list[float] = []
    for seed in sorted({r["seed"] for r in runs}):
        mine = [r for r in runs if r["seed"] == seed and r["evaluations"] > 0]
        ref = [r for r in mine if r["beta"] == 0.0 and abs(r["eta"] - eta_ref) <= 1e-3 * eta_ref]
        if not ref:
            continue
        cost, err = math.log10(ref[0]["evaluations"]), math.log10(max(ref[0]["energy_error"], 1e-17))
        here = {}
        for beta in betas:
            curve = sorted((math.log10(r["evaluations"]), math.log10(max(r["energy_error"], 1e-17)))
                           for r in mine if r["beta"] == beta)
            if len(curve) >= 2 and curve[0][0] <= cost <= curve[-1][0]:
                here[beta] = float(np.interp(cost, [c for c, _ in curve], [e for _, e in curve])) - err
                gains[beta].append(here[beta])
        best.append(min(here.values()))
    out = {f"beta={b:+.2f}": float(np.median(v)) for b, v in gains.items() if v}
    out["oracle_median"], out["oracle_mean"] = float(np.median(best)), float(np.mean(best))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="tune seeds 0..N-1")
    parser.add_argument("--betas", default="-0.2,-0.1,-0.05,0,0.05,0.1,0.2")
    parser.add_argument("--t-end", type=float, default=30.0)
    parser.add_argument("--out", default="benchmarks/timestep_results")
    parser.add_argument("--analyse", metavar="JSON", help="only re-print the tables of an earlier run's JSON")
    args = parser.parse_args()
    if args.analyse:
        payload = json.loads(Path(args.analyse).read_text())
        print(json.dumps(per_instance_oracle(payload["runs"], payload["betas"]), indent=1))
        return
    betas = [float(b) for b in args.betas.split(",")]
    if 0.0 not in betas:
        parser.error("--betas must contain 0 (the reference front)")
    etas = np.logspace(-3.5, -2.0, 10)
    dist = PaperThreeBodyDistribution()
    runs = []
    for seed in range(args.seeds):
        inst = next(dist.sequence(stream(seed, "instances")))
        for beta in betas:
            for eta in etas:
                res = simulate(inst.masses, inst.positions, inst.velocities, args.t_end, float(eta), G=inst.G,
                               max_steps=5_000_000, criterion_exponent=beta)
                ok = res.status == "ok" and math.isfinite(res.energy_error)
                runs.append({"seed": seed, "beta": beta, "eta": float(eta),
                             "evaluations": int(res.force_evaluations) if ok else -1,
                             "energy_error": abs(res.energy_error) if ok else 1.0})
    fronts: dict[str, list[dict[str, float]]] = {}
    for beta in betas:
        pts = []
        for eta in etas:
            rs = [r for r in runs if r["beta"] == beta and r["eta"] == float(eta)]
            logs = np.log10(np.maximum([r["energy_error"] for r in rs], 1e-17))
            pts.append({"eta": float(eta), "mean_evaluations": float(np.mean([max(r["evaluations"], 0) for r in rs])),
                        "median_log10_error": float(np.median(logs)), "mean_log10_error": float(np.mean(logs)),
                        "failures": int(sum(r["evaluations"] < 0 for r in rs))})
        fronts[str(beta)] = pts
    ref = sorted((p["mean_evaluations"], p["median_log10_error"], p["mean_log10_error"]) for p in fronts["0.0"])
    lx = [math.log10(c) for c, _, _ in ref]
    lines = ["| β | η | mean force evals | median log10 abs dE | gap to β=0 front (median) | gap (mean log10) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for beta, pts in fronts.items():
        for p in pts:
            if not ref[0][0] <= p["mean_evaluations"] <= ref[-1][0]:
                continue  # outside the reference front's cost range: no gap
            at = math.log10(p["mean_evaluations"])
            p["gap_median"] = p["median_log10_error"] - float(np.interp(at, lx, [r[1] for r in ref]))
            p["gap_mean"] = p["mean_log10_error"] - float(np.interp(at, lx, [r[2] for r in ref]))
            lines.append(f"| {float(beta):+.2f} | {p['eta']:.3g} | {p['mean_evaluations']:,.0f} | {p['median_log10_error']:.2f} | "
                         f"{p['gap_median']:+.2f} | {p['gap_mean']:+.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oracle = per_instance_oracle(runs, betas)
    payload = {"seeds": list(range(args.seeds)), "t_end": args.t_end, "betas": betas, "etas": [float(e) for e in etas],
               "fronts": fronts, "per_instance_gap_at_eta_1e-3": oracle, "runs": runs}
    atomic_write_bytes(out / "timestep_criterion_exponent.json", json.dumps(payload).encode())
    print("\n".join(lines))
    print("per instance, at β=0/η=1e-3's force count (median log10 gap; oracle = best β per instance):")
    print(json.dumps(oracle, indent=1))


if __name__ == "__main__":
    main()
