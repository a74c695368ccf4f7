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

The kernel below is ``nbody._advance`` (compensated Hermite PEC step) with the one-line change to ``dt``; it reuses
the package's force kernel.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numba
import numpy as np
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution
from tunegym.envs.timestep.nbody import _criterion, _force, total_energy


@numba.njit(cache=True)
def run_with_exponent(m, x, v, t_end, eta, beta, t_ref, G, max_steps):
    """Integrate in place to ``t_end`` with ``dt = eta·τ·(τ/t_ref)^beta``; returns force evaluations (-1: failed)."""
    n = x.shape[0]
    acc = np.zeros((n, 3))
    jerk = np.zeros((n, 3))
    zero = np.zeros((n, 3))
    _force(m, x, zero, v, zero, G, acc, jerk)
    xc = np.zeros((n, 3))
    vc = np.zeros((n, 3))
    xp = np.empty_like(x)
    vp = np.empty_like(v)
    a1 = np.empty_like(acc)
    j1 = np.empty_like(jerk)
    xcn = np.empty_like(x)
    vcn = np.empty_like(v)
    t = 0.0
    steps = 0
    while t_end - t > 1e-14 * t_end:
        tau = _criterion(m, x, v, G)
        dt = eta * tau * (tau / t_ref) ** beta
        if not (dt >= 1e-14 * t_end) or steps >= max_steps:
            return -1
        dt = min(dt, t_end - t)
        dt2 = dt * dt
        dt3 = dt2 * dt
        for i in range(n):
            for k in range(3):
                xp[i, k] = v[i, k] * dt + acc[i, k] * dt2 / 2.0 + jerk[i, k] * dt3 / 6.0 - xc[i, k]
                vp[i, k] = acc[i, k] * dt + jerk[i, k] * dt2 / 2.0 - vc[i, k]
        _force(m, x, xp, v, vp, G, a1, j1)
        steps += 1
        for i in range(n):
            for k in range(3):
                dv = (acc[i, k] + a1[i, k]) * dt / 2.0 + (jerk[i, k] - j1[i, k]) * dt2 / 12.0 - vc[i, k]
                vnew = v[i, k] + dv
                v_round = (vnew - v[i, k]) - dv
                v_true = v[i, k] - vc[i, k]
                dx = (v_true + vnew - v_round) * dt / 2.0 + (acc[i, k] - a1[i, k]) * dt2 / 12.0 - xc[i, k]
                xnew = x[i, k] + dx
                xp[i, k] = xnew
                vp[i, k] = vnew
                xcn[i, k] = (xnew - x[i, k]) - dx
                vcn[i, k] = v_round
        for i in range(n):
            for k in range(3):
                x[i, k] = xp[i, k]
                v[i, k] = vp[i, k]
                xc[i, k] = xcn[i, k]
                vc[i, k] = vcn[i, k]
                acc[i, k] = a1[i, k]
                jerk[i, k] = j1[i, k]
        t += dt
    return steps + 1


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
        m = np.array(inst.masses)
        e0 = float(total_energy(m[None], np.array(inst.positions)[None], np.array(inst.velocities)[None], inst.G)[0])
        t_ref = inst.G * m.sum() ** 2.5 / (2.0 * abs(e0)) ** 1.5
        for beta in betas:
            for eta in etas:
                x, v = np.array(inst.positions), np.array(inst.velocities)
                evals = int(run_with_exponent(m, x, v, args.t_end, float(eta), beta, t_ref, inst.G, 5_000_000))
                e1 = float(total_energy(m[None], x[None], v[None], inst.G)[0])
                error = abs(e1 - e0) / abs(e0) if evals > 0 and math.isfinite(e1) else 1.0
                runs.append({"seed": seed, "beta": beta, "eta": float(eta), "evaluations": evals, "energy_error": error})
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
    tmp = out / "timestep_criterion_exponent.json.tmp"
    tmp.write_text(json.dumps(payload))
    tmp.replace(out / "timestep_criterion_exponent.json")
    print("\n".join(lines))
    print("per instance, at β=0/η=1e-3's force count (median log10 gap; oracle = best β per instance):")
    print(json.dumps(oracle, indent=1))


if __name__ == "__main__":
    main()
