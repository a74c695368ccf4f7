"""``SORTuner``: a trained relaxation-factor policy that solves the user's own systems.

A thin adapter around a :class:`~tunegym.agents.tuner.Tuner` (the policy plus the knob, features and reward
of the env it was trained on): for a user's ``A x = b`` it builds the same observation the env built, asks
the tuner for ω and runs the same SOR process as the env (:class:`~tunegym.envs.sor.process.SORSolve`, or
:class:`~tunegym.envs.sor.dynamic.SORBlockSolve` for a tuner trained on ``tunegym/SORDynamic-v0``, which
picks ω anew every ``block`` sweeps). So on a system an env produced (``solve_system(env.unwrapped.instance)``)
the tuner picks the same ω and spends the same sweeps as the env step (``tests/test_sor_parity.py``).

A user's matrix carries no context, so it gets the context the training distribution would have given it
(:meth:`SystemContext.context_for`):

- trained on ``tunegym/SOR-v0`` (context = the diagonal offset ``c`` of ``L + cI`` on a ``grid x grid``
  Laplacian): the *equivalent offset*, the ``c`` whose training system has the same Jacobi spectral radius,
  ``c = ρ(D - L) / ρ_J(A) - 4``, clipped into the trained range. The ω that is right for a system depends on
  it through ``ρ_J`` (Young's theory), so this carries the learned choice to matrices of other sizes and
  families; a matrix with ``ρ_J >= 1`` gets the most aggressive trained offset.
- trained on ``tunegym/SORMatrix-v0`` (or a dynamic env on matrix features): the feature vector of
  :func:`tunegym.envs.sor.features.matrix_features`, clipped into the declared bounds.

Two ways to solve, on purpose different:

- ``solve_system(system, learn=...)`` is the env's decision, exactly (``tests/test_sor_parity.py``): the policy
  acts on the system's own context; ``learn=True`` updates an online policy (a bandit) with the env's reward.
- ``solve(A, b, learn=...)`` is the **deploy path** for the user's own matrices (a one-step tuner; a dynamic
  tuner keeps the policy's ω per block and gets 1, the ω = 1 of 2 and the guard of 3, judged across blocks:
  :meth:`SORTuner._dynamic_solve`). Per matrix it computes :func:`~tunegym.envs.sor.features.sor_spectrum`
  (cached, so a sequence that only changes ``b`` pays it once) and then:

  1. *Refuses what cannot converge*: a symmetric matrix with a diagonal of one sign that is not definite
     diverges under SOR for every ω (converse of Ostrowski–Reich), so the result is ``"diverged"`` with 0
     sweeps and a ``reason`` (a dynamic tuner too); a factor outside (0, 2) is never played (Kahan).
  2. *Chooses ω*: ``ω = 2 / (1 + q sqrt(1 - μ²))`` with ``μ`` the SOR radius (the largest Jacobi eigenvalue of
     an SPD matrix; ``ρ_J`` otherwise) and ``q = exp(m)``. ``m = 0`` is Young's ω*. The first system plays the
     trained policy's own ω (the policy sees the context the training distribution would give the matrix);
     from then on :class:`SequenceAdaptation` picks ``m`` from a grid of 13 log-multipliers (-0.3 ... 0.3):
     a local bandit that starts at the arm nearest to the policy's ω and moves toward the arm with the
     lowest mean of ``log(sweeps / Young's predicted sweeps)``, a cost that is comparable across the shifts
     of a sequence. ``learn=True`` updates it (not from a solve that ran no sweep: ``x0`` already met ``tol``);
     ``learn=False`` plays its greedy arm. A matrix whose Jacobi matrix is nilpotent (``ρ_J = 0`` exactly:
     diagonal, triangular; :func:`~tunegym.envs.sor.features.nilpotent_jacobi`) is solved at ω = 1, which every
     other ω is slower than (SOR's iteration matrix has the single eigenvalue ``1 - ω``; a diagonal matrix takes
     one sweep), and is no sample for the learner. Policies never saw such a matrix in training.
  3. *Never ends diverged where Gauss–Seidel or under-relaxation converges*: on a matrix with no convergence
     guarantee (non-symmetric, non-positive diagonal), a solve that diverges is cut early (growth by 1e4 over
     the smallest residual, or no decrease over 200 sweeps) and the system is **re-solved** at ω = 1, then
     ω = 0.5; ``result.sweeps`` charges every attempt, ``result.attempts`` lists them and ``result.reason``
     says why. After an attempt that took 200 sweeps or more to diverge (a spectral radius near 1, e.g. a matrix
     just past indefinite), each fallback ω is first checked by the spectral radius of SOR's iteration matrix
     (:func:`~tunegym.envs.sor.solver.sor_iteration_radius`, ARPACK, each mat-vec charged as a sweep) and not swept
     when it is >= 1: sweeping would take thousands of sweeps to see so slow a divergence. SPD matrices cannot
     diverge for ω in (0, 2), so they are never re-solved. A symmetric matrix with a positive diagonal that the
     spectrum leaves undecided (largest Jacobi eigenvalue 1 to within 1e-9: a singular one such as a graph
     Laplacian) is re-solved at ω = 1 only, unchecked: SOR's verdict there is the same for every ω in (0, 2)
     (Ostrowski–Reich; semi-convergence when ``b`` is in the range), so the retry only covers the 200-sweep stall
     test firing early near ω = 2; ω = 0.5 spent some 35,000 sweeps to stall on an inconsistent ``b``. Such a
     failure's ``reason`` says that ``A`` looks singular.

  The policy itself is not updated on this path (the deploy learner is what learns; ``save`` keeps both).
Files are tuner files of kind ``"sor-tuner"`` holding the :class:`Tuner` settings and the inner policy's own
tuner file as bytes, so nothing is ever unpickled. ``SORTuner.load`` also takes any tuner file whose policy
records a SOR env (a ``tunegym deploy`` SB3 policy such as ``pretrained:sor-ppo``, a trained bandit) and
refuses a tuner of another domain with :class:`~tunegym.envs.core.errors.TunerMismatchError`.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner import Tuner, TunerAdapter, as_tuner
from tunegym.agents.tuner_io import embed_tuner, load_embedded_tuner, load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.core.knob import knob_from_dict
from tunegym.envs.core.process import Process
from tunegym.envs.sor.features import SORSpectrum, sor_spectrum, young_omega
from tunegym.envs.sor.instances import LinearSystem
from tunegym.envs.sor.solver import (PreparedMatrix, SORResult, check_tolerance, check_vector, prepare_matrix,
                                     sor_iteration_radius)

__all__ = ["SORTuner", "SequenceAdaptation", "KIND", "ENV_IDS", "omega_for", "FALLBACK_OMEGAS"]

#: the factors a diverged deploy solve is re-solved with, in order (matrices with no convergence guarantee)
FALLBACK_OMEGAS = (1.0, 0.5)
#: divergence tests of a deploy solve on a matrix with no convergence guarantee (SPD matrices keep the defaults)
GUARDED_DIVERGENCE_FACTOR = 1e4
GUARDED_STALL_WINDOW = 200
#: a fallback ω after an attempt that took a stall window or more to diverge (SOR's iteration matrix has spectral
#: radius near 1 there) is first checked by that radius (ARPACK to 1e-7, at most this many sweeps, each charged;
#: :func:`~tunegym.envs.sor.solver.sor_iteration_radius`); at or above ``1 + RADIUS_MARGIN`` it is not swept, since
#: a residual test would take thousands of sweeps to see so slow a divergence
RADIUS_CHECK_SWEEPS = 1000
RADIUS_MARGIN = 1e-6
_OMEGA_MAX = 2.0 - 1e-6


def _radius_scale(radius: float) -> float:
    """``sqrt(1 - μ²)`` for ``0 <= μ < 1``; 1 otherwise (ω = 2 / (1 + q) then: q = 1 is Gauss–Seidel)."""
    return math.sqrt(1.0 - radius * radius) if 0.0 <= radius < 1.0 else 1.0


def omega_for(radius: float, log_multiplier: float = 0.0) -> float:
    """``2 / (1 + exp(m) sqrt(1 - μ²))``: Young's ω* at ``m = 0``; always inside (0, 2)."""
    return min(2.0 / (1.0 + math.exp(log_multiplier) * _radius_scale(radius)), _OMEGA_MAX)


