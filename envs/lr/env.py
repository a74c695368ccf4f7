"""Gymnasium environments that set the learning rate of real torch training runs every k optimizer steps."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import Distribution
from tunegym.envs.core.seeding import stream
from tunegym.envs.lr.features import OBS_HIGH, OBS_LOW, ScheduleFeatures
from tunegym.envs.lr.tasks import TrainingTask, tiny_distribution
from tunegym.envs.lr.trainer import BatchedTrainer, SingleTrainer

__all__ = [
    "DEFAULT_LOG10_ARMS",
    "LRScheduleConfig",
    "LRScheduleEnv",
    "LRScheduleVectorEnv",
    "make_lr_schedule",
    "make_lr_schedule_continuous",
    "make_lr_schedule_vector",
    "make_lr_schedule_continuous_vector",
]

# Discrete arms: LR = base LR x 10**arm, half a decade apart from 1/1000 to 10 times the base LR.
DEFAULT_LOG10_ARMS = tuple(float(a) for a in np.linspace(-3.0, 1.0, 9))


@dataclass(frozen=True)
class LRScheduleConfig:
    """Everything that defines an LRSchedule env besides its task distribution."""

    decision_interval: int = 5  # optimizer steps per action (k)
    action: str = "discrete"  # "discrete" | "continuous"
    log10_arms: tuple[float, ...] = DEFAULT_LOG10_ARMS
    log10_low: float = -3.0  # continuous action bounds (log10 of the multiplier)
    log10_high: float = 1.0
    reward: str = "sparse"  # "sparse": -final val loss; "shaped": per-window ln-improvement of train loss
    divergence_penalty: float = 10.0
    val_every: int = 4  # decisions between validation measurements (and always at the end)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.decision_interval < 1:
            raise ConfigError(f"decision_interval must be >= 1, got {self.decision_interval}", value=self.decision_interval)
        if self.action not in ("discrete", "continuous"):
            raise ConfigError(f"action must be 'discrete' or 'continuous', got {self.action!r}", value=self.action)
        if self.reward not in ("sparse", "shaped"):
            raise ConfigError(f"reward must be 'sparse' or 'shaped', got {self.reward!r}", value=self.reward)
        if not self.log10_low < self.log10_high:
            raise ConfigError("log10_low must be below log10_high", value=(self.log10_low, self.log10_high))
        if self.val_every < 1:
            raise ConfigError(f"val_every must be >= 1, got {self.val_every}", value=self.val_every)

    def action_space(self) -> spaces.Space:
        if self.action == "discrete":
            return spaces.Discrete(len(self.log10_arms))
        return spaces.Box(np.float32(self.log10_low), np.float32(self.log10_high), shape=(1,), dtype=np.float32)

    def to_log10_multiplier(self, action: Any) -> float:
        """The log10 LR multiplier an action applies (continuous actions are clipped into the box)."""
        if self.action == "discrete":
            arm = np.asarray(action).reshape(-1)
            if arm.size != 1 or not np.isfinite(arm[0]) or float(arm[0]) != int(arm[0]) or not 0 <= int(arm[0]) < len(self.log10_arms):
                raise ActionError(f"action must be an arm index in [0, {len(self.log10_arms)}), got {action!r}", value=action)
            return float(self.log10_arms[int(arm[0])])
        value = np.asarray(action, dtype=np.float64).reshape(-1)
        if value.size != 1 or not np.isfinite(value[0]):
            raise ActionError(f"action must be one finite log10 multiplier, got {action!r}", value=action)
        return float(np.clip(value[0], self.log10_low, self.log10_high))


def _none_if_nan(value: float) -> float | None:
    # None, not NaN: NaN != NaN would make equal trajectories compare unequal in check_env.
    return float(value) if np.isfinite(value) else None


def _make_config(config: LRScheduleConfig | None, overrides: dict[str, Any]) -> LRScheduleConfig:
    base = config or LRScheduleConfig()
    return replace(base, **overrides) if overrides else base


class LRScheduleEnv(gym.Env):
    """Set the learning rate of one torch training run every ``k`` optimizer steps.

    ## Description
    Dynamic learning-rate control as in DACBench's SGD benchmark (Adriaensen et al., JAIR 2022,
    arXiv 2205.13881) and "Learning Step-Size Adaptation in CMA-ES"/"Learning to optimize" lines of work:
    each episode is one real training run of a :class:`~tunegym.envs.lr.tasks.TrainingTask` (an MLP, a
    small CNN on 8x8 digits or a character model on generated sequences; SGD with momentum or AdamW) with
    a fixed step budget. Every ``decision_interval`` optimizer steps the agent sets the LR as a
    log-scale multiple of the task's base LR. The cost unit is optimizer steps (the budget is fixed); the
    quantity to minimise is the final validation loss.

    ## Action Space
    ``action="discrete"``: ``Discrete(len(log10_arms))``; arm ``i`` sets ``lr = base_lr * 10**log10_arms[i]``
    (default 9 arms from 10^-3 to 10^1). ``action="continuous"``: ``Box(log10_low, log10_high, (1,))``, the
    log10 multiplier itself, clipped into the box. NaN or an out-of-range arm raises ``ActionError``.

    ## Observation Space
    ``Box(OBS_LOW, OBS_HIGH, (9,))`` with ``FEATURE_NAMES`` (:mod:`tunegym.envs.lr.features`): progress,
    train-loss mean / relative std / log-change over the last window, gradient-norm mean / relative std,
    current log10 multiplier, last validation loss and its age. Values are clipped into the bounds.

    ## Rewards
    ``reward="sparse"`` (default): 0 until the run ends, then ``-final validation loss``.
    ``reward="shaped"``: each decision earns ``ln(mean train loss of the previous window) - ln(mean of this
    window)`` (the sum telescopes to the log-improvement of the train loss), and the final decision also
    earns ``-final validation loss``. A run whose loss becomes NaN/inf or exceeds 10x its first loss has
    *diverged*: the episode terminates at once with reward ``-divergence_penalty`` and ``info["diverged"]``.

    ## Info
    ``instance_id``, ``lr``, ``log10_multiplier``, ``optimizer_steps``, ``train_loss``, ``grad_norm`` (window
    means), ``val_loss`` and ``val_accuracy`` (``None`` unless measured this step), ``diverged``. Unknown
    values are ``None``, never NaN; no wall time.

    ## Starting State
    ``reset(seed=s)`` restarts the task stream ``stream(s, "instances")``; ``reset(options={"instance": task})``
    trains exactly that ``TrainingTask``. Weights are drawn from the task's ``init_seed``: the same seed
    and actions give the same trajectory on CPU. The LR starts at the base LR (multiplier 1).

    ## Episode End
    Terminated when the step budget is used up or the run diverges; the env never truncates (episode
    length is ``ceil(step_budget / decision_interval)`` decisions).

    ## Arguments
    ``distribution`` (default :func:`~tunegym.envs.lr.tasks.tiny_distribution`: 40–60 steps of a small MLP,
    a few ms per decision; :func:`~tunegym.envs.lr.tasks.standard_distribution` has the realistic sizes,
    200–400 steps of MLP/CNN/char models), ``config`` (:class:`LRScheduleConfig`) or its fields as keywords.

    ## Version History
    * v0: initial version. Revised before any release (so the id stays v0): features that are constant on
      a task's train split keep scale 1 (they made digits validation losses ~10^3), and the vector form
      (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) resets runs one at a time.
    """

    metadata = {"render_modes": []}

    def __init__(self, distribution: Distribution | None = None, config: LRScheduleConfig | None = None, **overrides: Any) -> None:
        self.distribution = distribution if distribution is not None else tiny_distribution()
        self.config = _make_config(config, overrides)
        self.action_space = self.config.action_space()
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self._instance_rng = stream(None, "instances")
        self.current_instance: TrainingTask | None = None
        self.trainer: SingleTrainer | None = None
        self.features: ScheduleFeatures | None = None
        self._decisions = 0
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._instance_rng = stream(seed, "instances")
        instance = (options or {}).get("instance")
        if instance is not None:
            if not isinstance(instance, TrainingTask):
                raise ConfigError(f"options['instance'] must be a TrainingTask, got {type(instance).__name__}", value=instance)
            self.current_instance = instance
        else:
            self.current_instance = self.distribution.sample(self._instance_rng)
        self.trainer = SingleTrainer(self.current_instance, device=self.config.device)
        self.features = ScheduleFeatures(total_steps=self.current_instance.step_budget)
        self._decisions = 0
        self._done = False
        return self.features.observation(), {"instance_id": self.current_instance.instance_id}

    def step(self, action: Any):
        if self._done or self.trainer is None:
            raise ActionError("call reset() before step() (the episode has ended)")
        cfg, task, feats = self.config, self.current_instance, self.features
        log10_mult = cfg.to_log10_multiplier(action)
        lr = task.lr * 10.0**log10_mult
        feats.multiplier = 10.0**log10_mult
        n = min(cfg.decision_interval, task.step_budget - feats.steps)
        diverged = False
        for _ in range(n):
            loss, grad_norm = self.trainer.step(lr)
            feats.record(loss, grad_norm)
            if self.trainer.diverged:
                diverged = True
                break
        self._decisions += 1
        finished = diverged or feats.steps >= task.step_budget
        val_loss = val_acc = None
        if not diverged and (finished or self._decisions % cfg.val_every == 0):
            v_loss, v_acc = self.trainer.evaluate()
            val_loss, val_acc = _none_if_nan(v_loss), _none_if_nan(v_acc)
            if val_loss is not None:
                feats.record_validation(val_loss)
        train_mean = feats.window_mean()
        grad_mean = float(np.mean(feats.grad_norms)) if feats.grad_norms else None
        if diverged:
            reward = -cfg.divergence_penalty
        else:
            reward = 0.0
            if cfg.reward == "shaped" and feats.previous_mean and train_mean:
                reward += math.log(feats.previous_mean) - math.log(train_mean)
            if finished:
                reward -= val_loss if val_loss is not None else cfg.divergence_penalty
        obs = feats.observation()
        feats.close_window()
        self._done = finished
        info = {
            "instance_id": task.instance_id,
            "lr": lr,
            "log10_multiplier": log10_mult,
            "optimizer_steps": feats.steps,
            "train_loss": _none_if_nan(train_mean) if train_mean is not None else None,
            "grad_norm": grad_mean,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "diverged": diverged,
        }
        return obs, float(reward), bool(finished), False, info


class LRScheduleVectorEnv(VectorEnv):
    """``num_envs`` runs of one task trained together in a vmapped batch, each with its own LR.

    Sub-env ``i`` is one training run of the current task (its own initial weights and minibatch order);
    spaces and rewards are those of :class:`LRScheduleEnv`, batched. Infos are Gymnasium vector infos:
    arrays of length ``num_envs`` (``val_loss``/``val_accuracy``/``train_loss`` are NaN where not measured)
    with ``_key`` masks.

    ## Resets
    ``reset()`` (no mask) draws a new task (or ``options={"instance": task}``) and starts every run; one
    vmapped batch holds one architecture, so all sub-envs share the task. A sub-env whose run ends (step
    budget used, or diverged) restarts *alone* on the same task as a fresh run (the next unused run id:
    new weights and minibatches; with ``common_run`` the same run again) while the others go on; each
    sub-env keeps its own step count, so after a partial reset the runs are at different points.

    ``autoreset_mode`` (Gymnasium 1.x semantics, also in ``metadata``): ``"next_step"`` (default): the
    ``step()`` after the one where sub-env ``i`` ended resets it, ignores its action and returns its first
    observation with reward 0 and ``terminated=False``. ``"same_step"``: it resets within the step that
    ended it; the final observation and info go to ``info["final_obs"]``/``info["final_info"]``.
    ``"disabled"``: nothing resets by itself; an ended sub-env stays frozen (reward 0, ``terminated=True``)
    until ``reset(options={"reset_mask": mask})`` restarts the masked sub-envs (a partial reset).

    ``common_run=r`` gives every sub-env run ``r`` (identical initial weights and minibatches), so the
    sub-envs differ only in their LR schedules: common random numbers for comparing K schedulers.
    ``gym.make_vec("tunegym/LRSchedule-v0", num_envs=K, vectorization_mode="vector_entry_point")`` builds it.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 4, distribution: Distribution | None = None, config: LRScheduleConfig | None = None,
                 *, common_run: int | None = None, autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
                 **overrides: Any) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}", value=num_envs)
        names = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP, "disabled": AutoresetMode.DISABLED}
        mode = autoreset_mode if isinstance(autoreset_mode, AutoresetMode) else names.get(str(autoreset_mode).lower())
        if mode is None:
            mode = next((m for m in AutoresetMode if m.value == autoreset_mode), None)
        if mode is None:
            raise ConfigError(f"autoreset_mode must be one of {sorted(names)} (or an AutoresetMode), got {autoreset_mode!r}",
                              value=autoreset_mode)
        self.metadata = {"autoreset_mode": mode}
        self.autoreset_mode = mode
        self.num_envs = int(num_envs)
        self.common_run = common_run
        self.distribution = distribution if distribution is not None else tiny_distribution()
        self.config = _make_config(config, overrides)
        self.single_action_space = self.config.action_space()
        self.single_observation_space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._instance_rng = stream(None, "instances")
        self.current_instance: TrainingTask | None = None
        self.trainer: BatchedTrainer | None = None
        self.features: list[ScheduleFeatures] = []
        self._done = np.ones(self.num_envs, dtype=bool)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._decisions = np.zeros(self.num_envs, dtype=np.int64)
        self._next_run = self.num_envs

    def _run_ids(self, count: int) -> list[int]:
        if self.common_run is not None:
            return [int(self.common_run)] * count
        ids = list(range(self._next_run, self._next_run + count))
        self._next_run += count
        return ids

    def _restart(self, mask: np.ndarray) -> None:
        self.trainer.restart_runs(mask, self._run_ids(int(mask.sum())))
        for i in np.flatnonzero(mask):
            self.features[i] = ScheduleFeatures(total_steps=self.current_instance.step_budget)
        self._decisions[mask] = 0
        self._done[mask] = False
        self._autoreset[mask] = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._instance_rng = stream(seed, "instances")
        options = options or {}
        mask = options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != bool:
                raise ConfigError(f"reset_mask must be a bool array of shape ({self.num_envs},)", value=mask)
        if mask is not None and not mask.all() and self.trainer is not None:
            if options.get("instance") is not None:
                raise ConfigError("a partial reset restarts runs of the current task; options['instance'] needs a full reset",
                                  value=options["instance"])
            self._restart(mask)
            obs = np.stack([f.observation() for f in self.features])
            return obs, self._reset_info()
        instance = options.get("instance")
        if instance is not None and not isinstance(instance, TrainingTask):
            raise ConfigError(f"options['instance'] must be a TrainingTask, got {type(instance).__name__}", value=instance)
        self.current_instance = instance if instance is not None else self.distribution.sample(self._instance_rng)
        self._next_run = 0
        runs = self._run_ids(self.num_envs)
        self.trainer = BatchedTrainer(self.current_instance, self.num_envs, device=self.config.device, runs=runs)
        self.features = [ScheduleFeatures(total_steps=self.current_instance.step_budget) for _ in range(self.num_envs)]
        self._done = np.zeros(self.num_envs, dtype=bool)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._decisions = np.zeros(self.num_envs, dtype=np.int64)
        obs = np.stack([f.observation() for f in self.features])
        return obs, self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        ids = np.array([self.current_instance.instance_id] * self.num_envs, dtype=object)
        return {"instance_id": ids, "_instance_id": np.ones(self.num_envs, dtype=bool),
                "run": np.array(self.trainer.run_ids), "_run": np.ones(self.num_envs, dtype=bool)}

    def step(self, actions: Any):
        if self.trainer is None:
            raise ActionError("call reset() before step()")
        cfg, task, K = self.config, self.current_instance, self.num_envs
        actions = np.asarray(actions)
        if actions.shape[:1] != (K,):
            raise ActionError(f"expected {K} actions, got shape {actions.shape}", value=actions)
        resetting = self._autoreset.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(K, dtype=bool)
        if self.autoreset_mode == AutoresetMode.DISABLED and self._done.all():
            raise ActionError("every run has ended; call reset() (autoreset_mode='disabled')")
        playing = ~self._done & ~resetting
        log10_mult = np.zeros(K)
        for i in np.flatnonzero(playing):
            log10_mult[i] = cfg.to_log10_multiplier(actions[i])
        lrs = task.lr * 10.0**log10_mult
        # Each run's window: k steps or what is left of its budget; runs that are not playing hold still.
        remaining = np.array([task.step_budget - f.steps for f in self.features])
        window = np.where(playing, np.minimum(cfg.decision_interval, remaining), 0)
        n = int(window.max()) if window.size else 0
        window_losses, window_grads = np.full((n, K), np.nan), np.full((n, K), np.nan)
        was_active = ~self.trainer.diverged
        for s in range(n):
            window_losses[s], window_grads[s] = self.trainer.step(lrs, hold=window <= s)
        newly_diverged = self.trainer.diverged & was_active & playing
        for i in np.flatnonzero(playing):
            # Bookkeeping once per window, not per step: a frozen run's later losses are NaN and are skipped.
            self.features[i].record_many(window_losses[: window[i], i], window_grads[: window[i], i])
        self._decisions[playing] += 1
        finished = playing & np.array([f.steps >= task.step_budget for f in self.features])
        measure = playing & ~newly_diverged & (finished | (self._decisions % cfg.val_every == 0))
        val_loss = np.full(K, np.nan)
        val_acc = np.full(K, np.nan)
        if measure.any():
            all_loss, all_acc = self.trainer.evaluate()
            val_loss[measure], val_acc[measure] = all_loss[measure], all_acc[measure]
        rewards = np.zeros(K)
        obs = np.zeros((K, OBS_LOW.size), dtype=np.float32)
        train_loss = np.full(K, np.nan)
        for i, feats in enumerate(self.features):
            if playing[i]:
                feats.multiplier = 10.0 ** log10_mult[i]
                if measure[i] and np.isfinite(val_loss[i]):
                    feats.record_validation(val_loss[i])
                mean = feats.window_mean()
                train_loss[i] = mean if mean is not None else np.nan
                if newly_diverged[i]:
                    rewards[i] = -cfg.divergence_penalty
                else:
                    if cfg.reward == "shaped" and feats.previous_mean and mean:
                        rewards[i] += math.log(feats.previous_mean) - math.log(mean)
                    if finished[i]:
                        rewards[i] -= val_loss[i] if np.isfinite(val_loss[i]) else cfg.divergence_penalty
            obs[i] = feats.observation()
            if playing[i]:
                feats.close_window()
        ended = playing & (newly_diverged | finished)
        terminated = ended.copy()
        infos: dict[str, Any] = {
            "val_loss": val_loss, "_val_loss": measure.copy(),
            "val_accuracy": val_acc, "_val_accuracy": measure.copy(),
            "train_loss": train_loss, "_train_loss": playing.copy(),
            "lr": np.where(playing, lrs, np.nan), "_lr": playing.copy(),
            "diverged": self.trainer.diverged & ~resetting, "_diverged": np.ones(K, dtype=bool),
            "optimizer_steps": np.array([f.steps for f in self.features]), "_optimizer_steps": np.ones(K, dtype=bool),
            "instance_id": np.array([task.instance_id] * K, dtype=object), "_instance_id": np.ones(K, dtype=bool),
        }
        self._done = (self._done | ended) & ~resetting
        if self.autoreset_mode == AutoresetMode.DISABLED:
            terminated = self._done.copy()  # ended sub-envs stay ended until reset(options={"reset_mask": ...})
        if resetting.any():
            self._restart(resetting)
            for i in np.flatnonzero(resetting):
                obs[i] = self.features[i].observation()
            infos["diverged"][resetting] = False
            infos["optimizer_steps"][resetting] = 0
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = ended
        elif self.autoreset_mode == AutoresetMode.SAME_STEP and ended.any():
            infos["final_obs"] = np.where(ended[:, None], obs, 0.0).astype(np.float32)
            infos["_final_obs"] = ended.copy()
            infos["final_info"] = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in infos.items() if not k.startswith("final")}
            infos["_final_info"] = ended.copy()
            self._restart(ended)
            for i in np.flatnonzero(ended):
                obs[i] = self.features[i].observation()
        return obs, rewards, terminated, np.zeros(K, dtype=bool), infos


def make_lr_schedule(**kwargs: Any) -> LRScheduleEnv:
    """``tunegym/LRSchedule-v0``: discrete log-scale multipliers, sparse reward, tiny tasks by default."""
    return LRScheduleEnv(**kwargs)


def make_lr_schedule_continuous(**kwargs: Any) -> LRScheduleEnv:
    """``tunegym/LRScheduleContinuous-v0``: the log10 multiplier as a continuous action."""
    kwargs.setdefault("action", "continuous")
    return LRScheduleEnv(**kwargs)


def make_lr_schedule_vector(num_envs: int = 4, **kwargs: Any) -> LRScheduleVectorEnv:
    """Vector entry point of ``tunegym/LRSchedule-v0``: ``num_envs`` vmapped runs of one task (``gym.make_vec``)."""
    return LRScheduleVectorEnv(num_envs=num_envs, **kwargs)


def make_lr_schedule_continuous_vector(num_envs: int = 4, **kwargs: Any) -> LRScheduleVectorEnv:
    """Vector entry point of ``tunegym/LRScheduleContinuous-v0``."""
    kwargs.setdefault("action", "continuous")
    return LRScheduleVectorEnv(num_envs=num_envs, **kwargs)
