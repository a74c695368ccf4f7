"""The Krylov suite runner (``tunegym bench all`` and ``tunegym bench krylov``): suites ``krylov-sequences`` (SPD
systems, CG) and ``krylov-gmres-sequences`` (convection-diffusion, GMRES; ``--solver gmres``). The solver follows the
suite's families (:func:`suite_solver`); below, "CG" reads "GMRES" for the second suite (its plain baseline is
``scipy.sparse.linalg.gmres``, PyAMG's default runs with ``accel="gmres"``, the learners are built for
``tunegym/PGMRES-v0``).

Protocol (also in the spec, :mod:`tunegym.tuning.suite_specs.krylov`):

1. **Price** every sequence once (:func:`price_sequence`, cached as JSON under ``out/cache/``): per system the
   cost, work (and its setup part), wall time and iterations of every fresh arm; of reusing each setup-heavy
   arm's preconditioner built on the previous system (``reuse1:<arm>``); of ``fixed:reuse`` (smoothed
   aggregation built on the first system, reused for all); of PyAMG's default solver; and the greedy hindsight
   **oracle**, which per system takes the cheapest of every fresh arm and reusing its *own* kept preconditioner (solved live in the same
   pass, so its reuse candidate is exact, whatever system that preconditioner was built on). Every fixed
   baseline and the oracle then come from the table; nothing is solved twice.
2. **Tune**: ``best_fixed`` per family = the fixed arm with the least total work over the tune sequences' tables;
   our learner (:class:`~tunegym.agents.krylov_tuner.KrylovReuseBandit`) learns online on the same tune sequences
   (families interleaved), with full information from the same tables (every fresh arm's price on every tune
   system, :func:`train_tuner`).
3. **Test** (dev-test, or final-test with ``final=True``): only the learners run live: ``krylov_tuner`` (a fresh
   copy of the trained tuner, ``KrylovTuner.solve_system(learn=True, fallback=False)``: the env's semantics, a
   failed solve is charged its penalty and not solved again), ``krylov_tuner_time`` (the same, deciding
   on time-weighted work, :func:`fit_time_weights`) and ``pcgbandit`` (from scratch). Then wall time is measured
   **in one run** (:func:`interleaved_walls`): another fresh copy of ``krylov_tuner_time``, plain CG and PyAMG's
   default solver solve each system, interleaved in a random order, each called as a user calls it.
4. **Claims** (one instance = one test sequence's total; strata = families; Holm over the report): work of
   ``krylov_tuner`` against ``best_fixed``, ``oracle``, ``pcgbandit`` and ``pyamg_default``; ``pcgbandit``
   against ``best_fixed``; interleaved wall time of ``krylov_tuner_time`` (its overhead included) against the
   faster of PyAMG's default and plain CG per sequence, and against each. Also reported: break-even solve against
   ``best_fixed``, work of the first 200 solves against the oracle, the tuner's overhead share, and R² of wall
   time against work over every priced solve. (The priced and live phases' wall times stay in the table of
   means; they were timed in different phases, under whatever load each met, so no claim compares them.)

Writes ``krylov.md``, ``krylov.json``, ``cumulative.png`` and ``arms.png`` under ``out_dir``. All solves run with
one BLAS thread (``threadpoolctl``), so wall times measure the algorithms, not thread contention.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_suite", "run", "price_sequence", "run_learners", "train_tuner", "family_systems", "suite",
           "cache_name", "priced_sequence", "best_fixed_arm", "plain_cg", "plain_gmres", "plain_solve", "interleave",
           "interleaved_walls", "warm_up", "INTERLEAVED", "time_weighted_tuner", "wall_claims", "break_even",
           "r_squared", "suite_solver", "SUITE_NAME", "GMRES_SUITE_NAME", "ENV_IDS", "AGENT_CONFIG"]

SUITE_NAME = "krylov-sequences"
#: the non-symmetric suite (convection-diffusion, GMRES): the same protocol, its own seeds and claims
GMRES_SUITE_NAME = "krylov-gmres-sequences"
#: the env each solver's learners are built for
ENV_IDS = {"cg": "tunegym/PCG-v0", "gmres": "tunegym/PGMRES-v0"}
#: our learner's settings: training (explores) and deployment (explores less)
AGENT_CONFIG = {"epsilon": 0.1, "decay": 50.0, "horizon": 2.0, "residual_decay": 0.7}
#: passes of online learning over the tune sequences (cheap: only our learner solves, live)
TRAIN_PASSES = 3
#: train with full information from the tune sequences' price tables (see :func:`train_tuner`)
FULL_INFORMATION = True
DEPLOY_CONFIG = {"epsilon": 0.02}
_REUSABLE = ("ilu", "amg_sa", "amg_rs")
_KEYS = ("cost", "work", "wall", "iterations", "setup")


def suite(name: str = SUITE_NAME) -> Any:
    from tunegym.tuning.suites import get_suite

    return get_suite(name)


def suite_solver(fams: Mapping[str, Mapping[str, Any]]) -> str:
    """The Krylov method a suite's families are solved with: ``"cg"`` when every family's systems are symmetric
    (SPD), ``"gmres"`` when none is; a suite mixing both is refused (its learners are built for one solver)."""
    from tunegym.envs.core.errors import ConfigError
    from tunegym.envs.krylov.instances import PDESequence

    symmetric = {name: PDESequence(**params).symmetric for name, params in fams.items()}
    if all(symmetric.values()):
        return "cg"
    if not any(symmetric.values()):
        return "gmres"
    raise ConfigError(f"families {symmetric} mix symmetric and non-symmetric systems; a Krylov suite is solved by "
                      "one method (CG or GMRES)", value=sorted(symmetric))


def family_systems(params: dict[str, Any], seed: int, length: int) -> list[Any]:
    """The ``length`` systems of one seed's sequence of a family (``PDESequence(**params)``)."""
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.krylov.instances import PDESequence

    return list(PDESequence(**params).sequence(stream(seed, "instances"), length=length))


