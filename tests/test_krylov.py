"""The Krylov domain (issue #20): instances, preconditioners and work, bad input, envs, the tuner and parity."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import tunegym.envs  # noqa: F401
from tunegym.agents.krylov_tuner import KrylovTuner, krylov_reuse, pcgbandit
from tunegym.envs.core.errors import MatrixError, TunerMismatchError
from tunegym.envs.krylov.instances import KrylovSystem, MatrixSequence, PDESequence
from tunegym.envs.krylov.precond import DEFAULT_ARMS, arm_label, build_preconditioner, krylov_solve
from tunegym.envs.krylov.process import FEATURE_NAMES, KrylovSolve
from tunegym.envs.testing import check_tunegym_env

SMALL = {"grid": 10, "run_length": 8}


def laplacian(n: int) -> sp.csr_matrix:
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")


def solve_with(system: KrylovSystem, arm, **kwargs):
    process = KrylovSolve(**kwargs)
    process.start(system)
    return process.advance(arm)


def rollout(env, agent, *, seed: int, steps: int):
    """An online bandit rollout in the env: the systems met, the arms played, their costs, the last observation."""
    obs, _ = env.reset(seed=seed)
    systems, arms, costs = [], [], []
    for _ in range(steps):
        systems.append(env.unwrapped.instance)
        action = agent.select(obs)
        next_obs, reward, _, _, info = env.step(action)
        agent.observe(obs, action, reward, info)
        arms.append(tuple(info["knob"]))
        costs.append(info["cost"])
        obs = next_obs
    return systems, arms, costs, obs


# ---- instances ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["diffusion", "anisotropic", "elasticity", "convection"])
def test_every_pde_family_makes_a_reproducible_drifting_sequence(kind):
    dist = PDESequence(kind, grid=8, run_length=4)
    first = list(dist.sequence(np.random.default_rng(3), length=6))
    again = list(dist.sequence(np.random.default_rng(3), length=6))
    assert [s.id for s in first] == [s.id for s in again]
    assert len({s.id for s in first}) == 6
    assert all(s.symmetric == (kind != "convection") for s in first)
    assert first[0].meta["nu"] < first[3].meta["nu"]  # the time step grows over a run
    if kind == "elasticity":
        assert first[0].near_null_space.shape == (first[0].n, 3)


def test_three_dimensional_diffusion_and_sizes_are_parameters():
    system = next(iter(PDESequence("diffusion", grid=6, dim=3).sequence(np.random.default_rng(0))))
    assert system.n == 216 and system.nnz == 216 + 2 * 3 * 6 * 6 * 5


@pytest.mark.parametrize("variation", ["rhs", "shift", "scale"])
def test_user_matrix_files_make_sequences(tmp_path, variation):
    A = laplacian(30)
    scipy.io.mmwrite(str(tmp_path / "a.mtx"), A)
    sp.save_npz(tmp_path / "b.npz", 2 * A)
    dist = MatrixSequence([tmp_path / "a.mtx", tmp_path / "b.npz"], variation=variation, repeat=3)
    systems = list(dist.sequence(np.random.default_rng(0), length=6))
    assert all(s.n == 30 and s.symmetric for s in systems)
    record = solve_with(systems[0], ("jacobi",))
    assert record.status == "converged"


# ---- bad input ------------------------------------------------------------------------------------------------
def test_malformed_systems_raise_matrix_error_before_any_work():
    with pytest.raises(MatrixError, match="square"):
        KrylovSystem.from_arrays(sp.random(4, 5, density=0.5, format="csr"), np.ones(4))
    bad = laplacian(5).toarray()
    bad[1, 1] = np.nan
    with pytest.raises(MatrixError, match="NaN"):
        KrylovSystem.from_arrays(bad, np.ones(5))
    with pytest.raises(MatrixError, match="length"):
        KrylovSystem.from_arrays(laplacian(5), np.ones(4))


def test_zero_diagonal_under_jacobi_or_ssor_is_a_typed_error_or_a_breakdown():
    A = laplacian(6).tolil()
    A[2, 2] = 0.0
    system = KrylovSystem.from_arrays(A.tocsr(), np.ones(6), symmetric=True)
    for arm in [("jacobi",), ("ssor", 1.5)]:
        with pytest.raises(MatrixError, match="zero"):
            build_preconditioner(system.A, arm)
        record = solve_with(system, arm)
        assert record.status == "breakdown" and record.extra["iterations"] == 0
        assert record.cost > 0  # the failure penalty is charged


def test_indefinite_matrix_under_cg_breaks_down_and_never_hangs():
    A = sp.diags([1.0, -1.0, 2.0, -3.0, 4.0], format="csr")
    system = KrylovSystem.from_arrays(A, np.ones(5), symmetric=True)
    record = solve_with(system, ("none",), maxiter=50)
    assert record.status == "breakdown"
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((40, 40)))[0]
    indefinite = Q @ np.diag(np.linspace(-1, 3, 40)) @ Q.T
    record = solve_with(KrylovSystem.from_arrays(indefinite, rng.standard_normal(40)), ("none",), maxiter=30)
    assert record.status in ("breakdown", "diverged", "max_iterations", "converged")
    assert record.extra["iterations"] <= 30


def test_singular_incomplete_factor_is_a_breakdown_status():
    A = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    record = solve_with(KrylovSystem.from_arrays(A, np.ones(3), symmetric=True), ("ilu", 0.0, 10.0))
    assert record.status == "breakdown"


# ---- preconditioners and work ---------------------------------------------------------------------------------
def test_every_arm_converges_and_work_is_deterministic():
    system = next(iter(PDESequence("diffusion", grid=10).sequence(np.random.default_rng(1))))
    for arm in DEFAULT_ARMS:
        first, second = solve_with(system, arm), solve_with(system, arm)
        assert first.status == "converged", arm
        assert first.cost == second.cost and first.extra["iterations"] == second.extra["iterations"]
        assert first.extra["work"] == first.extra["setup_work"] + first.extra["iteration_work"]


def test_reuse_keeps_the_previous_preconditioner_and_skips_its_setup():
    systems = list(PDESequence("diffusion", grid=10, run_length=5).sequence(np.random.default_rng(0), length=3))
    process = KrylovSolve()
    process.start(systems[0])
    first = process.advance(("reuse",))  # nothing kept: builds the fallback and charges its setup
    assert first.extra["fallback"] and first.extra["setup_work"] > 0
    process.start(systems[1])
    built = process.advance(("amg_sa", 0.0, "gauss_seidel"))
    process.start(systems[2])
    reused = process.advance(("reuse",))
    assert reused.extra["reused"] and reused.extra["setup_work"] == 0.0
    assert reused.extra["built_on"] == systems[1].id == built.extra["built_on"]
    process.forget()
    process.start(systems[2])
    assert process.advance(("reuse",)).extra["fallback"]


def test_nonsymmetric_solvers_converge_on_convection_diffusion():
    system = next(iter(PDESequence("convection", grid=10).sequence(np.random.default_rng(0))))
    for solver in ("gmres", "bicgstab"):
        pre = build_preconditioner(system.A, ("ilu", 1e-2, 2.0), symmetric=False)
        out = krylov_solve(system.A, system.b, pre, solver=solver)
        assert out.status == "converged" and out.residual <= 1e-7 and out.matvecs > out.iterations


# ---- envs ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id,kwargs", [("tunegym/PCG-v0", SMALL), ("tunegym/PGMRES-v0", SMALL),
                                           ("tunegym/PCG-v0", {"kind": "elasticity", "grid": 6, "run_length": 5})])
def test_envs_pass_conformance(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    check_tunegym_env(env, steps=10)
    env.close()


def test_reset_forgets_the_kept_preconditioner_so_replays_match():
    env = gym.make("tunegym/PCG-v0", **SMALL)
    env.reset(seed=0)
    reuse = env.unwrapped.knob.encode(("reuse",))
    env.step(0)
    _, _, _, _, later = env.step(reuse)
    assert later["reused"]
    env.reset(seed=0)
    _, _, _, _, info = env.step(reuse)
    assert info["fallback"] and not info["reused"]


# ---- the tuner ---------------------------------------------------------------------------------------------------
def test_tuner_makes_the_env_rollouts_decisions_and_work():
    """Parity: a PCGBandit learner in the env and the same learner inside KrylovTuner.solve, on the same systems."""
    env = gym.make("tunegym/PCG-v0", **SMALL)
    systems, env_arms, env_costs, _ = rollout(env, pcgbandit(env.unwrapped, seed=7), seed=11, steps=12)
    tuner = KrylovTuner.from_env(pcgbandit(env.unwrapped, seed=7), env)
    results = [tuner.solve_system(system, learn=True, fallback=False) for system in systems]
    assert [r.arm for r in results] == env_arms
    assert [r.cost for r in results] == env_costs
    user = tuner.solve(systems[0].A, systems[0].b)  # the plain-array entry point
    assert user.success and np.linalg.norm(systems[0].A @ user.x - systems[0].b) <= 1e-7 * np.linalg.norm(systems[0].b)


def test_tuner_saves_loads_and_refuses_other_domains(tmp_path):
    tuner = KrylovTuner.pcgbandit(seed=1, **SMALL)
    system = next(iter(PDESequence("diffusion", grid=10).sequence(np.random.default_rng(0))))
    for _ in range(3):
        tuner.solve_system(system)
    tuner.save(tmp_path / "k.pt")
    loaded = KrylovTuner.load(tmp_path / "k.pt")
    assert loaded.tuner.policy.t == 3 and loaded.process.solver == "cg"
    from tunegym.agents.tuner import Tuner

    sor = gym.make("tunegym/SOR-v0")
    from tunegym.agents.bandits import TsallisINF

    Tuner.from_env(TsallisINF.for_env(sor), sor).save(tmp_path / "sor.pt")
    with pytest.raises(TunerMismatchError, match="krylov"):
        KrylovTuner.load(tmp_path / "sor.pt")


def _poisson(grid: int) -> sp.csr_matrix:
    one = np.ones(grid)
    t = sp.diags([-one[:-1], 2 * one, -one[:-1]], [-1, 0, 1])
    return (sp.kron(sp.identity(grid), t) + sp.kron(t, sp.identity(grid))).tocsr()


def test_tuner_reports_failures_as_statuses():
    tuner = KrylovTuner.pcgbandit(seed=0, maxiter=20, **SMALL)
    indefinite = (_poisson(30) - 4.0 * sp.identity(900)).tocsr()  # eigenvalues on both sides of 0
    result = tuner.solve(indefinite, np.ones(900), symmetric=True)
    assert result.status in ("breakdown", "diverged", "max_iterations") and not result.success
    assert result.first_attempt is not None  # the fallback fails too, and both are reported
    assert result.first_attempt.preconditioner in result.message and result.work >= result.first_attempt.work


def test_a_failed_solve_is_solved_again_with_the_fallback_and_both_are_reported():
    """A solvable system whose chosen preconditioner fails (Jacobi, capped at 20 iterations on a 900-unknown Poisson
    problem) gets its solution from the fallback (smoothed aggregation AMG, built afresh); the result's work and
    time count both solves; ``fallback=False`` keeps the env's semantics (the failure is the result)."""
    env = gym.make("tunegym/PCG-v0", maxiter=20, **SMALL)
    A, b = _poisson(30), np.ones(900)
    from tunegym.agents.krylov_tuner import fixed_jacobi

    tuner = KrylovTuner.from_env(fixed_jacobi(env.unwrapped), env)
    result = tuner.solve(A, b, learn=False)
    first = result.first_attempt
    assert result.success and result.fallback_from == "jacobi" and result.preconditioner == "amg_sa(0,gauss_seidel)"
    assert first.status == "max_iterations" and not first.success and first.arm == ("jacobi",)
    assert np.linalg.norm(A @ result.x - b) <= 1e-7 * np.linalg.norm(b)
    assert result.work == pytest.approx(first.work + result.setup_work - first.setup_work
                                        + result.info["iteration_work"])
    assert result.wall_time > first.wall_time and "jacobi failed (max_iterations" in result.message
    assert tuner.process.kept.arm == ("amg_sa", 0.0, "gauss_seidel")  # the next system may reuse it
    assert tuner.solves == 1
    plain = KrylovTuner.from_env(fixed_jacobi(env.unwrapped), env).solve(A, b, learn=False, fallback=False)
    assert plain.status == "max_iterations" and plain.first_attempt is None and plain.work == first.work
    system = KrylovSystem.from_arrays(A, b, symmetric=True)  # a KrylovSystem given to solve() honours it too
    again = KrylovTuner.from_env(fixed_jacobi(env.unwrapped), env).solve(system, None, learn=False, fallback=False)
    assert again.status == "max_iterations" and again.first_attempt is None


