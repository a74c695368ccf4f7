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
    "REGRESSION_DATASETS",
    "USER_LR_RANGE",
    "user_rate_train_distribution",
    "user_rate_family",
    "UNSEEN_FAMILIES",
    "TRAIN_FAMILIES",
]

FAMILIES = ("mlp", "cnn", "char")
DATASETS = ("blobs", "digits", "wine", "breast_cancer", "charseq", "diabetes", "teacher", "spirals", "friedman")
#: regression datasets (standardised real targets, MSE loss, one output); the others are classification (cross-entropy)
REGRESSION_DATASETS = frozenset({"diabetes", "teacher", "friedman"})
#: the range of user learning rates (log-uniform) of the user-rate tasks, for AdamW and SGD with momentum alike
USER_LR_RANGE = (1e-4, 1e-1)
OPTIMIZERS = ("sgd", "adamw")
# The dataset each family can read: the CNN needs 8x8 images, the char model token windows.
_FAMILY_DATASETS = {
    "mlp": ("blobs", "digits", "wine", "breast_cancer", "diabetes", "teacher", "spirals", "friedman"),
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
    ``label_noise``: share of training labels replaced by a random class (classification), or the std of
    Gaussian noise added to the standardised training targets (regression); validation data stay clean.
    ``loss`` (derived from the dataset): ``"mse"`` for :data:`REGRESSION_DATASETS`, else ``"ce"``.
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
    label_noise: float = 0.0

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
        if not (np.isfinite(self.label_noise) and 0.0 <= self.label_noise <= 1.0):
            raise InstanceError(f"label_noise must be in [0, 1], got {self.label_noise}", value=self.label_noise)

    @property
    def loss(self) -> str:
        """``"mse"`` (regression) or ``"ce"`` (classification)."""
        return "mse" if self.dataset in REGRESSION_DATASETS else "ce"

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
        if not self.label_noise:
            params.pop("label_noise")  # tasks without label noise keep the ids they had before the field existed
        return content_id("lrtask", **params)

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"instance_id": self.instance_id}


@dataclass(frozen=True)
class TaskData:
    """Train and validation tensors of one task (float32 inputs; int64 labels, or float32 standardised targets
    of a regression task, whose ``n_classes`` is 1: the model's one output)."""

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
_BUNDLED = {"digits": "digits.csv.gz", "wine": "wine_data.csv.gz", "breast_cancer": "breast_cancer.csv.gz",
            "diabetes": "diabetes.csv.gz"}


@lru_cache(maxsize=5)
def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    # wine, breast_cancer and diabetes start with a header line (scikit-learn's, or the column names)
    table = np.loadtxt(Path(__file__).with_name("data") / _BUNDLED[name], delimiter=",",
                       skiprows=0 if name == "digits" else 1)
    target = table[:, -1]
    return table[:, :-1].astype(np.float64), (target if name in REGRESSION_DATASETS else target.astype(np.int64))


