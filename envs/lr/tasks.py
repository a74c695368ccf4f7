"""Training tasks (model family and size, dataset, batch size, optimizer, step budget) and their distributions.

A :class:`TrainingTask` is frozen and carries a content id; its data is generated from ``data_seed`` (or
taken from a small UCI dataset shipped in ``envs/lr/data/``) so nothing is downloaded. This module builds data and
modules; it does not train (that is :mod:`tunegym.envs.lr.trainer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunegym.envs.core.errors import ConfigError, InstanceError
from tunegym.envs.core.instances import Distribution, Instance, content_id

__all__ = [
    "DATASETS",
    "FAMILIES",
    "LRTaskDistribution",
    "TaskData",
    "TrainingTask",
    "build_model",
    "load_task_data",
    "standard_distribution",
    "tiny_distribution",
    "unseen_distribution",
]

FAMILIES = ("mlp", "cnn", "char")
DATASETS = ("blobs", "digits", "wine", "breast_cancer", "charseq")
OPTIMIZERS = ("sgd", "adamw")
# The dataset each family can read: the CNN needs 8x8 images, the char model token windows.
_FAMILY_DATASETS = {
    "mlp": ("blobs", "digits", "wine", "breast_cancer"),
    "cnn": ("digits",),
    "char": ("charseq",),
}
# A typical good LR per optimizer; actions are multipliers of it.
DEFAULT_BASE_LR = {"sgd": 0.1, "adamw": 3e-3}
CHAR_VOCAB = 8
CHAR_CONTEXT = 6


@dataclass(frozen=True)
class TrainingTask(Instance):
    """One training run to schedule: model, data, batch size, optimizer and step budget.

    ``width`` is the hidden width (MLP, char model) or the channel count (CNN); ``depth`` the number of
    hidden layers of the MLP. ``data_seed`` draws generated data and the train/validation split;
    ``init_seed`` the initial weights and the minibatch order of run 0 (run ``r`` of a batch adds ``r``).
    """

    family: str
    dataset: str
    width: int = 32
    depth: int = 1
    batch_size: int = 32
    optimizer: str = "sgd"
    step_budget: int = 200
    base_lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    n_samples: int = 512
    data_seed: int = 0
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InstanceError(f"family must be one of {FAMILIES}, got {self.family!r}", value=self.family)
        if self.dataset not in _FAMILY_DATASETS[self.family]:
            raise InstanceError(
                f"family {self.family!r} reads {_FAMILY_DATASETS[self.family]}, got dataset {self.dataset!r}",
                value=self.dataset,
            )
        if self.optimizer not in OPTIMIZERS:
            raise InstanceError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}", value=self.optimizer)
        for name in ("width", "depth", "batch_size", "step_budget", "n_samples"):
            if int(getattr(self, name)) < 1:
                raise InstanceError(f"{name} must be >= 1, got {getattr(self, name)}", value=getattr(self, name))
        if self.base_lr is not None and not (np.isfinite(self.base_lr) and self.base_lr > 0):
            raise InstanceError(f"base_lr must be a positive finite float, got {self.base_lr}", value=self.base_lr)

    @property
    def lr(self) -> float:
        """The base LR that actions multiply."""
        return float(self.base_lr if self.base_lr is not None else DEFAULT_BASE_LR[self.optimizer])

    @property
    def architecture(self) -> tuple[Any, ...]:
        """Tasks with equal architecture (and data shape) can share one vmapped batch."""
        return (self.family, self.dataset, self.width, self.depth, self.n_samples, self.batch_size)

    @property
    def instance_id(self) -> str:
        params = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return content_id("lrtask", **params)

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"instance_id": self.instance_id}


@dataclass(frozen=True)
class TaskData:
    """Train and validation tensors of one task (float32 inputs, int64 labels)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int


