"""``tunegym/ThreeBody-v0``: choose the Hermite time-step parameter η of a chaotic three-body integration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import SequenceDistribution
from tunegym.envs.timestep.instances import (
    FixedSystemsDistribution,
    NBodyInstance,
    PaperThreeBodyDistribution,
    load_initial_conditions,
    next_instance,
)
from tunegym.envs.timestep.nbody import HermiteState

__all__ = [
    "DEFAULT_ETAS",
    "LAGRANGIAN_OBSERVATION_NAMES",
    "OBSERVATION_NAMES",
    "ThreeBodyEnv",
    "energy_reward",
    "lagrangian_reward",
    "local_reward",
    "make_three_body",
]

#: The paper's action grid: η ∈ logspace(-4, -1, 10).
DEFAULT_ETAS = tuple(float(e) for e in np.logspace(-4, -1, 10))

#: What each of the 13 observation values is (all log10, clipped into the declared box).
OBSERVATION_NAMES = (
    "log10_distance_12", "log10_distance_13", "log10_distance_23",
    "log10_relative_speed_12", "log10_relative_speed_13", "log10_relative_speed_23",
    "log10_speed_1", "log10_speed_2", "log10_speed_3",
    "log10_timestep_criterion", "log10_energy_error", "log10_energy_error_change", "log10_previous_eta",
)
#: ``observation="lagrangian"``: what the last action cost and how error-prone its interval was (both log10).
#: ``work = n·η`` (force evaluations times η, ≈ the interval's length in units of the step criterion) and
#: ``error_per_work = |δE| / (n · η⁵)``: with ``n ≈ work/η`` and ``|δE| ≈ c·η⁴`` the second is ``c / work``,
#: the one number that fixes the interval's best η under a Lagrangian of cost and error.
LAGRANGIAN_OBSERVATION_NAMES = ("log10_work", "log10_error_per_work")
_LAGRANGIAN_LOW = np.array([-3.0, -8.0], dtype=np.float32)
_LAGRANGIAN_HIGH = np.array([5.0, 14.0], dtype=np.float32)
_LOW = np.array([-8.0] * 9 + [-12.0, -20.0, -20.0, -4.0], dtype=np.float32)
_HIGH = np.array([4.0] * 9 + [4.0, 2.0, 2.0, -1.0], dtype=np.float32)
_FLOOR = 1e-20


def energy_reward(energy_error: float, eta: float, *, energy_weight: float = 3000.0,
                  energy_reference: float = 1e-10, step_weight: float = 4.0) -> float:
    """Reward of one action (after arXiv 2502.12809's shape; ours, with configurable weights)::

        r = -energy_weight · log10(|ΔE| / energy_reference) / max(|log10 |ΔE||, 1)³ + step_weight / |log10 η|

    ``|ΔE|`` is the relative energy error of the whole run so far. The first term rewards errors below
    ``energy_reference`` and punishes larger ones steeply as they approach 1; the second pays for large steps.
    """
    err = max(abs(energy_error), _FLOOR)
    log_err = math.log10(err)
    return (-energy_weight * (log_err - math.log10(energy_reference)) / max(abs(log_err), 1.0) ** 3
            + step_weight / max(abs(math.log10(eta)), 1e-3))


def local_reward(error_change: float, force_evaluations: int, *, local_target: float = 1e-13,
                 cost_weight: float = 1.0, local_error_weight: float = 3.0) -> float:
    """Per-action reward of ``reward_mode="local"`` (ours)::

        r = -cost_weight · log10(1 + force_evaluations) - local_error_weight · max(0, log10(|δE| / local_target))

    ``δE`` is the change of the relative energy error over this action: the best myopic choice is the largest
    η whose own error stays under ``local_target`` (tolerance-per-step control, as adaptive ODE solvers do).
    """
    excess = max(0.0, math.log10(max(error_change, _FLOOR) / local_target))
    return -cost_weight * math.log10(1.0 + force_evaluations) - local_error_weight * excess


def lagrangian_reward(error_change: float, force_evaluations: int, *, lagrange_multiplier: float = 1e14) -> float:
    """Per-action reward of ``reward_mode="lagrangian"`` (ours)::

        r = -log10(force_evaluations + λ · |δE|)

    Maximising it per interval minimises that interval's term of the Lagrangian ``Σ n_i + λ Σ |δE_i|`` (total
    force evaluations plus λ times a bound on the final energy error). With ``n ≈ work/η`` and
    ``|δE| ≈ c·η⁴`` its best η is ``(work / (4 λ c))^(1/5)``: it depends on the interval only through
    ``c / work``, which ``observation="lagrangian"`` reports for the last interval. The log keeps rewards of
    intervals with 10 and 10⁵ evaluations on one scale (a per-arm regression of the reward on features of
    ``c/work`` and ``work`` is then additive).
    """
    return -math.log10(max(force_evaluations + lagrange_multiplier * abs(error_change), 1.0))


class ThreeBodyEnv(gym.Env):
    """Choose the time-step parameter η of a 4th-order Hermite integrator every ``action_interval`` years.

    ## Description
    Saz Ulibarrena & Portegies Zwart (arXiv 2502.12809): three bodies move under their mutual gravity
    (au, M☉, yr; ``G = 4π²``), integrated by the Hermite predictor–corrector of
    :mod:`tunegym.envs.timestep.nbody` with ``dt = η · min(collision, free-fall time)``. Each action sets η
    for the next ``action_interval`` (0.1 yr). Cost is the exact number of force evaluations; quality is the
    relative energy error ``|ΔE/E0|``.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(etas))``, arm ``i`` is ``η = etas[i]`` (default the paper's
    ``logspace(-4, -1, 10)``). ``action="continuous"``: ``Box(log10 eta_low, log10 eta_high, (1,))`` holding
    ``log10 η`` (clipped). Bad arm indices and non-finite values raise
    :class:`~tunegym.envs.core.errors.ActionError`.

    ## Observation Space
    ``Box(13,)`` float32, all log10 and clipped into the box (:data:`OBSERVATION_NAMES`): the three pair
    distances, the three pair relative speeds, the three body speeds (centre-of-mass frame), the time-step
    criterion, the energy error so far, its change over the last action and the previous η. (The paper's
    13 values are a positions/velocities summary plus ΔE and the previous η; ours are scale-free features.)

    ## Rewards
    ``reward_mode="paper"`` (default): :func:`energy_reward` with ``energy_weight`` (3000), ``energy_reference`` (1e-10) and ``step_weight`` (4).
    A run whose ``|ΔE/E0|`` exceeds ``energy_limit`` (0.1) or that ends in a close encounter / step limit
    earns ``-failure_penalty`` (5000) and terminates. ``reward_mode="local"``: :func:`local_reward` of this
    action's own energy-error change and force evaluations (``local_target`` 1e-13, ``cost_weight`` 1,
    ``local_error_weight`` 3) — a per-action signal that myopic learners (bandits) can credit.
    ``reward_mode="lagrangian"``: :func:`lagrangian_reward` (``lagrange_multiplier`` λ, default 1e14), whose
    per-interval optimum is the η that minimises force evaluations + λ·|ΔE| over a run.

    ``observation="lagrangian"`` replaces the 13 values by the two of :data:`LAGRANGIAN_OBSERVATION_NAMES`
    (from the last action; ``Box([-3, -8], [5, 14])``), which predict the best η of the next interval.

    ## Info
    ``force_evaluations`` (this action), ``total_force_evaluations``, ``steps``, ``eta``, ``energy_error``
    (relative, signed), ``status`` (``ok``/``close_encounter``/``diverged``/``max_steps``/``energy_limit``),
    ``time`` (yr), ``instance_id``. No wall time (it would break same-seed determinism).

    ## Starting State
    ``reset(seed=s)`` restarts the instance stream (:class:`PaperThreeBodyDistribution` by default: bodies at
    rest in the paper's boxes, centre-of-mass frame); ``reset(options={"instance": inst})`` integrates
    ``inst`` (an :class:`NBodyInstance`) instead.

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
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        distribution: SequenceDistribution | None = None,
        *,
        action: str = "discrete",
        etas: Sequence[float] = DEFAULT_ETAS,
        eta_low: float = 1e-4,
        eta_high: float = 1e-1,
        action_interval: float = 0.1,
        episode_length: int = 100,
        energy_limit: float = 0.1,
        failure_penalty: float = 5000.0,
        energy_weight: float = 3000.0,
        energy_reference: float = 1e-10,
        step_weight: float = 4.0,
        reward_mode: str = "paper",
        local_target: float = 1e-13,
        cost_weight: float = 1.0,
        local_error_weight: float = 3.0,
        lagrange_multiplier: float = 1e14,
        observation: str = "paper",
        max_steps_per_action: int = 200_000,
    ) -> None:
        if reward_mode not in ("paper", "local", "lagrangian"):
            raise ConfigError(f"reward_mode must be 'paper', 'local' or 'lagrangian', got {reward_mode!r}",
                              value=reward_mode)
        if observation not in ("paper", "lagrangian"):
            raise ConfigError(f"observation must be 'paper' or 'lagrangian', got {observation!r}", value=observation)
        if not (math.isfinite(lagrange_multiplier) and lagrange_multiplier > 0):
            raise ConfigError(f"lagrange_multiplier must be positive, got {lagrange_multiplier!r}",
                              value=lagrange_multiplier)
        self.reward_mode, self.observation_kind = reward_mode, observation
        self.lagrange_multiplier = float(lagrange_multiplier)
        self.local_weights = {"local_target": float(local_target), "cost_weight": float(cost_weight),
                              "local_error_weight": float(local_error_weight)}
        if action not in ("discrete", "continuous"):
            raise ConfigError(f"action must be 'discrete' or 'continuous', got {action!r}", value=action)
        self.etas = np.asarray(etas, dtype=np.float64)
        if self.etas.ndim != 1 or self.etas.size == 0 or not np.all(np.isfinite(self.etas)) or np.any(self.etas <= 0):
            raise ConfigError(f"etas must be a non-empty list of positive floats, got {etas!r}", value=etas)
        if not 0 < eta_low < eta_high:
            raise ConfigError(f"need 0 < eta_low < eta_high, got {eta_low}, {eta_high}", value=(eta_low, eta_high))
        for name, value in (("action_interval", action_interval), ("energy_limit", energy_limit),
                            ("energy_reference", energy_reference)):
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive, got {value!r}", value=value)
        if int(episode_length) < 1 or int(max_steps_per_action) < 1:
            raise ConfigError("episode_length and max_steps_per_action must be >= 1",
                              value=(episode_length, max_steps_per_action))
        self.distribution = distribution if distribution is not None else PaperThreeBodyDistribution()
        self.action_kind = action
        self.eta_low, self.eta_high = float(eta_low), float(eta_high)
        self.action_interval, self.episode_length = float(action_interval), int(episode_length)
        self.energy_limit, self.failure_penalty = float(energy_limit), float(failure_penalty)
        self.reward_weights = {"energy_weight": float(energy_weight), "energy_reference": float(energy_reference),
                               "step_weight": float(step_weight)}
        self.max_steps_per_action = int(max_steps_per_action)
        if action == "discrete":
            self.action_space: spaces.Space = spaces.Discrete(self.etas.size)
            eta_bounds = (float(self.etas.min()), float(self.etas.max()))
        else:
            self.action_space = spaces.Box(math.log10(eta_low), math.log10(eta_high), shape=(1,), dtype=np.float32)
            eta_bounds = (self.eta_low, self.eta_high)
        low, high = _LOW.copy(), _HIGH.copy()
        low[-1], high[-1] = math.log10(eta_bounds[0]), math.log10(eta_bounds[1])
        if observation == "lagrangian":
            low, high = _LAGRANGIAN_LOW.copy(), _LAGRANGIAN_HIGH.copy()
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._last_evaluations = 0
        self._stream: Any = None
        self.current_instance: NBodyInstance | None = None
        self.state: HermiteState | None = None
        self._previous_eta = eta_bounds[0]
        self._last_change = 0.0
        self._actions = 0

    # -- Gymnasium API -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.current_instance = next_instance(self, seed, options, NBodyInstance)
        inst = self.current_instance
        self.state = HermiteState(inst.masses, inst.positions, inst.velocities, G=inst.G)
        self._previous_eta = float(self.etas[0]) if self.action_kind == "discrete" else self.eta_low
        self._last_change = 0.0
        self._last_evaluations = 0
        self._actions = 0
        return self._observation(), {"instance_id": inst.instance_id}

    def step(self, action: Any):
        if self.state is None:
            raise ActionError("call reset() before step()")
        eta = self.action_to_eta(action)
        state = self.state
        before_error = state.energy_error
        before_evals = state.force_evaluations
        status, steps = state.advance(self.action_interval, eta, self.max_steps_per_action)
        energy_error = state.energy_error
        if not math.isfinite(energy_error):  # unreachable in practice: the kernel stops on non-finite states
            energy_error, status = 1.0, "diverged"
        self._last_change = abs(energy_error - before_error)
        self._last_evaluations = state.force_evaluations - before_evals
        self._previous_eta = eta
        self._actions += 1
        failed = status != "ok" or abs(energy_error) > self.energy_limit
        if status == "ok" and failed:
            status = "energy_limit"
        if failed:
            reward = -self.failure_penalty
        elif self.reward_mode == "paper":
            reward = energy_reward(energy_error, eta, **self.reward_weights)
        elif self.reward_mode == "lagrangian":
            reward = lagrangian_reward(self._last_change, self._last_evaluations,
                                       lagrange_multiplier=self.lagrange_multiplier)
        else:
            reward = local_reward(self._last_change, state.force_evaluations - before_evals, **self.local_weights)
        info = {
            "force_evaluations": int(state.force_evaluations - before_evals),
            "cost": float(state.force_evaluations - before_evals),  # the cost unit every tunegym table reads
            "total_force_evaluations": int(state.force_evaluations),
            "steps": int(steps),
            "eta": eta,
            "energy_error": float(energy_error),
            "status": status,
            "time": float(state.time),
            "instance_id": self.current_instance.instance_id,
        }
        truncated = not failed and self._actions >= self.episode_length
        return self._observation(), float(reward), failed, truncated, info

    # -- helpers -------------------------------------------------------------------------------------------
    def action_to_eta(self, action: Any) -> float:
        """The η an action applies (nearest arm / clipped log10 value); raises :class:`ActionError`."""
        if self.action_kind == "discrete":
            arr = np.asarray(action)
            if arr.size != 1 or not (np.issubdtype(arr.dtype, np.integer) or _integral(arr)):
                raise ActionError(f"discrete action must be an integer arm index, got {action!r}", value=action)
            index = int(arr.reshape(()))
            if not 0 <= index < self.etas.size:
                raise ActionError(f"arm index {index} outside 0..{self.etas.size - 1}", value=index)
            return float(self.etas[index])
        try:
            log_eta = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        except (TypeError, ValueError, IndexError) as exc:
            raise ActionError(f"continuous action must be a number (log10 eta), got {action!r}", value=action) from exc
        if not math.isfinite(log_eta):
            raise ActionError(f"continuous action must be finite, got {action!r}", value=action)
        return float(10.0 ** min(max(log_eta, math.log10(self.eta_low)), math.log10(self.eta_high)))

    def eta_to_action(self, eta: float) -> Any:
        """The action closest to ``eta``."""
        if self.action_kind == "discrete":
            return int(np.argmin(np.abs(np.log(self.etas) - math.log(eta))))
        return np.array([math.log10(eta)], dtype=np.float32)

    def _observation(self) -> np.ndarray:
        if self.observation_kind == "lagrangian":
            return self._lagrangian_observation()
        return self._paper_observation()

    def _lagrangian_observation(self) -> np.ndarray:
        if self._last_evaluations == 0:  # before the first action: the centre of the box
            obs = (_LAGRANGIAN_LOW + _LAGRANGIAN_HIGH) / 2.0
        else:
            eta, n = self._previous_eta, float(self._last_evaluations)
            work = n * eta
            error_per_work = max(self._last_change, _FLOOR) / (n * eta**5)
            obs = np.array([math.log10(work), math.log10(error_per_work)])
        return np.clip(obs, _LAGRANGIAN_LOW, _LAGRANGIAN_HIGH).astype(np.float32)

    def _paper_observation(self) -> np.ndarray:
        s = self.state
        x, v = s.positions, s.velocities
        pairs = [(0, 1), (0, 2), (1, 2)] if x.shape[0] == 3 else [(i, j) for i in range(x.shape[0])
                                                                   for j in range(i + 1, x.shape[0])][:3]
        pairs = (pairs + pairs[-1:] * 3)[:3]
        distances = [np.linalg.norm(x[j] - x[i]) for i, j in pairs]
        rel_speeds = [np.linalg.norm(v[j] - v[i]) for i, j in pairs]
        m = s.masses[:, None]
        vcom = (m * v).sum(0) / m.sum()
        speeds = list(np.linalg.norm(v - vcom, axis=1)[:3]) + [0.0] * max(0, 3 - x.shape[0])
        criterion = min(min(d / r if r > 0 else np.inf, math.sqrt(d**3 / (s.G * (s.masses[i] + s.masses[j]))))
                        for (i, j), d, r in zip(pairs, distances, rel_speeds))
        raw = np.array(distances + rel_speeds + speeds[:3] + [criterion, abs(s.energy_error), self._last_change,
                                                              self._previous_eta], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            obs = np.log10(np.maximum(np.nan_to_num(raw, nan=_FLOOR, posinf=1e30), _FLOOR))
        return np.clip(obs, self.observation_space.low, self.observation_space.high).astype(np.float32)


def _integral(arr: np.ndarray) -> bool:
    try:
        value = float(arr.reshape(()))
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value == int(value)


def make_three_body(
    initial_conditions: str | Path | NBodyInstance | Sequence[NBodyInstance] | dict[str, Any] | None = None,
    *,
    centre: bool = True,
    **env_kwargs: Any,
) -> ThreeBodyEnv:
    """``tunegym/ThreeBody-v0``: the paper's distribution, or user initial conditions.

    ``initial_conditions`` is a CSV/YAML path (:func:`load_initial_conditions`), an :class:`NBodyInstance`,
    a list of them, or a mapping ``{masses, positions, velocities, G?}`` of arrays.
    """
    if initial_conditions is None:
        return ThreeBodyEnv(PaperThreeBodyDistribution(centre=centre), **env_kwargs)
    if isinstance(initial_conditions, (str, Path)):
        systems = load_initial_conditions(initial_conditions)
    elif isinstance(initial_conditions, NBodyInstance):
        systems = [initial_conditions]
    elif isinstance(initial_conditions, dict):
        systems = [NBodyInstance(**initial_conditions)]
    else:
        systems = list(initial_conditions)
    if centre:
        systems = [s.centred() for s in systems]
    return ThreeBodyEnv(FixedSystemsDistribution(systems), **env_kwargs)


def make_three_body_continuous(**kwargs: Any) -> ThreeBodyEnv:
    """``tunegym/ThreeBodyContinuous-v0``: as ThreeBody-v0 with ``log10 η`` as a continuous action."""
    kwargs.setdefault("action", "continuous")
    return make_three_body(**kwargs)
