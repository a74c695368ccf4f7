"""The LR process: a batch of training runs of one task, advanced decision window by decision window.

:class:`LRTraining` is the process of ``tunegym/LRSchedule-v0`` and ``LRScheduleContinuous-v0`` (a batch of
one run), of their native vector env (a batch of K runs, each its own sub-env) and of ``LRGroups-v0`` (one
run, one LR multiplier per layer group). It drives the vmapped :class:`~tunegym.envs.lr.trainer.BatchedTrainer`:
:meth:`LRTraining.advance_batch` takes one knob value per run (the log10 multiplier of the task's base LR,
or one per layer group), trains every playing run ``decision_interval`` optimizer steps (or what is left of
its budget) and returns one :class:`~tunegym.envs.core.process.StepRecord` per run;
:meth:`LRTraining.advance` is the same call for a batch of one.

Cost: optimizer steps taken in the window (deterministic). Quality: the validation loss where it was measured
(every ``val_every`` decisions and always at the end; ``quality_name="val_loss"``), else the mean train loss
of the window (``quality_name="train_loss"``). All randomness (data split, initial weights, minibatch order)
comes from the task (``data_seed``, ``init_seed``) and the run id, so a replayed task trains identically.

The rewards (``lr.final_val_loss``, sparse; ``lr.improvement``, shaped) are registered here as pure
functions of a record, and :func:`window_summary` is the one place a decision window's train-loss figures are
computed (the process and the deployed :class:`~tunegym.agents.lr_scheduler.LearnedLRScheduler` both call it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import register_reward
from tunegym.envs.lr.tasks import TrainingTask
from tunegym.envs.lr.trainer import BatchedTrainer

__all__ = ["LRTraining", "window_summary", "final_val_loss", "improvement", "COST_UNIT"]

COST_UNIT = "optimizer_steps"


def _finite(values: Any) -> list[float]:
    arr = np.asarray(values if values is not None else [], dtype=np.float64).reshape(-1)
    return arr[np.isfinite(arr)].tolist()


def _finite_mean(values: Any) -> float | None:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else None


def window_summary(losses: Any, grad_norms: Any, previous_mean: float | None) -> dict[str, Any]:
    """The figures of one decision window: its finite train losses and gradient norms, their means, and the
    previous window's mean train loss (a window without a finite loss keeps the previous mean)."""
    losses, grads = _finite(losses), _finite(grad_norms)
    mean = float(np.mean(losses)) if losses else previous_mean
    return {"window_train_losses": losses, "window_grad_norms": grads, "train_loss": mean,
            "previous_train_loss": previous_mean, "grad_norm": _finite_mean(grads)}