def test_when_the_fallback_preconditioner_itself_failed_the_system_is_solved_without_one():
    """Before: a solve that failed with the fallback (smoothed aggregation, built afresh) was returned failed, as
    ``pretrained:krylov-gmres`` with ``objective="work"`` met on a convection-diffusion system (PyAMG's
    non-symmetric V-cycle stalls under GMRES: SciPy stops it); now the system is solved again unpreconditioned."""
    from tunegym.agents.baselines import FixedKnob

    env = gym.make("tunegym/PGMRES-v0", **SMALL)
    tuner = KrylovTuner.from_env(FixedKnob(env.unwrapped, ("amg_sa", 0.0, "gauss_seidel")), env)
    system = next(iter(PDESequence("convection", grid=60, run_length=25).sequence(np.random.default_rng(3), 1)))
    result = tuner.solve(system.A, system.b, learn=False)
    assert result.first_attempt.status == "max_iterations" and result.fallback_from == "amg_sa(0,gauss_seidel)"
    assert result.success and result.preconditioner == "none" and "solved again with none" in result.message
    assert np.linalg.norm(system.b - system.A @ result.x) <= 1e-8 * np.linalg.norm(system.b) * 1.01


def test_the_learner_learns_from_the_failure_and_from_the_fallback_solve():
    env = gym.make("tunegym/PCG-v0", maxiter=20, **SMALL)
    tuner = KrylovTuner.from_env(krylov_reuse(env.unwrapped, {}, seed=0), env)
    policy = tuner.tuner.policy
    result = tuner.solve(_poisson(30), np.ones(900), learn=True)  # an untried learner plays arm 0 (none) first
    fallback = DEFAULT_ARMS.index(("amg_sa", 0.0, "gauss_seidel"))
    assert result.arm == ("none",) and result.fallback_from == "none" and result.success
    assert policy.t == 2 and policy.counts[0] == 1 and policy.counts[fallback] == 1
    assert policy.counts.sum() == 2