def cache_name(s: Any, family: str, params: dict[str, Any], length: int, seed: int) -> str:
    """The price-cache file name of one seed's sequence of a family (suite name and version, grid, run length)."""
    return f"{s.name}-v{s.version}-{family}-g{params['grid']}-r{params['run_length']}-L{length}-s{seed}.json"


def priced_sequence(s: Any, fams: dict[str, dict[str, Any]], length: int, cache: Path, family: str,
                    seed: int) -> tuple[list[Any], dict[str, dict[str, list]]]:
    """One seed's systems of ``family`` and their price table, read from / written to the ``cache`` folder."""
    from tunegym.envs.krylov.precond import DEFAULT_ARMS

    params = fams[family]
    systems = family_systems(params, seed, length)
    return systems, price_sequence(systems, DEFAULT_ARMS, cache=cache / cache_name(s, family, params, length, seed),
                                   solver=suite_solver(fams))


def best_fixed_arm(tables: list[dict[str, dict[str, list]]]) -> str:
    """The ``fixed:<arm>`` with the least total cost over ``tables`` (a family's tune sequences)."""
    totals: dict[str, float] = {}
    for table in tables:
        for name, entry in table.items():
            if name.startswith("fixed:"):
                totals[name] = totals.get(name, 0.0) + float(np.sum(entry["cost"]))
    return min(totals, key=totals.get)


def _pyamg_default(system: Any, tol: float = 1e-8, maxiter: int = 1000, accel: str = "cg") -> dict[str, float]:
    """PyAMG's default solver as a user calls it, ``smoothed_aggregation_solver(A).solve(b, accel=accel)``
    (``"gmres"`` for a non-symmetric ``A``): its wall time (setup and solve), our work count of it, and whether it
    ``failed`` (ran to ``maxiter``)."""
    import pyamg

    from tunegym.envs.krylov.precond import _fixed_global_rng, amg_work

    start = time.perf_counter()
    with _fixed_global_rng():
        ml = pyamg.smoothed_aggregation_solver(system.A, B=system.near_null_space)
    residuals: list[float] = []
    if accel == "gmres":  # PyAMG's GMRES caps maxiter at n itself, with a warning no filter silences
        maxiter = min(maxiter, system.n)
    ml.solve(system.b, tol=tol, accel=accel, maxiter=maxiter, residuals=residuals)
    wall = time.perf_counter() - start
    setup, apply = amg_work(ml, aggregation=True, sweep=2.0)
    iterations = max(len(residuals) - 1, 0)
    work = setup + iterations * (apply + system.nnz + 7.0 * system.n)
    return {"cost": work, "work": work, "wall": wall, "iterations": iterations, "setup": setup,
            "failed": int(iterations >= maxiter)}


#: what the interleaved wall-time measurement times, per system, in a random order (``plain_gmres`` in place of
#: ``plain_cg`` for the GMRES suite)
INTERLEAVED = ("krylov_tuner_time", "plain_cg", "pyamg_default")


def plain_cg(A: Any, b: Any, tol: float = 1e-8) -> int:
    """What a user writes for unpreconditioned CG: ``scipy.sparse.linalg.cg`` to relative residual ``tol``; the
    iteration count, or ``-1`` if it did not converge."""
    from scipy.sparse.linalg import cg

    count = [0]

    def tick(_: Any) -> None:
        count[0] += 1

    _, info = cg(A, b, rtol=tol, atol=0.0, callback=tick)
    return count[0] if info == 0 else -1


def plain_gmres(A: Any, b: Any, tol: float = 1e-8) -> int:
    """What a user writes for unpreconditioned GMRES: ``scipy.sparse.linalg.gmres`` to relative residual ``tol``
    with SciPy's defaults otherwise (restart 20); the inner iteration count, or ``-1`` if it did not converge."""
    from scipy.sparse.linalg import gmres

    count = [0]

    def tick(_: Any) -> None:
        count[0] += 1

    _, info = gmres(A, b, rtol=tol, atol=0.0, callback=tick, callback_type="pr_norm")
    return count[0] if info == 0 else -1


def plain_solve(solver: str) -> Callable[..., int]:
    """The unpreconditioned baseline of ``solver``'s suite: :func:`plain_cg` or :func:`plain_gmres`."""
    return {"cg": plain_cg, "gmres": plain_gmres}[solver]