def _log_multiplier_of(omega: float, radius: float) -> float:
    """The ``m`` with ``omega_for(radius, m) == omega`` (for ``0 < omega < 2``)."""
    if not 0.0 < omega < 2.0:
        return 0.0
    return math.log((2.0 / omega - 1.0) / _radius_scale(radius))


def _predicted_sweeps(radius: float, tol: float) -> float:
    """Young's asymptotic sweep count at ω* (``log tol / log(ω* - 1)``): the scale a system's cost is read on."""
    if not 0.0 <= radius < 1.0:
        return 1.0
    rate = min(max(young_omega(radius) - 1.0, 1e-3), 1.0 - 1e-9)
    return max(math.log(tol) / math.log(rate), 1.0)


class SequenceAdaptation:
    """The deploy learner of :meth:`SORTuner.solve`: a log-multiplier ``m`` of Young's ω for the user's sequence.

    Arms are ``LOG_MULTIPLIERS``; the cost of a solve is ``log((sweeps + 1) / predicted)`` with ``predicted``
    Young's asymptotic count for the system's radius, so systems of one sequence with different shifts
    share one scale. Choice (``learn=True``): the greedy arm (lowest mean cost among arms played, starting
    at the arm nearest to the trained policy's first ω) until it has ``min_samples`` solves; then each
    untried-enough neighbour (greedy ± 1) in turn; then the greedy arm, or with probability ``explore`` a
    random neighbour. A local search because sweeps vs ω is unimodal and steep below the optimum: arms far
    from the greedy one are never tried blindly. ``learn=False`` plays the greedy arm.
    """

    LOG_MULTIPLIERS = tuple(float(m) for m in np.round(np.linspace(-0.3, 0.3, 13), 10))

    def __init__(self, *, explore: float = 0.05, min_samples: int = 3, seed: int = 0) -> None:
        if not 0.0 <= explore <= 1.0 or int(min_samples) < 1:
            raise ConfigError("explore must be in [0, 1] and min_samples >= 1", value=(explore, min_samples))
        self.explore, self.min_samples, self.seed = float(explore), int(min_samples), int(seed)
        k = len(self.LOG_MULTIPLIERS)
        self.counts = np.zeros(k)
        self.cost_sums = np.zeros(k)
        self.t = 0
        self.prior = -1  # the arm nearest to the policy's first ω (set on the first solve)
        self.rng = np.random.default_rng(self.seed)

    @property
    def arms(self) -> np.ndarray:
        return np.asarray(self.LOG_MULTIPLIERS)

    def nearest(self, m: float) -> int:
        return int(np.argmin(np.abs(self.arms - m)))

    def greedy(self) -> int:
        """The arm with the lowest mean cost (the prior arm before any solve; ties: the one nearer the prior)."""
        if not self.counts.any():
            return self.prior if self.prior >= 0 else self.nearest(0.0)
        means = np.where(self.counts > 0, self.cost_sums / np.maximum(self.counts, 1), np.inf)
        best = np.flatnonzero(means == means.min())
        anchor = self.prior if self.prior >= 0 else self.nearest(0.0)
        return int(best[np.argmin(np.abs(best - anchor))])

    def choose(self, learn: bool) -> int:
        best = self.greedy()
        if not learn:
            return best
        if self.counts[best] < self.min_samples:
            return best
        neighbours = [a for a in (best - 1, best + 1) if 0 <= a < len(self.counts)]
        needy = [a for a in neighbours if self.counts[a] < self.min_samples]
        if needy:
            return min(needy, key=lambda a: (self.counts[a], a))
        if self.rng.random() < self.explore:
            return int(neighbours[int(self.rng.integers(len(neighbours)))])
        return best

    def update(self, arm: int, sweeps: float, radius: float, tol: float) -> None:
        cost = math.log((float(sweeps) + 1.0) / _predicted_sweeps(radius, tol))
        self.counts[arm] += 1
        self.cost_sums[arm] += cost
        self.t += 1

    def state(self) -> dict[str, Any]:
        return {"explore": self.explore, "min_samples": self.min_samples, "seed": self.seed,
                "counts": self.counts.tolist(), "cost_sums": self.cost_sums.tolist(), "t": self.t,
                "prior": self.prior, "rng": self.rng.bit_generator.state}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SequenceAdaptation":
        learner = cls(explore=state["explore"], min_samples=state["min_samples"], seed=state["seed"])
        learner.counts = np.asarray(state["counts"], dtype=np.float64)
        learner.cost_sums = np.asarray(state["cost_sums"], dtype=np.float64)
        if learner.counts.shape != (len(cls.LOG_MULTIPLIERS),) or learner.cost_sums.shape != learner.counts.shape:
            raise ValueError("deploy learner state has the wrong number of arms")
        learner.t, learner.prior = int(state["t"]), int(state["prior"])
        learner.rng.bit_generator.state = state["rng"]
        return learner

