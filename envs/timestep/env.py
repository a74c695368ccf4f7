"""``tunegym/ThreeBody-v0``: choose the Hermite time-step parameter η of a chaotic three-body integration.

The env is a thin driver (:class:`~tunegym.envs.core.env.ProcessEnv`) around
:class:`~tunegym.envs.timestep.process.ThreeBodyIntegration`; :func:`three_body_settings` builds its process, knob,
features and named reward from the env's keyword arguments, and ``StepSizeTuner.integrate`` builds the same
from a tuner file's, so training and deployment cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.core.knob import ArmKnob, BoxKnob
from tunegym.envs.timestep.instances import (
    FixedSystemsDistribution,
    NBodyInstance,
    PaperThreeBodyDistribution,
    load_initial_conditions,
)
from tunegym.envs.timestep.process import (
    LAGRANGIAN_OBSERVATION_NAMES,
    OBSERVATION_NAMES,
    ThreeBodyIntegration,
    ThreeBodyLagrangianFeatures,
    ThreeBodyPaperFeatures,
    check_positive_arms,
    energy_reward,
    lagrangian_reward,
    local_reward,
)

__all__ = [
    "DEFAULT_ETAS",
    "LAGRANGIAN_OBSERVATION_NAMES",
    "OBSERVATION_NAMES",
    "ThreeBodyEnv",
    "energy_reward",
    "lagrangian_reward",
    "local_reward",
    "make_three_body",
    "make_three_body_continuous",
    "three_body_settings",
]

#: The paper's action grid: η ∈ logspace(-4, -1, 10).
DEFAULT_ETAS = tuple(float(e) for e in np.logspace(-4, -1, 10))
#: reward_mode -> registered reward name
REWARD_MODES = {"paper": "three_body.energy", "local": "three_body.local", "lagrangian": "three_body.lagrangian"}


def three_body_settings(*, action: str = "discrete", etas: Sequence[float] = DEFAULT_ETAS, eta_low: float = 1e-4,
                        eta_high: float = 1e-1, action_interval: float = 0.1, episode_length: int = 100,
                        energy_limit: float = 0.1, failure_penalty: float = 5000.0, energy_weight: float = 3000.0,
                        energy_reference: float = 1e-10, step_weight: float = 4.0, reward_mode: str = "paper",
                        local_target: float = 1e-13, cost_weight: float = 1.0, local_error_weight: float = 3.0,
                        lagrange_multiplier: float = 1e14, observation: str = "paper",
                        max_steps_per_action: int = 200_000) -> SimpleNamespace:
    """ThreeBody-v0's process, knob, features, reward (name + params) and horizon for these keyword arguments."""
    if reward_mode not in REWARD_MODES:
        raise ConfigError(f"reward_mode must be 'paper', 'local' or 'lagrangian', got {reward_mode!r}",
                          value=reward_mode)
    if observation not in ("paper", "lagrangian"):
        raise ConfigError(f"observation must be 'paper' or 'lagrangian', got {observation!r}", value=observation)
    if not (math.isfinite(lagrange_multiplier) and lagrange_multiplier > 0):
        raise ConfigError(f"lagrange_multiplier must be positive, got {lagrange_multiplier!r}",
                          value=lagrange_multiplier)
    if not (np.isfinite(energy_reference) and energy_reference > 0):
        raise ConfigError(f"energy_reference must be positive, got {energy_reference!r}", value=energy_reference)
    if int(episode_length) < 1:
        raise ConfigError(f"episode_length must be >= 1, got {episode_length!r}", value=episode_length)
    if action == "discrete":
        arms = check_positive_arms(etas, "etas")
        knob: Any = ArmKnob("eta", arms)
        bounds, initial = (min(arms), max(arms)), arms[0]
    elif action == "continuous":
        if not 0 < eta_low < eta_high:
            raise ConfigError(f"need 0 < eta_low < eta_high, got {eta_low}, {eta_high}", value=(eta_low, eta_high))
        knob = BoxKnob("eta", eta_low, eta_high, scale="log")
        bounds, initial = (float(eta_low), float(eta_high)), float(eta_low)
    else:
        raise ConfigError(f"action must be 'discrete' or 'continuous', got {action!r}", value=action)
    features = (ThreeBodyLagrangianFeatures() if observation == "lagrangian"
                else ThreeBodyPaperFeatures(bounds[0], bounds[1], initial))
    params: dict[str, Any] = {"failure_penalty": float(failure_penalty)}
    if reward_mode == "paper":
        params.update(energy_weight=float(energy_weight), energy_reference=float(energy_reference),
                      step_weight=float(step_weight))
    elif reward_mode == "local":
        params.update(local_target=float(local_target), cost_weight=float(cost_weight),
                      local_error_weight=float(local_error_weight))
    else:
        params.update(lagrange_multiplier=float(lagrange_multiplier))
    process = ThreeBodyIntegration(action_interval=action_interval, energy_limit=energy_limit,
                                   max_steps_per_action=max_steps_per_action)
    return SimpleNamespace(process=process, knob=knob, features=features, reward=REWARD_MODES[reward_mode],
                           reward_params=params, horizon=int(episode_length))