def _standardise(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale by the train split's statistics.

    A feature that is (nearly) constant on the train split keeps scale 1: dividing by its ~0 std would turn
    the few validation samples where it varies (edge pixels of 8x8 digits) into inputs of size 1e6 and
    validation losses in the thousands for every schedule.
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 1e-3, std, 1.0)
    return (x_train - mean) / std, (x_val - mean) / std


#: Small UCI datasets shipped in ``envs/lr/data/`` (the copies scikit-learn bundles; see data/README.md):
#: one sample a row, the integer class label in the last column.
_BUNDLED = {"digits": "digits.csv.gz", "wine": "wine_data.csv.gz", "breast_cancer": "breast_cancer.csv.gz"}


@lru_cache(maxsize=4)
def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    # wine and breast_cancer start with scikit-learn's header line (n_samples, n_features, class names)
    table = np.loadtxt(Path(__file__).with_name("data") / _BUNDLED[name], delimiter=",",
                       skiprows=0 if name == "digits" else 1)
    return table[:, :-1].astype(np.float64), table[:, -1].astype(np.int64)


def _charseq(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a sparse random Markov chain of order 2 over ``CHAR_VOCAB`` symbols; target = next symbol."""
    transition = rng.dirichlet(np.full(CHAR_VOCAB, 0.2), size=(CHAR_VOCAB, CHAR_VOCAB))
    length = n + CHAR_CONTEXT + 1
    seq = np.empty(length, dtype=np.int64)
    seq[:2] = rng.integers(0, CHAR_VOCAB, 2)
    uniforms = rng.random(length)
    cumulative = np.cumsum(transition, axis=-1)
    for t in range(2, length):
        seq[t] = min(int(np.searchsorted(cumulative[seq[t - 2], seq[t - 1]], uniforms[t])), CHAR_VOCAB - 1)
    windows = np.lib.stride_tricks.sliding_window_view(seq[:-1], CHAR_CONTEXT)[:n]
    return windows.copy(), seq[CHAR_CONTEXT : CHAR_CONTEXT + n].copy()


def load_task_data(task: TrainingTask) -> TaskData:
    """Generate or load the task's data and split it 75/25 with ``data_seed`` (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(task.data_seed), spawn_key=(9,)))
    if task.dataset == "blobs":
        n_classes, dim = 4, 16
        centres = rng.normal(0.0, 1.2, size=(n_classes, dim))
        y = rng.integers(0, n_classes, task.n_samples)
        x = centres[y] + rng.normal(0.0, 1.0, size=(task.n_samples, dim))
    elif task.dataset == "charseq":
        x, y = _charseq(rng, task.n_samples)
        n_classes = CHAR_VOCAB
    else:
        x_all, y_all = _bundled(task.dataset)
        pick = rng.permutation(len(y_all))[: task.n_samples]
        x, y = x_all[pick], y_all[pick]
        n_classes = int(y_all.max()) + 1
    order = rng.permutation(len(y))
    n_train = max(1, int(0.75 * len(y)))
    train, val = order[:n_train], order[n_train:]
    if task.dataset == "charseq":
        x_train, x_val = x[train], x[val]
        to_x = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    else:
        x_train, x_val = _standardise(x[train], x[val])
        if task.family == "cnn":
            x_train, x_val = x_train.reshape(-1, 1, 8, 8), x_val.reshape(-1, 1, 8, 8)
        to_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return TaskData(
        to_x(x_train),
        torch.as_tensor(y[train], dtype=torch.int64),
        to_x(x_val),
        torch.as_tensor(y[val], dtype=torch.int64),
        n_classes,
    )


class _CharModel(nn.Module):
    """Embed a window of ``CHAR_CONTEXT`` symbols, one hidden layer, predict the next symbol."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(CHAR_VOCAB, 8)
        self.hidden = nn.Linear(8 * CHAR_CONTEXT, width)
        self.out = nn.Linear(width, CHAR_VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens).flatten(start_dim=-2)
        return self.out(torch.tanh(self.hidden(h)))


def build_model(task: TrainingTask, data: TaskData) -> nn.Module:
    """The task's model (weights are re-drawn by the trainer from ``init_seed``)."""
    if task.family == "mlp":
        layers: list[nn.Module] = []
        fan_in = int(data.x_train.shape[-1])
        for _ in range(task.depth):
            layers += [nn.Linear(fan_in, task.width), nn.ReLU()]
            fan_in = task.width
        layers.append(nn.Linear(fan_in, data.n_classes))
        return nn.Sequential(*layers)
    if task.family == "cnn":
        c = task.width
        return nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Flatten(start_dim=-3),
            nn.Linear(c * 16, data.n_classes),
        )
    return _CharModel(task.width)