KIND = "sor-tuner"
#: the envs whose tuners solve a user's ``A x = b`` by SOR (SORHeat-v0 tunes SSOR-PCG, BlockSOR-v0 is multi-agent)
ENV_IDS = ("tunegym/SOR-v0", "tunegym/SORMatrix-v0", "tunegym/SORDynamic-v0")
_DYNAMIC = "tunegym/SORDynamic-v0"


class SORTuner(TunerAdapter):
    """Choose ω for a linear system with a trained policy, and solve it with SOR."""

    def __init__(self, tuner: Any) -> None:
        tuner = as_tuner(tuner)
        self.tuner = tuner.expect("sor", adapter="SORTuner", env_ids=ENV_IDS)
        self.features = tuner.make_features()  # fails here, not mid-solve, if the layout is unknown
        self.adaptation = SequenceAdaptation()
        self._spectra: OrderedDict[str, SORSpectrum] = OrderedDict()

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: dict[str, Any] | None = None) -> "SORTuner":
        """Wrap ``policy`` trained on ``env`` (``SOR-v0``, ``SORMatrix-v0`` or ``SORDynamic-v0``)."""
        return cls(Tuner.from_env(policy, env, provenance=provenance))

    @classmethod
    def from_policy(cls, policy: Any) -> "SORTuner":
        """Wrap a loaded policy that records its env (an ``SB3Policy`` from ``tunegym deploy`` or
        ``load_tuner("pretrained:sor-ppo")``, a bandit from ``tunegym train``) or a :class:`Tuner`."""
        return cls(as_tuner(policy))

    @classmethod
    def train(
        cls,
        env_id: str = "tunegym/SOR-v0",
        agent: str = "chebcb",
        *,
        steps: int = 3000,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> "SORTuner":
        """Train ``agent`` on ``env_id`` for ``steps`` env steps from ``seed`` and wrap it as a tuner."""
        from tunegym.agents.registry import train_agent

        policy, env, provenance = train_agent(env_id, agent, steps=steps, seed=seed, env_kwargs=env_kwargs,
                                              config=config)
        return cls.from_env(policy, env, provenance=provenance)

    # ---- properties (policy, knob, env_id, env_kwargs, provenance: TunerAdapter) --------------------------
    @property
    def dynamic(self) -> bool:
        """Whether ω changes every ``block`` sweeps (a tuner trained on ``tunegym/SORDynamic-v0``)."""
        return self.tuner.env_id == _DYNAMIC

    # ---- using ---------------------------------------------------------------------------------------
    def spectrum(self, A: Any) -> SORSpectrum:
        """:func:`~tunegym.envs.sor.features.sor_spectrum` of ``A``, cached on the matrix's content (8 kept)."""
        prepared = A if isinstance(A, PreparedMatrix) else prepare_matrix(A)
        digest = hashlib.blake2b(digest_size=16)
        for part in (prepared.indptr, prepared.indices, prepared.data, prepared.diag):
            digest.update(np.ascontiguousarray(part).tobytes())
        key = digest.hexdigest()
        found = self._spectra.get(key)
        if found is None:
            found = self._spectra[key] = sor_spectrum(prepared)
            while len(self._spectra) > 8:
                self._spectra.popitem(last=False)
        return found

    def system(self, A: Any, b: Any = None) -> LinearSystem:
        """``A x = b`` as the tuner's process sees it: the context the training distribution would give ``A``.

        A tuner trained on ``SOR-v0`` (offset context) is given the SOR radius of ``A`` (see
        :class:`~tunegym.envs.sor.features.SORSpectrum`: for an SPD matrix the largest Jacobi eigenvalue,
        which is what Young's theory and the training systems' ``ρ_J`` measure); a ``SORMatrix-v0`` tuner
        the features it was trained on (``ρ_J``).
        """
        prepared = A if isinstance(A, PreparedMatrix) else prepare_matrix(A)
        b_arr = np.zeros(prepared.n) if b is None else check_vector("b", b, prepared.n)
        spec = self.spectrum(prepared)
        rho = spec.radius if getattr(self.features, "kind", "matrix") == "offset" else spec.jacobi_radius
        context = self.features.context_for(prepared, jacobi_radius=rho)
        return LinearSystem(matrix=prepared, b=b_arr, context=context, jacobi_radius=spec.radius, name="user-system")

    def context(self, A: Any) -> np.ndarray:
        """The observation the policy sees for matrix ``A`` before its first decision."""
        process = self._process(self.system(A), None, None, None)
        return self.features.observation(process)

    def policy_omega(self, A: Any) -> float:
        """The ω the trained policy alone picks for ``A`` (greedy; a dynamic tuner's first block)."""
        return float(self.tuner.act(self.context(A))[1])

    def choose_omega(self, A: Any) -> float:
        """The ω ``solve(A, b)`` would play (greedy): the policy's on a fresh tuner, then the deploy learner's."""
        if self.dynamic:  # the first block's ω; a nilpotent Jacobi matrix is solved at ω = 1, as solve() does
            return 1.0 if self.spectrum(prepare_matrix(A)).jacobi_radius == 0.0 else self.policy_omega(A)
        prepared = prepare_matrix(A)
        spec = self.spectrum(prepared)
        if spec.jacobi_radius == 0.0:
            return 1.0
        if not self.adaptation.counts.any():
            return self.policy_omega(prepared)
        return omega_for(spec.radius, self.adaptation.arms[self.adaptation.greedy()])

    def solve(self, A: Any, b: Any, *, x0: Any = None, tol: float | None = None, max_sweeps: int | None = None,
              learn: bool = False) -> SORResult:
        """Solve the user's ``A x = b`` by SOR with a tuned ω (the deploy path, see the module docstring).

        ``learn=True`` updates the deploy learner (:class:`SequenceAdaptation`) from the solve, so a sequence of
        related systems gets better ω as it goes. A diverged solve on a matrix with no convergence guarantee
        is re-solved at ω = 1, then 0.5 (``FALLBACK_OMEGAS``), every attempt charged in ``result.sweeps``.
        ``tol`` (default 1e-8) and ``max_sweeps`` (default 100,000; a dynamic tuner: its env's, 10,000, since
        the share of the budget spent is part of what it observes) bound each attempt; a ``tol`` that is not a
        positive finite number (a string included) raises :class:`ConfigError`.
        """
        if max_sweeps is not None and not (isinstance(max_sweeps, numbers.Real) and math.isfinite(max_sweeps)
                                           and int(max_sweeps) == max_sweeps and max_sweeps >= 1):
            # int() would quietly make 2.5 two sweeps and "5" five; envs.sor.solve refuses both too (1e5 is fine)
            raise ConfigError(f"max_sweeps must be a whole number >= 1, got {max_sweeps!r}", value=max_sweeps)
        tol = float(self.tuner.env_kwargs.get("tol", 1e-8)) if tol is None else check_tolerance(tol)
        prepared = prepare_matrix(A)
        x0_arr = None if x0 is None else check_vector("x0", x0, prepared.n)
        b_arr = check_vector("b", b, prepared.n)
        spec = self.spectrum(prepared)
        if spec.convergent is False:
            return _refused(prepared, b_arr, x0_arr, tol, spec)
        if self.dynamic:  # SORBlockSolve.start refuses an x0 whose residual overflows, as solve() does
            return self._dynamic_solve(self.system(prepared, b_arr), x0_arr, tol, max_sweeps, spec, learn)
        learner = self.adaptation
        system = self.system(prepared, b_arr)
        if spec.jacobi_radius == 0.0:  # nilpotent Jacobi matrix (exact, from the pattern): ω = 1 is best
            return self._guarded_solve(system, 1.0, x0_arr, tol, max_sweeps, spec)
        if learner.t == 0 and not learner.counts.any():  # first system: the trained policy's own choice
            omega = float(self.tuner.act(self._observation(system))[1])
            if not 0.0 < omega < 2.0:
                omega = omega_for(spec.radius)
            arm = learner.nearest(_log_multiplier_of(omega, spec.radius))
            learner.prior = arm
        else:
            arm = learner.choose(learn)
            omega = omega_for(spec.radius, learner.arms[arm])
        result = self._guarded_solve(system, omega, x0_arr, tol, max_sweeps, spec)
        if learn and result.sweeps > 0:  # no sweep (x0 met tol): nothing learned about ω
            learner.update(arm, result.sweeps if result.converged else 10 * max(result.sweeps, 1), spec.radius, tol)
        return result

    def _observation(self, system: LinearSystem) -> np.ndarray:
        process = self._process(system, None, None, None)
        return self.features.observation(process)

    def _guarded_solve(self, system: LinearSystem, omega: float, x0: Any, tol: float, max_sweeps: int | None,
                       spec: SORSpectrum) -> SORResult:
        """Solve at ``omega``; on a matrix with no convergence guarantee, cut a divergence early and re-solve."""
        from tunegym.envs.sor.process import SORSolve

        budget = 100_000 if max_sweeps is None else int(max_sweeps)
        guarded = not spec.spd
        kwargs = {"divergence_factor": GUARDED_DIVERGENCE_FACTOR, "stall_window": GUARDED_STALL_WINDOW} if guarded else {}
        ostrowski = spec.symmetric and spec.positive_diagonal  # one verdict for every ω in (0, 2)
        fallbacks = [w for w in (FALLBACK_OMEGAS[:1] if ostrowski else FALLBACK_OMEGAS) if guarded and w != omega]
        attempts: list[tuple[float, int, str]] = []
        charged = 0
        result = None
        check = _SpectralCheck(system.matrix, budget, enabled=not ostrowski)
        for candidate in (omega, *fallbacks):
            if result is not None and check.diverges(candidate, attempts):
                charged += check.used
                continue
            process = SORSolve(tol=tol, max_sweeps=budget - check.used, **kwargs)  # the check's sweeps count too
            process.start(system, x0=x0)
            process.advance(candidate)
            result = process.result
            charged += check.used + result.sweeps
            attempts.append((float(candidate), check.used + int(result.sweeps), result.status))
            if result.status != "diverged":
                break
            check.arm(result)
        assert result is not None
        return check.noted(_charged(result, charged, attempts, singular=ostrowski and abs(spec.radius - 1.0) <= 1e-9))

    def _dynamic_solve(self, system: LinearSystem, x0: np.ndarray | None, tol: float, max_sweeps: int | None,
                       spec: SORSpectrum, learn: bool) -> SORResult:
        """A dynamic tuner's deploy solve: the policy's ω per block, with the static path's guards.

        As :meth:`_guarded_solve`: a nilpotent Jacobi matrix is swept at ω = 1 (no policy, nothing learned); on a
        matrix with no convergence guarantee the solve is judged across blocks (no residual decrease over 200
        sweeps; growth by 1e8, for a fixed ω 1e4, over the smallest residual) and a divergence is re-solved from
        ``x0`` at ω = 1, then 0.5 (1 only for a symmetric matrix with a positive diagonal), every attempt charged
        in ``result.sweeps``.
        ``result.attempts`` lists ``(ω, sweeps, status)``, ω being the array of the blocks' ω for the policy's
        attempt. A solve that needs no sweep (``x0`` meets ``tol``, ``b = 0``) teaches the policy nothing.
        """
        guarded = not spec.spd
        # The policy's own attempt keeps the env's growth limit (1e8): it may play a high ω for a block and then
        # recover, a transient the static path's 1e4 would cut; a fixed ω gets the static path's guard.
        policy_guard = {"stall_window": GUARDED_STALL_WINDOW} if guarded else {}
        fixed_guard = {**policy_guard, "divergence_factor": GUARDED_DIVERGENCE_FACTOR} if guarded else {}
        ostrowski = spec.symmetric and spec.positive_diagonal  # one verdict for every ω in (0, 2)
        first = 1.0 if spec.jacobi_radius == 0.0 else None  # None: the policy decides each block
        fallbacks = [w for w in (FALLBACK_OMEGAS[:1] if ostrowski else FALLBACK_OMEGAS) if guarded and w != first]
        attempts: list[tuple[Any, int, str]] = []
        charged = 0
        result = None
        check = _SpectralCheck(system.matrix, int(max_sweeps or self.tuner.env_kwargs.get("max_sweeps", 10_000)),
                               enabled=not ostrowski)
        for omega in (first, *fallbacks):
            if result is not None and omega is not None and check.diverges(omega, attempts):
                charged += check.used
                continue
            process = self._process(system, x0, tol, check.budget - check.used,  # the check's sweeps count too
                                    **(policy_guard if omega is None else fixed_guard))
            if omega is None:
                self._drive(process, learn and process.residual > process.tol)
            else:
                while not process.done:
                    process.advance(omega)
            result = process.result()
            charged += check.used + result.sweeps
            attempts.append((result.omega if omega is None else float(omega), check.used + int(result.sweeps),
                             result.status))
            if result.status != "diverged":
                break
            check.arm(result)
        assert result is not None
        return check.noted(_charged(result, charged, attempts, singular=ostrowski and abs(spec.radius - 1.0) <= 1e-9))

    def solve_system(self, system: LinearSystem, *, x0: Any = None, tol: float | None = None,
                     max_sweeps: int | None = None, learn: bool = False) -> SORResult:
        """Solve a :class:`LinearSystem` with its own context (e.g. ``env.unwrapped.instance``) as the env would."""
        process = self._process(system, x0, tol, max_sweeps)
        self._drive(process, learn)
        return process.result() if self.dynamic else process.result

    def _drive(self, process: Process, learn: bool) -> None:
        """Run a started ``process`` to its end with the policy deciding (and learning, as an env step would)."""
        features = self.features
        while not process.done:
            observation = features.observation(process)
            action, omega = self.tuner.act(observation, learn=learn)
            record = process.advance(omega)
            features.record(process, record)
            if learn:
                self.tuner.learn_from(observation, action, record)

    def _process(self, system: LinearSystem, x0: Any, tol: float | None, max_sweeps: int | None,
                 **guard: Any) -> Process:
        """A started process for ``system`` (and features reset on it); ``guard``: a dynamic deploy solve's
        ``divergence_factor``/``stall_window``."""
        settings = self.tuner.env_kwargs
        tol = float(settings.get("tol", 1e-8)) if tol is None else float(tol)
        if self.dynamic:
            from tunegym.envs.sor.dynamic import DEFAULT_BLOCK, DEFAULT_FAILURE_PENALTY, SORBlockSolve

            process: Any = SORBlockSolve(
                block=settings.get("block", DEFAULT_BLOCK), tol=tol,
                max_sweeps=settings.get("max_sweeps", 10_000) if max_sweeps is None else max_sweeps,
                failure_penalty=settings.get("failure_penalty", DEFAULT_FAILURE_PENALTY), **guard)
        else:
            from tunegym.envs.sor.process import SORSolve

            process = SORSolve(tol=tol, max_sweeps=100_000 if max_sweeps is None else max_sweeps,
                               failure_penalty=settings.get("failure_penalty", 0.0))
        process.start(system, x0=x0)
        self.features.reset(process)
        return process

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file (kind ``"sor-tuner"``): the :class:`Tuner` settings, the deploy learner's state (JSON) and
        the inner policy's file as bytes."""
        meta = {**self.tuner.metadata(), "deploy_learner": self.adaptation.state()}
        save_tuner_file(path, KIND, meta, {"policy_file": embed_tuner(self.tuner.policy)})

    @classmethod
    def load(cls, path: str | Path) -> "SORTuner":
        """Load a SOR tuner (``save``'s file, a saved :class:`Tuner`, a policy file that records a SOR env, or
        ``"pretrained:NAME"``, e.g. ``"pretrained:sor-ppo"``).

        A tuner of another domain or env raises :class:`TunerMismatchError` (one line) before any solve.
        """
        from tunegym.agents.tuners import PRETRAINED_PREFIX, load_tuner, pretrained_path

        text = str(path)
        if text.startswith(PRETRAINED_PREFIX):  # "pretrained:sor-ppo", as load_tuner and KrylovTuner.load take it
            path = pretrained_path(text[len(PRETRAINED_PREFIX):])
        kind, meta, arrays = load_tuner_file(path)
        if kind == "tuner":
            return cls(Tuner.load(path))
        if kind != KIND:
            return cls(as_tuner(load_tuner(path)))
        try:
            policy = load_embedded_tuner(arrays["policy_file"])
            if isinstance(policy, (SORTuner, Tuner)):
                raise CheckpointError(f"{str(path)!r} nests a tuner inside a SOR tuner", value=str(path))
            if "domain" not in meta:  # a file written before the process core (2026-12-01)
                return cls(_legacy_tuner(policy, meta))
            tuner = cls(Tuner(policy, domain=meta["domain"], env_id=meta["env_id"], knob=knob_from_dict(meta["knob"]),
                              features=meta["features"], reward=meta.get("reward"), env_kwargs=meta.get("env_kwargs"),
                              provenance=meta.get("provenance")))
            if "deploy_learner" in meta:
                tuner.adaptation = SequenceAdaptation.from_state(meta["deploy_learner"])
            return tuner
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed SOR tuner: {exc}", value=str(path)) from None

    def __repr__(self) -> str:
        return (f"SORTuner(policy={type(self.policy).__name__}, env={self.tuner.env_id}, "
                f"features={self.tuner.features_config.get('name')!r}, knob={type(self.knob).__name__})")


def _shown(omega: Any) -> str:
    """An attempt's ω for a reason: a number, or the first and last of a dynamic tuner's per-block ω."""
    if np.ndim(omega) == 0:
        return f"{float(omega):.3g}"
    blocks = np.asarray(omega)
    if blocks.size < 2:
        return f"{blocks[0]:.3g}" if blocks.size else "no block"
    return f"{blocks[0]:.3g}..{blocks[-1]:.3g} per block"


class _SpectralCheck:
    """The spectral test of a fallback ω (see :data:`RADIUS_CHECK_SWEEPS`), armed by an attempt that was slow to
    diverge.

    :meth:`diverges` estimates ``ρ(G_ω)`` when armed (``used``: the sweeps that cost, 0 otherwise; the caller
    charges them to the attempt) and, when it is at or above ``1 + RADIUS_MARGIN``, records the attempt as diverged
    without a sweep and stays armed for the next fallback; :meth:`noted` adds what each check found to the result's
    ``reason``."""

    def __init__(self, matrix: PreparedMatrix, budget: int, *, enabled: bool = True) -> None:
        self.matrix, self.budget, self.enabled = matrix, max(int(budget), 1), enabled  # budget: an attempt's sweeps
        self.armed, self.used = False, 0
        self.found: list[str] = []

    def arm(self, result: SORResult) -> None:
        """Arm the check when ``result`` (a diverged attempt) took a stall window or more to be found diverged: so
        slow a divergence means a spectral radius near 1, where the next ω's residual would be slow to tell too (a
        blow-up within a few sweeps says nothing about the next ω, which then converges in most cases). Never for
        a symmetric matrix with a positive diagonal (``enabled`` False): every ω has its verdict there."""
        self.armed = self.enabled and result.sweeps >= GUARDED_STALL_WINDOW

    def diverges(self, omega: float, attempts: list[tuple[Any, int, str]]) -> bool:
        self.used = 0
        if not self.armed:
            return False
        cap = min(RADIUS_CHECK_SWEEPS, self.budget // 2)  # the attempt's budget bounds the check and its sweeps
        if cap < 20:
            return False
        radius, self.used = sor_iteration_radius(self.matrix, float(omega), max_sweeps=cap)
        self.armed = radius is not None and radius >= 1.0 + RADIUS_MARGIN
        shown = "no estimate" if radius is None else f"{radius:.7g}"
        self.found.append(f"ω={_shown(omega)}: {shown} after {self.used} ({'not ' if self.armed else ''}swept)")
        if self.armed:
            attempts.append((float(omega), self.used, "diverged"))
        return self.armed

    def noted(self, result: SORResult) -> SORResult:
        if self.found:
            result.reason += ("; spectral radius of SOR's iteration matrix checked before sweeping (ARPACK, one sweep "
                              f"per mat-vec, charged to the attempt; >= 1 is not swept): {', '.join(self.found)}")
        return result


def _charged(result: SORResult, charged: int, attempts: list[tuple[Any, int, str]], *, singular: bool) -> SORResult:
    """The last attempt's result charged every attempt's sweeps, with ``attempts`` and a ``reason`` that lists them
    when there was more than one; ``singular`` (a symmetric matrix with a positive diagonal whose largest Jacobi
    eigenvalue is 1: a graph Laplacian, say) adds why a *diverged* result may have no solution to find (a solve cut
    at ``max_sweeps`` may be a consistent ``b`` converging slowly, so it does not get that note)."""
    result.sweeps, result.attempts = charged, attempts
    if len(attempts) > 1:
        tried = ", ".join(f"ω={_shown(w)}: {status} after {sweeps}" for w, sweeps, status in attempts)
        result.reason = (f"re-solved after a divergence ({tried}); sweeps charge every attempt"
                         + (f"; last: {result.reason}" if result.reason else ""))
    if singular and result.status == "diverged":
        result.reason = (f"{result.reason}; " if result.reason else "") + (
            "A looks singular (largest Jacobi eigenvalue 1 to within 1e-9, e.g. a graph Laplacian): SOR converges "
            "only when b is in A's range, for no omega otherwise")
    return result


def _refused(prepared: PreparedMatrix, b: np.ndarray, x0: Any, tol: float, spec: SORSpectrum) -> SORResult:
    """The result for a matrix SOR cannot solve: status ``"diverged"``, no sweep run (``x`` = ``x0``)."""
    x = np.zeros(prepared.n) if x0 is None else np.array(x0, dtype=np.float64)
    A = prepared.to_csr()
    bnorm = float(np.linalg.norm(b))
    residual = float(np.linalg.norm(b - A @ x)) / (bnorm if bnorm > 0 else 1.0)
    if residual <= tol:
        return SORResult(x=x, sweeps=0, converged=True, residual=residual, status="converged", omega=1.0,
                         wall_time=0.0, residual_history=np.array([residual]))
    sign = "positive" if spec.positive_diagonal else "negative"  # a refused A has a diagonal of one sign
    return SORResult(x=x, sweeps=0, converged=False, residual=residual, status="diverged", omega=1.0, wall_time=0.0,
                     residual_history=np.array([residual]),
                     reason=(f"A is symmetric with a {sign} diagonal but not {sign} definite (largest Jacobi "
                             f"eigenvalue {spec.radius:.6g} > 1): SOR diverges for every omega (Ostrowski–Reich)"))


def _legacy_tuner(policy: Any, meta: dict[str, Any]) -> Tuner:
    """The :class:`Tuner` of a ``"sor-tuner"`` file from before the process core (``feature_kind`` layout)."""
    from tunegym.envs.sor.env import omega_knob
    from tunegym.envs.sor.process import SystemContext

    knob = meta["knob"]
    kind = meta["feature_kind"]
    features = SystemContext(meta["context_low"], meta["context_high"], kind=kind, grid=meta.get("grid", 10))
    env_id = "tunegym/SOR-v0" if kind == "offset" else "tunegym/SORMatrix-v0"
    return Tuner(policy, domain="sor", env_id=env_id,
                 knob=omega_knob(knob["kind"], knob["arms"], knob["omega_low"], knob["omega_high"]),
                 features=features.config(),
                 reward={"name": "neg_cost", "params": {"scale": float(meta.get("reward_scale", 100.0))}},
                 provenance=meta.get("provenance"))