class LRTraining(Process):
    """``n_runs`` runs of one :class:`TrainingTask`, each with its own LR schedule, trained as one vmapped batch.

    ``start(task, runs=[...])`` starts every run (run ids default to ``0 .. n_runs-1``; run ``r`` draws its
    weights and minibatches from the task's ``init_seed`` and ``r``); :meth:`restart` restarts some runs while
    the others go on (per-run autoreset). A run ends when its step budget is used up (``status="finished"``)
    or its loss turns NaN/inf or exceeds 10x its first loss (``status="diverged"``: it stops at that step).
    """

    cost_unit = COST_UNIT
    quality_name = "val_loss"

    def __init__(self, *, n_runs: int = 1, decision_interval: int = 5, val_every: int | None = 4,
                 device: str = "auto") -> None:
        if int(n_runs) < 1:
            raise ConfigError(f"n_runs must be >= 1, got {n_runs}", value=n_runs)
        if int(decision_interval) < 1:
            raise ConfigError(f"decision_interval must be >= 1, got {decision_interval}", value=decision_interval)
        if val_every is not None and int(val_every) < 1:
            raise ConfigError(f"val_every must be >= 1 (or None: only at the end), got {val_every}", value=val_every)
        self.n_runs, self.decision_interval = int(n_runs), int(decision_interval)
        self.val_every = None if val_every is None else int(val_every)
        self.device = device
        self.instance: TrainingTask | None = None
        self.trainer: BatchedTrainer | None = None
        self.run_done = np.ones(self.n_runs, dtype=bool)
        self.decisions = np.zeros(self.n_runs, dtype=np.int64)
        self._previous: list[float | None] = [None] * self.n_runs

    # ---- state ---------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return bool(self.run_done.all())

    @property
    def total_steps(self) -> int:
        """The step budget of every run (the task's)."""
        return int(self.instance.step_budget) if self.instance is not None else 0

    @property
    def run_steps(self) -> np.ndarray:
        """Optimizer steps each run has taken."""
        return self.trainer.run_steps.copy() if self.trainer is not None else np.zeros(self.n_runs, dtype=np.int64)

    @property
    def n_groups(self) -> int:
        return self.trainer.n_groups if self.trainer is not None else 0

    def start(self, instance: TrainingTask, rng: np.random.Generator | None = None, *,
              runs: Sequence[int] | None = None) -> None:
        if not isinstance(instance, TrainingTask):
            raise ConfigError(f"LRTraining trains a TrainingTask, got {type(instance).__name__}", value=instance)
        runs = list(range(self.n_runs)) if runs is None else [int(r) for r in runs]
        self.instance = instance
        self.trainer = BatchedTrainer(instance, self.n_runs, device=self.device, runs=runs)
        self.run_done[:] = False
        self.decisions[:] = 0
        self._previous = [None] * self.n_runs

    def restart(self, mask: np.ndarray, runs: Sequence[int]) -> None:
        """Start the runs in ``mask`` afresh as run ids ``runs`` (one per True entry); the others go on."""
        self._require_started()
        mask = np.asarray(mask, dtype=bool).reshape(self.n_runs)
        self.trainer.restart_runs(mask, list(runs))
        self.run_done[mask] = False
        self.decisions[mask] = 0
        for i in np.flatnonzero(mask):
            self._previous[i] = None

    def _require_started(self) -> None:
        if self.trainer is None:
            raise ConfigError("start() a training task before advancing it")

    # ---- decisions -------------------------------------------------------------------------------------------
    def advance(self, knob_value: Any) -> StepRecord:
        """One decision of a batch of one run: ``knob_value`` is its log10 LR multiplier (or one per layer group)."""
        if self.n_runs != 1:
            raise ConfigError(f"advance() drives a batch of one run; this process has {self.n_runs}: use advance_batch")
        record = self.advance_batch([knob_value])[0]
        assert record is not None
        return record

    def advance_batch(self, knob_values: Sequence[Any], playing: np.ndarray | None = None) -> list[StepRecord | None]:
        """One decision of every playing run (default: every run that has not ended).

        ``knob_values[i]`` is run ``i``'s log10 multiplier of the base LR (a number, or one per layer group);
        runs that are not playing hold still, their entries are ignored and their records are ``None``.
        """
        self._require_started()
        task, trainer, k_runs = self.instance, self.trainer, self.n_runs
        playing = ~self.run_done if playing is None else np.asarray(playing, dtype=bool).reshape(k_runs) & ~self.run_done
        if not playing.any():
            raise ConfigError("every run has ended; start() or restart() runs before advancing")
        if len(knob_values) != k_runs:
            raise ActionError(f"expected {k_runs} knob values, got {len(knob_values)}", value=knob_values)
        per_group = any(np.ndim(knob_values[i]) > 0 for i in np.flatnonzero(playing))
        width = trainer.n_groups if per_group else 1
        log10 = np.zeros((k_runs, width))
        for i in np.flatnonzero(playing):
            value = np.asarray(knob_values[i], dtype=np.float64).reshape(-1)
            if value.size not in (1, width) or not np.all(np.isfinite(value)):
                raise ActionError(f"run {i}: a knob value is one finite log10 multiplier or one per layer group "
                                  f"({trainer.n_groups}), got {knob_values[i]!r}", value=knob_values[i])
            log10[i] = value
        lrs = task.lr * 10.0 ** log10
        lrs = lrs if per_group else lrs[:, 0]
        started = time.perf_counter()
        remaining = task.step_budget - trainer.run_steps
        window = np.where(playing, np.minimum(self.decision_interval, remaining), 0)
        n = int(window.max())
        losses, grads = np.full((n, k_runs), np.nan), np.full((n, k_runs), np.nan)
        group_grads = np.full((n, k_runs, trainer.n_groups), np.nan)
        taken = np.zeros(k_runs, dtype=np.int64)
        diverged = np.zeros(k_runs, dtype=bool)
        for s in range(n):
            hold = (window <= s) | diverged
            if hold.all():
                break
            losses[s], grads[s] = trainer.step(lrs, hold=hold)
            group_grads[s] = trainer.group_grad_norms
            taken[~hold] += 1
            diverged |= trainer.diverged & ~hold  # a run stops at the step where it diverged
        self.decisions[playing] += 1
        steps = trainer.run_steps
        finished = playing & ~diverged & (steps >= task.step_budget)
        periodic = np.zeros(k_runs, dtype=bool) if self.val_every is None else self.decisions % self.val_every == 0
        measure = playing & ~diverged & (finished | periodic)
        val_loss, val_acc = np.full(k_runs, np.nan), np.full(k_runs, np.nan)
        if measure.any():
            all_loss, all_acc = trainer.evaluate()
            val_loss[measure], val_acc[measure] = all_loss[measure], all_acc[measure]
        wall = (time.perf_counter() - started) / max(int(playing.sum()), 1)
        records: list[StepRecord | None] = [None] * k_runs
        for i in np.flatnonzero(playing):
            summary = window_summary(losses[: taken[i], i], grads[: taken[i], i], self._previous[i])
            self._previous[i] = summary["train_loss"]
            v_loss = float(val_loss[i]) if np.isfinite(val_loss[i]) else None
            v_acc = float(val_acc[i]) if np.isfinite(val_acc[i]) and v_loss is not None else None
            measured = v_loss is not None
            ended = bool(diverged[i] or finished[i])
            self.run_done[i] = ended
            knob = float(log10[i, 0]) if not per_group else [float(v) for v in log10[i]]
            lr = float(lrs[i]) if not per_group else [float(v) for v in lrs[i]]
            group_norms = [_finite_mean(column) for column in group_grads[: taken[i], i].T]
            records[i] = StepRecord(
                cost=float(taken[i]), cost_unit=self.cost_unit, knob=knob, instance_id=task.instance_id,
                quality=v_loss if measured else summary["train_loss"],
                quality_name="val_loss" if measured else "train_loss",
                status="diverged" if diverged[i] else ("finished" if finished[i] else "ok"),
                terminated=ended, wall_time=wall,
                extra={**summary, "lr": lr, "log10_multiplier": knob, "optimizer_steps": int(steps[i]),
                       "val_loss": v_loss, "val_accuracy": v_acc, "diverged": bool(diverged[i]),
                       "run": int(trainer.run_ids[i]), "group_grad_norms": group_norms},
            )
        return records


# ---- rewards: pure functions of a record --------------------------------------------------------------------
def _terminal(record: StepRecord, divergence_penalty: float) -> float:
    if record.extra.get("diverged"):
        return -float(divergence_penalty)
    if not record.terminated:
        return 0.0
    val = record.extra.get("val_loss")
    return -float(val) if val is not None else -float(divergence_penalty)


@register_reward("lr.final_val_loss")
def final_val_loss(record: StepRecord, divergence_penalty: float = 10.0) -> float:
    """Sparse: 0 until the run ends, then ``-final validation loss``; ``-divergence_penalty`` if it diverged."""
    return _terminal(record, divergence_penalty)


@register_reward("lr.improvement")
def improvement(record: StepRecord, divergence_penalty: float = 10.0) -> float:
    """Shaped: ``ln(previous window's mean train loss) - ln(this window's)`` each decision (it telescopes to the
    log-improvement of the train loss), plus the sparse terminal term; ``-divergence_penalty`` if it diverged."""
    if record.extra.get("diverged"):
        return -float(divergence_penalty)
    previous, current = record.extra.get("previous_train_loss"), record.extra.get("train_loss")
    reward = math.log(previous) - math.log(current) if previous and current else 0.0
    return reward + _terminal(record, divergence_penalty)