def test_a_cg_tuner_that_fails_on_a_non_symmetric_matrix_says_so():
    """A CG tuner does not check symmetry before solving (it would cost a transpose per call); when its solve fails on
    a non-symmetric matrix the message says so, and a symmetric matrix that fails is not blamed on symmetry."""
    tuner = KrylovTuner.load("pretrained:krylov")
    shift = sp.diags([np.ones(899)], [1])
    convection = (_poisson(30) + shift - shift.T).tocsr()
    result = tuner.solve(convection, np.ones(900))
    assert not result.success and "not symmetric" in result.message
    assert result.first_attempt is None  # no fallback solve: no preconditioner makes CG fit a non-symmetric matrix
    indefinite = tuner.solve((_poisson(30) - 4.0 * sp.identity(900)).tocsr(), np.ones(900))
    assert not indefinite.success and "not symmetric" not in indefinite.message


# ---- bench and shipped tuner ------------------------------------------------------------------------------------
def test_bench_prices_each_arm_once_and_the_oracle_is_greedy_optimal_with_exact_reuse(tmp_path):
    from tunegym.envs.krylov.precond import DEFAULT_ARMS
    from tunegym.tuning.benches.krylov_suite import break_even, price_sequence, run_learners, suite

    assert suite().domain == "krylov"
    systems = list(PDESequence("diffusion", grid=8, run_length=4).sequence(np.random.default_rng(0), length=4))
    cache = tmp_path / "table.json"
    table = price_sequence(systems, DEFAULT_ARMS, cache=cache)
    assert cache.exists() and price_sequence(systems, DEFAULT_ARMS, cache=cache) == table  # read back, no solve
    fresh = [name for name in table if name.startswith("fixed:") and name != "fixed:reuse"]
    assert len(fresh) == len(DEFAULT_ARMS) - 1 and {"oracle", "pyamg_default", "fixed:reuse"} <= set(table)
    assert len(table["reuse1:amg_sa(0,gauss_seidel)"]["cost"]) == 3  # reuse of t-1's build, from t = 1 on
    for t in range(4):
        assert table["oracle"]["cost"][t] <= min(table[name]["cost"][t] for name in fresh)
    # the oracle's reuse candidate is exact: replaying its choices through one process gives its costs
    process = KrylovSolve(solver="cg")
    replay = []
    for system, label in zip(systems, table["oracle"]["arm"]):
        arm = ("reuse",) if label == "reuse" else next(a for a in DEFAULT_ARMS if arm_label(a) == label)
        process.start(system)
        replay.append(process.advance(arm).cost)
    assert replay == table["oracle"]["cost"]
    tuner = KrylovTuner.pcgbandit(seed=0, **SMALL)
    tuner.save(tmp_path / "t.pt")
    live = run_learners(systems, tuner_file=tmp_path / "t.pt", seed=0, env_kwargs=SMALL)
    assert set(live) == {"krylov_tuner", "pcgbandit"} and len(live["krylov_tuner"]["cost"]) == 4
    assert break_even(np.array([3.0, 1, 1, 1]), np.array([2.0, 2, 2, 2])) == 2  # cumulative 3,4,5,6 vs 2,4,6,8


def test_suite_spec_has_disjoint_splits_and_both_scales():
    from tunegym.tuning.benches.krylov_suite import suite

    s = suite()
    assert s.version >= 2 and s.name == "krylov-sequences"
    assert not set(s.tune_seeds) & set(s.dev_test_seeds) and not set(s.dev_test_seeds) & set(s.final_test_seeds)
    assert s.size("grid", "full") * s.size("grid", "full") >= 10_000 and s.size("length", "smoke") <= 50


def test_the_gmres_suite_solves_convection_by_gmres_against_gmres_baselines(tmp_path):
    """The non-symmetric suite (issue #20's PGMRES): its families are solved by GMRES in pricing, by learners built
    for tunegym/PGMRES-v0, and its wall claims name plain GMRES and PyAMG with accel="gmres"; a suite mixing
    symmetric and non-symmetric families is refused."""
    from tunegym.agents.tuners import load_tuner
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.krylov_suite import GMRES_SUITE_NAME, price_sequence, run_suite, suite, suite_solver

    s = suite(GMRES_SUITE_NAME)
    assert not set(s.final_test_seeds) & (set(s.tune_seeds) | set(s.dev_test_seeds))
    assert suite_solver(s.families()) == "gmres" and suite_solver(suite().families()) == "cg"
    with pytest.raises(ConfigError, match="mix symmetric"):
        suite_solver({"a": {"kind": "diffusion"}, "b": {"kind": "convection"}})
    systems = list(PDESequence("convection", grid=8, run_length=3).sequence(np.random.default_rng(0), length=3))
    table = price_sequence(systems, DEFAULT_ARMS, solver="gmres")
    fresh = [name for name in table if name.startswith("fixed:") and name != "fixed:reuse"]
    for t in range(3):
        assert table["oracle"]["cost"][t] <= min(table[name]["cost"][t] for name in fresh)
    assert table["fixed:none"]["iterations"][0] > 0 and np.isfinite(table["pyamg_default"]["work"]).all()
    process = KrylovSolve(solver="gmres")  # the table's solves are GMRES's
    process.start(systems[0])
    assert process.advance(("none",)).cost == table["fixed:none"]["cost"][0]
    claims = run_suite(s, "smoke", tmp_path, grid=8, length=6, tune=1, test=2)
    assert {c.baseline for c in claims if c.metric == "wall_time"} == {
        "plain GMRES", "pyamg_default", "min(pyamg_default, plain GMRES)"}
    assert load_tuner(tmp_path / "krylov_tuner.pt").env_id == "tunegym/PGMRES-v0"
    assert "solved by GMRES" in (tmp_path / "krylov.md").read_text()


