"""The shipped Krylov tuner on a user's own matrices, which no Krylov training or choice saw (issue #20).

A user's simulation: P1 finite elements on an unstructured Delaunay mesh of random points in the unit square, with a
coefficient that varies over two decades, plus a mass-like shift that changes every system (``A + σ_t mean|a_ii|
I``, ``σ_t`` log-uniform in [1e-3, 1], as implicit time steps of varying length give; a fresh right-hand side each
time: :class:`~tunegym.envs.krylov.instances.MatrixSequence` with ``variation="shift"``). Two node orderings: as the
mesh generator left them (``random``: no locality, the worst case for ILU and SSOR) and sorted along x
(``sorted``: a banded, local order). None of this resembles the suite's structured grids.

Per system, in a random order drawn per system (:func:`~tunegym.tuning.benches.krylov_suite.interleave`), one BLAS
thread, each called as a user calls it on the arrays: ``KrylovTuner.load("pretrained:krylov")`` (deciding on time, its default) and the same tuner
with ``objective="work"``, both learning online; ``scipy.sparse.linalg.cg``; PyAMG's default
``smoothed_aggregation_solver(A).solve(b, accel="cg")``. Claims (one instance = one sequence's total wall time,
strata = orderings, Holm over the report): the tuner against the faster of PyAMG default and plain CG, against each,
and deciding on time against deciding on work. The tuner's failed solves, those it solved again with its fallback
(:meth:`~tunegym.agents.krylov_tuner.KrylovTuner.solve`), are counted.

``--family convection``: non-symmetric systems instead, the suite generator's convection-diffusion (upwind,
Péclet 50, a new wind every ``--run-length`` systems) on a ``--grid`` square, seeds 1, 2, ...; the CG-trained tuner
loaded with ``solver="gmres"`` against ``scipy.sparse.linalg.gmres`` at SciPy's defaults (restart 20) and PyAMG's
default solver with ``accel="gmres"``, all to relative residual 1e-8. Usage::

    python benchmarks/krylov_user_matrices.py --out benchmarks/krylov_user_matrices.md
    python benchmarks/krylov_user_matrices.py --family convection --meshes 8 --out benchmarks/krylov_gmres_deploy.md
    python benchmarks/krylov_user_matrices.py --family convection --grid 100 --length 50 --meshes 8 --tuner krylov-gmres \
        --out benchmarks/krylov_gmres_trained_deploy.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import gmres
from scipy.spatial import Delaunay
from threadpoolctl import threadpool_limits

import tunegym.tuning.benches.krylov_suite as K
from tunegym.agents.krylov_tuner import KrylovTuner
from tunegym.agents.tuners import pretrained_path
from tunegym.envs.krylov.instances import MatrixSequence, PDESequence
from tunegym.tuning.stats import claims_to_markdown, finalize_claims, paired_claim



def fem_matrix(n: int, seed: int, *, order: str = "random", contrast: float = 1.0) -> sp.csr_matrix:
    """P1 stiffness matrix of ``-div(k grad u)`` on the Delaunay mesh of ``n`` uniform random points (natural
    boundary, plus ``1e-4 mean(a_ii) I`` so that it is positive definite), ``k = 10^(contrast sin(6x) cos(5y))``
    per triangle; nodes in ``order`` ``"random"`` (as drawn) or ``"sorted"`` (by x)."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, 2))
    if order == "sorted":
        points = points[np.argsort(points[:, 0], kind="stable")]
    elif order != "random":
        raise ValueError(f"order must be 'random' or 'sorted', got {order!r}")
    triangles = Delaunay(points).simplices
    corners = points[triangles]  # (m, 3, 2)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    gradients = np.empty((len(triangles), 3, 2))
    for k in range(3):  # the gradient of the hat function of corner k: the opposite edge rotated, over 2 * area
        edge = corners[:, (k + 2) % 3] - corners[:, (k + 1) % 3]
        gradients[:, k, 0], gradients[:, k, 1] = -edge[:, 1], edge[:, 0]
    gradients /= (2.0 * area)[:, None, None]
    centre = corners.mean(axis=1)
    kappa = 10.0 ** (contrast * np.sin(6.0 * centre[:, 0]) * np.cos(5.0 * centre[:, 1]))
    local = np.einsum("mij,mkj->mik", gradients, gradients) * (area * kappa)[:, None, None]
    rows, cols = np.repeat(triangles, 3, axis=1).ravel(), np.tile(triangles, (1, 3)).ravel()
    A = sp.csr_matrix((local.ravel(), (rows, cols)), shape=(n, n))
    A = (A + sp.diags(np.full(n, 1e-4 * A.diagonal().mean()))).tocsr()
    A.sum_duplicates()
    A.sort_indices()
    return A