def interleave(systems: list[Any], methods: Mapping[str, Callable[[Any], Mapping[str, float]]], *,
               seed: int = 0) -> dict[str, float]:
    """Total wall seconds per method over ``systems``, measured in one run: every system is solved by each of
    ``methods`` (name -> ``call(system)``) in a random order drawn per system (seeded), so that the load each meets,
    and what ran just before it, are the same on average (a fixed rotation would let PyAMG's setup, big allocations
    and many objects, precede one method more often than another). A call returns figures to add up across systems
    (e.g. ``{"failed": 1}``); a ``"wall"`` among them replaces the measured time (a method that times itself
    without its bookkeeping)."""
    names = list(methods)
    totals: dict[str, float] = dict.fromkeys(names, 0.0)
    rng = np.random.default_rng(seed)
    for system in systems:
        for k in rng.permutation(len(names)):
            start = time.perf_counter()
            figures = dict(methods[names[k]](system))
            wall = figures.pop("wall", None)
            totals[names[k]] += time.perf_counter() - start if wall is None else wall
            for key, value in figures.items():
                totals[key] = totals.get(key, 0) + value
    return totals


def interleaved_walls(systems: list[Any], tuner: Any, *, seed: int = 0, solver: str = "cg") -> dict[str, float]:
    """Wall seconds of the time-weighted tuner, the plain Krylov method and PyAMG's default solver over
    ``systems``, measured in one run (:func:`interleave`): for every system each method solves it as a user calls
    it on its arrays (``tuner.solve(A, b)`` learning online, its validation, features, decision and learning
    included; :func:`plain_cg`, or :func:`plain_gmres` with ``solver="gmres"``; PyAMG's
    ``smoothed_aggregation_solver(A).solve(b, accel=solver)``). The tuner is the user's call, so a failed solve is
    solved again with its fallback (timed, and counted in ``fallbacks``; the work claims' live learners keep the
    env's one try). Also returns the tuner's own ``overhead`` (``KrylovResult.tuner_time``), its input
    ``validation`` (``KrylovResult.check_time``) and the count of ``failed`` solves (any method, after the tuner's
    fallback)."""
    plain = plain_solve(solver)

    def tuned(system: Any) -> dict[str, float]:
        result = tuner.solve(system.A, system.b, near_null_space=system.near_null_space, learn=True)
        return {"failed": int(not result.success), "fallbacks": int(result.first_attempt is not None),
                "overhead": result.tuner_time, "validation": result.check_time}

    def amg(system: Any) -> dict[str, float]:
        figures = _pyamg_default(system, accel=solver)  # times itself (the work count after it is bookkeeping)
        return {"failed": figures["failed"], "wall": figures["wall"]}

    def unpreconditioned(system: Any) -> dict[str, float]:
        return {"failed": int(plain(system.A, system.b) < 0)}

    calls = {"krylov_tuner_time": tuned, f"plain_{solver}": unpreconditioned, "pyamg_default": amg}
    names = [name.replace("plain_cg", f"plain_{solver}") for name in INTERLEAVED]
    methods = {name: calls[name] for name in names}  # the order the random permutations index
    totals = {"failed": 0, "fallbacks": 0, "overhead": 0.0, "validation": 0.0}
    totals.update(interleave(systems, methods, seed=seed))
    return totals


def warm_up(tuner_file: str | Path, solver: str = "cg") -> None:
    """Call each timed method once on a small system first: first calls pay one-time costs (imports, numba loading
    the tuner's compiled kernels when a tuner is first built, about 0.3 s once per process) that are not timed for
    the baselines either. The tuner copy used here is thrown away."""
    from tunegym.agents.krylov_tuner import KrylovTuner
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.krylov.instances import PDESequence

    kind = "diffusion" if solver == "cg" else "convection"
    small = next(iter(PDESequence(kind=kind, grid=8).sequence(stream(0, "warm-up"), length=1)))
    KrylovTuner.load(tuner_file).solve(small.A, small.b, learn=True)
    plain_solve(solver)(small.A, small.b)
    _pyamg_default(small, accel=solver)


def write_report(out: str | Path, lines: list[str], result: dict[str, Any], *, echo: int = 0) -> None:
    """A benchmark script's report: ``lines`` as Markdown at ``out`` and ``result`` as JSON beside it (with the
    package versions and the git commit it was made with), each written atomically (a killed run
    leaves the previous report, not half of one); the first ``echo`` lines are printed."""
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.suites import git_commit

    result = {**result, "versions": versions(), "commit": git_commit()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out.with_suffix(".json"), (json.dumps(result, indent=2) + "\n").encode())
    if echo:
        print("\n".join(lines[:echo]))


def time_weighted_tuner(tuner_file: str | Path, time_weights: Sequence[float]) -> Any:
    """A fresh copy of the tuner in ``tuner_file`` deciding on time-weighted work: ``time_weights`` per arm, in the
    knob's order (:func:`fit_time_weights`). What ``krylov_tuner_time`` is, live and in the interleaved wall run."""
    from tunegym.agents.krylov_tuner import KrylovTuner

    tuner = KrylovTuner.load(tuner_file)
    tuner.tuner.policy = tuner.tuner.policy.with_config(arm_weights=tuple(time_weights))
    return tuner