class ThreeBodyEnv(ProcessEnv):
    """Choose the time-step parameter η of a 4th-order Hermite integrator every ``action_interval`` years.

    ## Description
    Saz Ulibarrena & Portegies Zwart (arXiv 2502.12809): three bodies move under their mutual gravity
    (au, M☉, yr; ``G = 4π²``), integrated by the Hermite predictor–corrector of
    :mod:`tunegym.envs.timestep.nbody` with ``dt = η · min(collision, free-fall time)``. Each action sets η
    for the next ``action_interval`` (0.1 yr) of :class:`~tunegym.envs.timestep.process.ThreeBodyIntegration`.
    Cost is the exact number of force evaluations; quality is the relative energy error ``|ΔE/E0|``.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(etas))``, arm ``i`` is ``η = etas[i]`` (default the paper's
    ``logspace(-4, -1, 10)``). ``action="continuous"``: the normalised ``Box(-1, 1, (1,))`` mapped log-linearly
    onto ``[eta_low, eta_high]`` (``BoxKnob(scale="log")``; -1 is ``eta_low``, 1 is ``eta_high``, values outside
    are clipped). Bad arm indices and non-finite values raise :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``observation="paper"`` (features ``three_body.paper``): ``Box(13,)`` float32, all log10 and clipped into the
    box (:data:`OBSERVATION_NAMES`): the three pair distances, the three pair relative speeds, the three body
    speeds (centre-of-mass frame), the time-step criterion, the energy error so far, its change over the last
    action and the previous η. ``observation="lagrangian"`` (``three_body.lagrangian``): the two values of
    :data:`LAGRANGIAN_OBSERVATION_NAMES` from the last action (``Box([-3, -8], [5, 14])``), which predict the
    best η of the next interval.

    ## Rewards
    Named rewards of the step record (:mod:`tunegym.envs.timestep.process`): ``reward_mode="paper"`` (default)
    is ``three_body.energy`` (:func:`energy_reward` with ``energy_weight`` 3000, ``energy_reference`` 1e-10,
    ``step_weight`` 4); ``"local"`` is ``three_body.local`` (:func:`local_reward`: ``local_target`` 1e-13,
    ``cost_weight`` 1, ``local_error_weight`` 3), a per-action signal that bandits can credit; ``"lagrangian"`` is
    ``three_body.lagrangian`` (:func:`lagrangian_reward`, ``lagrange_multiplier`` λ = 1e14). A run whose
    ``|ΔE/E0|`` exceeds ``energy_limit`` (0.1) or that ends in a close encounter / step limit earns
    ``-failure_penalty`` (5000) under each of them and terminates.

    ## Info
    The core contract (``cost`` = this action's force evaluations, ``cost_unit="force_evaluations"``, ``knob`` =
    η, ``instance_id``, ``quality`` = ``abs_energy_error``, ``status``: ``ok``/``close_encounter``/``diverged``/
    ``max_steps``/``energy_limit``), and ``force_evaluations``, ``total_force_evaluations`` (with the run's first
    evaluation), ``steps``, ``eta``, ``energy_error`` (relative, signed), ``error_change``, ``time`` (yr).

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream (:class:`PaperThreeBodyDistribution` by default: bodies at
    rest in the paper's boxes, centre-of-mass frame); ``reset(options={"instance": inst})`` integrates
    ``inst`` (an :class:`NBodyInstance`) instead. ``env.unwrapped.instance`` is the system being integrated.

    ## Episode End
    Terminates on an energy error above ``energy_limit`` or a failed integration; truncated after
    ``episode_length`` actions (default 100 = the paper's training episodes; it evaluates with 300).

    ## Arguments
    ``distribution``, ``action``, ``etas``, ``eta_low``/``eta_high`` (1e-4, 1e-1), ``action_interval`` (0.1),
    ``episode_length`` (100), ``energy_limit`` (0.1), ``failure_penalty`` (5000), ``energy_weight``,
    ``energy_reference``, ``step_weight``, ``reward_mode``, ``local_target``, ``cost_weight``,
    ``local_error_weight``, ``lagrange_multiplier`` (1e14), ``observation`` ("paper"), ``max_steps_per_action``
    (200,000).

    ## Version History
    - v0: initial release. (Later, same id: ``reward_mode="lagrangian"`` and ``observation="lagrangian"`` added,
      defaults unchanged; the integrator's round-off floor removed, so errors below ~1e-11 differ.)
      Before any release (issue 16): built on the shared process core; the continuous action is the normalised
      ``Box(-1, 1)`` (log η), no longer ``Box(log10 eta_low, log10 eta_high)``; info carries the core contract.
    """

    domain = "timestep"
    default_knob_value = DEFAULT_ETAS[4]  # η ≈ 2.15e-3: the paper's best fixed η

    def __init__(self, distribution: SequenceDistribution | None = None, **kwargs: Any) -> None:
        settings = three_body_settings(**kwargs)
        self.action_interval = settings.process.action_interval
        super().__init__(settings.process, distribution if distribution is not None else PaperThreeBodyDistribution(),
                         settings.knob, settings.features, reward=settings.reward,
                         reward_params=settings.reward_params, horizon=settings.horizon, instance_type=NBodyInstance)

    @property
    def state(self):
        """The running :class:`~tunegym.envs.timestep.nbody.HermiteState` (positions, velocities, counters)."""
        return self.process.state