def test_our_learner_saves_loads_through_load_tuner_and_matches_the_env(tmp_path):
    from tunegym.agents.krylov_tuner import KrylovReuseBandit, krylov_reuse
    from tunegym.agents.tuners import load_tuner

    env = gym.make("tunegym/PCG-v0", **SMALL)
    agent = krylov_reuse(env, {"epsilon": 0.3}, seed=3)
    assert agent.reuse_index == len(DEFAULT_ARMS) - 1
    systems, env_arms, env_costs, obs = rollout(env, agent, seed=5, steps=14)
    assert ("reuse",) in env_arms or agent.counts[:-1].min() >= 1  # every fresh arm tried first
    tuner = KrylovTuner.from_env(krylov_reuse(env, {"epsilon": 0.3}, seed=3), env)
    results = [tuner.solve_system(system, learn=True, fallback=False) for system in systems]
    assert [r.arm for r in results] == env_arms and [r.cost for r in results] == env_costs
    tuner.save(tmp_path / "ours.pt")
    again = KrylovTuner.load(tmp_path / "ours.pt")
    assert isinstance(again.tuner.policy, KrylovReuseBandit) and again.tuner.policy.t == 14
    np.testing.assert_array_equal(again.tuner.policy.gram, tuner.tuner.policy.gram)
    agent.save(tmp_path / "bandit.pt")
    assert isinstance(load_tuner(tmp_path / "bandit.pt"), KrylovReuseBandit)
    fresh, reuse = again.tuner.policy.predicted_work(obs)
    assert np.isinf(fresh[-1]) and np.all(np.isfinite(fresh[:-1])) and reuse >= 0


def test_shared_matrix_validator_refuses_complex_and_empty():
    from tunegym.envs.core.matrices import as_real_csr

    with pytest.raises(MatrixError, match="complex"):
        KrylovSystem.from_arrays(np.eye(3) * 1j, np.ones(3))
    with pytest.raises(MatrixError, match="empty"):
        as_real_csr(np.zeros((0, 0)))
    user = laplacian(4)
    user.has_sorted_indices = False
    assert as_real_csr(user) is not user  # a copy: the user's matrix is never sorted in place


def test_shipped_pretrained_tuner_loads_and_solves():
    from tunegym.agents.tuners import load_tuner

    tuner = KrylovTuner.load("pretrained:krylov")
    assert load_tuner("pretrained:krylov").domain == "krylov"
    system = next(iter(PDESequence("anisotropic", grid=10).sequence(np.random.default_rng(5))))
    assert tuner.solve_system(system, learn=False).success


def test_time_weights_steer_the_decision_and_survive_a_save(tmp_path):
    """``arm_weights`` multiply predicted work in the decision only: a heavily weighted arm is avoided."""
    from tunegym.agents.krylov_tuner import KrylovReuseBandit

    tuner = KrylovTuner.load("pretrained:krylov", objective="work")
    system = PDESequence("diffusion", grid=24, run_length=10).sample(np.random.default_rng(3))
    bandit = tuner.tuner.policy
    tuner.process.start(system)
    tuner.features.reset(tuner.process)
    observation = tuner.features.observation(tuner.process)
    favourite, _ = bandit.predict(observation)
    weights = [1.0] * bandit.n_arms
    weights[favourite] = 1e6
    weighted = bandit.with_config(arm_weights=weights)
    assert weighted.predict(observation)[0] != favourite
    fresh, _ = weighted.predicted_work(observation)
    plain, _ = bandit.predicted_work(observation)
    assert fresh[favourite] == pytest.approx(plain[favourite] * 1e6)
    weighted.save(tmp_path / "w.pt")
    assert KrylovReuseBandit.load(tmp_path / "w.pt").config.arm_weights == tuple(weights)
    with pytest.raises(Exception, match="arm_weights"):
        bandit.with_config(arm_weights=[1.0, 2.0])


def test_the_shipped_tuner_decides_on_time_by_default_and_on_work_when_asked(tmp_path):
    """``pretrained:krylov`` loads with its card's time weights (what a user's wall clock sees); ``objective="work"``
    is the env's cost, as the suite's work claims measure it; a file keeps what it was saved with."""
    import json

    from tunegym.agents.tuners import pretrained_path
    from tunegym.envs.core.errors import ConfigError

    card = json.loads(pretrained_path("krylov").with_suffix(".json").read_text())
    weights = card["evaluation"]["time_weights_on_tune"]
    timed = KrylovTuner.load("pretrained:krylov")
    labels = [arm_label(tuple(a)) for a in timed.tuner.knob.arms]
    assert timed.tuner.policy.config.arm_weights == tuple(weights[label] for label in labels)
    assert KrylovTuner.load("pretrained:krylov", objective="work").tuner.policy.config.arm_weights is None
    timed.save(tmp_path / "timed.pt")
    saved = KrylovTuner.load(tmp_path / "timed.pt").tuner.policy.config.arm_weights
    assert saved == timed.tuner.policy.config.arm_weights
    assert KrylovTuner.load(tmp_path / "timed.pt", objective="work").tuner.policy.config.arm_weights is None
    KrylovTuner.load("pretrained:krylov", objective="work").save(tmp_path / "plain.pt")
    with pytest.raises(ConfigError, match="time weights"):
        KrylovTuner.load(tmp_path / "plain.pt", objective="time")
    with pytest.raises(ConfigError, match="objective"):
        KrylovTuner.load("pretrained:krylov", objective="wall")


def test_the_shipped_cg_tuner_solves_non_symmetric_systems_with_another_solver():
    """``solver=`` swaps the Krylov method: the CG-trained tuner with GMRES (or "auto") solves a convection-diffusion
    sequence that CG cannot, keeps learning, and a bad solver name is a ConfigError."""
    from tunegym.envs.core.errors import ConfigError

    systems = list(PDESequence("convection", grid=12, run_length=4).sequence(np.random.default_rng(2), length=4))
    for solver in ("gmres", "auto"):
        tuner = KrylovTuner.load("pretrained:krylov", solver=solver)
        results = [tuner.solve(s.A, s.b) for s in systems]
        assert all(r.success and r.info["solver"] == "gmres" for r in results)
        assert all(np.linalg.norm(s.A @ r.x - s.b) <= 1e-7 * np.linalg.norm(s.b) for s, r in zip(systems, results))
        assert tuner.tuner.policy.t >= 4
    cg = KrylovTuner.load("pretrained:krylov", solver="auto").solve(_poisson(10), np.ones(100))
    assert cg.success and cg.info["solver"] == "cg"
    with pytest.raises(ConfigError, match="solver"):
        KrylovTuner.load("pretrained:krylov", solver="minres")


