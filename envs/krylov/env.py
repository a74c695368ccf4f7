"""Gymnasium environments that choose the preconditioner of each Krylov solve in a sequence of systems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob
from tunegym.envs.krylov.instances import KrylovSystem, MatrixSequence, PDESequence
from tunegym.envs.krylov.precond import DEFAULT_ARMS, check_arm
from tunegym.envs.krylov.process import DEFAULT_FALLBACK, KrylovFeatures, KrylovSolve

__all__ = ["KrylovEnv", "make_pcg", "make_pgmres", "preconditioner_knob", "process_from_kwargs", "PROCESS_KWARGS"]

#: the env kwargs that configure the process (a tuner rebuilds its process from them)
PROCESS_KWARGS = ("solver", "tol", "maxiter", "restart", "failure_penalty", "reuse_fallback")


def preconditioner_knob(arms: Sequence[Sequence[Any]] = DEFAULT_ARMS) -> ArmKnob:
    """The preconditioner as an arm knob of named tuples (validated)."""
    return ArmKnob("preconditioner", [check_arm(a) for a in arms])


def process_from_kwargs(kwargs: Mapping[str, Any], *, solver: str = "auto") -> KrylovSolve:
    """The :class:`KrylovSolve` an env built with ``kwargs`` runs (defaults where a kwarg is absent)."""
    settings = {key: kwargs[key] for key in PROCESS_KWARGS if key in kwargs}
    settings.setdefault("solver", solver)
    if "reuse_fallback" in settings:
        settings["reuse_fallback"] = tuple(settings["reuse_fallback"])
    return KrylovSolve(**settings)


class KrylovEnv(ProcessEnv):
    """Choose the preconditioner for each linear system of a sequence, then solve it with a Krylov method.

    ## Description
    PCGBandit's setting (Khodak, Jung, Wynne, Chow, Kolemen, arXiv 2509.08765) in SciPy/PyAMG: a simulation
    meets a sequence of related systems ``A_t x = b_t`` (implicit time steps of diffusion with drifting
    coefficients, rotating anisotropy, elasticity, convection–diffusion, or a user's matrices) and must pick,
    before each solve, a preconditioner and its parameters, or reuse the previous system's preconditioner to
    skip its setup. The system is solved to ``tol`` (1e-8) by CG (``PCG-v0``), or GMRES (``PGMRES-v0``;
    ``solver`` selects CG, GMRES, BiCGStab or auto).

    ## Action Space
    ``Discrete(len(arms))``: arm ``i`` is the tuple ``arms[i]`` (default :data:`DEFAULT_ARMS`: none, Jacobi,
    SSOR(1.0, 1.5), ILU(1e-2 × 2, 1e-4 × 4), smoothed aggregation (θ 0 or 0.25 × Jacobi or Gauss–Seidel
    smoothing), Ruge–Stüben, reuse). An index outside the space raises ``ActionError``.

    ## Observation Space
    ``Box(18,)`` of :class:`KrylovFeatures`: cheap features of the next matrix and the previous solve's
    statistics (work, iterations, failure, the kept preconditioner's family and age, the previous solve's
    iteration work, the kept preconditioner's setup and first-solve iteration work).

    ## Rewards
    ``krylov.matvecs``: ``-work / nnz(A) / reward_scale`` (work in mat-vec equivalents). A failed solve
    (a preconditioner that cannot be built, breakdown, divergence, the iteration cap) costs its work plus
    ``failure_penalty`` × the work of ``maxiter`` plain CG iterations.

    ## Info
    The core contract (``cost`` in ``cost_unit="flops"``, ``knob`` = the arm, ``instance_id``, ``quality`` =
    ``relative_residual``, ``status`` in converged / max_iterations / breakdown / diverged) and ``work``,
    ``setup_work``, ``iteration_work``, ``iterations``, ``matvecs``, ``applies``, ``preconditioner`` (label of
    the one used), ``reused``, ``fallback``, ``built_on``, ``solver``, ``n``, ``nnz``, ``converged``,
    ``kept_age``, ``operator_complexity``. Wall time is on ``env.unwrapped.last_record.wall_time``.

    ## Starting State
    ``reset`` forgets the kept preconditioner: the first system of an episode has none, and ``("reuse",)``
    there builds ``reuse_fallback`` (smoothed aggregation, charged). ``reset(options={"instance": system})``
    replays a :class:`KrylovSystem` exactly; the systems after it follow on a stream derived from its id.

    ## Episode End
    Never terminates; truncated after ``max_episode_steps`` systems (100 at registration).

    ## Arguments
    ``kind`` (diffusion / anisotropic / elasticity / convection), ``grid``, ``dim``, ``run_length``, ``nu_range``
    and the other :class:`PDESequence` parameters; or ``matrices=[paths]`` with ``variation``
    (rhs / shift / scale) and ``repeat``; ``arms``; ``solver``; ``tol``; ``maxiter`` (1000); ``restart`` (30);
    ``failure_penalty`` (1); ``reuse_fallback``; ``reward_scale`` (100).

    ## Version History
    - v0: initial release (issue #20).
    - v0 (second round of #20): the observation grew from 14 to 17 features (previous iteration work, kept
      setup, kept first-solve iteration work: what reuse and a rebuild cost); the matrix scan is one numba pass.
      Tuner files of the 14-feature layout are refused at load (``pretrained:krylov`` was regenerated).
    - v0 (third round of #20): 18 features: ``offdiag_band1_fraction`` (share of off-diagonal magnitude on
      ``|i - j| = 1``) joins the matrix features; 17-feature tuner files are refused at load.
    - v0 (robustness review, 2026-12-02; suite sequences and their figures unchanged): ``"converged"`` means the
      true relative residual meets ``tol`` (was: within 10x of it; a recurrence that drifted starts again from the
      true residual); a system whose ``b`` is 0 costs nothing and builds nothing; ``tol`` must lie in (0, 1) and
      ``maxiter``/``restart`` be whole numbers (``ConfigError``); when the matrices change size, or a non-symmetric
      preconditioner is kept under CG, the observation shows nothing kept and a changed diagonal; an incomplete
      factorisation that does not return (SuperLU loops on a factor that overflowed to NaN) fails after
      ``precond.ILU_TIME_LIMIT`` instead of hanging.
    """

    domain = "krylov"
    default_knob_value = DEFAULT_FALLBACK

    def __init__(self, distribution: SequenceDistribution, *, arms: Sequence[Sequence[Any]] = DEFAULT_ARMS,
                 reward_scale: float = 100.0, solver: str = "auto", **process_kwargs: Any) -> None:
        unknown = sorted(set(process_kwargs) - set(PROCESS_KWARGS))
        if unknown:
            raise ConfigError(f"unknown Krylov env arguments {unknown}", value=unknown)
        process = process_from_kwargs(process_kwargs, solver=solver)
        super().__init__(process, distribution, preconditioner_knob(arms), KrylovFeatures(), reward="krylov.matvecs",
                         reward_params={"scale": float(reward_scale)}, sequence=True, instance_type=KrylovSystem)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.process.forget()  # a new episode reuses nothing: the replay rule needs it
        return super().reset(seed=seed, options=options)


def _distribution(kind: str, matrices: Sequence[str | Path] | None, variation: str, repeat: int,
                  pde: dict[str, Any]) -> SequenceDistribution:
    if matrices is not None:  # [] or a single matrix: the sequence says what is wrong or wraps it
        return MatrixSequence(matrices, variation=variation, repeat=repeat)
    return PDESequence(kind, **pde)


_PDE_KEYS = ("grid", "dim", "run_length", "nu_range", "contrast", "epsilon", "peclet", "rhs")


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pde = {k: kwargs.pop(k) for k in list(kwargs) if k in _PDE_KEYS}
    return pde, kwargs


def make_pcg(kind: str = "diffusion", *, matrices: Sequence[str | Path] | None = None, variation: str = "rhs",
             repeat: int = 20, **kwargs: Any) -> KrylovEnv:
    """``tunegym/PCG-v0``: CG on symmetric positive definite sequences (diffusion, anisotropic, elasticity, files)."""
    if kind == "convection" and not matrices:
        raise ConfigError("convection-diffusion is not symmetric: use tunegym/PGMRES-v0", value=kind)
    pde, rest = _split(dict(kwargs))
    rest.setdefault("solver", "cg")
    return KrylovEnv(_distribution(kind, matrices, variation, repeat, pde), **rest)


def make_pgmres(kind: str = "convection", *, matrices: Sequence[str | Path] | None = None, variation: str = "rhs",
                repeat: int = 20, **kwargs: Any) -> KrylovEnv:
    """``tunegym/PGMRES-v0``: restarted GMRES (or ``solver="bicgstab"``) on non-symmetric sequences."""
    pde, rest = _split(dict(kwargs))
    rest.setdefault("solver", "gmres")
    return KrylovEnv(_distribution(kind, matrices, variation, repeat, pde), **rest)
