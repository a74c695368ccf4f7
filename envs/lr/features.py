"""The observation of a learning-rate scheduler: what a training loop can see, as a fixed-size vector.

One registered :class:`~tunegym.envs.core.features.Features` class, :class:`ScheduleFeatures` (``"lr.schedule"``),
is shared by the env, the vector env (one per run) and the deployed
:class:`~tunegym.agents.lr_scheduler.LearnedLRScheduler` (rebuilt from the tuner file), so a policy sees the same
features in training and in a user's loop. It takes in one decision window at a time as a
:class:`~tunegym.envs.core.process.StepRecord` (the process's, or one :meth:`ScheduleFeatures.window_record`
builds from a user's losses and gradient norms); it never touches a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.lr.process import COST_UNIT, window_summary

__all__ = ["FEATURE_NAMES", "OBS_LOW", "OBS_HIGH", "ScheduleFeatures"]

FEATURE_NAMES = (
    "progress",  # optimizer steps taken / step budget
    "log10_train_loss",  # mean train loss over the last decision window
    "train_loss_rel_std",  # std / mean of the train loss over the window (noise)
    "log_train_loss_change",  # ln(mean this window) - ln(mean previous window)
    "log10_grad_norm",  # mean gradient norm over the window
    "grad_norm_rel_std",
    "log10_lr_multiplier",  # current LR / base LR
    "log10_val_loss",  # last measured validation loss (the first train loss before any measurement)
    "val_age",  # steps since the validation loss was measured / step budget (1 when never)
)
OBS_LOW = np.array([0.0, -6.0, 0.0, -5.0, -8.0, 0.0, -4.0, -6.0, 0.0], dtype=np.float32)
OBS_HIGH = np.array([1.0, 3.0, 10.0, 5.0, 4.0, 10.0, 2.0, 3.0, 1.0], dtype=np.float32)


def _log10(x: float) -> float:
    return float(np.log10(max(x, 1e-12)))


class ScheduleFeatures(Features):
    """The last decision window's train loss and gradient norm statistics, progress, LR and validation loss.

    ``begin(total_steps)`` (or :meth:`reset` with a process) starts a run; :meth:`record` takes in one decision
    window (its record: ``cost`` = steps taken, ``knob`` = the log10 multiplier applied during it, and the
    window figures of :func:`~tunegym.envs.lr.process.window_summary`); :meth:`record_validation` a validation
    loss measured now. :meth:`observe` reads the state and changes nothing.
    """

    name = "lr.schedule"
    space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)

    def __init__(self, total_steps: int = 1) -> None:
        self.begin(total_steps)

    def begin(self, total_steps: int) -> None:
        """Forget everything: a run of ``total_steps`` optimizer steps starts."""
        self.total_steps = int(total_steps)
        self.steps = 0
        self.log10_multiplier = 0.0
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.train_mean: float | None = None
        self.previous_mean: float | None = None
        self.first_loss: float | None = None
        self.val_loss: float | None = None
        self.val_step: int | None = None

    def reset(self, process: Process) -> None:
        self.begin(int(process.total_steps))

    def record(self, process: Process | None, record: StepRecord) -> None:
        extra = record.extra
        self.steps += int(record.cost)
        self.losses = [float(v) for v in extra["window_train_losses"]]
        self.grad_norms = [float(v) for v in extra["window_grad_norms"]]
        self.train_mean, self.previous_mean = extra["train_loss"], extra["previous_train_loss"]
        if self.first_loss is None and self.losses:
            self.first_loss = self.losses[0]
        self.log10_multiplier = float(np.mean(np.asarray(record.knob, dtype=np.float64)))
        if extra.get("val_loss") is not None:
            self.record_validation(extra["val_loss"])

    def record_validation(self, loss: float, step: int | None = None) -> None:
        """A validation loss measured after ``step`` optimizer steps (default: now, :attr:`steps`)."""
        if loss is not None and np.isfinite(loss):
            self.val_loss = float(loss)
            self.val_step = self.steps if step is None else int(step)

    def window_record(self, losses: Any, grad_norms: Any, knob: float, *, instance_id: str = "user-loop") -> StepRecord:
        """The record of one decision window of a user's loop: its per-step train losses and gradient norms
        (``None``/NaN where unknown; every entry is one optimizer step) and the log10 multiplier applied."""
        steps = len(losses)
        summary = window_summary(losses, grad_norms, self.train_mean)
        return StepRecord(cost=float(steps), cost_unit=COST_UNIT, knob=float(knob), instance_id=instance_id,
                          quality=summary["train_loss"], quality_name="train_loss", extra=summary)

    def observe(self, process: Process | None = None) -> np.ndarray:
        mean = self.train_mean
        loss_std = float(np.std(self.losses) / max(mean, 1e-12)) if len(self.losses) > 1 and mean else 0.0
        change = float(np.log(max(mean, 1e-12)) - np.log(max(self.previous_mean, 1e-12))) if (mean and self.previous_mean) else 0.0
        g_mean = float(np.mean(self.grad_norms)) if self.grad_norms else 1.0
        g_std = float(np.std(self.grad_norms) / max(g_mean, 1e-12)) if len(self.grad_norms) > 1 else 0.0
        reference_val = self.val_loss if self.val_loss is not None else (self.first_loss or 1.0)
        age = 1.0 if self.val_step is None else (self.steps - self.val_step) / max(self.total_steps, 1)
        return np.array([
            self.steps / max(self.total_steps, 1),
            _log10(mean) if mean else 0.0,
            loss_std,
            change,
            _log10(g_mean),
            g_std,
            self.log10_multiplier,
            _log10(reference_val),
            age,
        ], dtype=np.float32)

    def state_dict(self) -> dict[str, Any]:
        """The run's state as plain data (``torch.load(weights_only=True)`` reads it); private attributes, caches
        such as the space's bounds that are rebuilt on use, are left out."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if not k.startswith("_")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if not k.startswith("_"):  # a state saved before caches were left out may carry them
                setattr(self, k, list(v) if isinstance(v, list) else v)


register_features(ScheduleFeatures.name, "tunegym.envs.lr.features:ScheduleFeatures")