def test_shipped_gmres_tuner_solves_non_symmetric_sequences_by_gmres_deciding_on_time():
    """``pretrained:krylov-gmres`` (trained on krylov-gmres-sequences): GMRES, time weights from its card, and every
    system of a convection-diffusion sequence it never saw solved to the tolerance, learning online."""
    import json

    from tunegym.agents.tuners import pretrained_path

    tuner = KrylovTuner.load("pretrained:krylov-gmres")
    assert tuner.tuner.env_id == "tunegym/PGMRES-v0" and tuner.process.solver == "gmres"
    card = json.loads(pretrained_path("krylov-gmres").with_suffix(".json").read_text())
    weights = card["evaluation"]["time_weights_on_tune"]
    assert tuner.tuner.policy.config.arm_weights == tuple(weights[arm_label(a)] for a in DEFAULT_ARMS)
    systems = PDESequence("convection", grid=24, run_length=6, peclet=80.0).sequence(np.random.default_rng(7), 6)
    for system in systems:
        result = tuner.solve(system.A, system.b, learn=True)
        assert result.success and result.residual <= 1e-8
        assert np.linalg.norm(system.b - system.A @ result.x) <= 1e-8 * np.linalg.norm(system.b) * 1.01


def test_a_solver_chosen_at_load_survives_a_save(tmp_path):
    tuner = KrylovTuner.load("pretrained:krylov", solver="gmres")
    tuner.save(tmp_path / "gmres.pt")
    assert KrylovTuner.load(tmp_path / "gmres.pt").process.solver == "gmres"


def test_time_weights_are_seconds_per_work_unit_relative_to_the_median_arm():
    from tunegym.tuning.benches.krylov_suite import fit_time_weights

    arms = (("none",), ("jacobi",), ("ilu", 0.01, 2.0), ("reuse",))
    table = {f"fixed:{arm_label(a)}": {"wall": [w], "work": [1.0]} for a, w in zip(arms[:3], (1.0, 2.0, 20.0))}
    assert fit_time_weights([table, table], arms) == (0.5, 1.0, 10.0, 1.0)


def test_a_user_weighs_arms_by_label_to_decide_on_time():
    tuner = KrylovTuner.load("pretrained:krylov")
    tuner.weigh_arms({"ilu(0.01,2)": 20.0, "jacobi": 0.2})
    weights = dict(zip([arm_label(tuple(a)) for a in tuner.tuner.knob.arms], tuner.tuner.policy.config.arm_weights))
    assert weights["ilu(0.01,2)"] == 20.0 and weights["jacobi"] == 0.2 and weights["none"] == 1.0
    system = PDESequence("diffusion", grid=16, run_length=10).sample(np.random.default_rng(0))
    assert tuner.solve_system(system).success
    with pytest.raises(Exception, match="unknown arms"):
        tuner.weigh_arms({"ilu(0.5,9)": 2.0})


def test_full_information_update_is_the_live_update_of_an_arm_not_played():
    from tunegym.agents.krylov_tuner import krylov_reuse

    env = gym.make("tunegym/PCG-v0", **SMALL)
    obs, _ = env.reset(seed=2)
    arm = 4  # a fresh arm (ILU): setup and iterations both non-zero
    _, _, _, _, info = env.step(arm)
    live, counterfactual = krylov_reuse(env, seed=0), krylov_reuse(env, seed=0)
    live.observe(obs, arm, 0.0, info)
    counterfactual.observe_fresh(obs, arm, setup_work=info["setup_work"], cost=info["cost"], nnz=info["nnz"])
    np.testing.assert_allclose(counterfactual.gram, live.gram)
    np.testing.assert_allclose(counterfactual.targets, live.targets)
    assert counterfactual.counts[arm] == 1 and counterfactual.t == 0  # taught, but no step was played
    with pytest.raises(Exception, match="not a fresh arm"):
        counterfactual.observe_fresh(obs, counterfactual.reuse_index, setup_work=0.0, cost=1.0, nnz=1.0)


def test_residual_memory_carries_a_live_error_to_the_next_system_and_lapses_on_a_new_field(tmp_path):
    """An arm that just cost far more than predicted is predicted dearer on the next system of the same run (by the
    decayed error), not at all after ``residual_decay=0``, and no longer once the diagonal jumps (a new field) or a
    new sequence starts; the memory survives a save."""
    from tunegym.agents.krylov_tuner import KrylovReuseBandit, krylov_reuse
    from tunegym.envs.core.errors import ConfigError

    env = gym.make("tunegym/PCG-v0", grid=10, run_length=50)  # the time step grows 15% a system
    obs, _ = env.reset(seed=2)
    arm = 4
    next_obs, _, _, _, info = env.step(arm)  # the next system of the same run (a small diagonal change)
    assert next_obs[list(FEATURE_NAMES).index("log10_diag_change")] < -0.5
    bandit, forgetful = krylov_reuse(env, seed=0), krylov_reuse(env, {"residual_decay": 0.0}, seed=0)
    dearer = dict(info, cost=info["cost"] * 50.0)  # 50x the work it took: far above any prediction
    bandit.observe(obs, arm, 0.0, dearer)
    forgetful.observe(obs, arm, 0.0, dearer)
    plain, _ = forgetful.predicted_work(next_obs)
    remembered, _ = bandit.predicted_work(next_obs)
    assert remembered[arm] > 2.0 * plain[arm]  # the decayed error on top of the regression (which learnt it too)
    others = [a for a in range(bandit.n_arms) if a not in (arm, bandit.reuse_index)]
    np.testing.assert_allclose(remembered[others], plain[others])  # only the arm that was measured
    new_field = np.array(next_obs, copy=True)
    new_field[list(FEATURE_NAMES).index("log10_diag_change")] = 0.3  # the diagonal changed by 2x: a new run
    np.testing.assert_allclose(bandit.predicted_work(new_field)[0][arm], forgetful.predicted_work(new_field)[0][arm])
    bandit.save(tmp_path / "b.pt")
    again = KrylovReuseBandit.load(tmp_path / "b.pt")
    np.testing.assert_allclose(again.predicted_work(next_obs)[0], remembered)
    first, _ = env.reset(seed=3)  # a new sequence: nothing kept, no previous solve
    np.testing.assert_allclose(bandit.predicted_work(first)[0][arm], forgetful.predicted_work(first)[0][arm])
    with pytest.raises(ConfigError, match="residual_decay"):
        bandit.with_config(residual_decay=1.5)


