"""``KrylovTuner.solve`` on the arrays, options and sequences a user brings: tiny and diagonal systems, every SciPy
sparse format, dtypes, right-hand sides and initial guesses of every shape, settings out of range, singular,
indefinite and unsolvable systems, a matrix updated in place between calls, sizes that change, ``learn=False`` and a
save/load mid-sequence. Each ends in a typed error before any work, or in a defined status; and a result whose
status is ``"converged"`` always has a true relative residual within the requested tolerance.

The tests named for a defect fail without its fix (robustness review of ``KrylovTuner.solve``, second round; the
first round's matrix files and index arrays are in ``test_robustness_matrices.py`` and
``test_robustness_matrix_files.py``). The others pin behaviour that needed no fix, so that a change cannot lose it.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from pyamg.gallery import poisson

import tunegym.envs  # noqa: F401
from tunegym.agents import KrylovTuner
from tunegym.agents.tuner import Tuner
from tunegym.envs.core.errors import ConfigError, MatrixError
from tunegym.envs.krylov.instances import PDESequence
from tunegym.envs.krylov.precond import (
    DEFAULT_ARMS,
    PreconditionerFailure,
    build_preconditioner,
    check_arm,
    krylov_solve,
)
from tunegym.envs.krylov.process import FEATURE_NAMES, KrylovSolve

KEPT_NONE, CHANGE = FEATURE_NAMES.index("kept_none"), FEATURE_NAMES.index("log10_diag_change")
SOLVERS = ("cg", "gmres", "bicgstab")
FRESH_ARMS = DEFAULT_ARMS[:-1]


def _poisson(grid: int = 20) -> sp.csr_matrix:
    return poisson((grid, grid), format="csr")


def _relative_residual(A, x, b) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def _check(result, A, b, tol: float = 1e-8):
    """The contract every result keeps: a converged status means the true relative residual meets ``tol``."""
    if result.status == "converged":
        assert result.success and _relative_residual(A, result.x, b) <= tol
    else:
        assert not result.success and result.status in ("max_iterations", "breakdown", "diverged")
    return result


def _scripted(arms, env_id: str = "tunegym/PCG-v0") -> KrylovTuner:
    """A tuner that plays ``arms`` in order (then the last one again): to reach a reuse or an arm on purpose."""
    env = gym.make(env_id)
    knob = env.unwrapped.knob

    class Script:
        def __init__(self) -> None:
            self.calls = 0

        def predict(self, observation, state=None, episode_start=None, deterministic=True):
            arm = arms[min(self.calls, len(arms) - 1)]
            self.calls += 1
            return knob.encode(arm), None

    try:
        return KrylovTuner(Tuner.from_env(Script(), env))
    finally:
        env.close()


@pytest.fixture
def krylov() -> KrylovTuner:
    return KrylovTuner.load("pretrained:krylov")


# ---- defects found by this review ----------------------------------------------------------------------------
def test_a_zero_rhs_gives_x_0_at_once_and_teaches_the_policy_nothing(krylov):
    """Before: ``b = 0`` built the chosen preconditioner (its setup paid for nothing) and, with ``learn=True``, taught
    the policy that arm's iterations cost nothing: five such calls made SSOR's predicted work on that matrix 6x too
    small. And where the chosen preconditioner could not be built (the zero matrix) the answer was "breakdown"
    instead of ``x = 0``."""
    A = PDESequence("diffusion", grid=20).sample(np.random.default_rng(0)).A
    first = krylov.solve(A, np.ones(A.shape[0]))
    kept, before = krylov.process.kept, krylov.tuner.policy.predicted_work(first.observation)[0].copy()
    for _ in range(5):
        zero = krylov.solve(A, np.zeros(A.shape[0]), learn=True)
        assert zero.success and zero.status == "converged" and not zero.x.any() and zero.iterations == 0
        assert zero.work == zero.cost == 0.0 and zero.preconditioner == "none" and zero.residual == 0.0
    np.testing.assert_array_equal(krylov.tuner.policy.predicted_work(first.observation)[0], before)
    assert krylov.process.kept is kept  # the next system may still reuse what the last real solve built
    for solver in SOLVERS:
        result = KrylovTuner.load("pretrained:krylov", solver=solver).solve(sp.csr_matrix((4, 4)), np.zeros(4))
        assert result.success and not result.x.any()


def test_a_reused_ssor_after_an_in_place_update_preconditions_the_updated_matrix():
    """Before: a kept SSOR read the new off-diagonal values of a matrix updated in place but the diagonal copied at
    its build, a mix of two matrices: after ``A.data *= 3`` CG with the reused SSOR hit the iteration cap (and the
    fallback solved it again) where a fresh SSOR needs 17 iterations. Reading the diagonal live, the reused SSOR is
    the updated matrix's own, iteration for iteration."""
    A, b = _poisson(), np.ones(400)
    tuner = _scripted([("ssor", 1.5), ("reuse",)])
    assert tuner.solve(A, b, learn=False).success
    A.data *= 3.0  # the user's next system, written into the same arrays
    reused = _check(tuner.solve(A, b, learn=False), A, b)
    fresh = _check(_scripted([("ssor", 1.5)]).solve(A, b, learn=False), A, b)
    assert reused.reused and reused.success and reused.first_attempt is None
    assert reused.iterations == fresh.iterations and np.array_equal(reused.x, fresh.x)


