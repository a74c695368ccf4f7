"""SB3 callbacks tunegym adds: env info logging, timed atomic checkpoints, validation evals, a progress bar.

Callbacks, not flags in a training loop (STYLE.md). Logged keys are namespaced: ``env/cost``,
``env/quality`` (means over the last ``window`` steps of ``info["cost"]`` / ``info["quality"]``),
``eval/mean_cost``, ``eval/mean_reward`` next to SB3's own ``rollout/`` and ``train/`` keys.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["InfoLoggerCallback", "TimedCheckpointCallback", "ValidationEvalCallback", "ProgressBarCallback"]


class InfoLoggerCallback(BaseCallback):
    """Log the running means of numeric ``info`` entries (``cost``, ``quality`` by default) as ``env/<key>``."""

    def __init__(self, keys: Sequence[str] = ("cost", "quality"), window: int = 1000) -> None:
        super().__init__()
        self.buffers = {key: deque(maxlen=window) for key in keys}

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            for key, buffer in self.buffers.items():
                value = info.get(key)
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    buffer.append(float(value))
        return True

    def _on_rollout_end(self) -> None:
        for key, buffer in self.buffers.items():
            if buffer:
                self.logger.record(f"env/{key}", float(np.mean(buffer)))


class TimedCheckpointCallback(BaseCallback):
    """Call ``save()`` every ``every_seconds`` of wall time, at rollout boundaries.

    A rollout boundary (start of a rollout, after the previous update) is the one point where an on-policy
    algorithm's state is complete without its rollout buffer, so a resumed PPO run reaches the same total
    step count as an uninterrupted one. ``save`` must write atomically.
    """

    def __init__(self, save: Callable[[], None], every_seconds: float) -> None:
        super().__init__()
        self.save, self.every_seconds = save, float(every_seconds)
        self.last = time.monotonic()
        self.saves = 0
        self.saved_at: int | None = None  # num_timesteps of the last save (None: none yet)
        self._start_steps = 0

    def _on_rollout_start(self) -> None:
        now = time.monotonic()
        # Only a boundary with new steps is worth a file: at the first rollout (or right after a resume) the
        # state is what the run started from, however long start-up took (compiling kernels, building envs).
        steps = self.model.num_timesteps
        if steps > (self.saved_at if self.saved_at is not None else self._start_steps) \
                and now - self.last >= self.every_seconds:
            self.save()
            self.saves += 1
            self.saved_at = steps
            self.last = time.monotonic()

    def _on_training_start(self) -> None:
        self._start_steps = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True


class ValidationEvalCallback(BaseCallback):
    """Every ``every_steps`` env steps, run the current policy on validation seeds and log ``eval/...``.

    ``evaluate(policy) -> dict`` is supplied by the caller (it owns the env and the seeds); use validation
    seeds derived from the train seed here, never test seeds.
    """

    def __init__(self, evaluate: Callable[[Any], dict[str, float]], every_steps: int) -> None:
        super().__init__()
        self.evaluate, self.every_steps = evaluate, int(every_steps)
        self.next_eval = 0

    def _init_callback(self) -> None:
        self.next_eval = self.num_timesteps + self.every_steps

    def _on_rollout_start(self) -> None:
        if self.every_steps > 0 and self.num_timesteps >= self.next_eval:
            for key, value in self.evaluate(self.model).items():
                self.logger.record(f"eval/{key}", value)
            self.next_eval = self.num_timesteps + self.every_steps

    def _on_step(self) -> bool:
        return True


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over env steps toward ``total`` (starts at the resumed step count)."""

    def __init__(self, total: int, description: str = "train", disable: bool | None = None) -> None:
        super().__init__()
        self.total, self.description, self.disable = int(total), description, disable
        self.bar = None

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.num_timesteps, desc=self.description, unit="step",
                        disable=self.disable, dynamic_ncols=True)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.num_timesteps - self.bar.n)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
