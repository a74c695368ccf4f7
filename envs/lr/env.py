"""Gymnasium environments that set the learning rate of real torch training runs every k optimizer steps.

Both the single env (:class:`LRScheduleEnv`, a :class:`~tunegym.envs.core.env.ProcessEnv`) and the native
vector env (:class:`LRScheduleVectorEnv`) drive :class:`~tunegym.envs.lr.process.LRTraining`: a batch of one
run, or of ``num_envs`` runs with per-run autoreset. Knob, features and rewards are the same objects in both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tunegym.envs.core.env import ProcessEnv
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import Distribution
from tunegym.envs.core.knob import ArmKnob, BoxKnob, Knob
from tunegym.envs.core.process import StepRecord
from tunegym.envs.core.rewards import make_reward
from tunegym.envs.core.instance_stream import InstanceStream
from tunegym.envs.lr.features import ScheduleFeatures
from tunegym.envs.lr.process import LRTraining
from tunegym.envs.lr.tasks import TrainingTask, tiny_distribution

__all__ = [
    "DEFAULT_LOG10_ARMS",
    "KNOB_NAME",
    "LRScheduleConfig",
    "LRScheduleEnv",
    "LRScheduleVectorEnv",
    "REWARD_NAMES",
    "make_lr_schedule",
    "make_lr_schedule_continuous",
    "make_lr_schedule_vector",
    "make_lr_schedule_continuous_vector",
]

# Discrete arms: LR = base LR x 10**arm, half a decade apart from 1/1000 to 10 times the base LR.
DEFAULT_LOG10_ARMS = tuple(float(a) for a in np.linspace(-3.0, 1.0, 9))
KNOB_NAME = "log10_lr_multiplier"
#: the env's ``reward`` argument -> the registered reward (:mod:`tunegym.envs.lr.process`)
REWARD_NAMES = {"sparse": "lr.final_val_loss", "shaped": "lr.improvement"}


@dataclass(frozen=True)
class LRScheduleConfig:
    """Everything that defines an LRSchedule env besides its task distribution."""

    decision_interval: int = 5  # optimizer steps per action (k)
    action: str = "discrete"  # "discrete" | "continuous"
    log10_arms: tuple[float, ...] = DEFAULT_LOG10_ARMS
    log10_low: float = -3.0  # continuous action bounds (log10 of the multiplier)
    log10_high: float = 1.0
    reward: str = "sparse"  # "sparse": -final val loss; "shaped": per-window ln-improvement of train loss (or a registered name)
    divergence_penalty: float = 10.0
    val_every: int = 4  # decisions between validation measurements (and always at the end)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.decision_interval < 1:
            raise ConfigError(f"decision_interval must be >= 1, got {self.decision_interval}", value=self.decision_interval)
        if self.action not in ("discrete", "continuous"):
            raise ConfigError(f"action must be 'discrete' or 'continuous', got {self.action!r}", value=self.action)
        if self.reward not in REWARD_NAMES and self.reward not in REWARD_NAMES.values():
            raise ConfigError(f"reward must be one of {sorted(REWARD_NAMES)} (or {sorted(REWARD_NAMES.values())}), "
                              f"got {self.reward!r}", value=self.reward)
        if not self.log10_low < self.log10_high:
            raise ConfigError("log10_low must be below log10_high", value=(self.log10_low, self.log10_high))
        if self.val_every < 1:
            raise ConfigError(f"val_every must be >= 1, got {self.val_every}", value=self.val_every)
        if not (np.isfinite(self.divergence_penalty) and self.divergence_penalty >= 0):
            raise ConfigError(f"divergence_penalty must be >= 0, got {self.divergence_penalty}", value=self.divergence_penalty)

    def knob(self) -> Knob:
        """The log10 LR multiplier: an arm per ``log10_arms`` entry, or ``[log10_low, log10_high]`` as ``Box(-1, 1)``."""
        if self.action == "discrete":
            return ArmKnob(KNOB_NAME, self.log10_arms)
        return BoxKnob(KNOB_NAME, self.log10_low, self.log10_high)

    @property
    def reward_name(self) -> str:
        return REWARD_NAMES.get(self.reward, self.reward)

    @property
    def reward_params(self) -> dict[str, float]:
        return {"divergence_penalty": float(self.divergence_penalty)}

    def process(self, n_runs: int = 1) -> LRTraining:
        return LRTraining(n_runs=n_runs, decision_interval=self.decision_interval, val_every=self.val_every,
                          device=self.device)


def _make_config(config: LRScheduleConfig | None, overrides: dict[str, Any]) -> LRScheduleConfig:
    base = config or LRScheduleConfig()
    unknown = sorted(set(overrides) - {f.name for f in fields(LRScheduleConfig)})
    if unknown:
        raise ConfigError(f"unknown LRSchedule arguments {unknown}; known: {[f.name for f in fields(LRScheduleConfig)]}",
                          value=unknown)
    if "log10_arms" in overrides:
        overrides = {**overrides, "log10_arms": tuple(float(a) for a in overrides["log10_arms"])}
    return replace(base, **overrides) if overrides else base


class LRScheduleEnv(ProcessEnv):
    """Set the learning rate of one torch training run every ``k`` optimizer steps.

    ## Description
    Dynamic learning-rate control as in DACBench's SGD benchmark (Adriaensen et al., JAIR 2022,
    arXiv 2205.13881) and "Learning Step-Size Adaptation in CMA-ES"/"Learning to optimize" lines of work:
    each episode is one real training run of a :class:`~tunegym.envs.lr.tasks.TrainingTask` (an MLP, a
    small CNN on 8x8 digits or a character model on generated sequences; SGD with momentum or AdamW) with
    a fixed step budget. Every ``decision_interval`` optimizer steps the agent sets the LR as a
    log-scale multiple of the task's base LR. The cost unit is optimizer steps (the budget is fixed); the
    quantity to minimise is the final validation loss. The process is
    :class:`~tunegym.envs.lr.process.LRTraining` with a batch of one run (the vector env's process at batch K).

    ## Action Space
    The knob ``log10_lr_multiplier``: ``lr = base_lr * 10**value``. ``action="discrete"``:
    ``Discrete(len(log10_arms))``, arm ``i`` is ``value = log10_arms[i]`` (default 9 arms from -3 to 1).
    ``action="continuous"``: the normalised ``Box(-1, 1, (1,))`` mapped linearly onto ``[log10_low, log10_high]``
    (values outside are clipped; ``info["knob"]`` is the value applied). NaN or an out-of-range arm raises
    ``ActionError``.

    ## Observation Space
    ``Box(OBS_LOW, OBS_HIGH, (9,))`` with ``FEATURE_NAMES`` (:mod:`tunegym.envs.lr.features`, the registered
    features ``"lr.schedule"``): progress, train-loss mean / relative std / log-change over the last window,
    gradient-norm mean / relative std, current log10 multiplier, last validation loss and its age. Values are
    clipped into the bounds.

    ## Rewards
    Registered rewards of the step record (:mod:`tunegym.envs.lr.process`). ``reward="sparse"`` (default,
    ``"lr.final_val_loss"``): 0 until the run ends, then ``-final validation loss``. ``reward="shaped"``
    (``"lr.improvement"``): each decision earns ``ln(mean train loss of the previous window) - ln(mean of this
    window)`` (the sum telescopes to the log-improvement of the train loss), and the final decision also earns
    ``-final validation loss``. A run whose loss becomes NaN/inf or exceeds 10x its first loss has *diverged*:
    it stops at that step, the episode terminates with reward ``-divergence_penalty`` and ``info["diverged"]``.

    ## Info
    The core contract: ``cost`` (optimizer steps of this decision window), ``cost_unit="optimizer_steps"``,
    ``knob`` (log10 multiplier applied), ``instance_id``, ``quality`` (the validation loss where it was
    measured, ``quality_name="val_loss"``; otherwise the window's mean train loss, ``quality_name="train_loss"``),
    ``status`` (``ok``/``finished``/``diverged``). Also ``lr``, ``log10_multiplier``, ``optimizer_steps`` (so
    far), ``train_loss``, ``previous_train_loss``, ``grad_norm`` (window means), ``window_train_losses``,
    ``window_grad_norms``, ``group_grad_norms``, ``val_loss`` and ``val_accuracy`` (``None`` unless measured this
    step), ``diverged``, ``run``. Unknown values are ``None``, never NaN; no wall time.

    ## Starting State
    ``reset(seed=s)`` restarts the task stream ``stream(s, "instances")``; ``reset(options={"instance": task})``
    trains exactly that ``TrainingTask``. Data split, initial weights and minibatch order come from the task's
    ``data_seed`` and ``init_seed`` (run 0), so a replayed task gives the same trajectory for the same actions
    whatever the reset seed (on CPU, at the same torch thread count: a matrix product's last bits depend on how
    many threads share it, so ``gym.make`` on machines with other core counts can differ in the last bits; pin
    ``torch.set_num_threads(1)``, as ``tunegym train`` does by default, to compare across machines). The LR starts
    at the base LR (multiplier 1). ``env.unwrapped.instance`` is the task.

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
      Built on the shared process core (2026-12): the continuous action is the normalised ``Box(-1, 1)``
      over the log10 multiplier, the info carries the cost contract, rewards are the registered
      ``lr.final_val_loss``/``lr.improvement``, and stepping after the end raises ``ConfigError``.
      Tasks at the user's LR (issue #19, 2026-12): a task may carry a ``base_lr`` drawn over three decades, label
      noise, and regression data (``diabetes``, ``teacher``, ``friedman``: MSE loss, ``val_accuracy`` is ``None``);
      the default distributions and their tasks (and ids) are unchanged.
    """

    domain = "lr"
    default_knob_value = 0.0  # the task's base LR

    def __init__(self, distribution: Distribution | None = None, config: LRScheduleConfig | None = None,
                 **overrides: Any) -> None:
        self.config = _make_config(config, overrides)
        cfg = self.config
        super().__init__(cfg.process(1), distribution if distribution is not None else tiny_distribution(), cfg.knob(),
                         ScheduleFeatures(), reward=cfg.reward_name, reward_params=cfg.reward_params,
                         instance_type=TrainingTask)


#: the info keys a vector step batches (beyond the contract's), from each run's record
_VECTOR_KEYS = ("lr", "log10_multiplier", "train_loss", "grad_norm", "val_loss", "val_accuracy")
_CONTRACT_KEYS = ("cost", "cost_unit", "knob", "instance_id", "quality", "quality_name", "status")


def _batched(values: list[Any], numeric: bool) -> np.ndarray:
    if numeric:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class LRScheduleVectorEnv(VectorEnv):
    """``num_envs`` runs of one task trained together in a vmapped batch, each with its own LR.

    Sub-env ``i`` is run ``i`` of the process :class:`~tunegym.envs.lr.process.LRTraining` at batch
    ``num_envs`` (the single env's process at batch 1): its own initial weights and minibatch order; knob,
    features (one ``"lr.schedule"`` per run) and rewards are those of :class:`LRScheduleEnv`, batched. Infos are
    Gymnasium vector infos (arrays of length ``num_envs`` with ``_key`` masks): the core contract per run
    (``cost``, ``cost_unit``, ``knob``, ``instance_id``, ``quality``, ``quality_name``, ``status``), and
    ``lr``, ``log10_multiplier``, ``train_loss``, ``grad_norm``, ``val_loss``, ``val_accuracy`` (NaN where not
    measured), ``diverged``, ``optimizer_steps`` and ``run`` (the run id) for every sub-env.

    ## Resets
    ``reset()`` (no mask) draws a new task (or ``options={"instance": task}``) through the env's
    :class:`~tunegym.envs.core.instance_stream.InstanceStream` and starts every run; one vmapped batch holds one
    architecture, so all sub-envs share the task. A sub-env whose run ends (step budget used, or diverged)
    restarts *alone* on the same task as a fresh run (the next unused run id: new weights and minibatches;
    with ``common_run`` the same run again) while the others go on; each sub-env keeps its own step count, so
    after a partial reset the runs are at different points.

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
    domain = "lr"
    default_knob_value = 0.0

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
        self.knob = self.config.knob()
        self.process = self.config.process(self.num_envs)
        self.instances = InstanceStream(self.distribution, TrainingTask)
        self.reward_name, self.reward_params = self.config.reward_name, self.config.reward_params
        self.reward_fn = make_reward(self.reward_name, self.reward_params)
        self.features = [ScheduleFeatures() for _ in range(self.num_envs)]
        self.single_action_space = self.knob.space
        self.single_observation_space = self.features[0].space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._done = np.ones(self.num_envs, dtype=bool)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._next_run = self.num_envs

    @property
    def instance(self) -> TrainingTask | None:
        """The task every run trains."""
        return self.process.instance

    def _run_ids(self, count: int) -> list[int]:
        if self.common_run is not None:
            return [int(self.common_run)] * count
        ids = list(range(self._next_run, self._next_run + count))
        self._next_run += count
        return ids

    def _restart(self, mask: np.ndarray) -> None:
        self.process.restart(mask, self._run_ids(int(mask.sum())))
        for i in np.flatnonzero(mask):
            self.features[i].reset(self.process)
        self._done[mask] = False
        self._autoreset[mask] = False

    def _observations(self) -> np.ndarray:
        return np.stack([f.observation(self.process) for f in self.features])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        mask = options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != bool:
                raise ConfigError(f"reset_mask must be a bool array of shape ({self.num_envs},)", value=mask)
        if mask is not None and not mask.all() and self.process.instance is not None:
            if options.get("instance") is not None:
                raise ConfigError("a partial reset restarts runs of the current task; options['instance'] needs a full reset",
                                  value=options["instance"])
            self._restart(mask)
            return self._observations(), self._reset_info()
        instance = self.instances.reset(seed, options, self.np_random)
        self._next_run = 0
        self.process.start(instance, runs=self._run_ids(self.num_envs))
        for f in self.features:
            f.reset(self.process)
        self._done[:] = False
        self._autoreset[:] = False
        return self._observations(), self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        ones = np.ones(self.num_envs, dtype=bool)
        ids = np.array([self.process.instance.instance_id] * self.num_envs, dtype=object)
        return {"instance_id": ids, "_instance_id": ones, "run": np.array(self.process.trainer.run_ids), "_run": ones.copy()}

    def _infos(self, records: list[StepRecord | None], playing: np.ndarray) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        per_run = [None if r is None else r.info() for r in records]
        for key in _CONTRACT_KEYS + _VECTOR_KEYS:
            values = [None if info is None else info.get(key) for info in per_run]
            numeric = key not in ("cost_unit", "instance_id", "quality_name", "status")
            if key == "cost":
                values = [0.0 if v is None else v for v in values]
            infos[key] = _batched(values, numeric)
            infos[f"_{key}"] = playing.copy()
        infos["instance_id"] = np.array([self.process.instance.instance_id] * self.num_envs, dtype=object)
        infos["_instance_id"] = np.ones(self.num_envs, dtype=bool)
        return infos

    def step(self, actions: Any):
        if self.process.instance is None:
            raise ActionError("call reset() before step()")
        k_runs = self.num_envs
        actions = np.asarray(actions)
        if actions.shape[:1] != (k_runs,):
            raise ActionError(f"expected {k_runs} actions, got shape {actions.shape}", value=actions)
        resetting = self._autoreset.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(k_runs, dtype=bool)
        if self.autoreset_mode == AutoresetMode.DISABLED and self._done.all():
            raise ActionError("every run has ended; call reset() (autoreset_mode='disabled')")
        playing = ~self._done & ~resetting
        values = [self.knob.decode(actions[i]) if playing[i] else 0.0 for i in range(k_runs)]
        records = self.process.advance_batch(values, playing) if playing.any() else [None] * k_runs
        rewards = np.zeros(k_runs)
        ended = np.zeros(k_runs, dtype=bool)
        for i in np.flatnonzero(playing):
            record = records[i]
            self.features[i].record(self.process, record)
            rewards[i] = float(self.reward_fn(record))
            ended[i] = record.terminated
        obs = self._observations()
        terminated = ended.copy()
        infos = self._infos(records, playing)
        self._done = (self._done | ended) & ~resetting
        if self.autoreset_mode == AutoresetMode.DISABLED:
            terminated = self._done.copy()  # ended sub-envs stay ended until reset(options={"reset_mask": ...})
        if resetting.any():
            self._restart(resetting)
            obs = self._observations()
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = ended
        self._add_run_state(infos, resetting)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and ended.any():
            infos["final_obs"] = np.where(ended[:, None], obs, 0.0).astype(np.float32)
            infos["_final_obs"] = ended.copy()
            infos["final_info"] = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in infos.items() if not k.startswith("final")}
            infos["_final_info"] = ended.copy()
            self._restart(ended)
            obs = self._observations()
        return obs, rewards, terminated, np.zeros(k_runs, dtype=bool), infos

    def _add_run_state(self, infos: dict[str, Any], resetting: np.ndarray) -> None:
        ones = np.ones(self.num_envs, dtype=bool)
        trainer = self.process.trainer
        infos["diverged"], infos["_diverged"] = trainer.diverged & ~resetting, ones
        infos["optimizer_steps"], infos["_optimizer_steps"] = self.process.run_steps, ones.copy()
        infos["run"], infos["_run"] = np.array(trainer.run_ids), ones.copy()

    def close(self, **kwargs: Any) -> None:
        self.process.close()
        super().close(**kwargs)


def make_lr_schedule(**kwargs: Any) -> LRScheduleEnv:
    """``tunegym/LRSchedule-v0``: discrete log-scale multipliers, sparse reward, tiny tasks by default."""
    return LRScheduleEnv(**kwargs)


def make_lr_schedule_continuous(**kwargs: Any) -> LRScheduleEnv:
    """``tunegym/LRScheduleContinuous-v0``: the log10 multiplier as a continuous (normalised) action."""
    kwargs.setdefault("action", "continuous")
    return LRScheduleEnv(**kwargs)


def make_lr_schedule_vector(num_envs: int = 4, **kwargs: Any) -> LRScheduleVectorEnv:
    """Vector entry point of ``tunegym/LRSchedule-v0``: ``num_envs`` vmapped runs of one task (``gym.make_vec``)."""
    return LRScheduleVectorEnv(num_envs=num_envs, **kwargs)


def make_lr_schedule_continuous_vector(num_envs: int = 4, **kwargs: Any) -> LRScheduleVectorEnv:
    """Vector entry point of ``tunegym/LRScheduleContinuous-v0``."""
    kwargs.setdefault("action", "continuous")
    return LRScheduleVectorEnv(num_envs=num_envs, **kwargs)
