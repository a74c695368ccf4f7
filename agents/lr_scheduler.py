"""The learned learning-rate scheduler, deployable in any plain torch training loop (issue 9).

:class:`LRSchedulePolicy` maps the features of :mod:`tunegym.envs.lr.features` to a log10 multiplier of
the base LR with a small torch MLP; it is saved as a tuner file of kind ``"lr-schedule"`` (state-dict
tensors + JSON metadata, read back with ``weights_only=True``). :class:`LearnedLRScheduler` is a real
``torch.optim.lr_scheduler.LRScheduler`` that holds a :class:`~tunegym.agents.tuner.Tuner`: it rebuilds the
observation with the registered features the env uses (``"lr.schedule"``) from the user's loop and, every
``decision_interval`` calls of ``step()``, sets every param group's LR to its initial LR times
``10**knob value`` (so the groups keep their ratios). It trains nothing and never touches the model's weights.

:class:`ProbeScheduleTuner` (kind ``"lr-schedule-bandit"``, what ``pretrained:lr-schedule`` holds) is the
policy a contextual bandit learns in ``tunegym bench lr``: it trains a short probe at a small LR, reads the
probe's loss and gradient-norm statistics and whether the optimizer is adaptive, and picks one arm
(schedule family x peak multiplier) with the estimates and confidence widths of the LinUCB bandit
(:class:`~tunegym.agents.bandits.contextual.LinUCB`) it holds; it then follows that schedule over the
remaining steps.

:class:`TunedSchedule` and the ``tuned_*`` factories are the domain's baselines (``DOMAIN_BASELINES["lr"]``):
each tuned schedule of :mod:`tunegym.envs.lr.schedules` as a policy over the env's knob.
"""

from __future__ import annotations

import copy
import math
import numbers
import operator
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from tunegym.agents.baselines import _Baseline
from tunegym.agents.tuner import Tuner, as_tuner
from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError, ConfigError, TunerMismatchError
from tunegym.envs.core.knob import BoxKnob
from tunegym.envs.lr.features import FEATURE_NAMES, OBS_HIGH, OBS_LOW, ScheduleFeatures
from tunegym.envs.lr.schedules import SCHEDULES, TUNED_LOG10_PEAKS, schedule_factor, schedule_factors

__all__ = ["BANDIT_KIND", "CONTEXT_NAMES", "DivergenceGuard", "KIND", "LRSchedulePolicy", "LearnedLRScheduler", "ProbeScheduleTuner",
           "ScheduleTuner", "TunedSchedule", "is_adaptive_optimizer", "load_schedule_tuner", "lr_tuner", "tuned_constant",
           "tuned_step", "tuned_cosine", "tuned_linear", "tuned_wsd", "tuned_onecycle", "ENV_IDS"]

KIND = "lr-schedule"
BANDIT_KIND = "lr-schedule-bandit"
#: the envs whose observation a LearnedLRScheduler rebuilds (a tuner of another env or domain is refused)
ENV_IDS = ("tunegym/LRScheduleContinuous-v0", "tunegym/LRSchedule-v0")
# Optimizers that divide by a running gradient scale; their good LRs sit near 1e-3, not 1e-1.
_ADAPTIVE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.Adamax, torch.optim.NAdam, torch.optim.RAdam,
             torch.optim.Adagrad, torch.optim.Adadelta, torch.optim.RMSprop)


def is_adaptive_optimizer(optimizer: torch.optim.Optimizer | str) -> bool:
    """True for Adam-like optimizers (or the task optimizer name ``"adamw"``); part of a probe tuner's context."""
    if isinstance(optimizer, str):
        return optimizer.lower() in ("adam", "adamw")
    return isinstance(optimizer, _ADAPTIVE) or "adam" in type(optimizer).__name__.lower()


class ScheduleTuner(Protocol):
    """What the scheduler needs from a tuner: a log10 LR multiplier for an observation."""

    decision_interval: int

    def act(self, observation: np.ndarray) -> float: ...


class _RecordsEnv:
    """What :func:`~tunegym.agents.tuner.as_tuner` reads: the env (and its kwargs) a schedule policy acts in, and
    the env's knob, whose normalised ``Box(-1, 1)`` action :meth:`action` returns for a log10 multiplier."""

    decision_interval: int
    log10_low: float
    log10_high: float
    env_id = ENV_IDS[0]

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return {"decision_interval": self.decision_interval, "log10_low": self.log10_low, "log10_high": self.log10_high}

    @property
    def knob(self) -> BoxKnob:
        from tunegym.envs.lr.env import KNOB_NAME

        return BoxKnob(KNOB_NAME, self.log10_low, self.log10_high)

    def action(self, log10_multiplier: float) -> np.ndarray:
        """The continuous env action for a log10 multiplier, in float64 so that decoding gives it back exactly."""
        value = min(max(float(log10_multiplier), self.log10_low), self.log10_high)
        return np.array([2.0 * (value - self.log10_low) / (self.log10_high - self.log10_low) - 1.0])


class LRSchedulePolicy(_RecordsEnv):
    """``log10 multiplier = low + (high - low) * sigmoid(MLP(scaled features))``.

    Features are scaled from ``[OBS_LOW, OBS_HIGH]`` to ``[-1, 1]``. ``hidden=0`` gives a linear policy.
    The validation features are masked (set to 0) unless ``use_validation``: a user's loop rarely
    measures validation loss on the env's cadence, so a deployable policy must not depend on it.
    ``get_flat``/``set_flat`` expose the weights as one vector for evolution strategies.
    """

    def __init__(self, hidden: int = 16, *, decision_interval: int = 5, log10_low: float = -3.0, log10_high: float = 1.0,
                 use_validation: bool = False, seed: int = 0, metadata: dict[str, Any] | None = None) -> None:
        if hidden < 0 or decision_interval < 1 or not log10_low < log10_high:
            raise ConfigError("need hidden >= 0, decision_interval >= 1, log10_low < log10_high",
                              value=(hidden, decision_interval, log10_low, log10_high))
        self.hidden = int(hidden)
        self.decision_interval = int(decision_interval)
        self.log10_low, self.log10_high = float(log10_low), float(log10_high)
        self.use_validation = bool(use_validation)
        self.metadata = dict(metadata or {})
        torch.manual_seed(seed)  # only the initial weights; act() draws nothing
        n_in = len(FEATURE_NAMES)
        layers: list[nn.Module] = [nn.Linear(n_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, 1)] if self.hidden else [nn.Linear(n_in, 1)]
        self.net = nn.Sequential(*layers).double()
        self._low = torch.as_tensor(OBS_LOW, dtype=torch.float64)
        self._span = torch.as_tensor(OBS_HIGH - OBS_LOW, dtype=torch.float64)
        self._mask = torch.tensor([0.0 if name.startswith("log10_val") or name == "val_age" else 1.0 for name in FEATURE_NAMES],
                                  dtype=torch.float64)

    def act(self, observation: np.ndarray) -> float:
        obs = torch.as_tensor(np.asarray(observation, dtype=np.float64))
        scaled = 2.0 * (obs - self._low) / self._span - 1.0
        if not self.use_validation:
            scaled = scaled * self._mask
        with torch.no_grad():
            out = float(self.net(scaled.reshape(1, -1))[0, 0])
        return self.log10_low + (self.log10_high - self.log10_low) / (1.0 + np.exp(-out))

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """SB3-style: the continuous env action (normalised, shape ``(1,)``) for one or a batch of observations."""
        obs = np.asarray(observation, dtype=np.float64)
        if obs.ndim == 1:
            return self.action(self.act(obs)), state
        return np.stack([self.action(self.act(o)) for o in obs]), state

    def get_flat(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().numpy().copy()

    def set_flat(self, flat: np.ndarray) -> None:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(np.asarray(flat, dtype=np.float64)), self.net.parameters())

    def save(self, path: str | Path, *, provenance: dict[str, Any] | None = None) -> None:
        metadata = {
            "hidden": self.hidden,
            "decision_interval": self.decision_interval,
            "log10_low": self.log10_low,
            "log10_high": self.log10_high,
            "use_validation": self.use_validation,
            "feature_names": list(FEATURE_NAMES),
            **self.metadata,
            **(provenance or {}),
        }
        save_tuner_file(path, KIND, metadata, {f"net.{k}": v for k, v in self.net.state_dict().items()})

    @classmethod
    def load(cls, path: str | Path) -> "LRSchedulePolicy":
        _, metadata, arrays = load_tuner_file(path, expect_kind=KIND)
        try:
            if list(metadata["feature_names"]) != list(FEATURE_NAMES):
                raise CheckpointError(f"{str(path)!r} was trained on other features: {metadata['feature_names']}", value=str(path))
            policy = cls(int(metadata["hidden"]), decision_interval=int(metadata["decision_interval"]),
                         log10_low=float(metadata["log10_low"]), log10_high=float(metadata["log10_high"]),
                         use_validation=bool(metadata.get("use_validation", False)), metadata=metadata)
            state = {k[len("net."):]: torch.as_tensor(v, dtype=torch.float64) for k, v in arrays.items()}
            policy.net.load_state_dict(state, strict=True)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{str(path)!r} is not a valid lr-schedule tuner: {exc}", value=str(path)) from exc
        if not all(torch.isfinite(p).all() for p in policy.net.parameters()):
            raise CheckpointError(f"{str(path)!r} holds non-finite weights", value=str(path))
        return policy