def test_converged_means_the_true_residual_meets_tol_on_every_arm_and_solver():
    """Before: a solve whose recurrence converged was reported converged while its true residual was up to 10x the
    tolerance (at ``tol=1e-14`` every CG arm on a 20x20 Poisson system returned 1.1e-14 to 2.6e-14). Now it starts
    again from the true residual and converges."""
    A, b = _poisson(), np.ones(400)
    for solver in SOLVERS:
        for arm in FRESH_ARMS:
            out = krylov_solve(A, b, build_preconditioner(A, arm, symmetric=solver == "cg"), solver=solver, tol=1e-14)
            assert out.status == "converged" and _relative_residual(A, out.x, b) <= 1e-14, (solver, arm)
            assert out.residual == pytest.approx(_relative_residual(A, out.x, b), rel=1e-6)


def test_an_initial_guess_far_from_a_small_solution_converges_under_cg(krylov):
    """Before: with ``x0`` of order 1 and a solution of order 1e-11 CG called the solve "diverged" after one iteration
    (its divergence test was relative to ``||b||``, not to the initial residual), and at 1e-9 its recurrence
    "converged" far from the true residual; GMRES converged on both. Now CG does too."""
    A = _poisson()
    guess = np.random.default_rng(0).standard_normal(400)
    for scale in (1e-9, 1e-11, 1e-13):
        b = A @ (scale * guess)
        result = _check(krylov.solve(A, b, x0=guess), A, b)
        assert result.success and result.first_attempt is None, (scale, result.message)


def test_an_initial_guess_whose_residual_overflows_is_refused_before_any_work(krylov):
    """Before: ``x0 = 1e200`` leaked NumPy overflow warnings (a raw exception under ``-W error``), ended as
    "preconditioner not positive definite" and was solved again by the fallback, failing again."""
    A = _poisson()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MatrixError, match=r"b - A x0 overflows float64 \(largest \|x0_i\| 1e\+200\)"):
            krylov.solve(A, np.ones(400), x0=np.full(400, 1e200))
    assert krylov.solves == 0 and krylov.process.kept is None  # nothing decided, built or counted
    assert krylov.solve(A, np.ones(400), x0=np.full(400, 1e3)).success  # a merely poor guess is fine


