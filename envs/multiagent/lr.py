"""Per-layer learning rates of one torch training run, one agent per layer group (PettingZoo).

Each agent holds the LR multiplier of one layer (``weight`` and ``bias`` of a ``Linear`` form a group, see
:func:`tunegym.envs.lr.trainer.layer_groups`); every ``decision_interval`` optimizer steps all agents
choose, and the process of ``tunegym/LRSchedule-v0`` (:class:`~tunegym.envs.lr.process.LRTraining`, a batch
of one run, given one LR per group) trains the window. This module is a view: no training loop, no reward
or feature arithmetic of its own beyond splitting the shared observation per layer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.core.features import Features, register_features
from tunegym.envs.core.instances import Distribution
from tunegym.envs.core.knob import ArmKnob, CompositeKnob
from tunegym.envs.core.process import Process, StepRecord
from tunegym.envs.core.rewards import make_reward
from tunegym.envs.core.instance_stream import InstanceStream
from tunegym.envs.lr.features import ScheduleFeatures
from tunegym.envs.lr.process import LRTraining
from tunegym.envs.lr.tasks import LRTaskDistribution, TrainingTask, build_model, load_task_data
from tunegym.envs.lr.trainer import layer_groups
from tunegym.envs.multiagent.common import broadcast_step, check_actions, check_seed

__all__ = ["GROUP_ARMS", "GroupFeatures", "LRGroupsParallelEnv", "layered_mlp_distribution"]

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


class GroupFeatures(Features):
    """Per-layer observations (``[n_groups, 6]``): the shared progress, log10 train loss and log loss change of
    :class:`~tunegym.envs.lr.features.ScheduleFeatures`, then the layer's own log10 mean gradient norm over the
    window, its share of the squared gradient norm and its log10 multiplier (registered ``"lr.groups"``)."""

    name = "lr.groups"

    def __init__(self, n_groups: int) -> None:
        self.n_groups = int(n_groups)
        self.space = spaces.Box(np.tile(OBS_LOW, (self.n_groups, 1)), np.tile(OBS_HIGH, (self.n_groups, 1)),
                                dtype=np.float32)
        self.shared = ScheduleFeatures()
        self._reset_groups()

    def _reset_groups(self) -> None:
        self.group_grads = np.ones(self.n_groups)
        self.log10_multipliers = np.zeros(self.n_groups)

    def params(self) -> dict[str, Any]:
        return {"n_groups": self.n_groups}

    def reset(self, process: Process) -> None:
        self.shared.reset(process)
        self._reset_groups()

    def record(self, process: Process | None, record: StepRecord) -> None:
        self.shared.record(process, record)
        norms = record.extra.get("group_grad_norms") or []
        self.group_grads = np.array([1.0 if v is None else float(v) for v in norms]) if len(norms) == self.n_groups \
            else np.ones(self.n_groups)
        self.log10_multipliers = np.broadcast_to(np.asarray(record.knob, dtype=np.float64), (self.n_groups,)).copy()

    def observe(self, process: Process | None = None) -> np.ndarray:
        shared = self.shared.observation(process)
        grads = self.group_grads
        share = grads**2 / max(float(np.sum(grads**2)), 1e-24)
        return np.stack([np.array([shared[0], shared[1], shared[3], np.log10(max(grads[g], 1e-12)), share[g],
                                   self.log10_multipliers[g]]) for g in range(self.n_groups)])


register_features(GroupFeatures.name, "tunegym.envs.multiagent.lr:GroupFeatures")


class LRGroupsParallelEnv(ParallelEnv):
    """One agent per layer of an MLP sets that layer's LR multiplier; all share the run's progress.

    ## Description
    The multi-agent form of ``tunegym/LRSchedule-v0`` (issue 11): one training run of a
    :class:`~tunegym.envs.lr.tasks.TrainingTask` whose layers get separate LRs (layer-wise LR tuning, as
    LARS/LAMB or per-layer LR search do by hand). A view over the same process,
    :class:`~tunegym.envs.lr.process.LRTraining` (a batch of one run, one LR per layer group). Cost unit:
    optimizer steps (fixed budget); objective: final validation loss.

    ## Agents
    ``layer_0 .. layer_{G-1}``, input layer first; ``G = depth + 1`` for the MLPs of
    :func:`layered_mlp_distribution`. Every task of the distribution must have ``G`` groups.

    ## Action Space (per agent)
    ``Discrete(len(arms))``, the part ``layer_g`` of the composite knob ``layer_lr``
    (:class:`~tunegym.envs.core.knob.CompositeKnob`): arm ``i`` sets that layer's ``lr = base_lr * 10**arms[i]``
    for the next ``decision_interval`` steps (default arms ``GROUP_ARMS`` = 10^-1.5 .. 10^0.5).
    A missing or unknown agent or an invalid arm raises ``ActionError``.

    ## Observation Space (per agent)
    ``Box(6)`` (row ``g`` of the registered features ``"lr.groups"``): progress, log10 train loss and log loss
    change over the last window (shared by all agents); the agent's own layer: log10 mean gradient norm, share
    of the squared gradient norm, current log10 multiplier. Clipped into the box.

    ## Rewards
    Cooperative, equal for every agent: the registered ``lr.improvement`` of the step record, i.e.
    ``ln(mean train loss of the previous window) - ln(mean of this window)`` each decision, ``- final validation
    loss`` at the end; ``-divergence_penalty`` when the loss turns NaN/inf or exceeds 10x its first value (the
    episode then terminates).

    ## Info (per agent, the same for all)
    The core contract of the step record (``cost`` in ``optimizer_steps``, ``knob`` = the list of per-layer log10
    multipliers, ``instance_id``, ``quality``: the validation loss at the end, else the window's mean train
    loss, named by ``quality_name``), ``optimizer_steps``, ``log10_multipliers``, ``val_loss``,
    ``val_accuracy``, ``diverged`` and the other figures of ``LRSchedule-v0``'s info.

    ## Starting State
    ``reset(seed=s)`` restarts the task stream ``stream(s, "instances")``; ``options={"instance": task}``
    trains that task (replays it exactly whatever the seed: all randomness is the task's). Same seed and actions
    give the same trajectory on CPU at the same torch thread count (``torch.set_num_threads``; see
    ``LRSchedule-v0``).

    ## Episode End
    Terminated for every agent when the step budget is used up or the run diverges.

    ## Version History
    - v0: initial release. Before any release (2026-12): a view over ``LRSchedule-v0``'s process (the vmapped
      batch trainer at batch one) with the core knob, features, rewards and info contract; a diverged run stops
      at the diverging step.
    """

    metadata = {"name": "tunegym/LRGroups-v0", "render_modes": []}
    domain = "lr"

    def __init__(self, distribution: Distribution | None = None, *, depth: int = 2, arms: tuple[float, ...] = GROUP_ARMS,
                 decision_interval: int = 10, divergence_penalty: float = 10.0, device: str = "cpu") -> None:
        if distribution is None:
            if depth < 1:
                raise ConfigError(f"depth must be >= 1, got {depth}", value=depth)
            distribution = layered_mlp_distribution(depth)
        if not arms or not all(np.isfinite(a) for a in arms):
            raise ConfigError(f"arms must be finite log10 multipliers, got {arms}", value=arms)
        self.distribution = distribution
        self.arms = tuple(float(a) for a in arms)
        self.process = LRTraining(n_runs=1, decision_interval=decision_interval, val_every=None, device=device)
        self.instances = InstanceStream(distribution, TrainingTask)
        self.reward_fn = make_reward("lr.improvement", {"divergence_penalty": float(divergence_penalty)})
        self.n_groups = self._groups_of(distribution.sample(np.random.default_rng(0)))
        self.possible_agents = [f"layer_{g}" for g in range(self.n_groups)]
        self.knob = CompositeKnob("layer_lr", [ArmKnob(agent, self.arms) for agent in self.possible_agents])
        self.features = GroupFeatures(self.n_groups)
        self.agents: list[str] = []
        self._np_random = np.random.default_rng()

    @staticmethod
    def _groups_of(task: TrainingTask) -> int:
        return len(layer_groups(build_model(task, load_task_data(task)))[0])

    @property
    def instance(self) -> TrainingTask | None:
        return self.process.instance

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return self.knob.part(agent).space

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        seed = check_seed(seed)
        if seed is not None:
            self._np_random = np.random.default_rng(seed)
        task = self.instances.reset(seed, options, self._np_random)
        if self._groups_of(task) != self.n_groups:
            raise ConfigError(f"task has {self._groups_of(task)} layer groups, this env has {self.n_groups} agents", value=task)
        self.process.start(task)
        self.features.reset(self.process)
        self.agents = list(self.possible_agents)
        infos = {a: {"instance_id": task.instance_id} for a in self.agents}
        return self._observations(), infos

    def step(self, actions: dict[str, Any]):
        check_actions(self.agents, self.possible_agents, actions)
        values = self.knob.decode(self.knob.join([actions[a] for a in self.possible_agents]))
        record = self.process.advance([values[a] for a in self.possible_agents])
        self.features.record(self.process, record)
        reward = float(self.reward_fn(record))
        info = {**record.info(), "log10_multipliers": list(record.knob)}
        observations, rewards, terminations, truncations, infos = broadcast_step(
            self.agents, self._observations(), reward, record.terminated, False, info)
        if record.terminated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, np.ndarray]:
        rows = self.features.observation(self.process)
        return {agent: rows[g] for g, agent in enumerate(self.possible_agents)}

    def close(self) -> None:
        self.process.close()