def make_three_body(
    initial_conditions: str | Path | NBodyInstance | Sequence[NBodyInstance] | dict[str, Any] | None = None,
    *,
    centre: bool = True,
    **env_kwargs: Any,
) -> ThreeBodyEnv:
    """``tunegym/ThreeBody-v0``: the paper's distribution, or user initial conditions.

    ``initial_conditions`` is a CSV/YAML path (:func:`load_initial_conditions`), an :class:`NBodyInstance`,
    a list of them (or of mappings), or a mapping ``{masses, positions, velocities, G?}`` of arrays. Anything else
    raises :class:`~tunegym.envs.core.errors.InstanceError`.
    """
    if initial_conditions is None:
        return ThreeBodyEnv(PaperThreeBodyDistribution(centre=centre), **env_kwargs)
    if isinstance(initial_conditions, (str, Path)):
        systems = load_initial_conditions(initial_conditions)
    elif isinstance(initial_conditions, NBodyInstance):
        systems = [initial_conditions]
    elif isinstance(initial_conditions, dict):
        systems = [_instance_from_mapping(initial_conditions)]
    else:
        try:
            systems = [s if isinstance(s, NBodyInstance) else _instance_from_mapping(s) for s in initial_conditions]
        except TypeError as exc:
            raise InstanceError(f"initial_conditions must be a path, an NBodyInstance, a mapping or a list of them, "
                                f"got {type(initial_conditions).__name__}", value=initial_conditions) from exc
    if centre:
        systems = [s.centred() for s in systems]
    return ThreeBodyEnv(FixedSystemsDistribution(systems), **env_kwargs)


def _instance_from_mapping(entry: Any) -> NBodyInstance:
    """An :class:`NBodyInstance` from ``{masses, positions, velocities, G?}``; anything else (another type, a
    missing or unknown key) raises :class:`InstanceError` naming the keys, not a ``TypeError`` from ``__init__``."""
    if not isinstance(entry, dict):
        raise InstanceError(f"each system must be an NBodyInstance or a mapping {{masses, positions, velocities, G?}}"
                            f", got {type(entry).__name__}", value=entry)
    missing = {"masses", "positions", "velocities"} - set(entry)
    unknown = set(entry) - {"masses", "positions", "velocities", "G"}
    if missing or unknown:
        raise InstanceError(f"initial-condition mapping: missing keys {sorted(missing)}, unknown keys "
                            f"{sorted(map(str, unknown))}", value=entry)
    return NBodyInstance(**entry)


def make_three_body_continuous(**kwargs: Any) -> ThreeBodyEnv:
    """``tunegym/ThreeBodyContinuous-v0``: as ThreeBody-v0 with ``log η`` as a continuous action."""
    kwargs.setdefault("action", "continuous")
    return make_three_body(**kwargs)