@pytest.mark.parametrize("setting, bad", [
    ("tol", 1.0), ("tol", 2.0), ("tol", 0.0), ("tol", "1e-8"), ("tol", None), ("tol", True), ("tol", float("nan")),
    ("maxiter", 2.5), ("maxiter", "5"), ("maxiter", None), ("maxiter", float("inf")), ("maxiter", True),
    ("restart", 2.5), ("restart", float("nan")), ("failure_penalty", float("inf")), ("failure_penalty", "1"),
])
def test_solver_settings_out_of_range_are_config_errors(setting, bad):
    """Before: ``tol >= 1`` was accepted (``x = 0`` then "converged" at once for any system), ``maxiter=2.5`` was
    read as 2 and ``"5"`` as 5, a string tol or a None / infinite / NaN count was a raw TypeError, OverflowError or
    ValueError, and an infinite failure penalty made the learner's first failure an error."""
    with pytest.raises(ConfigError, match=setting):
        KrylovSolve(**{setting: bad})
    if setting in ("tol", "maxiter"):
        with pytest.raises(ConfigError, match=setting):
            KrylovTuner.pcgbandit(**{setting: bad})
    assert KrylovSolve(tol=np.float32(1e-6), maxiter=np.int64(50), restart=20.0).maxiter == 50


def test_an_arm_with_a_parameter_that_is_no_number_is_a_config_error():
    """Before: ``("ssor", None)`` or ``("ilu", "x", 2)`` (an env's ``arms`` or ``reuse_fallback``) raised a raw
    TypeError / ValueError from ``float()``."""
    for arm in (("ssor", None), ("ilu", "x", 2.0), ("amg_rs", [0.25]), ("ilu", float("inf"), 2.0), (None,)):
        with pytest.raises(ConfigError, match="not a preconditioner arm"):
            check_arm(arm)
    with pytest.raises(ConfigError, match="not a preconditioner arm"):
        KrylovSolve(reuse_fallback=("ssor", None))


def test_a_kept_preconditioner_of_another_size_shows_as_nothing_kept(krylov):
    """Before: after a size change the features read "diagonal unchanged" (the floor, -6) and described the kept
    preconditioner, which the reuse arm cannot apply (it builds the fallback, smoothed aggregation, instead): the most
    favourable picture of reusing. Now they show nothing kept and a changed matrix, and the learner never predicts a
    reuse it cannot make; back at the first size, the same holds."""
    rng = np.random.default_rng(1)
    large = list(PDESequence("diffusion", grid=40, nu_range=(10.0, 1000.0)).sequence(rng, 3))
    small = PDESequence("diffusion", grid=30, nu_range=(10.0, 1000.0)).sample(rng)
    results = [krylov.solve(s.A, s.b) for s in large]
    assert results[-1].reused and krylov.process.kept.n == 1600  # the policy reuses within a size
    for system in (small, large[0]):
        result = _check(krylov.solve(system.A, system.b), system.A, system.b)
        assert result.observation[KEPT_NONE] == 1.0 and result.observation[CHANGE] == 1.0
        assert np.isinf(krylov.tuner.policy.predicted_work(result.observation)[1])
        assert not result.reused and not result.info["fallback"]


def test_the_env_shows_the_same_picture_when_its_matrices_change_size():
    """The env and the tuner share the features (parity): a sequence of a user's matrices of two sizes shows
    nothing kept and a changed matrix at each switch, and the diagonal change within a size as before."""
    env = gym.make("tunegym/PCG-v0", matrices=[_poisson(12), _poisson(9)], repeat=2)
    obs, _ = env.reset(seed=0)
    sizes = []
    for _ in range(8):
        n = env.unwrapped.instance.n
        obs, _, _, _, info = env.step(env.unwrapped.knob.encode(("ssor", 1.5)))
        following = env.unwrapped.instance.n
        if following != n:
            assert obs[KEPT_NONE] == 1.0 and obs[CHANGE] == 1.0
        else:
            assert obs[KEPT_NONE] == 0.0 and obs[CHANGE] < 0.0
        sizes.append(n)
    env.close()
    assert len(set(sizes)) == 2