def test_training_on_priced_tune_sequences_teaches_every_fresh_arm_on_every_system(tmp_path):
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.benches.krylov_suite import price_sequence, train_tuner

    systems = list(PDESequence("diffusion", grid=8, run_length=4).sequence(np.random.default_rng(1), length=5))
    table = price_sequence(systems, DEFAULT_ARMS)
    informed = train_tuner([systems], config={"epsilon": 0.1}, seed=0, env_kwargs=SMALL, passes=2, tables=[table])
    bandit = train_tuner([systems], config={"epsilon": 0.1}, seed=0, env_kwargs=SMALL, passes=2)
    fresh = [i for i, a in enumerate(DEFAULT_ARMS) if a != ("reuse",)]
    # each pass over each system teaches each fresh arm once, live or from the table, never twice
    assert all(informed.tuner.policy.counts[i] == 2 * len(systems) for i in fresh)
    assert bandit.tuner.policy.counts[fresh].sum() < informed.tuner.policy.counts[fresh].sum()
    assert informed.tuner.provenance["full_information"] is True
    with pytest.raises(ConfigError, match="price tables"):
        train_tuner([systems], config={}, seed=0, env_kwargs=SMALL, tables=[table, table])


def test_first_off_diagonal_share_tells_coupling_along_the_ordering_from_across_it():
    from tunegym.envs.krylov.process import FEATURE_NAMES, KrylovFeatures

    band = FEATURE_NAMES.index("offdiag_band1_fraction")
    features = KrylovFeatures()

    def share(A):
        return features.matrix_features(KrylovSystem.from_arrays(A, np.ones(A.shape[0]), name="t"))[band]

    assert share(laplacian(50)) == pytest.approx(1.0)  # 1-D: every coupling is to i +- 1
    g = 10  # 2-D 5-point Laplacian, natural order: half the coupling along rows (i +- 1), half across (i +- g)
    L2 = sp.kronsum(laplacian(g), laplacian(g), format="csr")
    assert share(L2) == pytest.approx(0.5)
    # the same anisotropy along the ordering (kronsum's first factor acts on i +- 1) or across it: equal dominance
    # and diagonal, so only this feature tells them apart (ILU's quality differs by orders of magnitude)
    along = sp.kronsum(100 * laplacian(g), laplacian(g), format="csr")
    across = sp.kronsum(laplacian(g), 100 * laplacian(g), format="csr")
    assert share(across) < 0.1 < 0.9 < share(along)
    others = list(range(band))
    np.testing.assert_allclose(features.matrix_features(KrylovSystem.from_arrays(along, np.ones(g * g), name="a"))[others],
                               features.matrix_features(KrylovSystem.from_arrays(across, np.ones(g * g), name="b"))[others])


@pytest.mark.slow
def test_ablation_script_runs_at_smoke_scale(tmp_path, benchmark_script):
    """``benchmarks/krylov_ablation.py`` (published figures) runs end to end on the smoke suite."""
    module = benchmark_script("krylov_ablation")
    result = module.main(["--scale", "smoke", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "a.json")])
    assert (tmp_path / "a.json").exists() and result["scale"] == "smoke"
    for variant in result["offline_regret"].values():
        assert all(np.isfinite(v) and v >= 1.0 for v in variant.values())  # a pick never beats the best arm
    for variant in result["live_work_over_best_fixed"].values():
        assert all(np.isfinite(v) and v > 0 for v in variant.values())


def test_memory_ablation_script_runs_at_smoke_scale(tmp_path, benchmark_script):
    """``benchmarks/krylov_memory_ablation.py`` (published figures) runs end to end on the smoke suite."""
    module = benchmark_script("krylov_memory_ablation")
    result = module.main(["--scale", "smoke", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "m.json")])
    assert (tmp_path / "m.json").exists() and set(result["work_over_oracle"]) == set(module.RULES)
    for table in (result["work_over_oracle"], result["work_over_best_fixed"]):
        for rule in table.values():
            assert all(np.isfinite(v) and v > 0 for v in rule.values())


@pytest.mark.slow
def test_gmres_gap_script_runs_at_smoke_scale_and_its_parts_add_up(tmp_path, benchmark_script):
    """``benchmarks/krylov_gmres_gap.py`` (published diagnosis) runs end to end on the smoke GMRES suite, and the
    excess it splits by kind is the learner's work over the oracle's where the learner paid more."""
    module = benchmark_script("krylov_gmres_gap")
    result = module.main(["--scale", "smoke", "--cache", str(tmp_path / "cache"), "--dev", "1",
                          "--variants", "suite (3 tune sequences)", "--out", str(tmp_path / "g.json")])
    (entry,) = result["variants"].values()
    (sequence,) = entry["per_sequence"]
    assert result["scale"] == "smoke" and len(entry["tune_seeds"]) == 3 and result["commit"]
    assert sum(sequence["excess"].values()) >= sequence["work_over_oracle"] - 1.0 - 1e-9  # excess >= net excess
    assert all(v >= 0 for v in sequence["excess"].values())
    for counts in result["tune_failures"].values():
        assert sum(counts["steps"].values()) == counts["failed"] <= counts["systems"] == 3 * 40
    with pytest.raises(SystemExit):
        module.main(["--cache", str(tmp_path / "cache"), "--variants", "nope", "--out", str(tmp_path / "x.json")])


# ---- the deploy path's cost at scale ------------------------------------------------------------------------
def test_feature_scan_samples_rows_of_big_matrices_and_estimates_the_full_scan():
    """Above ``SCAN_ROWS`` rows the scan reads a fixed sample (same rows for a size, sorted, distinct); its row
    features are close to the full pass's, and small matrices (every suite matrix) are read whole."""
    from tunegym.envs.krylov import process as P

    assert np.array_equal(P.scan_rows(P.SCAN_ROWS), np.arange(P.SCAN_ROWS))
    for n in (P.SCAN_ROWS + 1, 3 * P.SCAN_ROWS + 7, 10**6):
        rows = P.scan_rows(n)
        assert rows.size == P.SAMPLE_ROWS and np.all(np.diff(rows) > 0) and 0 <= rows[0] and rows[-1] < n
        assert np.array_equal(rows, P.scan_rows(n))
    system = next(iter(PDESequence("diffusion", grid=200, nu_range=(3.0, 3.0)).sequence(np.random.default_rng(1))))
    sampled = P.KrylovFeatures().matrix_features(system)
    A, full = system.A, np.empty(system.n)
    dominance, positive, off, band, _, _ = P._matrix_scan(A.indptr, A.indices, A.data, np.arange(system.n), full)
    np.testing.assert_allclose(sampled[[2, 4, 5]], [dominance, positive / off, band], rtol=0.02)
    assert sampled[3] == pytest.approx(np.log10(np.abs(full).max() / np.abs(full).min()), abs=0.15)  # spread


