"""Train K runs of one task at once, each with its own learning rate, and the single-run path that equals it.

:class:`BatchedTrainer` stacks K parameter copies (``torch.func.stack_module_state``) and computes all K
losses and gradients in one call, ``vmap(grad_and_value(functional_call(...)))``, so a batch of K runs
costs about one run's Python overhead. The optimizer updates (SGD with heavy-ball momentum as
``torch.optim.SGD`` writes it, and AdamW as ``torch.optim.AdamW``) are batched tensor ops whose LR is a
``[K]`` tensor. :class:`SingleTrainer` is the plain-autograd path for one run with the same update
formulas; a test checks both give the same numbers. Runs whose loss turns NaN/inf or explodes are frozen
(``diverged``) and never updated again. Nothing here chooses a learning rate.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.lr.tasks import TaskData, TrainingTask, build_model, load_task_data

__all__ = ["BatchedTrainer", "SingleTrainer", "resolve_device", "EXPLODE_FACTOR"]

# A run has exploded when its train loss exceeds this multiple of its first loss (or is not finite).
EXPLODE_FACTOR = 10.0
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _init_model(task: TrainingTask, data: TaskData, run: int) -> torch.nn.Module:
    model = build_model(task, data)
    generator = torch.Generator().manual_seed(int(task.init_seed) + 7919 * int(run))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            else:
                p.zero_()
    return model


def _batch_rng(task: TrainingTask, run: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(task.init_seed), spawn_key=(11, int(run))))


class _Update:
    """SGD-momentum / AdamW on a list of tensors; ``lr`` broadcasts (a scalar, or ``[K, 1, ...]``)."""

    def __init__(self, task: TrainingTask, params: list[torch.Tensor]) -> None:
        self.task = task
        self.state = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params] if task.optimizer == "adamw" else []
        self.steps = 0

    def apply(self, params: list[torch.Tensor], grads: list[torch.Tensor], lrs: list[torch.Tensor]) -> list[torch.Tensor]:
        task = self.task
        self.steps += 1
        out = []
        if task.optimizer == "sgd":
            for i, (p, g, lr) in enumerate(zip(params, grads, lrs)):
                if task.weight_decay:
                    g = g + task.weight_decay * p
                # torch.optim.SGD: the first step sets the buffer to the gradient.
                buf = g.clone() if self.steps == 1 else self.state[i] * task.momentum + g
                self.state[i] = buf
                out.append(p - lr * buf)
            return out
        beta1, beta2 = ADAM_BETAS
        c1 = 1.0 - beta1**self.steps
        c2 = 1.0 - beta2**self.steps
        for i, (p, g, lr) in enumerate(zip(params, grads, lrs)):
            p = p * (1.0 - lr * task.weight_decay) if task.weight_decay else p
            m = self.state[i] * beta1 + g * (1.0 - beta1)
            v = self.second[i] * beta2 + g * g * (1.0 - beta2)
            self.state[i], self.second[i] = m, v
            out.append(p - (lr / c1) * m / ((v / c2).sqrt() + ADAM_EPS))
        return out


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


class BatchedTrainer:
    """K runs of ``task`` (run ``r`` draws weights and minibatches from ``init_seed`` and ``r``), trained together.

    ``step(lrs)`` takes one optimizer step of every active run with its own LR and returns the train
    losses and gradient norms (NaN for frozen runs). ``evaluate()`` returns validation loss and accuracy.
    """

    def __init__(self, task: TrainingTask, n_runs: int, *, device: str | torch.device = "auto", runs: list[int] | None = None) -> None:
        if n_runs < 1:
            raise ConfigError(f"n_runs must be >= 1, got {n_runs}", value=n_runs)
        self.task = task
        self.n_runs = int(n_runs)
        self.device = resolve_device(device)
        self.data = load_task_data(task)
        self._x_train = self.data.x_train.to(self.device)
        self._y_train = self.data.y_train.to(self.device)
        self._x_val = self.data.x_val.to(self.device)
        self._y_val = self.data.y_val.to(self.device)
        self.run_ids = list(range(self.n_runs)) if runs is None else [int(r) for r in runs]
        models = [_init_model(task, self.data, r) for r in self.run_ids]
        params, buffers = stack_module_state(models)
        self._names = list(params)
        self.params = [params[n].detach().to(self.device) for n in self._names]
        self.buffers = {k: v.to(self.device) for k, v in buffers.items()}
        self._base = copy.deepcopy(models[0]).to("meta")
        self._rngs = [_batch_rng(task, r) for r in self.run_ids]
        self._update = _Update(task, self.params)
        self.active = torch.ones(self.n_runs, dtype=torch.bool, device=self.device)
        self.first_loss = torch.full((self.n_runs,), float("nan"), device=self.device)
        self.steps = 0

        def loss_fn(param_list: list[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            named = dict(zip(self._names, param_list))
            return _loss(functional_call(self._base, (named, buffers), (x,)), y)

        self._grad_fn = vmap(grad_and_value(loss_fn), in_dims=(0, 0, 0, 0))

        def eval_fn(param_list: list[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            named = dict(zip(self._names, param_list))
            logits = functional_call(self._base, (named, buffers), (x,))
            return _loss(logits, y), (logits.argmax(-1) == y).float().mean()

        self._eval_fn = vmap(eval_fn, in_dims=(0, 0, None, None))

    @property
    def diverged(self) -> np.ndarray:
        return (~self.active).cpu().numpy()

    def _minibatch(self) -> torch.Tensor:
        n = self._x_train.shape[0]
        size = min(self.task.batch_size, n)
        return torch.as_tensor(np.stack([rng.choice(n, size=size, replace=False) for rng in self._rngs]), device=self.device)

    def step(self, lrs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        lr = torch.as_tensor(np.asarray(lrs, dtype=np.float32), device=self.device).reshape(self.n_runs)
        idx = self._minibatch()
        grads, losses = self._grad_fn(self.params, self.buffers, self._x_train[idx], self._y_train[idx])
        grad_norm = torch.sqrt(sum(g.reshape(self.n_runs, -1).pow(2).sum(1) for g in grads))
        if self.steps == 0:
            self.first_loss = losses.detach().clone()
        bad = ~torch.isfinite(losses) | ~torch.isfinite(grad_norm) | (losses > EXPLODE_FACTOR * self.first_loss)
        self.active = self.active & ~bad
        lr_list = [lr.reshape((-1,) + (1,) * (p.dim() - 1)) for p in self.params]
        new = self._update.apply(self.params, grads, lr_list)
        keep = [self.active.reshape((-1,) + (1,) * (p.dim() - 1)) for p in self.params]
        self.params = [torch.where(k, n, p) for k, n, p in zip(keep, new, self.params)]
        self.steps += 1
        nan = torch.tensor(float("nan"), device=self.device)
        losses = torch.where(self.active | bad, losses, nan)
        grad_norm = torch.where(self.active | bad, grad_norm, nan)
        return losses.detach().cpu().numpy().astype(np.float64), grad_norm.detach().cpu().numpy().astype(np.float64)

    def evaluate(self) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            loss, acc = self._eval_fn(self.params, self.buffers, self._x_val, self._y_val)
        loss = torch.where(self.active & torch.isfinite(loss), loss, torch.tensor(float("nan"), device=self.device))
        return loss.cpu().numpy().astype(np.float64), acc.cpu().numpy().astype(np.float64)

    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]


class SingleTrainer:
    """Run ``run`` of ``task`` with plain autograd on an ``nn.Module``; same numbers as slot ``run`` of a batch."""

    def __init__(self, task: TrainingTask, *, run: int = 0, device: str | torch.device = "auto") -> None:
        self.task = task
        self.run = int(run)
        self.device = resolve_device(device)
        self.data = load_task_data(task)
        self._x_train = self.data.x_train.to(self.device)
        self._y_train = self.data.y_train.to(self.device)
        self._x_val = self.data.x_val.to(self.device)
        self._y_val = self.data.y_val.to(self.device)
        self.model = _init_model(task, self.data, self.run).to(self.device)
        self._rng = _batch_rng(task, self.run)
        self._update = _Update(task, [p.detach() for p in self.model.parameters()])
        self.active = True
        self.first_loss = float("nan")
        self.steps = 0

    @property
    def diverged(self) -> bool:
        return not self.active

    def step(self, lr: float) -> tuple[float, float]:
        """One optimizer step at ``lr``; returns (train loss, gradient norm), NaN once frozen."""
        if not self.active:
            return float("nan"), float("nan")
        n = self._x_train.shape[0]
        idx = torch.as_tensor(self._rng.choice(n, size=min(self.task.batch_size, n), replace=False), device=self.device)
        params = list(self.model.parameters())
        for p in params:
            p.grad = None
        loss = _loss(self.model(self._x_train[idx]), self._y_train[idx])
        loss.backward()
        grads = [p.grad.detach() for p in params]
        loss_value = float(loss.detach())
        grad_norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        if self.steps == 0:
            self.first_loss = loss_value
        self.steps += 1
        if not (np.isfinite(loss_value) and np.isfinite(grad_norm)) or loss_value > EXPLODE_FACTOR * self.first_loss:
            self.active = False
            return loss_value, grad_norm
        lr_t = torch.tensor(float(lr), dtype=torch.float32, device=self.device)
        new = self._update.apply([p.detach() for p in params], grads, [lr_t] * len(params))
        with torch.no_grad():
            for p, value in zip(params, new):
                p.copy_(value)
        return loss_value, grad_norm

    def evaluate(self) -> tuple[float, float]:
        if not self.active:
            return float("nan"), float("nan")
        with torch.no_grad():
            logits = self.model(self._x_val)
            loss = float(_loss(logits, self._y_val))
            acc = float((logits.argmax(-1) == self._y_val).float().mean())
        return (loss if np.isfinite(loss) else float("nan")), acc

    def state(self) -> dict[str, Any]:
        return {"steps": self.steps, "active": self.active}