def wall_claims(tuner_wall: np.ndarray, cg_wall: np.ndarray, amg_wall: np.ndarray, *, plain: str = "plain CG",
                **common: Any) -> list[Any]:
    """The interleaved wall-time claims, one instance per sequence (not yet Holm-corrected): the time-weighted
    tuner against the faster of PyAMG's default and the plain Krylov method (``plain``, e.g. ``"plain GMRES"``;
    its walls in ``cg_wall``) per sequence, against the plain method and against PyAMG."""
    from tunegym.tuning.stats import paired_claim

    baselines = ((np.minimum(amg_wall, cg_wall), f"min(pyamg_default, {plain})"), (cg_wall, plain),
                 (amg_wall, "pyamg_default"))
    return [paired_claim(tuner_wall, wall, method_name="krylov_tuner_time", baseline_name=name, metric="wall_time",
                         **common) for wall, name in baselines]


def _entry(record: Any) -> dict[str, float]:
    return {"cost": float(record.cost), "work": float(record.extra["work"]), "wall": float(record.wall_time),
            "iterations": int(record.extra["iterations"]), "setup": float(record.extra["setup_work"])}


def price_sequence(systems: list[Any], arms: tuple, *, cache: Path | None = None,
                   solver: str = "cg") -> dict[str, dict[str, list]]:
    """Per-system figures of every fixed arm, ``reuse1:<arm>``, ``fixed:reuse``, ``pyamg_default`` and the oracle
    (see the module docstring), each solved by ``solver``; read from / written to ``cache`` (JSON) when given."""
    from tunegym.envs.krylov.precond import REUSE, arm_label
    from tunegym.envs.krylov.process import KrylovSolve

    if cache is not None and cache.exists():
        table = json.loads(cache.read_text())["table"]
        if all(set(_KEYS) <= set(entry) for entry in table.values()):
            return table
        print(f"krylov: {cache.name} predates the setup-work column; pricing again", file=sys.stderr)
    table: dict[str, dict[str, list]] = {}

    def put(name: str, figures: dict[str, float], arm: str | None = None) -> None:
        entry = table.setdefault(name, {key: [] for key in (*_KEYS, "arm")})
        for key in _KEYS:
            entry[key].append(figures[key])
        entry["arm"].append(arm or name)

    fresh_arms = [a for a in arms if a != REUSE]
    procs = {a: KrylovSolve(solver=solver) for a in fresh_arms}
    chain, oracle = KrylovSolve(solver=solver), KrylovSolve(solver=solver)
    for t, system in enumerate(systems):
        for arm, proc in procs.items():
            if t > 0 and arm[0] in _REUSABLE:  # the preconditioner this arm built on system t-1, reused
                proc.start(system)
                put(f"reuse1:{arm_label(arm)}", _entry(proc.advance(REUSE)))
        fresh = {}
        for arm, proc in procs.items():
            proc.start(system)
            fresh[arm] = _entry(proc.advance(arm))
            put(f"fixed:{arm_label(arm)}", fresh[arm], arm_label(arm))
        if REUSE in arms:
            chain.start(system)
            put("fixed:reuse", _entry(chain.advance(REUSE)), "reuse")
        best = min(fresh, key=lambda a: fresh[a]["cost"])
        choice, figures = best, fresh[best]
        if oracle.kept is not None:
            oracle.start(system)
            reused = _entry(oracle.advance(REUSE))  # its own kept preconditioner (kept stays unless rebuilt)
            if reused["cost"] < figures["cost"]:
                choice, figures = REUSE, reused
        if choice != REUSE:
            oracle.kept, oracle.kept_age = procs[best].preconditioner, 0
        put("oracle", figures, arm_label(choice))
        put("pyamg_default", _pyamg_default(system, accel=solver), "pyamg-sa")
    if cache is not None:
        from tunegym.agents.tuner_io import atomic_write_bytes

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, json.dumps({"table": table}).encode())
    return table


def fit_time_weights(tables: list[dict[str, dict[str, list]]], arms: tuple) -> tuple[float, ...]:
    """Seconds per work unit of each arm on priced (tune) sequences, relative to their median: the factors
    ``krylov_tuner_time`` weighs predicted work by (``KrylovReuseConfig.arm_weights``; the reuse arm gets 1).

    Total wall over total work of ``fixed:<arm>`` across ``tables``: where work counts flops that run at very
    different speeds (SuperLU's ILU factorisation, PyAMG's Python setup, numba's SSOR sweep), this says by how much
    on this machine. Fitted on tune sequences only."""
    from tunegym.envs.krylov.precond import REUSE, arm_label

    rates = []
    for arm in arms:
        if arm == REUSE:
            rates.append(float("nan"))
            continue
        name = f"fixed:{arm_label(arm)}"
        wall = sum(float(np.sum(t[name]["wall"])) for t in tables if name in t)
        work = sum(float(np.sum(t[name]["work"])) for t in tables if name in t)
        rates.append(wall / work if work > 0 and wall > 0 else float("nan"))
    finite = np.array([r for r in rates if np.isfinite(r)])
    median = float(np.median(finite)) if finite.size else 1.0
    return tuple(float(r / median) if np.isfinite(r) else 1.0 for r in rates)