def test_deploy_solve_wraps_a_canonical_user_matrix_without_copy_hash_or_change():
    """``KrylovTuner.solve`` on float64 canonical CSR neither copies, hashes nor changes the user's matrix; the
    record is keyed by call; anything else is converted into a new matrix, and bad input still fails early."""
    A = sp.kronsum(laplacian(12), laplacian(12), format="csr")
    before = (A.data.copy(), A.indices.copy(), A.indptr.copy())
    system = KrylovSystem.from_arrays(A, np.ones(A.shape[0]), key="mine")
    assert system.A is A and system.id == "mine"
    tuner = KrylovTuner.load("pretrained:krylov")
    results = [tuner.solve(A, np.ones(A.shape[0])) for _ in range(2)]
    assert all(r.success for r in results) and [r.info["instance_id"] for r in results] == ["user-0", "user-1"]
    for now, then in zip((A.data, A.indices, A.indptr), before):
        assert np.array_equal(now, then)
    for arm in (("ssor", 1.5), ("amg_sa", 0.0, "gauss_seidel")):  # a time stepper updating A in place, reusing
        process = KrylovSolve(solver="cg")
        process.start(KrylovSystem.from_arrays(A, np.ones(A.shape[0])))
        assert process.advance(arm).status == "converged"
        A.data *= 1.0 + 0.5 * (A.indices == np.repeat(np.arange(A.shape[0]), np.diff(A.indptr)))  # heavier diagonal
        process.start(KrylovSystem.from_arrays(A, np.ones(A.shape[0])))
        record = process.advance(("reuse",))
        assert record.extra["reused"] and record.status == "converged"
    coo = A.tocoo()
    assert KrylovSystem.from_arrays(coo, np.ones(A.shape[0])).A is not coo
    int_matrix = sp.csr_matrix(np.eye(4, dtype=np.int64) * 2)
    assert KrylovSystem.from_arrays(int_matrix, np.ones(4)).A.dtype == np.float64
    bad = A.copy()
    bad.data[3] = np.nan
    with pytest.raises(MatrixError, match="NaN"):
        tuner.solve(bad, np.ones(A.shape[0]))


@pytest.mark.parametrize("case", ["symmetric", "values", "pattern", "explicit_zero"])
def test_symmetry_check_fast_path_agrees_with_the_definition(case):
    from tunegym.envs.krylov.instances import is_symmetric

    A = sp.kronsum(laplacian(6), laplacian(6), format="lil")
    if case == "values":
        A[0, 1] = -1.5
    elif case == "pattern":
        A[0, 5] = 1e-3
    elif case == "explicit_zero":  # a stored zero whose mirror is not stored: symmetric by value
        coo = A.tocoo()
        A = sp.csr_matrix((np.append(coo.data, 0.0), (np.append(coo.row, 0), np.append(coo.col, 5))), shape=A.shape)
        assert A.nnz == coo.nnz + 1
    A = A.tocsr()
    A.sort_indices()
    assert is_symmetric(A) == (case in ("symmetric", "explicit_zero"))
    assert is_symmetric(A) == (abs(A - A.T).max() == 0)


def test_cg_without_preconditioner_skips_the_duplicate_dot_and_matches_the_general_loop():
    from tunegym.envs.krylov.precond import _pcg

    A = sp.kronsum(laplacian(15), laplacian(15), format="csr")
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    bnorm = float(np.linalg.norm(b))
    runs = [_pcg(A, b, lambda r: r, np.zeros_like(b), 1e-10, 500, bnorm, 1e10, False, identity=flag)
            for flag in (False, True)]
    assert runs[0].status == runs[1].status == "converged" and runs[0].iterations == runs[1].iterations
    assert np.array_equal(runs[0].x, runs[1].x) and runs[0].residuals == runs[1].residuals