def _teacher(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Regression on 16 Gaussian inputs: a random one-hidden-layer tanh network's output plus 10 % noise."""
    x = rng.normal(size=(n, 16))
    w1, w2 = rng.normal(size=(16, 32)) / 4.0, rng.normal(size=32)
    clean = np.tanh(x @ w1) @ w2
    return x, clean + 0.1 * clean.std() * rng.normal(size=n)


def _friedman(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Friedman #1 (Friedman 1991): 10 uniform inputs, 5 of them informative, unit Gaussian noise."""
    x = rng.random((n, 10))
    y = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    return x, y + rng.normal(size=n)


def _spirals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved 2-D spirals (one class each) with noise, and 4 pure-noise inputs."""
    y = rng.integers(0, 3, n)
    r = rng.random(n)
    angle = 3.5 * np.pi * r + y * (2 * np.pi / 3)
    xy = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + 0.05 * rng.normal(size=(n, 2))
    return np.concatenate([xy, rng.normal(size=(n, 4))], axis=1), y


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
    elif task.dataset in ("teacher", "friedman", "spirals"):
        x, y = {"teacher": _teacher, "friedman": _friedman, "spirals": _spirals}[task.dataset](rng, task.n_samples)
        n_classes = 3 if task.dataset == "spirals" else 1
    else:
        x_all, y_all = _bundled(task.dataset)
        pick = rng.permutation(len(y_all))[: task.n_samples]
        x, y = x_all[pick], y_all[pick]
        n_classes = 1 if task.dataset in REGRESSION_DATASETS else int(y_all.max()) + 1
    order = rng.permutation(len(y))
    n_train = max(1, int(0.75 * len(y)))
    train, val = order[:n_train], order[n_train:]
    regression = task.loss == "mse"
    y_train, y_val = y[train], y[val]
    if regression:  # standardised by the train split's statistics, like the inputs
        mean, std = float(y_train.mean()), float(y_train.std()) or 1.0
        y_train, y_val = (y_train - mean) / std, (y_val - mean) / std
    if task.label_noise:
        noise_rng = np.random.default_rng(np.random.SeedSequence(entropy=int(task.data_seed), spawn_key=(13,)))
        if regression:
            y_train = y_train + task.label_noise * noise_rng.normal(size=y_train.shape)
        else:
            flip = noise_rng.random(len(y_train)) < task.label_noise
            y_train = np.where(flip, noise_rng.integers(0, n_classes, len(y_train)), y_train)
    if task.dataset == "charseq":
        x_train, x_val = x[train], x[val]
        to_x = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    else:
        x_train, x_val = _standardise(x[train], x[val])
        if task.family == "cnn":
            x_train, x_val = x_train.reshape(-1, 1, 8, 8), x_val.reshape(-1, 1, 8, 8)
        to_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    y_dtype = torch.float32 if regression else torch.int64
    return TaskData(
        to_x(x_train),
        torch.as_tensor(y_train, dtype=y_dtype),
        to_x(x_val),
        torch.as_tensor(y_val, dtype=y_dtype),
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

    ``families`` pairs each family with the datasets it may use here. ``lr_range`` (``None``: the optimizer's
    default base LR) draws each task's ``base_lr`` — the *user's* learning rate — log-uniformly from
    ``(low, high)``; ``label_noises`` the task's label noise. Both are drawn after every other field, so a
    distribution that sets neither draws the tasks it drew before they existed. Lists (from a suite spec)
    become tuples.
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
    lr_range: tuple[float, float] | None = None
    label_noises: tuple[float, ...] = (0.0,)
    name: str = field(default="lr-tasks", init=False)
    version: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for key in ("widths", "cnn_channels", "depths", "batch_sizes", "optimizers", "step_budget", "label_noises"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "families", tuple((str(f), tuple(d)) for f, d in self.families))
        if self.lr_range is not None:
            low_lr, high_lr = (float(v) for v in self.lr_range)
            if not 0.0 < low_lr <= high_lr:
                raise ConfigError(f"lr_range must be (low, high) with 0 < low <= high, got {self.lr_range}", value=self.lr_range)
            object.__setattr__(self, "lr_range", (low_lr, high_lr))
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
            **self._extra(rng),
        )

    def _extra(self, rng: np.random.Generator) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.lr_range is not None:
            low, high = np.log10(self.lr_range)
            extra["base_lr"] = float(10.0 ** rng.uniform(low, high))
        if self.label_noises != (0.0,):
            extra["label_noise"] = float(self.label_noises[int(rng.integers(len(self.label_noises)))])
        return extra

    @property
    def params(self) -> dict[str, Any]:
        keys = ["families", "widths", "cnn_channels", "depths", "batch_sizes", "optimizers", "step_budget", "n_samples", "label"]
        keys += [k for k in ("lr_range", "label_noises") if getattr(self, k) != LRTaskDistribution.__dataclass_fields__[k].default]
        return {k: getattr(self, k) for k in keys}


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


# ---- the user-rate tasks of the LR suite (tuning/suite_specs/lr.py): the user's LR spans three decades -----------
#: The training (tune) families of the user-rate suite. ``breast_cancer`` and ``diabetes`` (and the generated
#: ``spirals``/``friedman`` data and the char model) are never among them: they are the unseen test families.
#: Each (family, datasets) entry is drawn with equal probability: 4 MLP datasets and the CNN, one in five each.
TRAIN_FAMILIES = (("mlp", ("blobs",)), ("mlp", ("digits",)), ("mlp", ("wine",)), ("mlp", ("teacher",)), ("cnn", ("digits",)))


def user_rate_train_distribution(*, step_budget: tuple[int, int] = (150, 300), n_samples: int = 512) -> LRTaskDistribution:
    """Tune/training tasks at the user's LR: MLPs (width 16–64, depth 1–3) on blobs, 8×8 digits, wine and a
    generated regression ("teacher"), 4–8-channel CNNs on digits; batch 16–64; SGD+momentum or AdamW; label
    noise 0/10/20 %; the user's LR log-uniform over :data:`USER_LR_RANGE` (three decades) for both optimizers."""
    return LRTaskDistribution(families=TRAIN_FAMILIES, widths=(16, 32, 64), depths=(1, 2, 3), batch_sizes=(16, 32, 64),
                              optimizers=("sgd", "adamw"), step_budget=step_budget, n_samples=n_samples, label="user-rate-train",
                              lr_range=USER_LR_RANGE, label_noises=(0.0, 0.1, 0.2))


#: The unseen test families of the user-rate suite: (model family, dataset) each.
UNSEEN_FAMILIES = {
    "breast_cancer": ("mlp", "breast_cancer"),
    "diabetes": ("mlp", "diabetes"),
    "spirals": ("mlp", "spirals"),
    "friedman": ("mlp", "friedman"),
    "charseq": ("char", "charseq"),
}


def user_rate_family(name: str, *, step_budget: tuple[int, int] = (150, 300), n_samples: int = 512) -> LRTaskDistribution:
    """One unseen test family of the user-rate suite (:data:`UNSEEN_FAMILIES`), with the training tasks' other
    ranges (widths, depths, batch sizes, optimizers, label noise, the user's LR over three decades)."""
    if name not in UNSEEN_FAMILIES:
        raise ConfigError(f"unseen family must be one of {sorted(UNSEEN_FAMILIES)}, got {name!r}", value=name)
    family, dataset = UNSEEN_FAMILIES[name]
    return LRTaskDistribution(families=((family, (dataset,)),), widths=(16, 32, 64), depths=(1, 2, 3), batch_sizes=(16, 32, 64),
                              optimizers=("sgd", "adamw"), step_budget=step_budget, n_samples=n_samples, label=f"user-rate-{name}",
                              lr_range=USER_LR_RANGE, label_noises=(0.0, 0.1, 0.2))