def run_learners(systems: list[Any], *, tuner_file: Path | None, seed: int, env_kwargs: dict[str, Any],
                 pcgbandit: bool = True, time_weights: tuple[float, ...] | None = None,
                 env_id: str = ENV_IDS["cg"]) -> dict[str, dict[str, list]]:
    """Live per-system figures of ``krylov_tuner`` (a fresh copy of ``tuner_file``), ``pcgbandit`` (built for
    ``env_id``) and, with ``time_weights``, ``krylov_tuner_time`` (the same tuner deciding on time-weighted work)."""
    from tunegym.agents.krylov_tuner import KrylovTuner
    from tunegym.envs.krylov.precond import arm_label

    learners: dict[str, Any] = {}
    if tuner_file is not None:
        learners["krylov_tuner"] = KrylovTuner.load(tuner_file)
        if time_weights is not None:
            learners["krylov_tuner_time"] = time_weighted_tuner(tuner_file, time_weights)
    if pcgbandit:
        learners["pcgbandit"] = KrylovTuner.pcgbandit(env_id, seed=seed, **env_kwargs)
    out = {name: {key: [] for key in (*_KEYS, "arm", "tuner_wall")} for name in learners}
    for system in systems:
        for name, tuner in learners.items():
            result = tuner.solve_system(system, learn=True, fallback=False)
            entry = out[name]
            entry["cost"].append(result.cost), entry["work"].append(result.work)
            entry["wall"].append(result.wall_time + result.tuner_time), entry["iterations"].append(result.iterations)
            entry["setup"].append(result.setup_work)
            entry["arm"].append(arm_label(result.arm)), entry["tuner_wall"].append(result.tuner_time)
    return out


def train_tuner(sequences: list[list[Any]], *, config: dict[str, Any], seed: int, env_kwargs: dict[str, Any],
                provenance: dict[str, Any] | None = None, passes: int = TRAIN_PASSES,
                tables: list[dict[str, dict[str, list]]] | None = None, env_id: str = ENV_IDS["cg"]) -> Any:
    """Our tuner: :class:`KrylovReuseBandit` for ``env_id`` (its solver) learning online over ``sequences``
    (``passes`` times, a fresh episode each), then switched to the deployment config (less exploration).

    With ``tables`` (each sequence's :func:`price_sequence` table, in the same order) training has full
    information: after each live solve, every fresh arm the learner did not build is also taught what it would
    have cost on that system (``observe_fresh``), and the reuse model what reusing each setup-heavy arm's
    previous preconditioner cost (``observe_reuse``, from ``reuse1:<arm>``). The tune tables are what
    ``best_fixed`` is chosen on, so the baseline and the learner see the same tune data; without them a rarely
    played arm stays at the pessimistic prior (issue #20: ``ilu(1e-4,4)`` on the anisotropic family)."""
    import gymnasium as gym

    import tunegym.envs  # noqa: F401
    from tunegym.agents.krylov_tuner import KrylovTuner, krylov_reuse
    from tunegym.envs.core.errors import ConfigError

    if tables is not None and len(tables) != len(sequences):
        raise ConfigError(f"{len(tables)} price tables for {len(sequences)} sequences", value=len(tables))
    env = gym.make(env_id, **env_kwargs)
    try:
        policy = krylov_reuse(env, config, seed=seed)
        arms = [tuple(a) for a in env.unwrapped.knob.arms]
        tuner = KrylovTuner.from_env(policy, env, provenance={"agent": "krylov_reuse", "config": config,
                                                               "seed": seed, "full_information": tables is not None,
                                                               **(provenance or {})})
    finally:
        env.close()
    for _ in range(passes):
        for k, systems in enumerate(sequences):
            tuner.forget()
            for t, system in enumerate(systems):
                result = tuner.solve_system(system, learn=True, fallback=False)
                if tables is not None:
                    _teach_from_table(tuner.tuner.policy, arms, tables[k], systems, t, result)
    tuner.tuner.policy = tuner.tuner.policy.with_config(**DEPLOY_CONFIG)
    return tuner


def _teach_from_table(learner: Any, arms: list[tuple], table: dict[str, dict[str, list]], systems: list[Any],
                      t: int, result: Any) -> None:
    """After the live solve of ``systems[t]`` (``result``): teach ``learner`` every fresh arm it did not build
    there, and every setup-heavy arm's reuse of its build on ``systems[t-1]``, at their priced costs."""
    from tunegym.envs.krylov.precond import REUSE, arm_label

    played = None if result.reused else arms.index(tuple(result.arm))
    nnz = systems[t].nnz
    for index, arm in enumerate(arms):
        if arm == REUSE:
            continue
        label = arm_label(arm)
        built = table[f"fixed:{label}"]
        if index != played:  # the live solve already taught the arm it built
            learner.observe_fresh(result.observation, index, setup_work=built["setup"][t], cost=built["cost"][t],
                                  nnz=nnz)
        if t > 0 and arm[0] in _REUSABLE:  # reuse1 entries start at t = 1 (index t - 1)
            learner.observe_reuse(result.observation, cost=table[f"reuse1:{label}"]["cost"][t - 1], nnz=nnz,
                                  last_iteration_work=built["cost"][t - 1] - built["setup"][t - 1],
                                  last_nnz=systems[t - 1].nnz)