def test_ruge_stuben_prints_stay_off_the_users_output(capfd):
    """Before: building Ruge–Stüben AMG for a symmetric indefinite matrix printed PyAMG's "Outer denominator was
    zero..." once per affected row (328 lines for a 400-unknown system) on the process's standard output, from C."""
    indefinite = (_poisson() - 2.0 * sp.identity(400)).tocsr()
    print("before", flush=True)
    with pytest.raises(PreconditionerFailure, match=r"not finite \(PyAMG: 'Outer denominator.* on \d+ rows\)"):
        build_preconditioner(indefinite, ("amg_rs", 0.25), symmetric=True)
    print("after", flush=True)
    assert capfd.readouterr().out == "before\nafter\n"
    build_preconditioner(_poisson(), ("amg_rs", 0.25), symmetric=True)  # a sound build is unchanged
    assert capfd.readouterr().out == ""


def test_pyamg_warnings_during_a_build_do_not_escape_as_exceptions():
    """Before: PyAMG's "Breakdown occurred in step 0" (its Lanczos estimate on an indefinite matrix) was shown on
    every such build, and under ``-W error`` it left ``KrylovTuner.solve`` as a raw UserWarning."""
    indefinite = (_poisson(30) - 4.0 * sp.identity(900)).tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = _scripted([("amg_sa", 0.0, "jacobi")]).solve(indefinite, np.ones(900), learn=False)
        assert result.status in ("breakdown", "diverged") and not result.success


@pytest.mark.parametrize("solver", ["gmres", "bicgstab"])
def test_a_zero_row_with_a_nonzero_rhs_entry_is_named_and_not_solved_twice(solver):
    """Before: a row of ``A`` that is zero while that entry of ``b`` is not (``A x = b`` has no solution) ran into the
    iteration cap twice, the chosen preconditioner and then the fallback, 2000 iterations, and the message did not
    say why."""
    A = _poisson().tolil()
    A[5, :] = 0.0
    A = A.tocsr()
    A.eliminate_zeros()
    tuner = _scripted([("none",)], "tunegym/PGMRES-v0")
    tuner.process.solver = solver
    result = tuner.solve(A, np.ones(400), learn=False)
    assert not result.success and result.first_attempt is None
    assert "no solution: row 5 of A is zero while b[5] = 1" in result.message
    b = np.ones(400)
    b[5] = 0.0  # consistent: solved
    _check(KrylovTuner.load("pretrained:krylov-gmres", solver=solver).solve(A, b), A, b)


def test_gmres_keeps_to_an_iteration_cap_below_its_restart_length():
    """Before: ``maxiter=3`` with restart 30 ran one whole cycle of up to 30 inner iterations."""
    A, b = _poisson(), np.ones(400)
    out = krylov_solve(A, b, build_preconditioner(A, ("none",), symmetric=False), solver="gmres", maxiter=3)
    assert out.status == "max_iterations" and out.iterations == 3


# ---- behaviour that needed no fix (pinned) --------------------------------------------------------------------
@pytest.mark.parametrize("solver", SOLVERS)
def test_tiny_systems_solve_with_every_solver(solver):
    for name in ("pretrained:krylov", "pretrained:krylov-gmres"):
        tuner = KrylovTuner.load(name, solver=solver)
        for n in (1, 2, 3):
            A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
            b = np.arange(1.0, n + 1.0)
            for _ in range(2):
                assert _check(tuner.solve(A, b), A, b).success


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_preconditioner_is_exact_on_a_diagonal_matrix(solver):
    D = sp.diags(np.linspace(1.0, 100.0, 50), format="csr")
    b = np.arange(1.0, 51.0)
    for arm in DEFAULT_ARMS[1:-1]:
        out = krylov_solve(D, b, build_preconditioner(D, arm, symmetric=solver == "cg"), solver=solver)
        assert out.status == "converged" and out.iterations <= 1 and _relative_residual(D, out.x, b) <= 1e-12