@dataclass(frozen=True)
class LRTaskDistribution(Distribution):
    """Draws tasks from lists of choices, uniformly and independently (``step_budget`` from a range).

    ``families`` pairs each family with the datasets it may use here.
    """

    families: tuple[tuple[str, tuple[str, ...]], ...] = (("mlp", ("blobs",)),)
    widths: tuple[int, ...] = (16, 32)
    cnn_channels: tuple[int, ...] = (4, 8)  # CNN width; vmapped convolutions are slow on CPU
    depths: tuple[int, ...] = (1,)
    batch_sizes: tuple[int, ...] = (32,)
    optimizers: tuple[str, ...] = ("sgd", "adamw")
    step_budget: tuple[int, int] = (40, 60)
    n_samples: int = 256
    label: str = "custom"
    name: str = field(default="lr-tasks", init=False)
    version: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.families:
            raise ConfigError("families must not be empty", value=self.families)
        low, high = self.step_budget
        if not 1 <= low <= high:
            raise ConfigError(f"step_budget must be (low, high) with 1 <= low <= high, got {self.step_budget}", value=self.step_budget)

    def sample(self, rng: np.random.Generator) -> TrainingTask:
        family, datasets = self.families[int(rng.integers(len(self.families)))]
        return TrainingTask(
            family=family,
            dataset=datasets[int(rng.integers(len(datasets)))],
            width=int(rng.choice(self.cnn_channels if family == "cnn" else self.widths)),
            depth=int(rng.choice(self.depths)),
            batch_size=int(rng.choice(self.batch_sizes)),
            optimizer=str(rng.choice(self.optimizers)),
            step_budget=int(rng.integers(self.step_budget[0], self.step_budget[1] + 1)),
            n_samples=self.n_samples,
            data_seed=int(rng.integers(2**31)),
            init_seed=int(rng.integers(2**31)),
        )

    @property
    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("families", "widths", "cnn_channels", "depths", "batch_sizes", "optimizers", "step_budget", "n_samples", "label")}


def tiny_distribution() -> LRTaskDistribution:
    """The registered env's default: small MLPs on generated blobs, 40–60 steps (a few ms per env step)."""
    return LRTaskDistribution(label="tiny")


def standard_distribution() -> LRTaskDistribution:
    """Tune/train distribution with realistic sizes: MLP, small CNN on 8x8 digits, char model; 200–400 steps."""
    return LRTaskDistribution(
        families=(("mlp", ("blobs", "digits")), ("cnn", ("digits",)), ("char", ("charseq",))),
        widths=(16, 32, 64),
        depths=(1, 2),
        batch_sizes=(32, 64),
        optimizers=("sgd", "adamw"),
        step_budget=(200, 400),
        n_samples=1024,
        label="standard",
    )


def unseen_distribution() -> LRTaskDistribution:
    """Held-out tasks: MLPs on wine and breast-cancer data and wider/deeper nets, never used for tuning."""
    return LRTaskDistribution(
        families=(("mlp", ("wine", "breast_cancer")),),
        widths=(48, 96),
        depths=(2, 3),
        batch_sizes=(16, 48),
        optimizers=("sgd", "adamw"),
        step_budget=(150, 300),
        n_samples=569,
        label="unseen",
    )