def break_even(method: np.ndarray, baseline: np.ndarray) -> int | None:
    """First solve index (1-based) from which the method's cumulative work stays at or below the baseline's."""
    worse = np.flatnonzero(np.cumsum(method) > np.cumsum(baseline))
    if worse.size == 0:
        return 1
    return None if worse[-1] + 1 >= method.size else int(worse[-1] + 2)


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R² of the least-squares line ``y ≈ a x + b``."""
    A = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    return float(1.0 - resid @ resid / np.sum((y - y.mean()) ** 2))


def _families(s: Any, scale: str, *, grid: int | None, length: int | None,
              families: list[str] | None) -> tuple[dict[str, dict[str, Any]], int]:
    from tunegym.envs.core.errors import ConfigError

    sizes = s.scale[scale]
    wanted = families or list(sizes.get("families") or s.families())
    known = s.families()
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(f"unknown families {unknown}; choices {sorted(known)}", value=unknown)
    chosen = {}
    for name in wanted:
        params = dict(known[name])
        params["run_length"] = int(sizes.get("run_length", params.get("run_length", 50)))
        params["grid"] = int(grid or (sizes["grid3d"] if params.get("dim", 2) == 3 else sizes["grid"]))
        if grid and params.get("dim", 2) == 3:
            params["grid"] = max(4, round(grid ** (2.0 / 3.0)))  # about the same number of unknowns
        chosen[name] = params
    return chosen, int(length or sizes["length"])


def run_suite(suite_obj: Any, scale: str, out_dir: str | Path, *, final: bool = False, grid: int | None = None,
              length: int | None = None, families: list[str] | None = None, save_tuner: str | None = None,
              command: str | None = None, tune: int | None = None, test: int | None = None) -> list[Any]:
    """Run the suite at ``scale`` (``grid``/``length``/``families``/``tune``/``test`` override the scale's sizes and
    seed counts for a custom run); write the report under ``out_dir``; return the Holm-finalised claims."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return _run_suite(suite_obj, scale, out_dir, final=final, grid=grid, length=length, families=families,
                          save_tuner=save_tuner, command=command, tune=tune, test=test)
    with threadpool_limits(1):
        return _run_suite(suite_obj, scale, out_dir, final=final, grid=grid, length=length, families=families,
                          save_tuner=save_tuner, command=command, tune=tune, test=test)


