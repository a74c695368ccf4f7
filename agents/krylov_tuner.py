"""``KrylovTuner``: a learned preconditioner policy that solves the user's sequence of systems.

It holds a core :class:`~tunegym.agents.tuner.Tuner` (a bandit and the settings of the Krylov env it was
trained on) and drives the very process the env drives (:class:`~tunegym.envs.krylov.process.KrylovSolve`,
rebuilt from the env's kwargs) through the very features (:class:`~tunegym.envs.krylov.process.KrylovFeatures`),
so ``KrylovTuner.solve`` on an env's systems makes the env rollout's decisions and pays its work. It keeps the
last preconditioner across calls (the ``("reuse",)`` arm applies it to the next system) and, with
``learn=True``, keeps learning from each solve's work (the env's named reward).

Also here: the domain's baselines for ``tunegym eval`` (fixed arms) and :func:`pcgbandit`, PCGBandit's
learner (Khodak et al., arXiv 2509.08765; ``mkhodak/PCGBandit``, ``TsallisINF.H``) as a configuration of our
Tsallis-INF bandit: importance-weighted loss estimates, ``η = 2/√t``, losses normalised by their running mean,
loss = the deterministic cost of the solve. What differs from their OpenFOAM plugin: the arm set (theirs:
thresholded incomplete Cholesky drop tolerances, DIC and GAMG variants; ours: :data:`DEFAULT_ARMS`, with an
explicit reuse arm where they cache the GAMG agglomeration), a failure is charged a penalty in the env and the
benchmark suite (where their plugin restarts with DIC, its "backstop"; :meth:`KrylovTuner.solve` solves again with
smoothed aggregation AMG), and the Newton solve for the Tsallis normaliser starts at ``min k - 2/η``
(20 steps) instead of their warm start.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents import krylov_numerics as kn
from tunegym.agents.bandits.base import Bandit
from tunegym.agents.tuner import Tuner, TunerAdapter
from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import ActionError, CheckpointError, ConfigError
from tunegym.envs.krylov.instances import KrylovSystem, is_symmetric
from tunegym.envs.krylov.precond import arm_label
from tunegym.envs.krylov.process import FEATURE_NAMES, KrylovFeatures

__all__ = ["KrylovTuner", "KrylovResult", "KrylovReuseBandit", "KrylovReuseConfig", "pcgbandit", "fixed_jacobi",
           "fixed_amg", "amg_then_reuse", "ENV_IDS"]

ENV_IDS = ("tunegym/PCG-v0", "tunegym/PGMRES-v0")


@dataclass
class KrylovResult:
    """The outcome of one :meth:`KrylovTuner.solve`, in the style of SciPy's ``OptimizeResult``.

    ``x`` the solution (zeros if the solve failed before iterating), ``iterations``, ``work`` (flops: setup +
    iterations; ``cost`` adds the failure penalty), ``preconditioner`` (label of the one used), ``arm`` (the
    arm chosen), ``reused``, ``status`` (converged / max_iterations / breakdown / diverged), ``success``,
    ``message``, ``residual`` (true relative residual), ``wall_time`` (the solve, setup included) and
    ``tuner_time`` (features, policy and learning: the tuner's overhead), ``check_time`` (validating the arrays
    :meth:`KrylovTuner.solve` was given: finiteness, shapes, symmetry when it is detected; 0 for
    :meth:`~KrylovTuner.solve_system`), ``observation`` (the features the choice was made on).

    After a failed solve the tuner solves again with its fallback preconditioner (see :meth:`KrylovTuner.solve`):
    ``first_attempt`` is then the failed solve's result, ``fallback_from`` its preconditioner's label, and
    ``work``, ``cost``, ``setup_work``, ``wall_time`` and ``tuner_time`` count both solves (what the call cost;
    ``cost`` keeps the failed solve's penalty, as the env charges it, also when the second solve succeeds);
    ``arm`` and ``observation`` are the decision's (the first attempt's), while ``x``, ``iterations``, ``status``,
    ``residual``, ``preconditioner``, ``reused`` and ``info`` are the second solve's.
    """

    x: np.ndarray
    iterations: int
    work: float
    cost: float
    preconditioner: str
    arm: tuple[Any, ...]
    reused: bool
    status: str
    success: bool
    message: str
    residual: float | None
    setup_work: float = 0.0
    wall_time: float = 0.0
    tuner_time: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    observation: np.ndarray | None = None
    check_time: float = 0.0
    fallback_from: str = ""
    first_attempt: "KrylovResult | None" = None


class KrylovTuner(TunerAdapter):
    """Pick each system's preconditioner with a trained policy and solve it; keep learning online.

    Build one with :meth:`from_env` (a policy trained on ``tunegym/PCG-v0`` or ``PGMRES-v0``), :meth:`load`
    (a tuner file or ``"pretrained:krylov"``) or :meth:`pcgbandit` (an untrained PCGBandit learner).
    """

    def __init__(self, tuner: Tuner) -> None:
        self.tuner = tuner.expect("krylov", adapter="KrylovTuner", env_ids=ENV_IDS,
                                  observation_shape=KrylovFeatures().space.shape)
        from tunegym.envs.krylov.env import process_from_kwargs

        default_solver = "cg" if tuner.env_id == "tunegym/PCG-v0" else "gmres"
        self.process = process_from_kwargs(tuner.env_kwargs, solver=default_solver)
        self.features = tuner.make_features()
        self.solves = 0

    # ---- building -------------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: dict[str, Any] | None = None) -> "KrylovTuner":
        return cls(Tuner.from_env(policy, env, provenance=provenance))

    @classmethod
    def pcgbandit(cls, env_id: str = "tunegym/PCG-v0", *, seed: int = 0, **env_kwargs: Any) -> "KrylovTuner":
        """PCGBandit's learner (see the module docstring), untrained, for ``env_id``'s settings."""
        import gymnasium as gym

        import tunegym.envs  # noqa: F401

        env = gym.make(env_id, **env_kwargs)
        try:
            return cls.from_env(pcgbandit(env, seed=seed), env, provenance={"agent": "pcgbandit", "seed": seed})
        finally:
            env.close()

    @classmethod
    def load(cls, path: str | Path, *, objective: str | None = None, solver: str | None = None) -> "KrylovTuner":
        """Load a tuner file (kind ``"tuner"``) or ``"pretrained:NAME"``; a tuner of another domain is refused.

        ``objective``: what the decisions minimise.
        - ``"time"`` (the default for ``"pretrained:NAME"``): each arm's predicted work weighted by its seconds per
          work unit, the weights the shipped tuner's card records from its tune sequences (``time_weights_on_tune``;
          :meth:`weigh_arms` sets your own). Work counts flops alike, but an incomplete factorisation's flops take
          several times as long as a mat-vec's (SciPy's SuperLU), so deciding on work alone buys ILU where plain
          CG or AMG is faster. The suite's wall-time claims are made on time; on unstructured FEM sequences
          (``benchmarks/krylov_user_matrices.md``) deciding on time took 0.90x the wall time of deciding on work
          (a tie under the Holm-corrected rule, n = 12) and 0.61x the faster of PyAMG's default and plain CG; on
          easy non-symmetric systems with ``solver="gmres"``, 0.48x (``benchmarks/krylov_gmres_deploy.md``).
        - ``"work"``: the env's cost (flops) unweighted, what the suite's work claims measure.
        - ``None`` (the default for files): as the file was saved (a tuner saved after :meth:`weigh_arms` keeps
          its weights). A file that has none refuses ``"time"`` with a :class:`ConfigError`.

        ``solver`` replaces the Krylov method the tuner was trained with: ``"gmres"`` or ``"bicgstab"`` for
        non-symmetric systems, ``"auto"`` for CG on symmetric and GMRES on other systems (by a symmetry check of
        each matrix). ``pretrained:krylov`` was trained with CG on SPD systems; with another solver its work
        predictions start from CG's and are corrected online as it learns (a warm start). ``pretrained:krylov-gmres``
        was trained with GMRES on non-symmetric (convection-diffusion) sequences: load that one for GMRES.
        The solver is kept in the tuner's settings, so :meth:`save` and a later :meth:`load` keep it.

        The generic :func:`~tunegym.agents.tuners.load_tuner` returns the core :class:`Tuner` of the same file as
        saved: for ``"pretrained:krylov"`` one that decides on work; this loader is the deploy path.
        """
        from tunegym.agents.tuners import PRETRAINED_PREFIX, pretrained_path

        if objective not in (None, "time", "work"):
            raise ConfigError(f"objective must be 'time', 'work' or None, got {objective!r}", value=objective)
        text = str(path)
        card = None
        if text.startswith(PRETRAINED_PREFIX):
            path = pretrained_path(text[len(PRETRAINED_PREFIX):])
            card = Path(path).with_suffix(".json")
            objective = objective or "time"
        tuner = cls(Tuner.load(path))
        if solver is not None:  # recorded in the settings too, so that a saved tuner comes back with it
            from tunegym.envs.krylov.env import process_from_kwargs

            tuner.process = process_from_kwargs({**tuner.tuner.env_kwargs, "solver": solver})
            tuner.tuner.env_kwargs = {**tuner.tuner.env_kwargs, "solver": solver}
        if objective is not None:
            tuner._set_objective(objective, card)
        return tuner

    def _set_objective(self, objective: str, card: Path | None) -> None:
        policy = self.tuner.policy
        if not isinstance(policy, KrylovReuseBandit):
            raise ConfigError(f"objective={objective!r} needs a KrylovReuseBandit policy, not "
                              f"{type(policy).__name__}", value=objective)
        if objective == "work":
            self.tuner.policy = policy.with_config(arm_weights=None)
            return
        weights = None
        if card is not None and card.exists():
            weights = json.loads(card.read_text()).get("evaluation", {}).get("time_weights_on_tune")
        if weights:
            self.weigh_arms(weights)
        elif policy.config.arm_weights is None:
            raise ConfigError("objective='time' needs time weights: this tuner file has none (call "
                              "weigh_arms({label: seconds per work unit}) and save it)", value=objective)

    def save(self, path: str | Path) -> None:
        """The core tuner file (kind ``"tuner"``): the policy with what it has learned, and the env settings. The
        kept preconditioner (a live object) is not saved: a loaded tuner starts with nothing to reuse, as at the start
        of a sequence."""
        self.tuner.save(path)

    def weigh_arms(self, weights: Mapping[str, float]) -> "KrylovTuner":
        """Decide on time rather than work: ``weights`` maps arm labels (``"ilu(0.01,2)"``, ``"jacobi"``; see
        :func:`~tunegym.envs.krylov.precond.arm_label`) to a factor on that arm's predicted work, e.g. its seconds
        per work unit on your machine relative to the others (``fit_time_weights`` in the Krylov bench computes
        them from priced sequences); arms not named keep 1. Needs our learner (:class:`KrylovReuseBandit`). What it
        has learned is kept; returns ``self``."""
        from tunegym.envs.krylov.precond import arm_label

        policy = self.tuner.policy
        if not isinstance(policy, KrylovReuseBandit):
            raise ConfigError(f"weigh_arms needs a KrylovReuseBandit policy, not {type(policy).__name__}",
                              value=type(policy).__name__)
        labels = [arm_label(tuple(a)) for a in self.tuner.knob.arms]
        unknown = sorted(set(weights) - set(labels))
        if unknown:
            raise ConfigError(f"unknown arms {unknown}; this tuner's arms: {labels}", value=unknown)
        self.tuner.policy = policy.with_config(arm_weights=[float(weights.get(label, 1.0)) for label in labels])
        return self

    # ---- solving --------------------------------------------------------------------------------------------
    def forget(self) -> None:
        """Drop the kept preconditioner (a new simulation starts); what the policy learned stays."""
        self.process.forget()

    def solve(self, A: Any, b: Any, *, x0: Any = None, learn: bool = True, symmetric: bool | None = None,
              near_null_space: Any = None, fallback: bool = True) -> KrylovResult:
        """Choose a preconditioner for ``A`` (or reuse the last one), solve ``A x = b``, learn from the work.

        When that solve fails (the preconditioner cannot be built, e.g. an incomplete factor of an SPD matrix that
        is not an M-matrix with a non-positive pivot; a breakdown; divergence; the iteration cap), the policy learns
        the failure as the env charges it, and with ``fallback`` (default) the system is solved again with the
        process's ``reuse_fallback`` preconditioner (smoothed aggregation AMG unless configured otherwise), built
        afresh, so that a solvable system gets its solution: PCGBandit's "backstop" (Khodak et al.). A policy that
        models each arm's work (:class:`KrylovReuseBandit`) learns from that solve too, as from one more solve (its
        step count and the ageing of its residual memory advance twice for that system); one that samples its arms
        (PCGBandit's) learns only the failure. The result reports both (:class:`KrylovResult` ``first_attempt``).
        When the failed solve already used that preconditioner, freshly built (its multigrid did not converge, as
        PyAMG's non-symmetric smoothed aggregation can under GMRES), the second solve has no preconditioner: slower,
        but what the Krylov method alone converges to. No second solve when CG failed on a matrix that is not
        symmetric. ``fallback=False`` gives the env's semantics: one preconditioner per system, a failure is the
        result.

        ``status == "converged"`` means the true relative residual ``||b - A x|| / ||b||`` of ``x`` meets the tuner's
        ``tol``. ``b = 0`` gives ``x = 0`` at once: nothing is chosen, built or learned, and the kept preconditioner
        stays for the next system. A failed solve where a row of ``A`` is zero and that entry of ``b`` is not says so
        (``A x = b`` has no solution) and is not solved again.

        Raises :class:`~tunegym.envs.core.errors.MatrixError` for a malformed system (non-square, NaN, size
        mismatch; an ``x0`` whose residual overflows float64) before any work. ``symmetric`` defaults to a check of
        ``A`` when the tuner's solver is ``"auto"`` (CG or GMRES by symmetry), and is not needed when the solver is
        fixed. A float64 CSR ``A`` in canonical form is used as it is (not copied, never changed; if you then update
        its values in place for the next system, a kept SSOR or AMG preconditioner that is reused reads the new
        values (SSOR all of them, AMG its finest level), as it would had you built it with SciPy or PyAMG yourself);
        other input is converted first. The call is recorded under the key ``user-<k>`` (k-th call) rather than a
        hash of ``A``'s bytes, which would cost about half a plain CG solve on an easy system of 10^5 unknowns. A CG
        tuner does not check symmetry up front; when a CG solve fails, the message says whether ``A`` is not
        symmetric (CG needs symmetric positive definite).
        """
        if isinstance(A, KrylovSystem):
            return self.solve_system(A, x0=x0, learn=learn, fallback=fallback)
        unchecked = symmetric is None and self.process.solver == "cg"
        if symmetric is None and self.process.solver != "auto":  # the solver is fixed: symmetry decides nothing
            symmetric = self.process.solver == "cg"
        tick = time.perf_counter()
        system = KrylovSystem.from_arrays(A, b, symmetric=symmetric, near_null_space=near_null_space, name="user",
                                          step=self.solves, key=f"user-{self.solves}")
        check = time.perf_counter() - tick
        result = self.solve_system(system, x0=x0, learn=learn, fallback=fallback)
        result.check_time = check
        if unchecked and not result.success and not is_symmetric(system.A):  # only on failure: it costs a transpose
            result.message += ("; A is not symmetric, and CG needs a symmetric positive definite matrix (for "
                               "non-symmetric systems load 'pretrained:krylov-gmres', trained for GMRES, or this "
                               "tuner with solver='gmres' or solver='auto')")
        return result

    def solve_system(self, system: KrylovSystem, *, x0: Any = None, learn: bool = True,
                     fallback: bool = True) -> KrylovResult:
        """:meth:`solve` for a :class:`KrylovSystem` (an env's instance). ``fallback=False`` makes the env
        rollout's decisions and pays its work (the parity test and the benchmark suite use that), except on a system
        whose ``b`` is 0, where the env still decides (and charges nothing) and this makes no decision at all."""
        if learn and not self.tuner.online:
            raise ConfigError(f"learn=True needs an online policy (a bandit); this tuner holds a "
                              f"{type(self.tuner.policy).__name__}", value=type(self.tuner.policy).__name__)
        tick = time.perf_counter()
        self.process.start(system, x0=x0)
        if self.process.zero_rhs:
            return self._zero_rhs(tick)
        self.features.reset(self.process)
        observation = self.features.observation(self.process)
        action, arm = self.tuner.act(observation, learn=learn)
        overhead = time.perf_counter() - tick
        result = self._solve_with(arm, action, observation, learn, overhead)
        unsolvable = _zero_rows_of_nonzero_b(system) if not result.success else ""
        if unsolvable:  # no preconditioner mends that: no second solve
            result.message += f"; {unsolvable}"
        backstop = self._backstop(result, system) if fallback and not result.success and not unsolvable else None
        if backstop is not None:
            self.process.start(system, x0=x0)
            try:
                action = self.tuner.knob.encode(backstop)
            except ActionError:  # the policy's arms lack it: solve with it all the same, learn nothing from it
                action = None
            models_arms = hasattr(self.tuner.policy, "observe_fresh")  # learns each arm's work, not a sampled loss
            second = self._solve_with(backstop, action, observation, learn and models_arms and action is not None,
                                      0.0)
            result = _after_fallback(result, second)
        self.solves += 1
        return result

    def _zero_rhs(self, tick: float) -> KrylovResult:
        """The result for the started system when its ``b`` is 0: ``x = 0`` solves it exactly. Nothing is decided,
        built or learned, and the kept preconditioner and the features' history stay as they were for the next
        system: such a call costs no work, and learning from it taught the policy that the arm it chose costs
        nothing (five calls with ``b = 0`` made SSOR's predicted work on that matrix 6x too small)."""
        record = self.process.advance(("none",))  # the process builds nothing for b = 0
        self.solves += 1
        outcome = self.process.outcome
        return KrylovResult(
            x=outcome.x, iterations=0, work=0.0, cost=0.0, preconditioner="none", arm=("none",), reused=False,
            status="converged", success=True, message=outcome.message, residual=0.0, wall_time=record.wall_time,
            tuner_time=max(time.perf_counter() - tick - record.wall_time, 0.0), info=record.info(),
        )

    def _solve_with(self, arm: Any, action: Any, observation: np.ndarray, learn: bool,
                    overhead: float) -> KrylovResult:
        """Solve the started system with ``arm``, record it in the features and (``learn``) teach the policy the
        env's reward for ``action``; ``overhead``: the tuner's seconds spent on this system so far."""
        record = self.process.advance(arm)
        tick = time.perf_counter()
        self.features.record(self.process, record)
        info = record.info()
        if learn:
            self.tuner.learn_from(observation, action, record, info)
        overhead += time.perf_counter() - tick
        outcome = self.process.outcome
        extra = record.extra
        return KrylovResult(
            x=outcome.x, iterations=outcome.iterations, work=float(extra["work"]), cost=float(record.cost),
            preconditioner=str(extra["preconditioner"]), arm=tuple(arm), reused=bool(extra["reused"]),
            status=record.status, success=record.status == "converged", message=outcome.message,
            residual=record.quality, setup_work=float(extra["setup_work"]), wall_time=record.wall_time,
            tuner_time=overhead, info=info, observation=observation,
        )

    def _backstop(self, failed: KrylovResult, system: KrylovSystem) -> tuple[Any, ...] | None:
        """The preconditioner to solve again with after ``failed``: the process's fallback, or none at all when the
        failed solve was that fallback freshly built; ``None`` (no second solve) when CG failed on a matrix that is
        not symmetric, which no preconditioner mends (the symmetry check, a transpose, is made only here)."""
        if self.process.solver_for(system) == "cg" and not is_symmetric(system.A):
            return None
        backstop = tuple(self.process.reuse_fallback)
        if not failed.reused and failed.preconditioner == arm_label(backstop):
            return ("none",)
        return backstop

    def __repr__(self) -> str:
        return f"KrylovTuner({self.tuner!r}, solves={self.solves})"


def _zero_rows_of_nonzero_b(system: KrylovSystem) -> str:
    """Why ``A x = b`` has no solution when a row of ``A`` is zero (no stored nonzero value) while that entry of
    ``b`` is not, else ``""``: no preconditioner or Krylov method finds one, so a failed solve is not solved
    again. One O(nnz) pass, made only after a failure."""
    A, b = system.A, system.b
    rows = np.repeat(np.arange(system.n), np.diff(A.indptr))
    mass = np.bincount(rows, weights=np.abs(A.data), minlength=system.n)
    bad = np.flatnonzero((mass == 0.0) & (b != 0.0))
    if bad.size == 0:
        return ""
    i = int(bad[0])
    return (f"A x = b has no solution: row {i} of A is zero while b[{i}] = {b[i]:.3g}"
            + (f" ({bad.size} such rows)" if bad.size > 1 else ""))


def _after_fallback(failed: KrylovResult, second: KrylovResult) -> KrylovResult:
    """The result of a call that solved again after ``failed``: ``second``'s solution and status, both solves'
    costs and times (see :class:`KrylovResult`)."""
    second.work += failed.work
    second.cost += failed.cost
    second.setup_work += failed.setup_work
    second.wall_time += failed.wall_time
    second.tuner_time += failed.tuner_time
    second.arm, second.observation = failed.arm, failed.observation
    second.fallback_from, second.first_attempt = failed.preconditioner, failed
    second.message = (f"{failed.preconditioner} failed ({failed.status}: {failed.message}); solved again with "
                      f"{second.preconditioner}: {second.message}")
    return second


# ---- our learner ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KrylovReuseConfig:
    """``epsilon``: exploration rate over fresh arms, decaying as ``epsilon · decay / (decay + t)``; ``ridge``:
    the regressions' prior; ``horizon``: solves a fresh preconditioner is expected to serve (its setup is
    amortised over them when arms are compared); ``reuse_arm``: index of ``("reuse",)`` (-1: the last arm).
    ``arm_weights``: one factor per arm that the *decision* multiplies an arm's predicted work by (reusing a
    preconditioner: its arm's factor), e.g. seconds per work unit measured on tune sequences
    (:func:`tunegym.tuning.benches.krylov_suite.fit_time_weights`), so that the tuner minimises predicted time
    where the flop-like work model misprices an arm (SuperLU's ILU setup, PyAMG's Python setup); ``None``: work.
    The regressions still learn work, so the same learned state serves both.
    ``residual_decay``: how much of an arm's last live prediction error (log iteration work, observed when it was
    built) still corrects its prediction one solve later (0: no memory); ``residual_reset``: log10 relative change
    of the diagonal at or above which that memory is dropped (a new coefficient field, a new simulation)."""

    epsilon: float = 0.1
    decay: float = 50.0
    ridge: float = 1.0
    horizon: float = 2.0
    reuse_arm: int = -1
    arm_weights: tuple[float, ...] | None = None
    residual_decay: float = 0.7
    residual_reset: float = -0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError("epsilon must be in [0, 1]", value=self.epsilon)
        if not 0.0 <= self.residual_decay <= 1.0:
            raise ConfigError("residual_decay must be in [0, 1]", value=self.residual_decay)
        if self.ridge <= 0 or self.decay <= 0 or self.horizon < 1:
            raise ConfigError("ridge and decay must be positive, horizon >= 1", value=(self.ridge, self.horizon))
        if self.arm_weights is not None:
            weights = tuple(float(w) for w in self.arm_weights)
            if not all(math.isfinite(w) and w > 0 for w in weights):
                raise ConfigError("arm_weights must be positive and finite", value=self.arm_weights)
            object.__setattr__(self, "arm_weights", weights)


_IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
# the model's constants (see krylov_numerics): hinges in dominance, the regressions' width, the floor added to work
# per nonzero before logs, the ridge prior's mean
_DOMINANCE_KNOTS, _DIM, _FLOOR, _PRIOR = kn.DOMINANCE_KNOTS, kn.DIM, kn.FLOOR, kn.PRIOR


def _refuse_nan(finite: bool, context: Any) -> None:
    """:class:`ConfigError` unless the compiled clip found every entry of ``context`` a number."""
    if not finite:
        raise ConfigError("context holds NaN", value=np.asarray(context).tolist())


class KrylovReuseBandit(Bandit):
    """Our preconditioner learner: predicted setup + iteration work per fresh arm, and reuse when it is cheaper.

    Per fresh arm two ridge regressions on the six matrix features, the squares and product of diagonal
    dominance and diagonal spread, the square of the first-off-diagonal share and its product with dominance, and
    a piecewise-linear term in dominance (hinges at :data:`_DOMINANCE_KNOTS`)
    (:data:`~tunegym.envs.krylov.process.MATRIX_FEATURES`; the time step and contrast show there) predict
    ``log`` setup work and ``log`` iteration work per nonzero (failures' penalty counts as iteration work). A third
    regression, on ``[1, c, c², age]`` with
    ``c`` the log10 diagonal change, predicts how much more a reused preconditioner's iterations cost than its
    last solve's. Decision: the fresh arm minimising ``setup / horizon + iterations`` (setup amortised over the
    solves it is expected to serve), unless a preconditioner is kept and its predicted reuse work is below that
    arm's amortised work: then ``("reuse",)``. Untried fresh arms go first; with ``learn`` it explores a random
    fresh arm with a decaying ``epsilon``. It reads ``info`` (setup and iteration work) in :meth:`observe`;
    its tuner files have kind ``"krylov-bandit"``.

    **Residual memory** (``residual_decay``): the regressions are global, but an arm's error on one coefficient
    field persists along that field's run (on the suite's dev-test sequences an arm's error on the previous system
    is a far better guess of its error on this one than zero, least so for ILU on rotated anisotropy, whose work
    jumps by an order of magnitude from one system to the next). So each live solve's error is
    kept (log iteration work of a fresh build; the reuse model's error of a reuse) and added to that arm's next
    predictions, decaying by ``residual_decay`` per solve; the kept arm's error holds while its preconditioner is
    being reused; all of it lapses when the diagonal jumps by ``residual_reset`` (a new field) or a sequence
    starts. Only the decision reads it; the regressions learn as before.
    """

    algorithm = "krylov_reuse"
    config_class = KrylovReuseConfig
    contextual = True

    def _init_state(self) -> None:
        kn.warm()
        dim = self._dim()
        self.reuse_index = self.config.reuse_arm % self.n_arms
        self.gram = np.tile(self.config.ridge * np.eye(dim), (2, self.n_arms, 1, 1))  # [setup|iter, arm, d, d]
        self.targets = np.zeros((2, self.n_arms, dim))
        self.counts = np.zeros(self.n_arms)
        self.reuse_gram = self.config.ridge * np.eye(4)
        self.reuse_targets = np.zeros(4)
        self._theta_cache: np.ndarray | None = None
        self._reuse_theta_cache: np.ndarray | None = None
        weights = self.config.arm_weights
        if weights is not None and len(weights) != self.n_arms:
            raise ConfigError(f"arm_weights has {len(weights)} factors for {self.n_arms} arms", value=len(weights))
        self._weights = np.ones(self.n_arms) if weights is None else np.asarray(weights, dtype=np.float64)
        self._kept_arm: int | None = None  # the arm whose preconditioner a reuse would apply (its weight)
        # the within-sequence memory: per arm the last live error of its log iteration-work prediction, and the
        # weight it still has (0: none)
        self.residual = np.zeros(self.n_arms)
        self.residual_weight = np.zeros(self.n_arms)
        self._all_tried = False  # every fresh arm played at least once (counts only grow)
        self._no_thetas = np.zeros((2, 1, 1))  # add_observation's thetas while none are cached
        self._box = np.stack([self.scaler.low, self.scaler.high, self.scaler.width])  # the context's bounds
        # (context, raw, basis, lapsed) of the last decision, and the tuple whose predictions _log_iteration holds
        self._prepared: tuple[Any, np.ndarray, np.ndarray, bool] | None = None
        self._predicted: Any = None
        self._log_iteration = np.zeros(self.n_arms)

    @staticmethod
    def _dim() -> int:
        return _DIM

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"gram": self.gram, "targets": self.targets, "counts": self.counts, "reuse_gram": self.reuse_gram,
                "reuse_targets": self.reuse_targets, "residual": self.residual,
                "residual_weight": self.residual_weight}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The base class's load, after a check that every array has this learner's shape (the compiled numerics
        index them unchecked), so a malformed file is a :class:`CheckpointError`, never a bad read; so is a Gram
        matrix that is not positive definite (the regressions are solved here)."""
        shapes = {name: value.shape for name, value in self._arrays().items()}
        for name, value in dict(state.get("arrays") or {}).items():
            if name in shapes and np.shape(value) != shapes[name]:
                raise CheckpointError(f"{self.algorithm} state array {name!r} has shape {np.shape(value)}, "
                                      f"expected {shapes[name]}", value=name)
        super().load_state_dict(state)
        self._theta_cache = self._reuse_theta_cache = None
        self._all_tried, self._prepared, self._predicted = False, None, None
        self._thetas(), self._reuse_theta()  # solved now: an invalid state fails at load, not at a decision

    # -- features ----------------------------------------------------------------------------------------------
    def _vector(self, context: Any) -> np.ndarray:
        """``context`` as a float64 vector; :class:`ConfigError` unless it has the observation's length."""
        vector = np.asarray(context, dtype=np.float64).reshape(-1)
        if vector.size != self._box.shape[1]:
            raise ConfigError(f"context has {vector.size} entries, the observation {self._box.shape[1]}",
                              value=vector.size)
        return vector

    def _prepare(self, context: Any, *, decided: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(raw, basis)`` of ``context``: the context clipped to the observation box, and the regressions' inputs
        ``[1, x, d², s², d·s, b², b·d, max(d - knot, 0)...]`` with ``x`` the matrix features scaled to [-1, 1] and
        ``d, s, b`` its dominance, spread and band entries (:func:`~tunegym.agents.krylov_numerics.basis_of`).
        :class:`ConfigError` for a context that is not a vector of the observation's length or holds NaN.

        A decision (:meth:`_predict`) computes them and keeps them; :meth:`observe` of the same observation object
        (``decided``: the deploy loop and the env pass the one decided on) reuses them instead of computing them
        again. A decision always computes afresh, so a caller reusing one buffer for successive contexts never
        gets a stale one."""
        prepared = self._prepared
        if decided and prepared is not None and prepared[0] is context:
            return prepared[1], prepared[2]
        raw = self._raw(context)
        basis = self._basis(raw)
        self._prepared = (context, raw, basis, kn.lapses(raw, self.config.residual_reset))
        return raw, basis

    def _raw(self, context: Any) -> np.ndarray:
        """``context`` clipped to the observation box (:class:`ConfigError` if it holds NaN)."""
        raw, finite = kn.clip_context(self._vector(context), self._box)
        _refuse_nan(finite, context)
        return raw

    def _basis(self, raw: np.ndarray) -> np.ndarray:
        """The regressions' inputs for a clipped context (see :meth:`_prepare`)."""
        return kn.basis_of(raw, self._box)

    def _thetas(self) -> np.ndarray:
        """Ridge coefficients ``[setup|iter, arm, d]``; kept between calls and refreshed per arm as it learns."""
        if self._theta_cache is None:
            thetas = np.zeros(self.targets.shape)
            if not kn.ridge_solve_all(np.ascontiguousarray(self.gram), np.ascontiguousarray(self.targets), thetas):
                raise CheckpointError("the Krylov learner's state is invalid: a Gram matrix is not positive definite")
            self._theta_cache = thetas
        return self._theta_cache

    def _reuse_theta(self) -> np.ndarray:
        if self._reuse_theta_cache is None:
            theta = np.zeros(self.reuse_targets.shape)
            if not kn.ridge_solve(np.ascontiguousarray(self.reuse_gram), np.ascontiguousarray(self.reuse_targets),
                                  theta):
                raise CheckpointError("the Krylov learner's state is invalid: the reuse Gram matrix is not positive "
                                      "definite")
            self._reuse_theta_cache = theta
        return self._reuse_theta_cache

    # -- predictions ---------------------------------------------------------------------------------------------
    def predicted_work(self, context: Any) -> tuple[np.ndarray, float]:
        """Per arm the predicted amortised work per nonzero of a fresh build (``inf`` for the reuse arm), and the
        predicted work per nonzero of reusing the kept preconditioner (``inf`` when nothing is kept); both times
        ``arm_weights`` when set."""
        fresh, reuse, _, _ = self._predict(context)
        return fresh, reuse

    def _predict(self, context: Any) -> tuple[np.ndarray, float, int, int]:
        """:meth:`predicted_work`, and the first fresh arm of least predicted work with how many arms tie with it,
        in one compiled call (:func:`~tunegym.agents.krylov_numerics.predict`). Keeps the prepared context and each
        arm's log iteration-work prediction (before the residual memory), for :meth:`observe` of the same context to
        score the arm that is then built without computing them again."""
        kept_weight = float(self._weights[self._kept_arm]) if self._kept_arm is not None else 1.0
        raw, basis, finite, fresh, best, ties, reuse, lapsed = kn.predict(
            self._vector(context), self._box, self._thetas(), self.residual_weight, self.residual, self._weights,
            float(self.config.horizon), self.reuse_index, self._reuse_theta(), kept_weight,
            float(self.config.residual_reset), self._log_iteration)
        _refuse_nan(finite, context)
        self._prepared = self._predicted = (context, raw, basis, lapsed)
        return fresh, reuse, best, ties

    def _remember(self, raw: np.ndarray, built: int | None, iteration: float, reuse_error: float | None, *,
                  phi: np.ndarray | None = None, prepared: Any = None) -> None:
        """Age the residual memory by one live solve and store what this solve taught it
        (:func:`~tunegym.agents.krylov_numerics.remember`).

        A freshly ``built`` arm stores its prediction error (log iteration work); a reuse stores the reuse model's
        error (``reuse_error``, in the reuse arm's slot) and holds the kept arm's error at its weight, since the
        preconditioner it was measured on is still the one in use. ``prepared``: the context's tuple from
        :meth:`_prepare`; when it is the last decision's, that decision's prediction of ``built`` is used."""
        lapsed = prepared[3] if prepared is not None else kn.lapses(raw, self.config.residual_reset)
        error = 0.0
        if built is not None and self.config.residual_decay > 0.0:
            if prepared is not None and prepared is self._predicted:  # the decision's own prediction of this arm
                predicted = float(self._log_iteration[built])
            else:
                phi = self._basis(raw) if phi is None else phi
                predicted = kn.dot(self._thetas()[1, built], phi) + _PRIOR[1]
            error = math.log(iteration + _FLOOR) - predicted
        held = self._kept_arm if reuse_error is not None and self._kept_arm is not None else -1
        kn.remember(self.residual, self.residual_weight, float(self.config.residual_decay), bool(lapsed), held,
                    -1 if built is None else int(built), error, self.reuse_index,
                    0.0 if reuse_error is None else float(reuse_error), reuse_error is not None)

    def _decide(self, context: Any, explore: bool) -> int:
        if not self._all_tried:
            untried = [a for a in np.flatnonzero(self.counts == 0) if a != self.reuse_index]
            if untried:
                return int(untried[0])
            self._all_tried = True
        if explore and self.rng.random() < self.config.epsilon * self.config.decay / (self.config.decay + self.t):
            return int(self.rng.choice([a for a in range(self.n_arms) if a != self.reuse_index]))
        fresh, reuse, best, ties = self._predict(context)
        if ties > 1:  # as Bandit._argmax: a random one of the tied arms
            best = int(self.rng.choice(np.flatnonzero(fresh == fresh[best])))
        return self.reuse_index if reuse <= fresh[best] else best

    def select(self, context: Any = None) -> int:
        return self._decide(context, explore=True)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self._decide(observation, explore=not deterministic), None

    # -- learning ------------------------------------------------------------------------------------------------
    def update(self, context: Any, arm: int, reward: float) -> None:
        raise ConfigError("KrylovReuseBandit learns from the solve's info (setup and iteration work): call observe")

    def observe(self, context: Any, arm: int, reward: float, info: dict[str, Any]) -> None:
        arm = int(arm)
        if not 0 <= arm < self.n_arms:
            raise ConfigError(f"arm {arm} outside 0..{self.n_arms - 1}", value=arm)
        self.t += 1
        raw, basis = self._prepare(context, decided=True)
        prepared, self._prepared = self._prepared, None
        nnz = max(float(info.get("nnz", 1.0)), 1.0)
        setup = float(info.get("setup_work", 0.0)) / nnz
        iteration = max(float(info.get("cost", 0.0)) / nnz - setup, 0.0)
        if info.get("reused"):
            last = 10.0 ** raw[_IDX["prev_log10_iteration_work_per_nnz"]] - 1.0
            phi = kn.reuse_basis(raw)
            growth = kn.dot(self._reuse_theta(), phi)
            self._learn_reuse(phi, last, iteration)
            self.counts[self.reuse_index] += 1
            self._remember(raw, None, iteration, math.log((iteration + _FLOOR) / (last + _FLOOR)) - growth,
                           prepared=prepared)
            return
        built = arm if arm != self.reuse_index else None  # a reuse with nothing kept built the fallback: unknown
        self._kept_arm = built
        phi = basis if built is not None else None
        self._remember(raw, built, iteration, None, phi=phi, prepared=prepared)
        if built is not None:
            self._learn_fresh(raw, built, setup, iteration, phi=phi)

    def observe_fresh(self, context: Any, arm: int, *, setup_work: float, cost: float, nnz: float) -> None:
        """Full-information update: what building fresh ``arm`` for the system of ``context`` cost (``cost``, its
        ``setup_work`` part), known without playing it, e.g. from a priced tune sequence. Only the arm's two
        regressions change (no step count, no kept preconditioner): the fresh-arm models read the matrix features
        alone, so a system's price for every arm is as good as having played each."""
        arm = int(arm)
        if not 0 <= arm < self.n_arms or arm == self.reuse_index:
            raise ConfigError(f"arm {arm} is not a fresh arm of 0..{self.n_arms - 1}", value=arm)
        nnz = max(float(nnz), 1.0)
        setup = float(setup_work) / nnz
        self._learn_fresh(self._raw(context), arm, setup, max(float(cost) / nnz - setup, 0.0))

    def observe_reuse(self, context: Any, *, last_iteration_work: float, cost: float, nnz: float,
                      last_nnz: float | None = None) -> None:
        """Full-information update of the reuse model: a preconditioner built for the previous system (its solve's
        iteration work ``last_iteration_work``) reused on the system of ``context`` cost ``cost`` (age 0)."""
        raw = self._raw(context).copy()
        raw[_IDX["log10_kept_age"]] = 0.0
        last = float(last_iteration_work) / max(float(last_nnz if last_nnz is not None else nnz), 1.0)
        self._learn_reuse(kn.reuse_basis(raw), last, float(cost) / max(float(nnz), 1.0))

    def _learn_fresh(self, raw: np.ndarray, arm: int, setup: float, iteration: float, *,
                     phi: np.ndarray | None = None) -> None:
        """Add one (setup, iteration) work-per-nonzero observation of fresh ``arm`` to its two regressions."""
        phi = self._basis(raw) if phi is None else phi
        self._predicted = None  # a decision's stored predictions are stale once a regression learns
        cached = self._theta_cache is not None  # only this arm's two regressions change: re-solve just them
        if not kn.add_observation(self.gram, self.targets, self._theta_cache if cached else self._no_thetas, arm,
                                  phi, float(setup), float(iteration), cached):
            raise ConfigError(f"arm {arm}: a non-finite work observation ({setup}, {iteration}), or its regression "
                              "became invalid", value=(setup, iteration))
        self.counts[arm] += 1

    def _learn_reuse(self, phi: np.ndarray, last: float, iteration: float) -> None:
        """Add one observation of reuse growth (iteration work over the kept preconditioner's last) on ``phi``."""
        self.reuse_gram += np.outer(phi, phi)
        self.reuse_targets += math.log((iteration + _FLOOR) / (last + _FLOOR)) * phi
        self._reuse_theta_cache = None

    # -- files ---------------------------------------------------------------------------------------------------
    def save(self, path: Any, *, provenance: dict[str, Any] | None = None) -> None:
        state = self.state_dict()
        arrays = state.pop("arrays")
        save_tuner_file(path, "krylov-bandit", {**state, "provenance": provenance or {}}, arrays)

    @classmethod
    def load(cls, path: Any) -> "KrylovReuseBandit":
        _, meta, arrays = load_tuner_file(path, expect_kind="krylov-bandit")
        if meta.get("algorithm") != cls.algorithm:
            raise CheckpointError(f"{str(path)!r} holds a {meta.get('algorithm')!r} bandit, not {cls.algorithm!r}")
        try:
            bandit = cls(meta["n_arms"], meta["config"], seed=meta.get("seed"), context_low=meta.get("context_low"),
                         context_high=meta.get("context_high"))
            bandit.load_state_dict({**meta, "arrays": arrays})
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} has a malformed bandit state: {exc}", value=str(path)) from exc
        bandit.provenance = meta.get("provenance", {})
        return bandit

    def with_config(self, **changes: Any) -> "KrylovReuseBandit":
        """A copy with some config fields changed (e.g. a smaller ``epsilon`` for deployment), state kept."""
        state = self.state_dict()
        twin = type(self)(self.n_arms, {**asdict(self.config), **changes}, seed=self.seed,
                          context_low=self.scaler.low, context_high=self.scaler.high)
        twin.load_state_dict(state)
        return twin


def krylov_reuse(env: Any, config: dict[str, Any] | None = None, *, seed: int | None = None) -> KrylovReuseBandit:
    """Our learner for ``env`` (its reuse arm found in the env's knob)."""
    arms = [tuple(a) if isinstance(a, (tuple, list)) else a for a in getattr(env.unwrapped.knob, "arms", ())]
    config = dict(config or {})
    if ("reuse",) in arms:
        config.setdefault("reuse_arm", arms.index(("reuse",)))
    return KrylovReuseBandit.for_env(env, config, seed=seed)


# ---- the domain's policies for tables -------------------------------------------------------------------------
def pcgbandit(env: Any, *, seed: int | None = None) -> Any:
    """PCGBandit's learner for ``env``: our Tsallis-INF with offset 0 (see the module docstring)."""
    from tunegym.agents.bandits import TsallisINF

    return TsallisINF.for_env(env, {"loss_offset": 0.0}, seed=seed)


def fixed_jacobi(env: Any) -> Any:
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("jacobi",))


def fixed_amg(env: Any) -> Any:
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("amg_sa", 0.0, "gauss_seidel"))


def amg_then_reuse(env: Any) -> Any:
    """Smoothed aggregation built on the first system of an episode and reused for all the others."""
    from tunegym.agents.baselines import FixedKnob

    return FixedKnob(env, ("reuse",))
