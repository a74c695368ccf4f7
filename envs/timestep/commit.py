"""``tunegym/ThreeBodyCommit-v0``: pick one constant η per three-body instance after a cheap pilot run.

Issue 8 found that switching η during a run costs accuracy (each η has its own oscillating energy-error offset and a
switch makes the difference permanent; ``benchmarks/timestep_switching.py``), so per-interval controllers lose to a
constant η. This env keeps η constant and learns *which* constant per instance: an episode is one decision.

``reset`` integrates the instance over the whole horizon with a coarse ``probe_eta`` (the *pilot*, default
η=4.64e-2: ≈2.4% of the force evaluations of η=1e-3; its cost is charged to the episode) and observes how much work
the run needs and how error-prone it is. ``step(arm)`` then integrates the instance **from t=0** with the chosen η,
held for the whole horizon (advanced in ``action_interval`` chunks exactly like ThreeBody-v0 at a constant η, so the
force counts equal a fixed-η rollout's). Restarting rather than continuing after the pilot avoids the η switch.

Why a per-instance η can pay: with ``n_i ≈ W_i/η`` force evaluations and ``log10|ΔE_i| ≈ c_i + p·log10 η``, the
choice minimising ``Σ n_i + μ Σ log10|ΔE_i|`` (total cost plus μ evaluations per decade of error, summed over
instances) is ``η_i = W_i·p·ln10/μ``: equal evaluations per instance, i.e. large η for instances that need much work.
A fixed η spends ``W_i/η`` on each; by Jensen's inequality the equal-budget allocation reaches a lower mean log error
at the same mean cost whenever the work ``W_i`` varies between instances. The pilot's force count predicts ``W_i``
(correlation of log counts with η=1e-3's ≥ 0.99 on seeds 0–139).

With ``criterion_exponents`` an arm is a pair (β, η): the run also bends the step criterion to
``dt = η·τ·(τ/t_ref)^β`` (:func:`~tunegym.envs.timestep.nbody.simulate`). No single β beats β = 0 on the paper's
distribution, but the best β differs per instance (0.24 decades of median headroom at equal cost on tune seeds 0–39)
and the pilot's energy error predicts it (correlation −0.88 with β=0.1's gain), so it is the second thing worth
choosing per instance (``benchmarks/timestep.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, CompositeKnob
from tunegym.envs.timestep.instances import (
    FixedSystemsDistribution,
    NBodyInstance,
    PaperThreeBodyDistribution,
)
from tunegym.envs.timestep.process import (
    COMMIT_OBSERVATION_NAMES,
    CommittedEtaRun,
    PilotFeatures,
    check_positive_arms,
    constant_eta_run,
    constant_eta_state,
)

__all__ = ["COMMIT_ETAS", "COMMIT_OBSERVATION_NAMES", "ThreeBodyCommitEnv", "commit_settings", "constant_eta_run",
           "constant_eta_state", "make_three_body_commit"]

#: Arms: 10 η values, 1/6 decade apart, from 3.16e-4 to 1e-2 (contains 1e-3 and the paper grid's 4.64e-4 … 1e-2).
COMMIT_ETAS = tuple(float(e) for e in np.logspace(-3.5, -2.0, 10))
#: The pilot's default η: the paper grid's 4.64e-2.
PROBE_ETA = float(np.logspace(-4, -1, 10)[8])


def commit_settings(*, etas: Sequence[float] = COMMIT_ETAS, probe_eta: float = PROBE_ETA, horizon: int = 300,
                    action_interval: float = 0.1, error_weight: float = 3.5e4, energy_limit: float = 0.1,
                    max_steps_per_action: int = 200_000, criterion_exponents: Sequence[float] = (0.0,),
                    keep_state: bool = False) -> SimpleNamespace:
    """ThreeBodyCommit-v0's process, knob (β-major ``CompositeKnob`` of ``criterion_exponent`` × ``eta``), features
    and reward for these keyword arguments (``keep_state``: the deployed tuner keeps the main run's final state)."""
    arms = check_positive_arms(etas, "etas")
    betas = np.asarray(criterion_exponents, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(np.abs(betas) > 1):
        raise ConfigError(f"criterion_exponents must be a non-empty list of numbers in [-1, 1], got "
                          f"{criterion_exponents!r}", value=criterion_exponents)
    if not (isinstance(error_weight, (int, float)) and math.isfinite(error_weight) and error_weight > 0):
        raise ConfigError(f"error_weight must be a positive number, got {error_weight!r}", value=error_weight)
    knob = CompositeKnob("arm", [ArmKnob("criterion_exponent", [float(b) for b in betas]), ArmKnob("eta", arms)])
    process = CommittedEtaRun(probe_eta=probe_eta, horizon=horizon, action_interval=action_interval,
                              energy_limit=energy_limit, max_steps_per_action=max_steps_per_action,
                              keep_state=keep_state)
    return SimpleNamespace(process=process, knob=knob, features=PilotFeatures(), reward="three_body.commit",
                           reward_params={"error_weight": float(error_weight)})


class ThreeBodyCommitEnv(ProcessEnv):
    """One decision per episode: the constant η of a whole three-body run, chosen after a coarse pilot run.

    ## Description
    :class:`~tunegym.envs.timestep.process.CommittedEtaRun`: ``reset`` integrates the instance over the whole
    horizon at ``probe_eta`` (the pilot, charged to the episode); ``step(arm)`` integrates it from t=0 with the
    chosen (β, η) held. Cost: force evaluations (pilot + main run); quality: the main run's ``|ΔE/E0|``.

    ## Action Space
    ``Discrete(len(criterion_exponents) · len(etas))``: a ``CompositeKnob`` of ``criterion_exponent`` and ``eta``,
    β-major (η varies fastest): arm ``i`` is ``(η, β) =`` :meth:`arm` ``(i)`` over ``criterion_exponents`` (default
    ``(0.0,)``: plain η arms, :data:`COMMIT_ETAS`) and ``etas``. β bends the step criterion to
    ``dt = η·τ·(τ/t_ref)^β`` (:func:`~tunegym.envs.timestep.nbody.simulate`); which β suits an instance varies, and
    the pilot's energy error predicts it (``benchmarks/timestep.md``). Bad indices raise
    :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(3,)`` float32 (features ``three_body.pilot``, :data:`COMMIT_OBSERVATION_NAMES`), from the pilot run at
    ``probe_eta`` over the horizon. The first value is linear in the pilot's force count because a run's cost at
    any η is proportional to it.

    ## Rewards
    ``three_body.commit``: ``r = -(pilot + main force evaluations) / error_weight - log10(max(|ΔE/E0|, 1e-16) /
    1e-16)``: the per-instance term of ``Σ evaluations + μ·Σ log10|ΔE|`` divided by ``μ = error_weight``
    (evaluations one decade of error is worth), shifted by the constant 16 so that it is never positive:
    optimistic bandits, whose untried arms predict 0, then try every arm. A run that fails (close encounter, step
    limit) or ends above ``energy_limit`` counts with ``|ΔE| = 1``.

    ## Info
    The core contract (``cost`` = pilot + main force evaluations, ``knob`` = ``{"criterion_exponent", "eta"}``,
    ``quality`` = ``abs_energy_error``), and ``force_evaluations`` (= cost), ``pilot_evaluations``, ``eta``,
    ``criterion_exponent``, ``energy_error`` (|ΔE/E0| of the main run), ``status``. ``reset``'s info adds
    ``pilot_evaluations``, ``pilot_energy_error`` and ``pilot_status``. The pilot always runs at β = 0.

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream; ``reset(options={"instance": inst})`` replays ``inst``.

    ## Episode End
    Terminates after the one action.

    ## Arguments
    ``distribution`` (:class:`PaperThreeBodyDistribution`), ``etas``, ``criterion_exponents`` ((0.0,)),
    ``probe_eta`` (4.64e-2), ``horizon`` (300 chunks), ``action_interval`` (0.1 yr), ``error_weight`` μ (3.5e4),
    ``energy_limit`` (0.1), ``max_steps_per_action`` (200,000).

    ## Version History
    - v0: initial release. Before any release (issue 16): built on the shared process core; the arm is a
      ``CompositeKnob`` (same indices); info carries the core contract.
    """

    domain = "timestep"
    default_knob_value = {"criterion_exponent": 0.0, "eta": 1e-3}  # the best fixed η over 30 yr

    def __init__(self, distribution: SequenceDistribution | None = None, **kwargs: Any) -> None:
        settings = commit_settings(**kwargs)
        super().__init__(settings.process, distribution if distribution is not None else PaperThreeBodyDistribution(),
                         settings.knob, settings.features, reward=settings.reward,
                         reward_params=settings.reward_params, instance_type=NBodyInstance)
        self.error_weight = settings.reward_params["error_weight"]
        self.probe_eta, self.horizon = self.process.probe_eta, self.process.horizon
        self.max_steps_per_action = self.process.max_steps_per_action

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        evals, error, status = self.process.pilot
        return obs, {**info, "pilot_evaluations": evals, "pilot_energy_error": error, "pilot_status": status}

    def arm(self, index: int) -> tuple[float, float]:
        """``(η, β)`` of arm ``index`` (β-major)."""
        value = self.knob.decode(index)
        return value["eta"], value["criterion_exponent"]


def make_three_body_commit(initial_conditions: Sequence[NBodyInstance] | None = None, **env_kwargs: Any
                           ) -> ThreeBodyCommitEnv:
    """``tunegym/ThreeBodyCommit-v0``: the paper's distribution, or a fixed list of :class:`NBodyInstance`."""
    if initial_conditions is None:
        return ThreeBodyCommitEnv(**env_kwargs)
    return ThreeBodyCommitEnv(FixedSystemsDistribution(list(initial_conditions)), **env_kwargs)