def _run_suite(suite_obj: Any, scale: str, out_dir: str | Path, *, final: bool, grid: int | None,
               length: int | None, families: list[str] | None, save_tuner: str | None,
               command: str | None, tune: int | None = None, test: int | None = None) -> list[Any]:
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.krylov.precond import DEFAULT_ARMS, arm_label
    from tunegym.tuning.benches.all import report_header
    from tunegym.tuning.stats import finalize_claims, paired_claim

    s = suite_obj if suite_obj is not None else suite()
    split = "final_test" if final else "dev_test"
    fams, length = _families(s, scale, grid=grid, length=length, families=families)
    solver = suite_solver(fams)
    env_id, plain = ENV_IDS[solver], f"plain_{solver}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env_kwargs: dict[str, Any] = {"grid": 8}
    tune_seeds, test_seeds = s.seeds("tune", scale), s.seeds(split, scale, final=final)
    tune_seeds = tune_seeds if tune is None else s.tune_seeds[:tune]
    test_seeds = test_seeds if test is None else getattr(s, f"{split}_seeds")[:test]

    def priced(family: str, params: dict[str, Any], seed: int) -> tuple[list[Any], dict[str, dict[str, list]], float]:
        t0 = time.perf_counter()
        systems = family_systems(params, seed, length)
        table = price_sequence(systems, DEFAULT_ARMS, cache=out / "cache" / cache_name(s, family, params, length, seed),
                               solver=solver)
        return systems, table, time.perf_counter() - t0

    timing: dict[str, float] = {"pricing_s": 0.0, "training_s": 0.0, "learners_s": 0.0, "interleaved_s": 0.0}
    best_fixed: dict[str, str] = {}
    tune_sequences: list[list[Any]] = []
    tune_tables: list[dict[str, dict[str, list]]] = []
    for family, params in fams.items():
        for seed in tune_seeds:
            print(f"krylov: price tune {family} seed {seed}...", file=sys.stderr)
            systems, table, took = priced(family, params, seed)
            timing["pricing_s"] += took
            tune_sequences.append(systems)
            tune_tables.append(table)
        best_fixed[family] = best_fixed_arm(tune_tables[-len(tune_seeds):])
    order = np.random.default_rng(0).permutation(len(tune_sequences))
    t0 = time.perf_counter()
    tuner = train_tuner([tune_sequences[i] for i in order], config=AGENT_CONFIG, seed=0, env_kwargs=env_kwargs,
                        tables=[tune_tables[i] for i in order] if FULL_INFORMATION else None, env_id=env_id,
                        provenance={"trained_on": f"{s.key} tune seeds {list(tune_seeds)}, families {list(fams)}, "
                                                  f"grid {[p['grid'] for p in fams.values()]}, length {length}"})
    timing["training_s"] = time.perf_counter() - t0
    time_weights = fit_time_weights(tune_tables, DEFAULT_ARMS)
    del tune_tables
    tuner_file = out / "krylov_tuner.pt"
    tuner.save(tuner_file)
    if save_tuner:
        tuner.save(save_tuner)
    del tune_sequences

    per_sequence: list[dict[str, Any]] = []
    warm_up(tuner_file, solver)
    for family, params in fams.items():
        for seed in test_seeds:
            print(f"krylov: {split} {family} seed {seed}...", file=sys.stderr)
            systems, table, took = priced(family, params, seed)
            timing["pricing_s"] += took
            t0 = time.perf_counter()
            figures = dict(table)
            figures.update(run_learners(systems, tuner_file=tuner_file, seed=seed, env_kwargs=env_kwargs,
                                        time_weights=time_weights, env_id=env_id))
            timing["learners_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            timed_walls = interleaved_walls(systems, time_weighted_tuner(tuner_file, time_weights), seed=seed,
                                            solver=solver)
            timing["interleaved_s"] += time.perf_counter() - t0
            figures["best_fixed"] = figures[best_fixed[family]]
            per_sequence.append({"family": family, "seed": seed, "n": systems[0].n, "nnz": systems[0].nnz,
                                 "figures": figures, "interleaved": timed_walls})

    methods = [m for m in per_sequence[0]["figures"] if not m.startswith("reuse1:")]
    strata = [p["family"] for p in per_sequence]

    def total(method: str, key: str = "cost", upto: int | None = None) -> np.ndarray:
        return np.array([float(np.sum(p["figures"][method][key][:upto])) for p in per_sequence])

    def walls(method: str) -> np.ndarray:
        return np.array([float(p["interleaved"][method]) for p in per_sequence])

    common = dict(strata=strata, domain="krylov", suite=s.name, suite_version=s.version, split=split)
    raw = [paired_claim(total("krylov_tuner"), total(b), method_name="krylov_tuner", baseline_name=b, metric="work",
                        **common) for b in ("best_fixed", "oracle", "pcgbandit", "pyamg_default")]
    raw.append(paired_claim(total("pcgbandit"), total("best_fixed"), method_name="pcgbandit",
                            baseline_name="best_fixed", metric="work", **common))
    raw += wall_claims(walls("krylov_tuner_time"), walls(plain), walls("pyamg_default"),
                       plain=f"plain {solver.upper()}", **common)
    claims = finalize_claims(raw)

    breaks = [break_even(np.asarray(p["figures"]["krylov_tuner"]["cost"]), np.asarray(p["figures"]["best_fixed"]["cost"]))
              for p in per_sequence]
    tuner_wall = total("krylov_tuner", "tuner_wall")
    overhead = float(tuner_wall.sum() / total("krylov_tuner", "wall").sum())
    work_all = np.concatenate([np.asarray(p["figures"][m]["work"], dtype=float) for p in per_sequence
                               for m in p["figures"] if m.startswith(("fixed:", "reuse1:")) or m == "pyamg_default"])
    wall_all = np.concatenate([np.asarray(p["figures"][m]["wall"], dtype=float) for p in per_sequence
                               for m in p["figures"] if m.startswith(("fixed:", "reuse1:")) or m == "pyamg_default"])
    r2, r2_log = r_squared(work_all, wall_all), r_squared(np.log(work_all + 1.0), np.log(wall_all + 1e-9))
    header = report_header(s, scale, time.perf_counter() - start, final=final)
    payload = {
        "suite": s.to_dict(), "suite_key": s.key, "scale": scale, "split": split, "length": length, "solver": solver,
        "families": fams, "tune_seeds": list(tune_seeds), "test_seeds": list(test_seeds), "best_fixed": best_fixed,
        "agent": "krylov_reuse", "agent_config": AGENT_CONFIG, "deploy_config": DEPLOY_CONFIG,
        "full_information_training": FULL_INFORMATION,
        "time_weights": {arm_label(a): w for a, w in zip(DEFAULT_ARMS, time_weights)},
        "claims": [c.to_dict() for c in claims], "break_even": breaks,
        "work_over_oracle_first_200": float(np.mean(total("krylov_tuner", upto=200) / total("oracle", upto=200))),
        "tuner_overhead_share": overhead, "work_time_r2": r2, "work_time_r2_log": r2_log,
        "interleaved_overhead_share": float(walls("overhead").sum() / max(walls("krylov_tuner_time").sum(), 1e-12)),
        "interleaved_validation_share": float(walls("validation").sum()
                                              / max(walls("krylov_tuner_time").sum(), 1e-12)),
        "interleaved_failed": int(walls("failed").sum()),
        "seconds_per_gflop": float(wall_all.sum() / work_all.sum() * 1e9),
        "work_over_oracle": {m: float(np.mean(total(m) / total("oracle"))) for m in methods},
        "work_over_best_fixed": {m: float(np.mean(total(m) / total("best_fixed"))) for m in methods},
        "mean_wall_s": {m: float(np.mean(total(m, "wall"))) for m in methods},
        "per_sequence": [{"family": p["family"], "seed": p["seed"], "n": p["n"], "nnz": p["nnz"],
                          "totals": {m: float(np.sum(p["figures"][m]["cost"])) for m in methods},
                          "walls": {m: float(np.sum(p["figures"][m]["wall"])) for m in methods},
                          "interleaved": p["interleaved"],
                          "arms": {m: p["figures"][m]["arm"] for m in ("krylov_tuner", "krylov_tuner_time", "pcgbandit",
                                                                       "oracle")}}
                         for p in per_sequence],
        "timing": timing, "versions": versions(), "wall_time_s": time.perf_counter() - start,
        "command": command or header["command"], "commit": header["commit"],
    }
    atomic_write_bytes(out / "krylov.json", json.dumps(payload, indent=2, default=str).encode())
    atomic_write_bytes(out / "krylov.md", _markdown(payload, claims, methods).encode())
    _plots(per_sequence, out)
    return claims


