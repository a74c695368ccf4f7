"""Per-layer learning rates of one torch training run, one agent per layer group (PettingZoo).

Each agent holds the LR multiplier of one layer (``weight`` and ``bias`` of a ``Linear`` form a group, see
:func:`tunegym.envs.lr.trainer.layer_groups`); every ``decision_interval`` optimizer steps all agents
choose, and one optimizer step of :class:`~tunegym.envs.lr.trainer.SingleTrainer` (the trainer of
``tunegym/LRSchedule-v0``, given one LR per group) applies them. This module holds no training loop.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.core.instances import Distribution
from tunegym.envs.core.seeding import stream
from tunegym.envs.lr.features import ScheduleFeatures
from tunegym.envs.lr.tasks import LRTaskDistribution, TrainingTask
from tunegym.envs.lr.trainer import SingleTrainer

__all__ = ["GROUP_ARMS", "LRGroupsParallelEnv", "layered_mlp_distribution"]

# log10 multipliers of the task's base LR an agent can give its layer.
GROUP_ARMS = (-1.5, -1.0, -0.5, 0.0, 0.5)
# Per-agent observation: progress, log10 train loss, log loss change (shared); log10 own-layer gradient norm,
# own-layer share of the squared gradient norm, own log10 multiplier.
OBS_LOW = np.array([0.0, -6.0, -5.0, -8.0, 0.0, -4.0], dtype=np.float32)
OBS_HIGH = np.array([1.0, 3.0, 5.0, 4.0, 1.0, 2.0], dtype=np.float32)


def layered_mlp_distribution(depth: int = 2) -> LRTaskDistribution:
    """MLPs with ``depth`` hidden layers (``depth + 1`` layer groups) on blobs / digits, SGD or AdamW, 60–100 steps."""
    return LRTaskDistribution(
        families=(("mlp", ("blobs", "digits")),), widths=(16, 32), depths=(int(depth),), batch_sizes=(32,),
        optimizers=("sgd", "adamw"), step_budget=(60, 100), n_samples=512, label=f"layered-mlp-{depth}",
    )


class LRGroupsParallelEnv(ParallelEnv):
    """One agent per layer of an MLP sets that layer's LR multiplier; all share the run's progress.

    ## Description
    The multi-agent form of ``tunegym/LRSchedule-v0`` (issue 11): one training run of a
    :class:`~tunegym.envs.lr.tasks.TrainingTask` whose layers get separate LRs (layer-wise LR tuning, as
    LARS/LAMB or per-layer LR search do by hand). Cost unit: optimizer steps (fixed budget); objective:
    final validation loss.

    ## Agents
    ``layer_0 .. layer_{G-1}``, input layer first; ``G = depth + 1`` for the MLPs of
    :func:`layered_mlp_distribution`. Every task of the distribution must have ``G`` groups.

    ## Action Space (per agent)
    ``Discrete(len(arms))``: arm ``i`` sets that layer's ``lr = base_lr * 10**arms[i]`` for the next
    ``decision_interval`` steps (default arms ``GROUP_ARMS`` = 10^-1.5 .. 10^0.5). A missing agent or an
    invalid arm raises ``ActionError``.

    ## Observation Space (per agent)
    ``Box(6)``: progress, log10 train loss and log loss change over the last window (shared by all agents);
    the agent's own layer: log10 mean gradient norm, share of the squared gradient norm, current log10
    multiplier. Clipped into the box.

    ## Rewards
    Cooperative, equal for every agent: ``ln(mean train loss of the previous window) - ln(mean of this
    window)`` each decision, ``- final validation loss`` at the end; ``-divergence_penalty`` when the loss
    turns NaN/inf or exceeds 10x its first value (the episode then terminates).

    ## Starting State
    ``reset(seed=s)`` restarts the task stream ``stream(s, "instances")``; ``options={"instance": task}``
    trains that task. Same seed and actions give the same trajectory on CPU.

    ## Episode End
    Terminated for every agent when the step budget is used up or the run diverges.

    ## Version History
    - v0: initial release.
    """

    metadata = {"name": "tunegym/LRGroups-v0", "render_modes": []}

    def __init__(self, distribution: Distribution | None = None, *, depth: int = 2, arms: tuple[float, ...] = GROUP_ARMS,
                 decision_interval: int = 10, divergence_penalty: float = 10.0, device: str = "cpu") -> None:
        if distribution is None:
            if depth < 1:
                raise ConfigError(f"depth must be >= 1, got {depth}", value=depth)
            distribution = layered_mlp_distribution(depth)
        if decision_interval < 1:
            raise ConfigError(f"decision_interval must be >= 1, got {decision_interval}", value=decision_interval)
        if not arms or not all(np.isfinite(a) for a in arms):
            raise ConfigError(f"arms must be finite log10 multipliers, got {arms}", value=arms)
        self.distribution = distribution
        self.arms = tuple(float(a) for a in arms)
        self.decision_interval = int(decision_interval)
        self.divergence_penalty = float(divergence_penalty)
        self.device = device
        probe = SingleTrainer(distribution.sample(np.random.default_rng(0)), device="cpu")
        self.n_groups = probe.n_groups
        self.possible_agents = [f"layer_{g}" for g in range(self.n_groups)]
        self.agents: list[str] = []
        self._stream = stream(None, "instances")
        self.current_instance: TrainingTask | None = None
        self.trainer: SingleTrainer | None = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(len(self.arms))

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._stream = stream(seed, "instances")
        instance = (options or {}).get("instance")
        if instance is not None and not isinstance(instance, TrainingTask):
            raise ConfigError(f"options['instance'] must be a TrainingTask, got {type(instance).__name__}", value=instance)
        task = instance if instance is not None else self.distribution.sample(self._stream)
        trainer = SingleTrainer(task, device=self.device)
        if trainer.n_groups != self.n_groups:
            raise ConfigError(f"task has {trainer.n_groups} layer groups, this env has {self.n_groups} agents", value=task)
        self.current_instance, self.trainer = task, trainer
        self.features = ScheduleFeatures(total_steps=task.step_budget)
        self.log10_multipliers = np.zeros(self.n_groups)
        self._group_grads: list[np.ndarray] = []
        self.agents = list(self.possible_agents)
        infos = {a: {"instance_id": task.instance_id} for a in self.agents}
        return self._observations(), infos

    def step(self, actions: dict[str, Any]):
        if not self.agents or self.trainer is None:
            raise ActionError("call reset() before step() (the episode has ended)")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ActionError(f"actions missing for agents {missing}", value=missing)
        log10 = np.empty(self.n_groups)
        for g, agent in enumerate(self.possible_agents):
            arm = np.asarray(actions[agent]).reshape(-1)
            if arm.size != 1 or not np.isfinite(arm[0]) or float(arm[0]) != int(arm[0]) or not 0 <= int(arm[0]) < len(self.arms):
                raise ActionError(f"{agent}: action must be an arm index in [0, {len(self.arms)}), got {actions[agent]!r}",
                                  value=actions[agent])
            log10[g] = self.arms[int(arm[0])]
        task, feats = self.current_instance, self.features
        self.log10_multipliers = log10
        lrs = task.lr * 10.0**log10
        self._group_grads = []
        diverged = False
        for _ in range(min(self.decision_interval, task.step_budget - feats.steps)):
            loss, grad_norm = self.trainer.step(lrs)
            feats.record(loss, grad_norm)
            if self.trainer.diverged:
                diverged = True
                break
            self._group_grads.append(self.trainer.group_grad_norms.copy())
        finished = diverged or feats.steps >= task.step_budget
        mean = feats.window_mean()
        val_loss = val_acc = None
        if diverged:
            reward = -self.divergence_penalty
        else:
            reward = math.log(feats.previous_mean) - math.log(mean) if (feats.previous_mean and mean) else 0.0
            if finished:
                v_loss, v_acc = self.trainer.evaluate()
                val_loss = float(v_loss) if np.isfinite(v_loss) else None
                val_acc = float(v_acc) if np.isfinite(v_acc) else None
                reward -= val_loss if val_loss is not None else self.divergence_penalty
        observations = self._observations()
        feats.close_window()
        info = {"instance_id": task.instance_id, "optimizer_steps": feats.steps, "log10_multipliers": log10.tolist(),
                "val_loss": val_loss, "val_accuracy": val_acc, "diverged": diverged}
        rewards = {a: float(reward) for a in self.agents}
        terminations = {a: bool(finished) for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos = {a: dict(info) for a in self.agents}
        if finished:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, np.ndarray]:
        shared = self.features.observation()
        progress, log10_loss, change = shared[0], shared[1], shared[3]
        grads = np.mean(self._group_grads, axis=0) if self._group_grads else np.ones(self.n_groups)
        share = grads**2 / max(float(np.sum(grads**2)), 1e-24)
        out = {}
        for g, agent in enumerate(self.possible_agents):
            obs = np.array([progress, log10_loss, change, np.log10(max(grads[g], 1e-12)), share[g], self.log10_multipliers[g]],
                           dtype=np.float32)
            out[agent] = np.clip(np.nan_to_num(obs, nan=0.0), OBS_LOW, OBS_HIGH)
        return out