# The probe's features a ProbeScheduleTuner reads (indices into FEATURE_NAMES), after the optimizer flag and the
# user's LR, and before the probe's loss ratio. No absolute loss level: it says more about the loss function (classes,
# regression) than about the learning rate, and does not carry over to unseen task families.
_CONTEXT_FEATURES = ("train_loss_rel_std", "log_train_loss_change", "log10_grad_norm", "grad_norm_rel_std")
#: ``log10_user_lr_sgd`` / ``_adamw``: log10 of the user's (initial) LR for that optimizer kind, the midpoint
#: :data:`NEUTRAL_LOG10_LR` for the other kind (so an additive model can treat the two scales apart);
#: ``log10_probe_loss_ratio``: log10 (mean train loss of the probe's last window / of its first window).
CONTEXT_NAMES = ("adaptive_optimizer", "log10_user_lr_sgd", "log10_user_lr_adamw") + _CONTEXT_FEATURES + ("log10_probe_loss_ratio",)
_CONTEXT_INDEX = [FEATURE_NAMES.index(name) for name in _CONTEXT_FEATURES]
LOG10_LR_BOUNDS = (-5.0, 0.0)
NEUTRAL_LOG10_LR = -2.5
PROBE_RATIO_BOUNDS = (-3.0, 1.0)
CONTEXT_LOW = np.concatenate([[0.0, LOG10_LR_BOUNDS[0], LOG10_LR_BOUNDS[0]], OBS_LOW[_CONTEXT_INDEX], [PROBE_RATIO_BOUNDS[0]]]).astype(np.float64)
CONTEXT_HIGH = np.concatenate([[1.0, LOG10_LR_BOUNDS[1], LOG10_LR_BOUNDS[1]], OBS_HIGH[_CONTEXT_INDEX], [PROBE_RATIO_BOUNDS[1]]]).astype(np.float64)


def _linucb(n_arms: int, degree: int, theta: np.ndarray, counts: np.ndarray, gram_inv: np.ndarray | None) -> Any:
    """The LinUCB bandit whose estimates are ``theta`` and whose Gram matrices are ``inv(gram_inv)`` (identity
    where none are stored: then the estimates are ``theta`` exactly and the widths are not used)."""
    from tunegym.agents.bandits.contextual import LinUCB

    bandit = LinUCB(n_arms, {"degree": degree}, context_low=CONTEXT_LOW, context_high=CONTEXT_HIGH)
    if gram_inv is not None:
        bandit.gram = np.linalg.inv(gram_inv)
    bandit.targets = np.einsum("aij,aj->ai", bandit.gram, theta)
    bandit.counts = np.asarray(counts, dtype=np.float64).copy()
    return bandit


@dataclass(frozen=True)
class DivergenceGuard:
    """Feedback after a :class:`ProbeScheduleTuner` leaves its default arm (the tuned baseline).

    ``ramp_log10``: an arm whose LR starts more than this many decades above the probe's last LR climbs
    to it geometrically, at most ``ramp_log10`` decades per decision (``None``: jump at once). The ramp
    is open-loop, so :meth:`ProbeScheduleTuner.planned_log10` includes it.
    ``loss_factor``: at every later decision, if the window's mean train loss exceeds ``loss_factor`` x the
    window mean seen at the switch, or is at the observation's clip, or the window recorded no finite loss
    at all, the tuner *reverts* for the rest of the run to the default arm's own schedule (what the tuned
    baseline would set at that progress). ``None``: no reverting. This part is feedback, which the
    planned (open-loop) table cannot include; the two agree whenever the guard does not fire.
    """

    loss_factor: float | None = 2.0
    ramp_log10: float | None = 0.5

    def __post_init__(self) -> None:
        if self.loss_factor is not None and not (np.isfinite(self.loss_factor) and self.loss_factor > 1.0):
            raise ConfigError(f"loss_factor must be > 1 or None, got {self.loss_factor}", value=self.loss_factor)
        if self.ramp_log10 is not None and not (np.isfinite(self.ramp_log10) and self.ramp_log10 > 0.0):
            raise ConfigError(f"ramp_log10 must be > 0 or None, got {self.ramp_log10}", value=self.ramp_log10)

    def as_dict(self) -> dict[str, float | None]:
        return {"loss_factor": self.loss_factor, "ramp_log10": self.ramp_log10}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "DivergenceGuard | None":
        return None if data is None else cls(loss_factor=data.get("loss_factor"), ramp_log10=data.get("ramp_log10"))


_LOSS_INDEX = FEATURE_NAMES.index("log10_train_loss")
_GRAD_INDEX = FEATURE_NAMES.index("log10_grad_norm")
_NO_FEEDBACK_INDEX = [FEATURE_NAMES.index(n) for n in ("train_loss_rel_std", "log_train_loss_change", "grad_norm_rel_std")]


