"""The observation of a learning-rate scheduler: what a training loop can see, as a fixed-size vector.

One tracker, :class:`ScheduleFeatures`, is shared by the env, the vector env and the deployed
:class:`~tunegym.agents.lr_scheduler.LearnedLRScheduler`, so a policy sees the same features in training
and in a user's loop. It records losses and gradient norms; it never touches a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


@dataclass
class ScheduleFeatures:
    """Windows of train loss and gradient norm since the last decision, and the last validation loss."""

    total_steps: int
    steps: int = 0
    multiplier: float = 1.0
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    previous_mean: float | None = None
    first_loss: float | None = None
    val_loss: float | None = None
    val_step: int | None = None

    def record(self, loss: float | None, grad_norm: float | None) -> None:
        """One optimizer step; ``None`` for a quantity the loop did not provide."""
        self.steps += 1
        if loss is not None and np.isfinite(loss):
            self.losses.append(float(loss))
            if self.first_loss is None:
                self.first_loss = float(loss)
        if grad_norm is not None and np.isfinite(grad_norm):
            self.grad_norms.append(float(grad_norm))

    def record_many(self, losses: np.ndarray, grad_norms: np.ndarray) -> None:
        """Several optimizer steps at once (non-finite values are skipped, as in :meth:`record`)."""
        losses = np.asarray(losses, dtype=np.float64)
        grad_norms = np.asarray(grad_norms, dtype=np.float64)
        self.steps += int(losses.size)
        finite = losses[np.isfinite(losses)]
        if finite.size and self.first_loss is None:
            self.first_loss = float(finite[0])
        self.losses.extend(finite.tolist())
        self.grad_norms.extend(grad_norms[np.isfinite(grad_norms)].tolist())

    def record_validation(self, loss: float) -> None:
        if np.isfinite(loss):
            self.val_loss = float(loss)
            self.val_step = self.steps

    def window_mean(self) -> float | None:
        return float(np.mean(self.losses)) if self.losses else self.previous_mean

    def observation(self) -> np.ndarray:
        """The feature vector (clipped into ``[OBS_LOW, OBS_HIGH]``); reading it does not clear the window."""
        mean = self.window_mean()
        loss_std = float(np.std(self.losses) / max(mean, 1e-12)) if len(self.losses) > 1 and mean else 0.0
        change = float(np.log(max(mean, 1e-12)) - np.log(max(self.previous_mean, 1e-12))) if (mean and self.previous_mean) else 0.0
        g_mean = float(np.mean(self.grad_norms)) if self.grad_norms else 1.0
        g_std = float(np.std(self.grad_norms) / max(g_mean, 1e-12)) if len(self.grad_norms) > 1 else 0.0
        reference_val = self.val_loss if self.val_loss is not None else (self.first_loss or 1.0)
        age = 1.0 if self.val_step is None else (self.steps - self.val_step) / max(self.total_steps, 1)
        obs = np.array(
            [
                self.steps / max(self.total_steps, 1),
                _log10(mean) if mean else 0.0,
                loss_std,
                change,
                _log10(g_mean),
                g_std,
                _log10(self.multiplier),
                _log10(reference_val),
                age,
            ],
            dtype=np.float32,
        )
        return np.clip(np.nan_to_num(obs, nan=0.0, posinf=OBS_HIGH.max(), neginf=OBS_LOW.min()), OBS_LOW, OBS_HIGH)

    def close_window(self) -> None:
        """Start the next decision window (called after each decision)."""
        if self.losses:
            self.previous_mean = float(np.mean(self.losses))
        self.losses.clear()
        self.grad_norms.clear()

    def state_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, list(v) if isinstance(v, list) else v)