def test_every_matrix_container_and_real_dtype_gives_the_same_solve(krylov):
    A, b = _poisson(), np.ones(400)
    reference = krylov.solve(A, b, learn=False)
    inputs = [A.toarray(), np.asarray(A.toarray(), dtype=np.int32), sp.csr_array(A), A.astype(np.float32),
              A.astype(np.int64), *(A.asformat(f) for f in ("csc", "coo", "bsr", "dia", "lil", "dok")),
              *(sp.csr_array(A).asformat(f) for f in ("csc", "coo", "bsr", "dia"))]
    for M in inputs:
        krylov.forget()  # each call the first of its sequence, as the reference was
        result = _check(krylov.solve(M, b, learn=False), A, b)
        assert result.iterations == reference.iterations and np.allclose(result.x, reference.x, rtol=1e-12)
    with pytest.raises(MatrixError, match="matrix-free operator"):
        krylov.solve(sla.aslinearoperator(A), b)
    with pytest.raises(MatrixError, match="A is complex"):
        krylov.solve(A.astype(complex), b)


def test_right_hand_sides_and_initial_guesses_of_every_shape(krylov):
    A, b = _poisson(), np.ones(400)
    for good in ([1.0] * 400, b[:, None], b[None, :], b.astype(np.float32), np.ones(400, dtype=int),
                 np.ones(800)[::2]):
        _check(krylov.solve(A, good), A, b)
    for bad, message in ((np.ones((400, 2)), "must be a vector"), (np.ones(399), "length 399"),
                         (np.r_[np.nan, np.ones(399)], "NaN"), (np.r_[np.inf, np.ones(399)], "NaN"),
                         ("abc", "numeric")):
        with pytest.raises(MatrixError, match=message):
            krylov.solve(A, bad)
    exact = sla.spsolve(A.tocsc(), b)
    at_once = _check(krylov.solve(A, b, x0=exact), A, b)
    assert at_once.iterations == 0
    for bad, message in ((np.zeros(401), "x0 has length 401"), (np.full(400, np.nan), "x0 has NaN")):
        with pytest.raises(MatrixError, match=message):
            krylov.solve(A, b, x0=bad)
    _check(krylov.solve(A, b, x0=np.zeros((400, 1))), A, b)


@pytest.mark.parametrize("solver", SOLVERS)
def test_singular_indefinite_and_unsolvable_systems_end_in_a_status(solver):
    """A graph Laplacian (singular) with ``b`` orthogonal to the ones converges; with a component along them it has
    no solution and fails; a symmetric indefinite matrix fails under CG (breakdown or diverged) and is a defined
    status under the others. Bounded: never more than two capped solves."""
    grid = _poisson()
    laplacian = (sp.diags(np.asarray(-(grid - sp.diags(grid.diagonal())).sum(axis=1)).ravel())
                 + (grid - sp.diags(grid.diagonal()))).tocsr()
    rng = np.random.default_rng(0)
    consistent = rng.standard_normal(400)
    consistent -= consistent.mean()
    tuner = KrylovTuner.load("pretrained:krylov", solver=solver)
    assert _check(tuner.solve(laplacian, consistent), laplacian, consistent).success
    assert not _check(tuner.solve(laplacian, consistent + 1.0), laplacian, consistent + 1.0).success
    indefinite = (_poisson() - 2.0 * sp.identity(400)).tocsr()
    result = _check(tuner.solve(indefinite, np.ones(400)), indefinite, np.ones(400))
    if solver == "cg":
        assert result.status in ("breakdown", "diverged") and result.iterations <= 10