def test_interleaved_wall_script_runs_on_a_smoke_run(tmp_path, benchmark_script):
    """``benchmarks/krylov_wall_interleaved.py`` (published wall-time figures) runs end to end: it reads a run's
    tuner and weights, times the three methods on the user path, and writes its report."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    KrylovTuner.load("pretrained:krylov").save(run / "krylov_tuner.pt")
    (run / "krylov.json").write_text(json.dumps({"time_weights": {"none": 1.0, "jacobi": 1.0}}))
    module = benchmark_script("krylov_wall_interleaved")
    result = module.main(["--run", str(run), "--scale", "smoke", "--length", "3", "--test", "2", "--offset", "1",
                          "--out", str(tmp_path / "w.md")])
    assert (tmp_path / "w.md").exists() and [r["seed"] for r in result["rows"][:2]] == [101, 102]
    assert all(r["failed"] == 0 and r["krylov_tuner_time"] > 0 and r["plain_cg"] > 0 for r in result["rows"])


def test_user_matrices_script_runs_and_its_fem_matrices_are_spd(tmp_path, benchmark_script):
    """``benchmarks/krylov_user_matrices.py`` (the published user-matrix figures) runs end to end, and its P1 FEM
    matrices are what it says: symmetric positive definite, the sorted order a permutation of the random one."""
    module = benchmark_script("krylov_user_matrices")
    A = module.fem_matrix(300, 4)
    assert abs(A - A.T).max() <= 1e-12 * abs(A).max() and np.linalg.eigvalsh(A.toarray()).min() > 0
    assert module.fem_matrix(300, 4, order="sorted").nnz == A.nnz
    result = module.main(["--n", "400", "--length", "3", "--meshes", "1", "--out", str(tmp_path / "u.md")])
    assert (tmp_path / "u.md").exists() and (tmp_path / "u.json").exists() and len(result["rows"]) == 2
    assert all(r["failed"] == 0 and min(r[m] for m in ("tuner_time", "tuner_work", "plain_cg", "pyamg_default")) > 0
               for r in result["rows"])
    gmres = module.main(["--family", "convection", "--grid", "12", "--length", "3", "--meshes", "2", "--out",
                         str(tmp_path / "g.md")])
    assert [r["order"] for r in gmres["rows"]] == ["convection"] * 2
    assert all(r["failed"] == 0 and r["plain_gmres"] > 0 for r in gmres["rows"])


def test_compiled_ridge_solve_matches_numpy_and_refuses_an_invalid_gram():
    """The learner's one ridge solver (Cholesky, compiled) agrees with NumPy's solve on a ridge Gram matrix, and says
    no (instead of returning garbage) for a matrix that is not positive definite or not finite."""
    from tunegym.agents import krylov_numerics as kn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 19))
    gram, target = np.eye(19) + X.T @ X, X.T @ rng.normal(size=30)
    out = np.zeros(19)
    assert kn.ridge_solve(gram, target, out)
    np.testing.assert_allclose(out, np.linalg.solve(gram, target), rtol=1e-10, atol=1e-12)
    for bad in (-np.eye(19), np.full((19, 19), np.nan)):
        assert not kn.ridge_solve(bad, target, np.zeros(19))


def test_learner_refuses_a_malformed_state_and_a_nan_context(tmp_path):
    """A learner state whose arrays have the wrong shape, or whose Gram matrices are not positive definite, is a
    CheckpointError at load; a context holding NaN or of the wrong length is a ConfigError."""
    from tunegym.agents.krylov_tuner import KrylovReuseBandit, krylov_reuse
    from tunegym.envs.core.errors import CheckpointError, ConfigError

    env = gym.make("tunegym/PCG-v0", **SMALL)
    agent = krylov_reuse(env, seed=0)
    obs, _ = env.reset(seed=1)
    state = agent.state_dict()
    twin = KrylovReuseBandit(agent.n_arms, agent.config, seed=0, context_low=agent.scaler.low,
                             context_high=agent.scaler.high)
    with pytest.raises(CheckpointError, match="shape"):
        twin.load_state_dict({**state, "arrays": {**state["arrays"], "gram": state["arrays"]["gram"][:, :2]}})
    with pytest.raises(CheckpointError, match="positive definite"):
        twin.load_state_dict({**state, "arrays": {**state["arrays"], "gram": -state["arrays"]["gram"]}})
    with pytest.raises(ConfigError, match="NaN"):
        agent.predicted_work(np.where(np.arange(obs.size) == 2, np.nan, obs))
    with pytest.raises(ConfigError, match="entries"):
        agent.predicted_work(obs[:-1])


def test_finiteness_check_catches_nan_and_inf_and_tolerates_huge_values():
    """The deploy path's one-pass finiteness check (a sum of squares) flags NaN and ±inf anywhere, and a sum that
    only overflows (entries near 1e200) falls back to the entry-wise check instead of refusing a valid matrix."""
    from tunegym.envs.core.matrices import all_finite

    values = np.ones(1000)
    assert all_finite(values) and all_finite(np.full(10, 1e200)) and all_finite(np.zeros(0))
    for bad in (np.nan, np.inf, -np.inf):
        broken = values.copy()
        broken[637] = bad
        assert not all_finite(broken)
    with pytest.raises(MatrixError, match="NaN or infinite"):
        KrylovSystem.from_arrays(sp.csr_matrix(np.diag([1.0, np.inf, 1.0])), np.ones(3))
    huge = sp.diags([np.full(5, 1e200)], [0], format="csr")
    assert KrylovSystem.from_arrays(huge, np.ones(5)).A is huge


def test_sampled_scan_sees_the_diagonal_change_of_big_matrices():
    """Above ``SCAN_ROWS`` rows the diagonal change (what tells a new coefficient field, and what the reuse model
    reads) is taken on the sampled rows of both systems, not dropped because the sample is not the whole diagonal."""
    from tunegym.envs.krylov import process as P

    n = P.SCAN_ROWS + 1000
    A = sp.diags([-np.ones(n - 1), 4 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    features, process = P.KrylovFeatures(), KrylovSolve(solver="cg")
    change = list(FEATURE_NAMES).index("log10_diag_change")
    observed = []
    for step, scale in enumerate((1.0, 1.0, 3.0)):
        process.start(KrylovSystem.from_arrays(A * scale, np.ones(n), symmetric=True, step=step, key=str(step)))
        features.reset(process)
        observed.append(features.observation(process)[change])
        features.record(process, process.advance(("jacobi",)))
    assert observed[0] == observed[1] == -6.0  # nothing before; then an unchanged diagonal (floor 1e-6)
    assert observed[2] == pytest.approx(np.log10(2.0 / 3.0), abs=1e-6)  # |3d - d| / |3d| (float32 observation)


def test_building_a_tuner_loads_every_compiled_kernel_before_its_first_solve():
    """Numba loads a kernel at its first call (milliseconds); a tuner's first reuse or first SSOR choice may come
    hours into a run, so building the learner, the process and the features loads every kernel up front. Checked
    in a fresh interpreter: in this one, earlier tests have called the kernels already."""
    import subprocess
    import sys

    script = """
from tunegym.agents import krylov_numerics as kn
from tunegym.agents.krylov_tuner import KrylovTuner
from tunegym.envs.core.features import clip_observation
from tunegym.envs.krylov import precond, process as P
KrylovTuner.load("pretrained:krylov")
kernels = [kn.predict, kn.remember, kn.add_observation, kn.ridge_solve, kn.ridge_solve_all, kn.dot,
           P._observe_matrix, P._matrix_values, P._compose, clip_observation, precond._ssor_apply,
           precond._ldlt_apply]
print(sum(not kernel.signatures for kernel in kernels))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0"  # no kernel left to load at its first use


def test_update_reusing_the_decisions_numbers_learns_exactly_what_a_fresh_computation_does():
    """``observe`` of the very observation a decision was made on reuses that decision's basis and predictions; of
    an equal copy it computes them again: both learn the same state to the bit. A caller that refills one buffer
    for successive contexts gets decisions on the new contents, never the cached ones."""
    from tunegym.agents.krylov_tuner import krylov_reuse

    env = gym.make("tunegym/PCG-v0", grid=10, run_length=50)
    reuse = len(DEFAULT_ARMS) - 1
    arms = list(range(reuse)) + [reuse, 2, reuse, 5, 0, reuse, 7, 1, reuse, 3, reuse, 9]  # all fresh arms, then mixed
    obs, _ = env.reset(seed=4)
    steps = []
    for arm in arms:
        next_obs, _, _, _, info = env.step(arm)
        steps.append((obs, arm, info))
        obs = next_obs
    cached, recomputed = krylov_reuse(env, {"epsilon": 0.0}, seed=0), krylov_reuse(env, {"epsilon": 0.0}, seed=0)
    for observation, arm, info in steps:
        for bandit, seen in ((cached, observation), (recomputed, np.array(observation, copy=True))):
            bandit.select(observation)  # once every fresh arm is tried, a prediction (cached with the observation)
            bandit.observe(seen, arm, 0.0, info)
    assert cached.residual_weight.any()  # the memory was written on the cached path
    for name, value in cached._arrays().items():
        assert np.array_equal(value, recomputed._arrays()[name]), name
    buffer = np.array(steps[-1][0], copy=True)
    cached.select(buffer)
    buffer[:] = steps[3][0]  # refilled with another context
    assert np.array_equal(cached.predicted_work(buffer)[0], recomputed.predicted_work(steps[3][0].copy())[0])