class ProbeScheduleTuner(_RecordsEnv):
    """Probe, then pick a schedule family x peak for this run from what the probe showed.

    Decisions are the calls of :meth:`act` (one every ``decision_interval`` optimizer steps, the first at
    step 0). The first ``probe_decisions`` decisions are the probe: the default arm's schedule for this
    optimizer kind when ``default_arms`` is set (so a tuner that keeps its default runs exactly that
    schedule, the tuned baseline), else ``probe_log10``. At decision ``probe_decisions`` the tuner builds the context ``[adaptive optimizer?, log10 train loss,
    loss relative std, log loss change, log10 gradient norm, gradient-norm relative std]`` from that
    observation and picks the arm with the best estimate ``theta[a] . phi(context)`` of the LinUCB bandit it
    holds (:attr:`bandit`, a :class:`~tunegym.agents.bandits.contextual.LinUCB` over the context box
    ``CONTEXT_LOW``/``CONTEXT_HIGH``; ``phi`` its additive Chebyshev basis; arms never tried during training are
    excluded), or, with ``default_arms`` (per optimizer kind: the tuned baseline's arm) and ``pessimism > 0``,
    the conservative rule of :meth:`choose` on the bandit's confidence widths. Arm ``a = (family,
    log10 peak)`` then gives ``log10 multiplier = peak + log10(schedule_factor(family, p'))``, clipped into
    ``[log10_low, log10_high]``; ``p'`` is the progress over the steps left after the probe, or the run's
    own progress for the default arm (which simply continues).

    ``guard`` (a :class:`DivergenceGuard`, ``None``: off; needs ``default_arms``) protects a run that
    leaves the default: a geometric ramp up to an arm far above the probe's LR, and a revert to the
    default arm's schedule when the train loss blows up after the switch (``guard_fired`` says so).

    The choice is state (``arm``, decisions taken): :meth:`reset` starts a new run and takes the
    optimizer kind; :meth:`state_dict` / :meth:`load_state_dict` carry it with the scheduler's state.
    The bandit is trained by ``tunegym bench lr`` (:meth:`from_bandit`); nothing here learns. A tuner file
    stores the bandit's estimates ``theta``, ``counts`` and inverse Gram matrices ``gram_inv`` (the format
    ``pretrained:lr-schedule`` was saved in), from which the constructor rebuilds the bandit.
    """

    def __init__(self, arms: list[tuple[str, float]], theta: np.ndarray, counts: np.ndarray, *, degree: int = 1,
                 gram_inv: np.ndarray | None = None, default_arms: tuple[int, int] | None = None, pessimism: float = 0.0,
                 decision_interval: int = 10, probe_decisions: int = 2, probe_log10: float = -1.0,
                 log10_low: float = -3.0, log10_high: float = 1.0, guard: DivergenceGuard | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        theta = np.asarray(theta, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        dim = 1 + len(CONTEXT_NAMES) * int(degree)
        if not arms or theta.shape != (len(arms), dim) or counts.shape != (len(arms),):
            raise ConfigError(f"theta must be [n_arms, {dim}] and counts [n_arms] for {len(arms)} arms",
                              value=(theta.shape, counts.shape))
        if gram_inv is not None:
            gram_inv = np.asarray(gram_inv, dtype=np.float64)
            if gram_inv.shape != (len(arms), dim, dim):
                raise ConfigError(f"gram_inv must be [n_arms, {dim}, {dim}]", value=gram_inv.shape)
        self.has_widths = gram_inv is not None
        self.bandit = _linucb(len(arms), int(degree), theta, counts, gram_inv)
        self.default_arms = None if default_arms is None else tuple(int(a) for a in default_arms)
        self.pessimism = float(pessimism)
        if decision_interval < 1 or probe_decisions < 1 or not log10_low < log10_high:
            raise ConfigError("need decision_interval >= 1, probe_decisions >= 1, log10_low < log10_high",
                              value=(decision_interval, probe_decisions, log10_low, log10_high))
        for family, _ in arms:
            schedule_factor(family, 0.0)  # unknown family -> ConfigError now, not mid-training
        self.arms = [(str(f), float(p)) for f, p in arms]
        self.degree = int(degree)
        self.decision_interval, self.probe_decisions = int(decision_interval), int(probe_decisions)
        self.probe_log10, self.log10_low, self.log10_high = float(probe_log10), float(log10_low), float(log10_high)
        if guard is not None and not isinstance(guard, DivergenceGuard):
            raise ConfigError(f"guard must be a DivergenceGuard or None, got {type(guard).__name__}", value=guard)
        self.guard = guard
        self.metadata = {k: v for k, v in (metadata or {}).items() if k != "guard"}
        self.reset()

    @classmethod
    def from_bandit(cls, arms: list[tuple[str, float]], bandit: Any, **kwargs: Any) -> "ProbeScheduleTuner":
        """The tuner that plays a trained :class:`~tunegym.agents.bandits.contextual.LinUCB` (over the context
        box ``CONTEXT_LOW``/``CONTEXT_HIGH``) after its probe."""
        tuner = cls(arms, np.zeros((len(arms), 1 + len(CONTEXT_NAMES) * bandit.config.degree)), np.zeros(len(arms)),
                    degree=bandit.config.degree, **kwargs)
        tuner.use_bandit(bandit)
        return tuner

    def use_bandit(self, bandit: Any) -> None:
        """Play ``bandit`` (a LinUCB over ``CONTEXT_LOW``/``CONTEXT_HIGH`` with this tuner's arms and degree)."""
        if bandit.n_arms != len(self.arms) or bandit.config.degree != self.degree:
            raise ConfigError(f"the bandit has {bandit.n_arms} arms of degree {bandit.config.degree}; this tuner "
                              f"{len(self.arms)} of degree {self.degree}", value=(bandit.n_arms, bandit.config.degree))
        self.bandit, self.has_widths = bandit, True

    @property
    def theta(self) -> np.ndarray:
        """The bandit's per-arm ridge estimates (``[n_arms, features]``)."""
        return self.bandit.estimates()

    @property
    def counts(self) -> np.ndarray:
        return self.bandit.counts

    @property
    def gram_inv(self) -> np.ndarray | None:
        return np.linalg.inv(self.bandit.gram) if self.has_widths else None

    # ---- per-run state -----------------------------------------------------------------------------------
    def reset(self, *, adaptive: bool = False, base_lr: float | None = None) -> None:
        """Start a new training run; ``adaptive``: the optimizer is Adam-like (see :func:`is_adaptive_optimizer`);
        ``base_lr``: the user's LR (the LR every multiplier multiplies; ``None``: unknown, read as the neutral
        :data:`NEUTRAL_LOG10_LR`)."""
        self.adaptive = bool(adaptive)
        self.log10_base_lr = (float(np.log10(base_lr)) if base_lr is not None and np.isfinite(base_lr) and base_lr > 0
                              else None)
        self.first_log10_loss: float | None = None  # the probe's first window (the reference of the loss ratio)
        self.chosen_context: np.ndarray | None = None
        self.decisions = 0
        self.arm: int | None = None
        self.choice_progress = 0.0
        self.last_log10 = 0.0  # the value of the last decision (the ramp starts from the probe's last one)
        self.switch_loss: float | None = None  # log10 train loss seen when leaving the default (guard reference)
        self.switch_decision: int | None = None
        self.ramp_start = 0.0  # the probe's last value, where a ramp starts
        self.guard_fired = False

    def state_dict(self) -> dict[str, Any]:
        return {"adaptive": self.adaptive, "decisions": self.decisions, "arm": self.arm, "choice_progress": self.choice_progress,
                "last_log10": self.last_log10, "switch_loss": self.switch_loss, "switch_decision": self.switch_decision,
                "ramp_start": self.ramp_start, "guard_fired": self.guard_fired, "log10_base_lr": self.log10_base_lr,
                "first_log10_loss": self.first_log10_loss,
                "chosen_context": None if self.chosen_context is None else [float(v) for v in self.chosen_context]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run ``state`` (from :meth:`state_dict`) describes. An arm index this tuner does not have (a
        state of a tuner with other arms) raises ``ValueError`` before anything changes."""
        arm = None if state["arm"] is None else int(state["arm"])
        if arm is not None and not 0 <= arm < len(self.arms):
            raise ValueError(f"the state's arm {arm} is not one of this tuner's {len(self.arms)} arms")
        self.adaptive, self.decisions = bool(state["adaptive"]), int(state["decisions"])
        self.arm = arm
        self.choice_progress = float(state["choice_progress"])
        # States saved before the guard existed lack these keys: no switch seen, guard not fired.
        self.last_log10 = float(state.get("last_log10", 0.0))
        self.switch_loss = None if state.get("switch_loss") is None else float(state["switch_loss"])
        self.switch_decision = None if state.get("switch_decision") is None else int(state["switch_decision"])
        self.ramp_start = float(state.get("ramp_start", 0.0))
        self.guard_fired = bool(state.get("guard_fired", False))
        # States saved before the user's LR and the probe ratio were context: unknown LR, no ratio yet.
        self.log10_base_lr = None if state.get("log10_base_lr") is None else float(state["log10_base_lr"])
        self.first_log10_loss = None if state.get("first_log10_loss") is None else float(state["first_log10_loss"])
        chosen = state.get("chosen_context")
        self.chosen_context = None if chosen is None else np.asarray(chosen, dtype=np.float64)

    # ---- the policy --------------------------------------------------------------------------------------
    def context(self, observation: np.ndarray, adaptive: bool | None = None) -> np.ndarray:
        """The context (:data:`CONTEXT_NAMES`) at ``observation``: the optimizer kind and the user's LR given to
        :meth:`reset`, the observation's window statistics and the loss ratio to the probe's first window."""
        obs = np.asarray(observation, dtype=np.float64).reshape(-1)
        flag = self.adaptive if adaptive is None else bool(adaptive)
        lr = NEUTRAL_LOG10_LR if self.log10_base_lr is None else float(np.clip(self.log10_base_lr, *LOG10_LR_BOUNDS))
        lrs = [NEUTRAL_LOG10_LR, lr] if flag else [lr, NEUTRAL_LOG10_LR]
        ratio = 0.0 if self.first_log10_loss is None else float(obs[_LOSS_INDEX]) - self.first_log10_loss
        ratio = float(np.clip(ratio, *PROBE_RATIO_BOUNDS)) if np.isfinite(ratio) else PROBE_RATIO_BOUNDS[1]
        return np.concatenate([[1.0 if flag else 0.0], lrs, obs[_CONTEXT_INDEX], [ratio]])

    def choose(self, context: np.ndarray) -> int:
        """The arm for a context: greedy, or conservative when there is a default arm and ``pessimism > 0``.

        Conservative (safe policy improvement over a tuned baseline, as in conservative contextual bandits,
        Kazerouni et al., NeurIPS 2017): the tuner leaves the default arm of its optimizer kind (the tuned
        baseline) only for an arm whose lower confidence bound ``theta_a . phi - pessimism x
        sqrt(phi' A_a^-1 phi)`` beats the default's estimate; in contexts unlike the training ones the
        widths grow and it stays with the default.
        """
        values, widths = self.bandit.bounds(context)
        values = np.where(self.counts > 0, values, -np.inf) if self.counts.any() else values
        if self.default_arms is None or not self.has_widths or self.pessimism == 0.0:
            return int(np.argmax(values))
        default = self.default_arms[1 if context[0] > 0.5 else 0]
        lower = values - self.pessimism * widths
        best = int(np.argmax(lower))
        return best if lower[best] > values[default] else int(default)

    def arm_log10(self, arm: int, progress: float, choice_progress: float) -> float:
        """The log10 multiplier arm ``arm`` sets at ``progress`` when it was chosen at ``choice_progress``."""
        family, peak = self.arms[arm]
        rest = (float(progress) - choice_progress) / max(1.0 - choice_progress, 1e-9)
        factor = float(schedule_factor(family, rest))
        return float(np.clip(peak + np.log10(max(factor, 1e-6)), self.log10_low, self.log10_high))

    def _default_for(self, adaptive: bool) -> int | None:
        return None if self.default_arms is None else self.default_arms[1 if adaptive else 0]

    def _probe_value(self, progress: float, adaptive: bool) -> float:
        """The probe: the default arm's own schedule when there is one (so falling back to it *is* the baseline),
        else ``probe_log10``."""
        default = self._default_for(adaptive)
        if default is None:
            return float(np.clip(self.probe_log10, self.log10_low, self.log10_high))
        return self.arm_log10(default, progress, 0.0)

    def _guarded(self, adaptive: bool) -> bool:
        return self.guard is not None and self._default_for(adaptive) is not None

    def _ramp_cap(self, since_switch: int, start_log10: float) -> float:
        """The highest log10 multiplier the ramp allows ``since_switch`` decisions after leaving the default."""
        if self.guard is None or self.guard.ramp_log10 is None:
            return np.inf
        return start_log10 + self.guard.ramp_log10 * (since_switch + 1)

    def revert(self) -> bool:
        """Go back, for the rest of the run, to the default arm's own schedule (as the guard does on a blow-up);
        True if this changed anything (the tuner had left its default and not yet reverted)."""
        default = self._default_for(self.adaptive)
        if default is None or self.arm is None or self.arm == default or self.guard_fired:
            return False
        self.guard_fired = True
        return True

    def keep_default(self) -> bool:
        """Play the default arm's own schedule for the rest of the run, whatever the bandit would choose: before the
        choice the default becomes the choice (the run never leaves it), after it this is :meth:`revert`. What a
        :class:`LearnedLRScheduler` does when its loop reports no train loss: a choice from an observation without
        one is blind. True if this changed anything (there is a default, and it was not already kept)."""
        default = self._default_for(self.adaptive)
        if default is None or self.guard_fired:
            return False
        if self.arm is None:
            self.arm, self.choice_progress = default, 0.0
            return True
        return self.revert()

    def guard_trips(self, observation: np.ndarray) -> bool:
        """Whether the guard reverts at this observation (a decision after leaving the default arm)."""
        if self.guard is None or self.guard.loss_factor is None or self.switch_loss is None:
            return False
        obs = np.asarray(observation, dtype=np.float64).reshape(-1)
        loss = float(obs[_LOSS_INDEX])
        if not np.isfinite(loss) or loss >= float(OBS_HIGH[_LOSS_INDEX]):
            return True
        if obs[_GRAD_INDEX] <= OBS_LOW[_GRAD_INDEX]:
            return False  # gradients vanished: solved (a zero mean loss reads as log10 loss 0), not diverging
        # A window with no finite loss (weights already NaN in a plain loop): the features fall back to the
        # previous mean with zero noise and change and a gradient norm of 1; a run that trains has noise.
        if self.decision_interval > 1 and np.all(obs[_NO_FEEDBACK_INDEX] == 0.0) and obs[_GRAD_INDEX] == 0.0:
            return True
        return loss - self.switch_loss > float(np.log10(self.guard.loss_factor))

    def act(self, observation: np.ndarray) -> float:
        obs = np.asarray(observation, dtype=np.float64).reshape(-1)
        progress = float(obs[0])
        decision = self.decisions
        self.decisions += 1
        default = self._default_for(self.adaptive)
        if self.first_log10_loss is None and progress > 0.0 and decision <= self.probe_decisions:
            self.first_log10_loss = float(obs[_LOSS_INDEX])  # the first window's mean train loss
        if decision < self.probe_decisions:
            self.last_log10 = self._probe_value(progress, self.adaptive)
            return self.last_log10
        if self.arm is None:
            self.chosen_context = self.context(obs)
            self.arm = self.choose(self.chosen_context)
            # The default arm goes on with the schedule it started in the probe; another arm starts its own now.
            self.choice_progress = 0.0 if self.arm == default else progress
            if self.arm != default and self._guarded(self.adaptive):
                self.switch_loss, self.switch_decision = float(obs[_LOSS_INDEX]), decision
                self.ramp_start = self.last_log10
        elif self.switch_decision is not None and not self.guard_fired and self.guard_trips(obs):
            self.guard_fired = True
        if self.guard_fired:
            value = self.arm_log10(default, progress, 0.0)
        else:
            value = self.arm_log10(self.arm, progress, self.choice_progress)
            if self.switch_decision is not None:
                value = min(value, self._ramp_cap(decision - self.switch_decision, self.ramp_start))
        self.last_log10 = value
        return value

    def planned_log10(self, arm: int, steps: int, *, adaptive: bool = False) -> np.ndarray:
        """The per-optimizer-step log10 multipliers of a run that plays ``arm`` (piecewise constant per decision).

        Equal to what :meth:`act` gives in the env when the bandit picks ``arm`` (for an optimizer that is
        ``adaptive`` or not) and the guard's loss check does not fire (the ramp is open-loop and included);
        the bench uses it to train every arm of one task as a single vmapped batch.
        """
        out = np.empty(steps)
        k = self.decision_interval
        choice = float(np.float32(min(self.probe_decisions * k, steps) / steps))
        default = self._default_for(adaptive)
        if arm == default:
            choice = 0.0
        ramp = arm != default and self._guarded(adaptive)
        last = start = 0.0
        for d, begin in enumerate(range(0, steps, k)):
            progress = float(np.float32(begin / steps))  # the env's observation is float32
            if d < self.probe_decisions:
                value = self._probe_value(progress, adaptive)
                start = value
            else:
                value = self.arm_log10(arm, progress, choice)
                if ramp:
                    value = min(value, self._ramp_cap(d - self.probe_decisions, start))
            last = value
            out[begin:begin + k] = np.clip(last, self.log10_low, self.log10_high)
        return out

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """SB3-style continuous (normalised) env action for one observation (advances the run like :meth:`act`)."""
        return self.action(self.act(np.asarray(observation))), state

    # ---- files -------------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, provenance: dict[str, Any] | None = None) -> None:
        metadata = {
            "arms": [[f, p] for f, p in self.arms], "degree": self.degree, "decision_interval": self.decision_interval,
            "probe_decisions": self.probe_decisions, "probe_log10": self.probe_log10, "log10_low": self.log10_low,
            "log10_high": self.log10_high, "context_names": list(CONTEXT_NAMES), "feature_names": list(FEATURE_NAMES),
            "default_arms": None if self.default_arms is None else list(self.default_arms), "pessimism": self.pessimism,
            **self.metadata, **(provenance or {}),
            "guard": None if self.guard is None else self.guard.as_dict(),
        }
        arrays = {"theta": self.theta, "counts": self.counts.copy()}
        if self.has_widths:
            arrays["gram_inv"] = self.gram_inv
        save_tuner_file(path, BANDIT_KIND, metadata, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "ProbeScheduleTuner":
        _, metadata, arrays = load_tuner_file(path, expect_kind=BANDIT_KIND)
        try:
            if list(metadata["context_names"]) != list(CONTEXT_NAMES) or list(metadata["feature_names"]) != list(FEATURE_NAMES):
                raise CheckpointError(f"{str(path)!r} was trained on another context: {metadata['context_names']}", value=str(path))
            defaults = metadata.get("default_arms")
            tuner = cls([(f, p) for f, p in metadata["arms"]], arrays["theta"], arrays["counts"], degree=int(metadata["degree"]),
                        gram_inv=arrays.get("gram_inv"), default_arms=None if defaults is None else tuple(defaults),
                        pessimism=float(metadata.get("pessimism", 0.0)),
                        decision_interval=int(metadata["decision_interval"]), probe_decisions=int(metadata["probe_decisions"]),
                        probe_log10=float(metadata["probe_log10"]), log10_low=float(metadata["log10_low"]),
                        log10_high=float(metadata["log10_high"]),
                        guard=DivergenceGuard.from_dict(metadata.get("guard")),  # files without it: no guard
                        metadata=metadata)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{str(path)!r} is not a valid {BANDIT_KIND} tuner: {exc}", value=str(path)) from exc
        if not np.all(np.isfinite(arrays["theta"])) or ("gram_inv" in arrays and not np.all(np.isfinite(arrays["gram_inv"]))):
            raise CheckpointError(f"{str(path)!r} holds non-finite weights", value=str(path))
        return tuner


def load_schedule_tuner(path: str | Path) -> Any:
    """Either kind of LR-schedule policy file, by the kind it declares."""
    kind, _, _ = load_tuner_file(path)
    if kind == BANDIT_KIND:
        return ProbeScheduleTuner.load(path)
    return LRSchedulePolicy.load(path)


def lr_tuner(tuner: Any) -> Tuner:
    """A :class:`~tunegym.agents.tuner.Tuner` that a :class:`LearnedLRScheduler` can drive, from a Tuner, a policy
    (:class:`ProbeScheduleTuner`, :class:`LRSchedulePolicy`, an SB3 policy that records its env), a tuner file or
    ``"pretrained:NAME"``. Anything trained on another domain, env or observation layout is refused with
    :class:`~tunegym.envs.core.errors.TunerMismatchError`."""
    if isinstance(tuner, (str, Path)):
        from tunegym.agents.tuners import load_tuner, pretrained_path

        text = str(tuner)
        path = pretrained_path(text[len("pretrained:"):]) if text.startswith("pretrained:") else Path(text)
        kind, _, _ = load_tuner_file(path)
        tuner = Tuner.load(path) if kind == "tuner" else load_tuner(path)
    elif not isinstance(tuner, Tuner):
        if not hasattr(tuner, "predict"):
            raise ConfigError(f"tuner must be a Tuner, a policy with predict(observation) or a tuner file, got "
                              f"{type(tuner).__name__}", value=tuner)
        # A stateful policy (ProbeScheduleTuner) follows one run; copy it so two schedulers never share a run.
        tuner = copy.deepcopy(tuner) if isinstance(tuner, ProbeScheduleTuner) else tuner
    if not isinstance(tuner, Tuner):
        if not getattr(tuner, "env_id", None):
            raise TunerMismatchError(f"LearnedLRScheduler needs a tuner trained on one of {list(ENV_IDS)}; "
                                     f"{type(tuner).__name__} records no env", value=type(tuner).__name__)
        tuner = as_tuner(tuner)
    elif isinstance(tuner.policy, ProbeScheduleTuner):
        tuner = copy.deepcopy(tuner)
    return tuner.expect("lr", adapter="LearnedLRScheduler", observation_shape=ScheduleFeatures.space.shape,
                        env_ids=ENV_IDS)


def _whole_number(value: Any, name: str) -> int:
    """``value`` as a count >= 1: an int (Python, NumPy, a one-element integer tensor) or a float without a
    fraction (``100.0``). A bool, a string, ``None``, NaN/inf or ``2.5`` is refused with a
    :class:`~tunegym.envs.core.errors.ConfigError` here rather than read as a number or failing later."""
    number: int | None = None
    if not isinstance(value, (bool, np.bool_, str, bytes)) and value is not None:
        try:
            number = operator.index(value)
        except TypeError:
            try:
                as_float = float(value)
            except (TypeError, ValueError, RuntimeError):
                as_float = math.nan
            number = int(as_float) if math.isfinite(as_float) and as_float.is_integer() else None
    if number is None or number < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}", value=value)
    return number


def _loss_value(loss: Any, call: str) -> float:
    """One loss as a float: a real number, or a tensor or NumPy array holding one real number (any float dtype,
    requiring grad or not). A per-sample loss vector, a string, ``None``, a bool or a complex number is refused
    with a :class:`~tunegym.envs.core.errors.ConfigError` that says what to pass, instead of a raw error from
    ``float()`` (or a string silently read as a number)."""
    many = isinstance(loss, (list, tuple))
    if isinstance(loss, torch.Tensor):
        if loss.numel() == 1 and not loss.is_complex() and loss.dtype != torch.bool:
            return float(loss.detach())
        what, many = f"a {loss.dtype} tensor of shape {tuple(loss.shape)}", loss.numel() > 1
    elif isinstance(loss, np.ndarray):
        real = np.issubdtype(loss.dtype, np.number) and not np.issubdtype(loss.dtype, np.complexfloating)
        if loss.size == 1 and real:
            return float(loss.reshape(()))
        what, many = f"a {loss.dtype} array of shape {loss.shape}", loss.size > 1
    elif isinstance(loss, numbers.Real) and not isinstance(loss, (bool, np.bool_)):
        return float(loss)
    else:
        what = f"{type(loss).__name__} {loss!r}"[:120]
    hint = "; reduce a per-sample loss first, e.g. loss.mean()" if many else ""
    raise ConfigError(f"{call} needs one real loss value (a float or a one-element tensor), got {what}{hint}",
                      value=loss)


def _check_lr(index: int, lr: Any, top_log10: float | None = None) -> None:
    """Refuse, with a :class:`~tunegym.envs.core.errors.ConfigError` naming the group, an LR the scheduler cannot
    scale safely: NaN, inf or negative; a tensor that is not one real floating-point number (an integer tensor would
    silently truncate every scheduled LR, ``0.25 -> 0``) or that requires grad (the LR is set in place); and, given the
    tuner's largest log10 multiplier ``top_log10``, one whose largest scheduled value overflows to inf in its type."""
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1 or not lr.is_floating_point():
            raise ConfigError(f"param group {index} has a {lr.dtype} lr tensor of shape {tuple(lr.shape)}; a scheduled "
                              "lr must be a float or a one-element floating-point tensor", value=lr)
        if lr.requires_grad:
            raise ConfigError(f"param group {index} has an lr tensor that requires grad; a scheduler sets the lr in "
                              "place (pass lr.detach(), or do not schedule a learned lr)", value=lr)
        largest = float(torch.finfo(lr.dtype).max)
    else:
        largest = sys.float_info.max
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ConfigError(f"param group {index} has learning rate {lr!r}; need a finite lr >= 0", value=lr) from None
    if not (math.isfinite(value) and value >= 0.0):
        raise ConfigError(f"param group {index} has learning rate {value}; need a finite lr >= 0", value=value)
    if top_log10 is not None and value > 0.0 and math.log10(value) + top_log10 >= math.log10(largest):
        raise ConfigError(f"param group {index} has learning rate {value:g}; at the tuner's largest multiplier "
                          f"10**{top_log10:g} it overflows to inf", value=value)


def _l2_norm(tensors: list[torch.Tensor], dtype: torch.dtype) -> float:
    """The L2 norm of all ``tensors`` together, squares summed in ``dtype`` on each tensor's own device (a model split
    over devices: one transfer per device, not per tensor)."""
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for tensor in tensors:
        by_device.setdefault(tensor.device, []).append(tensor.to(dtype).pow(2).sum())
    sums = [torch.stack(squares).sum() for squares in by_device.values()]
    total = sums[0] if len(sums) == 1 else torch.stack([part.cpu() for part in sums]).sum()
    return float(torch.sqrt(total))


def _real(grad: torch.Tensor) -> torch.Tensor:
    """A complex gradient as its real and imaginary parts (so its norm counts both), any other unchanged."""
    return torch.view_as_real(grad) if grad.is_complex() else grad


#: the keys every :meth:`LearnedLRScheduler.state_dict` has (what :meth:`~LearnedLRScheduler.load_state_dict` checks)
_STATE_KEYS = ("features", "base_lrs", "steps_taken", "total_steps", "decision_interval", "log10_multiplier",
               "last_epoch", "decisions")


class LearnedLRScheduler(LRScheduler):
    """A learned LR schedule for a plain torch loop.

    ```python
    scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=1000)
    for x, y in batches:
        optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward()
        optimizer.step(); scheduler.observe(loss); scheduler.step()
    ```

    ``tuner``: anything :func:`lr_tuner` accepts; it is held as a :class:`~tunegym.agents.tuner.Tuner` whose
    features (``"lr.schedule"``, rebuilt with :meth:`Tuner.make_features`) turn the loop into the env's
    observation: ``observe(loss)`` (a float or a tensor) feeds the train loss; ``step()`` reads the gradient
    norm of all param groups' parameters (the ``.grad`` still there after ``optimizer.step()``), and every
    ``decision_interval`` steps (the tuner's env setting unless given) hands the window to the features as a
    step record (:meth:`ScheduleFeatures.window_record`) and sets ``lr = initial_lr * 10**value``
    in every group, ``value`` being the knob value :meth:`Tuner.act` decodes, exactly as the env applies it.
    ``observe_validation(loss)`` is optional. ``state_dict()``/``load_state_dict()`` cover the schedule's own
    state (windows, multiplier, step count) and a stateful tuner's run state (a :class:`ProbeScheduleTuner`'s
    chosen arm), not the tuner's weights; they are plain data (``torch.load(..., weights_only=True)`` reads them).
    A stateful tuner is told whether the optimizer is Adam-like (:func:`is_adaptive_optimizer`) and copied, so each
    scheduler follows its own run.

    Edge cases: ``step()`` called more than ``total_steps`` times keeps the last LR (no decision is made past the
    budget; a ``RuntimeWarning`` says so once). ``step()`` takes no argument (``step(epoch)`` and
    ``ReduceLROnPlateau``'s ``step(metric)`` raise ``ConfigError``: the loss goes to ``observe``). A loop that never
    calls ``observe`` gets a ``RuntimeWarning`` and a ``"no_loss"`` event at the first decision, and a probe tuner
    keeps its default schedule (it cannot choose, nor guard, without a loss). Every group's lr must be a finite
    float >= 0 or a one-element floating-point tensor that does not require grad (a tensor lr stays a tensor, filled
    in place), small enough that the tuner's largest multiplier does not overflow it; anything else is a
    ``ConfigError`` naming the group. A param group added after construction (``add_param_group``) is checked the
    same way at the next ``step()`` and joins the schedule with the LR it was added with as its initial LR. The LR it
    sets is absolute (``initial_lr`` x multiplier): it composes with ``SequentialLR`` (a warmup before it: give it
    ``total_steps`` = the steps after the milestone; or it first, then another scheduler), but in a
    ``ChainedScheduler`` it overrides, not multiplies, the LR that schedulers before it set (a ``RuntimeWarning``
    says so). ``torch.optim.swa_utils.SWALR`` takes over by stepping it instead from ``swa_start`` on. Resume with
    :meth:`load_state_dict`, not ``last_epoch`` (refused: the windows and the tuner's run cannot be rebuilt from a
    step count); the scheduler object itself also pickles (``torch.save(scheduler)``, ``copy.deepcopy``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, tuner: Any, total_steps: int, *,
                 decision_interval: int | None = None, last_epoch: int = -1) -> None:
        total_steps = _whole_number(total_steps, "total_steps")
        if decision_interval is not None:
            decision_interval = _whole_number(decision_interval, "decision_interval")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ConfigError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}",
                              value=optimizer)
        if last_epoch != -1:
            raise ConfigError(f"LearnedLRScheduler resumes from load_state_dict(), not last_epoch (got {last_epoch}): "
                              "its windows and its tuner's run state are not a function of the step count",
                              value=last_epoch)
        self.tuner = lr_tuner(tuner)
        policy = self.tuner.policy
        #: the largest log10 multiplier the tuner's knob can set (an lr whose scaled value overflows is refused)
        self._top_log10 = max(float(v) for v in self.tuner.knob.grid(2))
        for index, group in enumerate(optimizer.param_groups):
            self._check_group(index, group)
        if isinstance(policy, ProbeScheduleTuner):
            # The user's LR: the largest initial LR of the param groups (a head or an embedding at a fraction of
            # the body's LR keeps that ratio; the multipliers apply to every group alike).
            user_lr = max(float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups)
            policy.reset(adaptive=is_adaptive_optimizer(optimizer), base_lr=user_lr)
        self.total_steps = int(total_steps)
        self.decision_interval = int(decision_interval or self.tuner.env_kwargs.get("decision_interval")
                                     or getattr(policy, "decision_interval", 5))
        self.features = self.tuner.make_features()
        self.features.begin(self.total_steps)
        self.log10_multiplier = 0.0
        self.steps_taken = 0
        self.decisions: list[float] = []  # the knob value of every decision so far
        self._losses: list[float | None] = []
        self._grads: list[float | None] = []
        self._pending_loss: float | None = None
        self._pending_val: float | None = None
        #: what went wrong and what the scheduler did, one dict per event: ``{"step", "event", ...}`` with event
        #: ``"non_finite_loss"`` (a NaN/inf train loss was observed), ``"no_loss"`` (a decision window passed before
        #: any train loss was observed: ``observe(loss)`` is not called) or ``"reverted"`` (the tuner went back to its
        #: default schedule, the user's LR with cosine/linear decay; ``why`` says on what)
        self.events: list[dict[str, Any]] = []
        self._warned_past_end = False
        self._warned_foreign_lr = False
        self._loss_observed = False  # whether observe() was ever called (a run without it is blind)
        super().__init__(optimizer, last_epoch)

    @property
    def reverted(self) -> bool:
        """Whether the tuner's divergence guard has reverted this run to its default schedule."""
        return bool(getattr(self.tuner.policy, "guard_fired", False))

    @property
    def multiplier(self) -> float:
        """The LR multiplier in force (``10**`` the last knob value)."""
        return float(10.0 ** self.log10_multiplier)

    def observe(self, loss: float | torch.Tensor) -> None:
        """The train loss of the step about to be taken (call before ``step()``). A NaN/inf loss is recorded in
        :attr:`events` (with a ``RuntimeWarning`` the first time) and counts as no loss in the window; a window
        without a finite loss after the tuner left its default makes its guard revert to the default schedule."""
        value = _loss_value(loss, "observe(loss)")
        self._loss_observed = True
        if not np.isfinite(value):
            if not any(e["event"] == "non_finite_loss" for e in self.events):
                warnings.warn(f"LearnedLRScheduler: non-finite train loss {value} at step {self.steps_taken}; "
                              "see scheduler.events", RuntimeWarning, stacklevel=2)
            self.events.append({"step": int(self.steps_taken), "event": "non_finite_loss", "loss": value})
        self._pending_loss = value

    def observe_validation(self, loss: float | torch.Tensor) -> None:
        """A validation loss measured after the optimizer step about to be reported by ``step()`` (call before it),
        as the env measures it after a decision window: the next decision sees it with its age."""
        self._pending_val = _loss_value(loss, "observe_validation(loss)")

    def _grad_norm(self) -> float | None:
        """The L2 norm of all groups' gradients (a complex gradient counts its real and imaginary parts). Summed in
        float32; where that overflows (a gradient entry above ~1e19) it is summed again in float64, so a large but
        finite gradient does not read as inf."""
        grads = [_real(p.grad.detach()) for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return None
        norm = _l2_norm(grads, torch.float32)
        return _l2_norm(grads, torch.float64) if math.isinf(norm) else norm

    def _check_group(self, index: int, group: dict[str, Any]) -> None:
        """:func:`_check_lr` on a group's lr (filled in place) and its initial lr (the one the multiplier scales)."""
        _check_lr(index, group["lr"], self._top_log10)
        if "initial_lr" in group:
            _check_lr(index, group["initial_lr"], self._top_log10)

    def _adopt_new_groups(self) -> None:
        """Param groups added since construction (``optimizer.add_param_group``) join the schedule with the LR they
        were added with as their initial LR (as ``LRScheduler.__init__`` sets it); one with an lr the constructor would
        refuse (:func:`_check_lr`) raises ``ConfigError`` and none joins. Removed groups are refused: the remaining
        groups can no longer be matched to their initial LRs."""
        groups = self.optimizer.param_groups
        if len(groups) < len(self.base_lrs):
            raise ConfigError(f"the optimizer has {len(groups)} param groups, the scheduler was built for "
                              f"{len(self.base_lrs)}; param groups cannot be removed under a LearnedLRScheduler",
                              value=len(groups))
        new = list(enumerate(groups[len(self.base_lrs):], start=len(self.base_lrs)))
        for index, group in new:  # all checked before any joins: add_param_group checks nothing (a NaN lr would join)
            self._check_group(index, group)
        for _, group in new:
            lr = group["lr"]
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
            self.base_lrs.append(group["initial_lr"])

    def _warn_if_lr_changed_elsewhere(self) -> None:
        """Warn once when a group's LR is no longer the one this scheduler set (a scheduler before it in a
        ``ChainedScheduler``, a manual change): it sets absolute LRs, so that change is overridden, not kept."""
        if self._warned_foreign_lr or not hasattr(self, "_last_lr"):
            return
        for group, last in zip(self.optimizer.param_groups, self._last_lr):
            if not math.isclose(float(group["lr"]), float(last), rel_tol=1e-9):
                self._warned_foreign_lr = True
                warnings.warn("LearnedLRScheduler: the learning rate was changed outside this scheduler (another "
                              "scheduler in a ChainedScheduler, or by hand); it sets lr = initial_lr x its multiplier "
                              "and overrides that change. For a warmup use SequentialLR([warmup, this scheduler], "
                              "milestones=[n]).", RuntimeWarning, stacklevel=3)
                return

    def _decide(self) -> None:
        was_reverted = self.reverted
        with np.errstate(over="ignore", invalid="ignore"):  # a loss near the float limit: the clip handles it
            observation = self.features.observation(None)
        _, value = self.tuner.act(observation)
        self.log10_multiplier = float(value)
        self.decisions.append(self.log10_multiplier)
        if self.reverted and not was_reverted:
            self.events.append({"step": int(self.steps_taken), "event": "reverted", "why": "loss_blow_up"})

    def step(self, epoch: int | None = None) -> None:
        """One optimizer step was taken: read its gradient norm and the loss :meth:`observe` was given, and every
        ``decision_interval`` steps set the LRs the tuner decides. It takes no argument: ``step(epoch)`` (deprecated in
        torch) and ``step(metric)`` (``ReduceLROnPlateau``'s call) are refused with a ``ConfigError``, as the schedule
        cannot jump to an epoch and the loss goes to :meth:`observe`; only ``step(0)`` before the first step is
        accepted (what ``SequentialLR`` of older torch calls at its milestone): it sets the LRs in force again."""
        restart = False
        if epoch is not None:
            zero = isinstance(epoch, numbers.Integral) and not isinstance(epoch, (bool, np.bool_)) and int(epoch) == 0
            if not (zero and self.steps_taken == 0):
                raise ConfigError(f"LearnedLRScheduler.step() takes no epoch or metric, got {epoch!r}: call "
                                  "scheduler.observe(loss) and then scheduler.step() once per optimizer step",
                                  value=epoch if isinstance(epoch, numbers.Number) else type(epoch).__name__)
            restart = True
        # LRScheduler._initial_step() sets _step_count to 0 and calls step(): at construction, and again when a
        # SequentialLR starts with this scheduler (after taking that first step back); neither is an optimizer step.
        initial = getattr(self, "_step_count", 0) == 0
        if hasattr(self, "base_lrs"):
            self._adopt_new_groups()
        if not getattr(self, "_initial_step_done", False):
            # LRScheduler.__init__ calls step() once to set the initial LR; the first decision is made here.
            self._initial_step_done = True
            self._decide()
        elif initial or restart:
            pass  # set the LRs in force again (another scheduler set its own before): nothing is counted or decided
        elif self.steps_taken >= self.total_steps:
            self._warn_if_lr_changed_elsewhere()
            # Past the budget no decision is made: keep the last LR and stop collecting windows nobody reads.
            if not self._warned_past_end:
                self._warned_past_end = True
                warnings.warn(f"LearnedLRScheduler: step() called more than total_steps={self.total_steps} times; "
                              "the learning rate stays at its last value", RuntimeWarning, stacklevel=2)
            self._pending_loss = None
            self.steps_taken += 1
        else:
            self._warn_if_lr_changed_elsewhere()
            self._losses.append(self._pending_loss)
            self._grads.append(self._grad_norm())
            self._pending_loss = None
            self.steps_taken += 1
            decide = self.steps_taken % self.decision_interval == 0 and self.steps_taken < self.total_steps
            if decide:
                policy = self.tuner.policy
                non_finite = any(v is not None and not np.isfinite(v) for v in self._losses)
                if non_finite and isinstance(policy, ProbeScheduleTuner):
                    if policy.revert():  # a NaN/inf loss after leaving the default: back to the default schedule now
                        self.events.append({"step": int(self.steps_taken), "event": "reverted", "why": "non_finite_loss"})
                if not self._loss_observed:
                    self._no_loss_seen(policy)
                with np.errstate(over="ignore", invalid="ignore"):
                    record = self.features.window_record(self._losses, self._grads, self.log10_multiplier)
                self.features.record(None, record)
                self._losses, self._grads = [], []
            if self._pending_val is not None:
                self.features.record_validation(self._pending_val, step=self.steps_taken)
                self._pending_val = None
            if decide:
                self._decide()
        if restart:
            with warnings.catch_warnings():  # torch's own SequentialLR passes the epoch; its deprecation is not news
                warnings.filterwarnings("ignore", message="The epoch parameter", category=UserWarning)
                super().step(0)
        else:
            super().step()

    def _no_loss_seen(self, policy: Any) -> None:
        """A decision window passed and ``observe(loss)`` was never called: say so once, and have a probe tuner keep
        its default schedule (a choice without a loss is blind, and its guard could never fire)."""
        if not any(e["event"] == "no_loss" for e in self.events):
            warnings.warn(f"LearnedLRScheduler: no train loss observed in the first {self.steps_taken} steps; call "
                          "scheduler.observe(loss) before every scheduler.step(). Without it the tuner keeps its "
                          "default schedule (your LR with cosine/linear decay)", RuntimeWarning, stacklevel=3)
            self.events.append({"step": int(self.steps_taken), "event": "no_loss"})
        if isinstance(policy, ProbeScheduleTuner):
            left_default = policy.arm is not None
            if policy.keep_default() and left_default:
                self.events.append({"step": int(self.steps_taken), "event": "reverted", "why": "no_loss"})

    def get_lr(self) -> list[float | torch.Tensor]:
        """``initial_lr x`` the multiplier for every group, as a float where the group's lr is a float (a state saved
        with tensor lrs does not turn a float lr into a tensor) and as a tensor where it is one."""
        self._adopt_new_groups()
        return [base_lr * self.multiplier if isinstance(group["lr"], torch.Tensor) else float(base_lr * self.multiplier)
                for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's run state as plain data (``torch.load(weights_only=True)`` reads it; the features leave
        out their caches, which are rebuilt)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "tuner", "features", "_top_log10")}
        state["features"] = self.features.state_dict()
        if isinstance(self.tuner.policy, ProbeScheduleTuner):
            state["tuner_state"] = self.tuner.policy.state_dict()
            state["tuner_arms"] = [[family, peak] for family, peak in self.tuner.policy.arms]  # what its arm means
        return copy.deepcopy(state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the run ``state_dict`` (from :meth:`state_dict`) saved. A state of another scheduler, of another
        number of param groups, with an lr this scheduler refuses, of a scheduler with another kind of tuner (with or
        without a run state) or of a probe tuner with other arms (another version of a pretrained tuner: its arm
        index would mean another schedule) is refused with :class:`~tunegym.envs.core.errors.CheckpointError`
        before anything changes."""
        is_map = isinstance(state_dict, Mapping)
        missing = [k for k in _STATE_KEYS if k not in state_dict] if is_map else list(_STATE_KEYS)
        if missing:
            raise CheckpointError(f"not a LearnedLRScheduler state_dict (missing {missing})",
                                  value=type(state_dict).__name__)
        n_groups = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != n_groups:
            raise CheckpointError(f"the state has {len(state_dict['base_lrs'])} param groups, the optimizer "
                                  f"{n_groups}; add the same param groups before loading",
                                  value=len(state_dict["base_lrs"]))
        for index, lr in enumerate(state_dict["base_lrs"]):
            try:
                _check_lr(index, lr, self._top_log10)
            except ConfigError as exc:
                raise CheckpointError(f"the state's initial lrs: {exc}", value=exc.value) from exc
        policy = self.tuner.policy
        stateful = isinstance(policy, ProbeScheduleTuner)
        if stateful != (state_dict.get("tuner_state") is not None):
            raise CheckpointError(f"the state was saved by a scheduler {'without' if stateful else 'with'} a tuner "
                                  f"run state; this scheduler's tuner is a {type(policy).__name__}: load it into a "
                                  "scheduler built with the same tuner", value=type(policy).__name__)
        saved_arms = state_dict.get("tuner_arms")  # states saved before it was kept lack it
        if stateful and saved_arms is not None:
            try:
                same = [(str(f), float(p)) for f, p in saved_arms] == policy.arms
            except (TypeError, ValueError):
                same = False
            if not same:
                raise CheckpointError(f"the state was saved with a tuner of {len(saved_arms)} other arms; this "
                                      f"scheduler's tuner has {len(policy.arms)} (another version of the tuner?): load "
                                      "it into a scheduler built with the tuner that saved it", value=len(saved_arms))
        state = copy.deepcopy(dict(state_dict))
        tuner_state = state.pop("tuner_state", None)
        state.pop("tuner_arms", None)
        state.pop("_top_log10", None)
        if "_loss_observed" not in state:  # a state saved before it was kept: any loss seen so far says so
            state["_loss_observed"] = (state["features"].get("first_loss") is not None
                                       or any(v is not None for v in state.get("_losses", []))
                                       or any(e.get("event") == "non_finite_loss" for e in state.get("events", [])))
        features = self.tuner.make_features()
        before = policy.state_dict() if stateful else None
        try:
            features.load_state_dict(state.pop("features"))
            if stateful:
                policy.load_state_dict(tuner_state)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            if stateful:
                policy.load_state_dict(before)
            raise CheckpointError(f"corrupt LearnedLRScheduler state_dict: {type(exc).__name__}: {exc}",
                                  value=type(exc).__name__) from exc
        self.__dict__.update(state)
        self.features = features


# ---- baselines: the tuned schedules as policies over the env's knob (DOMAIN_BASELINES["lr"]) -----------------
class TunedSchedule(_Baseline):
    """A named schedule (:mod:`tunegym.envs.lr.schedules`) at its tuned peak for the task's optimizer, played in
    an LR env: at each decision the knob value is ``log10 peak + log10 factor(step)`` at the run's current
    optimizer step (piecewise constant over the decision window; the nearest arm in a discrete env).

    ``peaks``: log10 peak multiplier per optimizer (default :data:`~tunegym.envs.lr.schedules.TUNED_LOG10_PEAKS`,
    tuned by ``tunegym bench lr`` on its tune seeds only).
    """

    def __init__(self, env: Any, family: str, peaks: dict[str, float] | None = None) -> None:
        super().__init__(env)
        if family not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {family!r}", value=family)
        self.family = family
        self.peaks = dict(TUNED_LOG10_PEAKS[family] if peaks is None else peaks)
        self._factors: dict[int, np.ndarray] = {}

    def value(self) -> float:
        process = self.env.process
        task = process.instance
        budget = int(task.step_budget)
        if budget not in self._factors:
            self._factors[budget] = schedule_factors(self.family, budget)
        step = min(int(process.run_steps[0]), budget - 1)
        return float(self.peaks[task.optimizer] + np.log10(max(float(self._factors[budget][step]), 1e-12)))


def tuned_constant(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "constant")


def tuned_step(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "step")


def tuned_cosine(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "cosine")


def tuned_linear(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "linear")


def tuned_wsd(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "wsd")


def tuned_onecycle(env: Any) -> TunedSchedule:
    return TunedSchedule(env, "onecycle")