def methods_for(tuners: dict[str, KrylovTuner], plain: str) -> dict[str, Any]:
    """The timed calls (:func:`~tunegym.tuning.benches.krylov_suite.interleave`): the two tuners as a user calls
    them, learning online (counting failed solves, fallback solves and the time-deciding tuner's overhead), plain CG
    or GMRES (``plain``), and PyAMG's default solver with the matching accelerator."""
    def tuned(name: str) -> Any:
        def call(system: Any) -> dict[str, float]:
            result = tuners[name].solve(system.A, system.b, learn=True)
            figures = {"failed": int(not result.success), "fallbacks": int(result.first_attempt is not None)}
            if name == "tuner_time":
                figures["overhead"] = result.tuner_time
            return figures
        return call

    def plain_gmres(system: Any) -> dict[str, float]:
        return {"failed_baselines": int(gmres(system.A, system.b, rtol=1e-8, atol=0.0)[1] != 0)}

    def plain_cg(system: Any) -> dict[str, float]:
        return {"failed_baselines": int(K.plain_cg(system.A, system.b) < 0)}

    def amg(system: Any) -> dict[str, float]:
        figures = K._pyamg_default(system, accel="gmres" if plain == "plain_gmres" else "cg")
        return {"wall": figures["wall"], "failed_baselines": figures["failed"]}

    calls = {"plain_cg": plain_cg, "plain_gmres": plain_gmres}
    return {"tuner_time": tuned("tuner_time"), "tuner_work": tuned("tuner_work"), plain: calls[plain],
            "pyamg_default": amg}