def test_learn_false_leaves_the_learner_as_it_was(krylov):
    state = krylov.tuner.policy.state_dict()
    for system in PDESequence("diffusion", grid=20).sequence(np.random.default_rng(2), 4):
        _check(krylov.solve(system.A, system.b, learn=False), system.A, system.b)
    after = krylov.tuner.policy.state_dict()
    assert after["t"] == state["t"]
    assert all(np.array_equal(after["arrays"][k], state["arrays"][k]) for k in state["arrays"])


def test_a_tuner_saved_mid_sequence_loads_and_goes_on(tmp_path, krylov):
    """A file keeps what the learner learned (and the solver); the kept preconditioner is a live object and is not
    saved, so the loaded tuner starts its sequence afresh: its first decision builds, then it reuses as before."""
    systems = list(PDESequence("diffusion", grid=40, nu_range=(10.0, 1000.0))
                   .sequence(np.random.default_rng(1), 8))
    for system in systems[:4]:
        krylov.solve(system.A, system.b)
    krylov.save(tmp_path / "mid.pt")
    loaded = KrylovTuner.load(tmp_path / "mid.pt")
    assert loaded.tuner.policy.t == krylov.tuner.policy.t and loaded.process.solver == "cg"
    results = [_check(loaded.solve(s.A, s.b), s.A, s.b) for s in systems[4:]]
    assert not results[0].reused and any(r.reused for r in results[1:]) and all(r.success for r in results)


_STUCK_ILU = """
import os, sys, time
import numpy as np
from pyamg.gallery import stencil_grid
import tunegym.envs.krylov.precond as precond
stencil = -np.ones((3, 3, 3))
stencil[np.indices((3, 3, 3)).sum(0) == 3] = 27.0  # symmetric, far from diagonally dominant
A = stencil_grid(stencil, (16, 16, 16), format="csr")
precond.ILU_TIME_LIMIT = (1.0, 0.0)
start = time.perf_counter()
try:
    precond.build_preconditioner(A, ("ilu", 0.01, 2.0), symmetric=True)
    print("built")
except precond.PreconditionerFailure as exc:
    print("failure:", exc, "after", round(time.perf_counter() - start, 1), "s;",
          "stuck threads:", sum(t.is_alive() for t in precond.STUCK_FACTORISATIONS))
    b = np.ones(A.shape[0])  # the process goes on: another factorisation still works
    print("next:", precond.build_preconditioner(A + 100 * precond.sp.identity(A.shape[0], format="csr"),
                                              ("ilu", 0.01, 2.0), symmetric=True).arm)
sys.stdout.flush()
os._exit(0)  # the stuck thread would make CPython's own exit status 120
"""


def test_an_incomplete_factorisation_that_never_returns_is_given_up_at_its_time_limit():
    """Before: SciPy's spilu on this matrix never returned (SuperLU's dropping quickselect loops on a row that
    overflowed to NaN), and KrylovTuner.solve hung with it at 100% CPU. Run in a child process: the abandoned
    thread keeps spinning until its process ends."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _STUCK_ILU], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "failure: incomplete factorisation did not finish within 1 s" in done.stdout
    assert "stuck threads: 1" in done.stdout and "next: ('ilu', 0.01, 2.0)" in done.stdout


def test_the_command_line_exits_with_its_own_status_when_a_factorisation_was_left_stuck():
    """CPython's exit with a thread still inside SuperLU ends with status 120; the console script ends first."""
    import subprocess
    import sys

    script = ("import threading, time\n"
              "import tunegym.envs.krylov.precond as precond\n"
              "from tunegym.tuning.cli import _exit_if_a_factorisation_is_stuck\n"
              "worker = threading.Thread(target=time.sleep, args=(60,), daemon=True)\n"
              "worker.start()\n"
              "_exit_if_a_factorisation_is_stuck(0)  # nothing stuck yet: returns\n"
              "precond.STUCK_FACTORISATIONS.append(worker)\n"
              "print('written before the exit', end='')\n"
              "_exit_if_a_factorisation_is_stuck(3)\n"
              "print('not reached')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout == "written before the exit", (done.stdout, done.stderr)