def _markdown(payload: dict[str, Any], claims: list[Any], methods: list[str]) -> str:
    from tunegym.tuning.stats import claims_to_markdown

    be = payload["break_even"]
    lines = [f"# Krylov suite `{payload['suite_key']}` — {payload['scale']} scale, split {payload['split']}", "",
             f"Command `{payload['command']}` · commit `{payload['commit'][:12]}`; {payload['wall_time_s']:.0f} s (pricing "
             f"{payload['timing']['pricing_s']:.0f} s, training {payload['timing']['training_s']:.0f} s, live "
             f"learners {payload['timing']['learners_s']:.0f} s, interleaved wall run "
             f"{payload['timing'].get('interleaved_s', 0.0):.0f} s).", "",
             f"Sequences of {payload['length']} systems solved by {payload['solver'].upper()} to 1e-8; families: "
             + ", ".join(f"{f} (grid {p['grid']}{'³' if p.get('dim', 2) == 3 else '²'}, runs of {p['run_length']})"
                         for f, p in payload["families"].items())
             + f"; tune seeds {payload['tune_seeds']}, test seeds {payload['test_seeds']}.",
             f"Best fixed arm per family (chosen on tune sequences): {payload['best_fixed']}.", "",
             "`krylov_tuner_time` is the same trained tuner deciding on predicted work times each arm's seconds per "
             "work unit on the tune sequences, relative to the median arm (`fit_time_weights`): "
             + ", ".join(f"{a} {w:.2g}" for a, w in payload["time_weights"].items()) + ".", "",
             "## Claims (paired per test sequence, strata = families, Holm-corrected)", "", claims_to_markdown(claims),
             f"Break-even against best_fixed (first solve from which cumulative work stays at or below): {be} "
             "(None: not within the sequence).", "",
             f"Work of the first 200 solves / oracle's: {payload['work_over_oracle_first_200']:.3f} (mean over sequences).",
             "",
             f"Tuner overhead (features + policy + learning) = {100 * payload['tuner_overhead_share']:.2f}% of the "
             f"tuner's wall time (live phase); {100 * payload['interleaved_overhead_share']:.2f}% in the interleaved "
             f"wall-time run (`krylov_tuner_time` on the user path; validating the user's arrays took another "
             f"{100 * payload['interleaved_validation_share']:.2f}%), where {payload['interleaved_failed']} solves "
             "failed (any method).", "",
             "The wall-time claims are timed in one run (`interleaved_walls`): per system the time-weighted tuner "
             f"(`tuner.solve(A, b)`), `scipy.sparse.linalg.{payload['solver']}` and PyAMG's default solver "
             f"(`accel=\"{payload['solver']}\"`), in a random order. The table's wall column comes from the pricing "
             "and live phases, timed apart.", "",
             f"Work model vs wall time over every priced solve: R² = {payload['work_time_r2']:.3f} (log-log R² = "
             f"{payload['work_time_r2_log']:.3f}); {payload['seconds_per_gflop']:.3g} s per 10⁹ work units.", "",
             "## Mean total work / oracle's and / best fixed's, mean wall time per sequence", "",
             "| method | work / oracle | work / best fixed | wall s |", "|---|---:|---:|---:|"]
    for m in sorted(methods, key=lambda m: payload["work_over_oracle"][m]):
        lines.append(f"| `{m}` | {payload['work_over_oracle'][m]:.3f} | {payload['work_over_best_fixed'][m]:.3f} "
                     f"| {payload['mean_wall_s'][m]:.3f} |")
    lines += ["", "`cumulative.png`: cumulative work (mean over test sequences, per family); `arms.png`: choice "
              "frequencies of the learners and the oracle."]
    return "\n".join(lines) + "\n"


def _plots(per_sequence: list[dict[str, Any]], out: Path) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the bench's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({p["family"] for p in per_sequence})
    shown = ["krylov_tuner", "krylov_tuner_time", "pcgbandit", "best_fixed", "oracle", "pyamg_default", "fixed:none"]
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

    names = ("krylov_tuner", "krylov_tuner_time", "pcgbandit", "oracle")
    labels = sorted({a for p in per_sequence for m in names for a in p["figures"][m]["arm"]})
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.27
    for k, name in enumerate(names):
        arms = [a for p in per_sequence for a in p["figures"][name]["arm"]]
        ax.bar(np.arange(len(labels)) + (k - 1) * width, [arms.count(x) / len(arms) for x in labels], width,
               label=name)
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("choice frequency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "arms.png", dpi=80)
    plt.close(fig)


def run(args: Any) -> int:
    """``tunegym bench krylov`` (see :mod:`tunegym.tuning.benches.krylov`)."""
    from tunegym.tuning.stats import claims_to_markdown
    from tunegym.tuning.suites import Ledger

    s = suite(GMRES_SUITE_NAME if getattr(args, "solver", "cg") == "gmres" else SUITE_NAME)
    final = args.split == "final_test"
    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    command = "tunegym " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    if final:
        Ledger(args.out).record(s, s.methods, note=command or "tunegym bench krylov --split final_test")
    claims = run_suite(s, args.scale, args.out, final=final, grid=args.grid, length=args.length, families=families,
                       save_tuner=args.save_tuner, command=command, tune=args.tune, test=args.test)
    print(claims_to_markdown(claims))
    print(f"wrote {Path(args.out) / 'krylov.md'}, {Path(args.out) / 'krylov.json'}, cumulative.png, arms.png")
    return 0