def sequences(args: argparse.Namespace) -> Any:
    """``(stratum, seed, systems)`` per sequence of the chosen family (see the module docstring)."""
    if args.family == "fem":
        for order in args.orders.split(","):
            for mesh in range(1, args.meshes + 1):
                stream = MatrixSequence([fem_matrix(args.n, mesh, order=order)], variation="shift", repeat=args.length)
                yield order, mesh, list(stream.sequence(np.random.default_rng(1000 + mesh), length=args.length))
    else:
        family = PDESequence("convection", grid=args.grid, run_length=args.run_length)
        for seed in range(1, args.meshes + 1):
            yield "convection", seed, list(family.sequence(np.random.default_rng(seed), length=args.length))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=["fem", "convection"], default="fem")
    parser.add_argument("--n", type=int, default=20000, help="fem: mesh points (unknowns)")
    parser.add_argument("--grid", type=int, default=100, help="convection: grid side (grid^2 unknowns)")
    parser.add_argument("--run-length", type=int, default=25, help="convection: systems per wind")
    parser.add_argument("--length", type=int, default=40, help="systems per sequence")
    parser.add_argument("--meshes", type=int, default=4,
                        help="sequences per ordering: mesh (or generator) seeds 1, 2, ...")
    parser.add_argument("--orders", default="random,sorted", help="fem: node orderings")
    parser.add_argument("--tuner", default="krylov",
                        help="shipped tuner NAME (pretrained:NAME): krylov (CG-trained; with --family convection "
                             "loaded with solver='gmres') or krylov-gmres (GMRES-trained)")
    parser.add_argument("--out", type=Path, required=True, help="Markdown report (a JSON file beside it)")
    args = parser.parse_args(argv)
    fem = args.family == "fem"
    plain, solver = ("plain_cg", None) if fem else ("plain_gmres", "gmres")
    shipped = f"pretrained:{args.tuner}"
    if args.tuner != "krylov":  # a tuner trained for its own solver keeps it
        solver = None
    methods = ("tuner_time", "tuner_work", plain, "pyamg_default")
    start = time.perf_counter()
    rows = []
    with threadpool_limits(1):
        K.warm_up(pretrained_path(args.tuner), "cg" if fem else "gmres")
        for stratum, seed, systems in sequences(args):
            tuners = {"tuner_time": KrylovTuner.load(shipped, solver=solver),
                      "tuner_work": KrylovTuner.load(shipped, objective="work", solver=solver)}
            totals = {"failed": 0, "fallbacks": 0, "failed_baselines": 0, "overhead": 0.0}
            totals.update(K.interleave(systems, methods_for(tuners, plain), seed=seed))
            rows.append({"order": stratum, "mesh": seed, "n": systems[0].n,
                         "nnz": int(np.mean([s.nnz for s in systems])), **totals})
            print(f"{stratum} {seed}: " + ", ".join(f"{m} {totals[m]:.2f} s" for m in methods), flush=True)
    strata = [r["order"] for r in rows]
    wall = {m: np.array([r[m] for r in rows]) for m in methods}
    common = {"strata": strata, "domain": "krylov", "suite": "krylov-user-matrices", "suite_version": 1,
              "split": "dev_test", "metric": "wall_time"}
    label = "plain CG" if fem else "plain GMRES"
    faster, faster_name = np.minimum(wall[plain], wall["pyamg_default"]), f"min(pyamg_default, {label})"
    claims = finalize_claims([
        paired_claim(wall["tuner_time"], faster, method_name="tuner (time)", baseline_name=faster_name, **common),
        paired_claim(wall["tuner_time"], wall["pyamg_default"], method_name="tuner (time)",
                     baseline_name="pyamg_default", **common),
        paired_claim(wall["tuner_time"], wall[plain], method_name="tuner (time)", baseline_name=label, **common),
        paired_claim(wall["tuner_time"], wall["tuner_work"], method_name="tuner (time)",
                     baseline_name="tuner (work)", **common),
        paired_claim(wall["tuner_work"], faster, method_name="tuner (work)", baseline_name=faster_name, **common),
    ])
    took = time.perf_counter() - start
    overhead = sum(r["overhead"] for r in rows) / max(float(wall["tuner_time"].sum()), 1e-12)
    command = "python benchmarks/krylov_user_matrices.py " + " ".join(argv if argv is not None else sys.argv[1:])
    what = (f"{args.length} systems of {args.n} unknowns (mesh seeds 1-{args.meshes} per ordering)" if fem else
            f"{args.length} convection-diffusion systems of {args.grid ** 2} unknowns (generator seeds "
            f"1-{args.meshes})" + (", the tuner with `solver=\"gmres\"`" if solver else ""))
    title = "a user's own matrices (unstructured FEM, shifted)" if fem else "non-symmetric systems (GMRES)"
    lines = [f"# The shipped Krylov tuner on {title}", "",
             f"Command `{command}`; {took:.0f} s. `{shipped}` as loaded (deciding on time) and with "
             f"`objective=\"work\"`, learning online from its first system; n = {len(rows)} sequences of {what}.",
             "", claims_to_markdown(claims), "",
             f"Tuner (time) overhead: {100 * overhead:.2f}% of its wall time.", "",
             f"| order | mesh | nnz | tuner (time) s | tuner (work) s | {label} s | PyAMG default s | failures left "
             "(both tuners) | solved again by the fallback (both tuners) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['order']} | {r['mesh']} | {r['nnz']} | {r['tuner_time']:.2f} | {r['tuner_work']:.2f} | "
              f"{r[plain]:.2f} | {r['pyamg_default']:.2f} | {r['failed']} | {r['fallbacks']} |" for r in rows]
    result = {"rows": rows, "claims": [c.to_dict() for c in claims], "overhead_share": overhead, "seconds": took,
              "command": command}
    K.write_report(args.out, lines, result, echo=12)
    return result


if __name__ == "__main__":
    main()
