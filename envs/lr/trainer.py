"""Train K runs of one task at once, each with its own learning rate: the one training step of the LR domain.

:class:`BatchedTrainer` stacks K parameter copies (``torch.func.stack_module_state``) and computes all K
losses and gradients in one call, ``vmap(grad_and_value(functional_call(...)))``, so a batch of K runs
costs about one run's Python overhead. The optimizer updates (SGD with heavy-ball momentum as
``torch.optim.SGD`` writes it, and AdamW as ``torch.optim.AdamW``) are batched tensor ops whose LR is a
``[K]`` (or ``[K, groups]``) tensor. A single run is a batch of one: the process
(:class:`tunegym.envs.lr.process.LRTraining`) drives this class for the single env, the vector env and
``LRGroups-v0`` alike. Runs whose loss turns NaN/inf or explodes are frozen (``diverged``) and never updated
again. Nothing here chooses a learning rate.

:class:`PlainRun` is *not* a second trainer: it hands a plain torch loop (the deployed scheduler's parity
test, schedule-free AdamW in ``tunegym bench lr``) the same model, initial weights, data split and minibatch
order that run ``r`` of a task gets here, and a ``torch.optim`` optimizer configured as the task says.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.lr.tasks import TaskData, TrainingTask, build_model, load_task_data

__all__ = ["BatchedTrainer", "PlainRun", "resolve_device", "layer_groups", "init_model", "minibatch_rng",
           "EXPLODE_FACTOR", "task_loss"]

# A run has exploded when its train loss exceeds this multiple of its first loss (or is not finite).
EXPLODE_FACTOR = 10.0
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def init_model(task: TrainingTask, data: TaskData, run: int) -> torch.nn.Module:
    """Run ``run`` of ``task``: its model with the initial weights drawn from ``init_seed`` and ``run``."""
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


def minibatch_rng(task: TrainingTask, run: int) -> np.random.Generator:
    """The minibatch order of run ``run`` of ``task`` (``rng.choice(n, batch_size, replace=False)`` per step)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=int(task.init_seed), spawn_key=(11, int(run))))


class _Update:
    """SGD-momentum / AdamW on a list of stacked tensors (leading run dimension); ``lr`` is ``[K, 1, ...]``.

    Every run keeps its own step count (bias correction, SGD's first-step buffer), so one run can restart
    (:meth:`restart`) while the others go on.
    """

    def __init__(self, task: TrainingTask, params: list[torch.Tensor], n_runs: int) -> None:
        self.task = task
        self.n_runs = n_runs
        self.state = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params] if task.optimizer == "adamw" else []
        self.run_steps = np.zeros(n_runs, dtype=np.int64)

    def restart(self, mask: torch.Tensor) -> None:
        """Zero the optimizer state of the runs in ``mask`` (``[K]`` bool) and restart their step counts."""
        for buffers in (self.state, self.second):
            for i, b in enumerate(buffers):
                buffers[i] = torch.where(mask.reshape((-1,) + (1,) * (b.dim() - 1)), torch.zeros_like(b), b)
        self.run_steps[mask.cpu().numpy()] = 0

    @staticmethod
    def _per_run(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        # float64 on the host, then float32, so every run rounds the same way.
        return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape((-1,) + (1,) * (like.dim() - 1))

    def apply(self, params: list[torch.Tensor], grads: list[torch.Tensor], lrs: list[torch.Tensor],
              advance: np.ndarray) -> list[torch.Tensor]:
        """One update; ``advance`` (``[K]`` bool) says which runs take it (their step counts move on)."""
        task = self.task
        self.run_steps[advance] += 1
        steps = np.maximum(self.run_steps, 1)
        out = []
        if task.optimizer == "sgd":
            first = steps == 1
            for i, (p, g, lr) in enumerate(zip(params, grads, lrs)):
                if task.weight_decay:
                    g = g + task.weight_decay * p
                # torch.optim.SGD: the first step sets the buffer to the gradient.
                first_t = torch.as_tensor(first, device=g.device).reshape((-1,) + (1,) * (g.dim() - 1))
                buf = torch.where(first_t, g, self.state[i] * task.momentum + g)
                self.state[i] = buf
                out.append(p - lr * buf)
            return out
        beta1, beta2 = ADAM_BETAS
        c1_host = 1.0 - beta1 ** steps.astype(np.float64)
        c2_host = 1.0 - beta2 ** steps.astype(np.float64)
        for i, (p, g, lr) in enumerate(zip(params, grads, lrs)):
            c1, c2 = self._per_run(c1_host, p), self._per_run(c2_host, p)
            p = p * (1.0 - lr * task.weight_decay) if task.weight_decay else p
            m = self.state[i] * beta1 + g * (1.0 - beta1)
            v = self.second[i] * beta2 + g * g * (1.0 - beta2)
            self.state[i], self.second[i] = m, v
            out.append(p - (lr / c1) * m / ((v / c2).sqrt() + ADAM_EPS))
        return out


def layer_groups(model: torch.nn.Module) -> tuple[list[str], list[int]]:
    """Parameter groups by layer: the names of the modules that own parameters, and each parameter's group.

    A per-group LR (the multi-agent ``LRGroups-v0``) sets one LR per layer: ``weight`` and ``bias`` of a
    ``Linear`` share a group.
    """
    names: list[str] = []
    group_of: list[int] = []
    for name, _ in model.named_parameters():
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        if owner not in names:
            names.append(owner)
        group_of.append(names.index(owner))
    return names, group_of


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(outputs[..., 0], targets)


def task_loss(task: TrainingTask):
    """The task's training and validation loss: cross-entropy, or mean squared error of the one output
    (regression tasks, :attr:`TrainingTask.loss` ``"mse"``)."""
    return _mse if task.loss == "mse" else _cross_entropy


def _accuracy(task: TrainingTask, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Classification accuracy; NaN for a regression task (no accuracy)."""
    if task.loss == "mse":
        return torch.full((), float("nan"), device=outputs.device)
    return (outputs.argmax(-1) == targets).float().mean()


class BatchedTrainer:
    """K runs of ``task`` (run ``r`` draws weights and minibatches from ``init_seed`` and ``r``), trained together.

    ``step(lrs)`` takes one optimizer step of every active run with its own LR (``[K]``, or ``[K, G]`` for
    one LR per layer group, see :func:`layer_groups`) and returns the train losses and gradient norms (NaN
    for frozen runs); ``group_grad_norms`` (``[K, G]``) holds that step's per-group gradient norms. ``hold`` (``[K]`` bool) skips runs for this step without freezing them (a run whose
    decision window ended early). ``restart_runs(mask, runs)`` re-initialises some runs (fresh weights,
    optimizer state and minibatch stream of the given run ids) while the others go on. ``evaluate()``
    returns validation loss and accuracy.
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
        if len(self.run_ids) != self.n_runs:
            raise ConfigError(f"runs must name {self.n_runs} run ids, got {len(self.run_ids)}", value=runs)
        models = [init_model(task, self.data, r) for r in self.run_ids]
        params, buffers = stack_module_state(models)
        self._names = list(params)
        self.params = [params[n].detach().to(self.device) for n in self._names]
        self.buffers = {k: v.to(self.device) for k, v in buffers.items()}
        self.group_names, self.group_of_param = layer_groups(models[0])
        self._group_index = torch.as_tensor(self.group_of_param, dtype=torch.long, device=self.device)
        # Gradient norm of each layer group of each run at the last step (what a per-layer LR agent observes).
        self.group_grad_norms = np.full((self.n_runs, len(self.group_names)), np.nan)
        self._base = copy.deepcopy(models[0]).to("meta")
        self._rngs = [minibatch_rng(task, r) for r in self.run_ids]
        loss_of = task_loss(task)
        self._update = _Update(task, self.params, n_runs=self.n_runs)
        self.active = torch.ones(self.n_runs, dtype=torch.bool, device=self.device)
        self.first_loss = torch.full((self.n_runs,), float("nan"), device=self.device)
        self.run_steps = np.zeros(self.n_runs, dtype=np.int64)
        self.steps = 0

        def loss_fn(param_list: list[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            named = dict(zip(self._names, param_list))
            return loss_of(functional_call(self._base, (named, buffers), (x,)), y)

        self._grad_fn = vmap(grad_and_value(loss_fn), in_dims=(0, 0, 0, 0))
        if self.n_runs == 1:
            # A batch of one (the single env, LRGroups-v0): the same loss function, differentiated by plain
            # autograd, which skips functorch's per-op wrapping (about 3x faster on CPU for small models).
            def one_run(param_list: list[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor,
                        y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
                leaves = [p[0].detach().requires_grad_() for p in param_list]
                loss = loss_fn(leaves, {k: v[0] for k, v in buffers.items()}, x[0], y[0])
                grads = torch.autograd.grad(loss, leaves)
                return [g.unsqueeze(0) for g in grads], loss.detach().unsqueeze(0)

            self._grad_fn = one_run

        def eval_fn(param_list: list[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            named = dict(zip(self._names, param_list))
            logits = functional_call(self._base, (named, buffers), (x,))
            return loss_of(logits, y), _accuracy(task, logits, y)

        self._eval_fn = vmap(eval_fn, in_dims=(0, 0, None, None))

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def diverged(self) -> np.ndarray:
        return (~self.active).cpu().numpy()

    def restart_runs(self, mask: np.ndarray, runs: list[int]) -> None:
        """Re-initialise the runs in ``mask`` as run ids ``runs`` (one per True entry); the others keep going."""
        mask = np.asarray(mask, dtype=bool).reshape(self.n_runs)
        slots = np.flatnonzero(mask)
        if len(runs) != slots.size:
            raise ConfigError(f"restart_runs needs {slots.size} run ids, got {len(runs)}", value=runs)
        for slot, run in zip(slots, runs):
            fresh = dict(init_model(self.task, self.data, int(run)).named_parameters())
            for i, name in enumerate(self._names):
                self.params[i][slot] = fresh[name].detach().to(self.device)
            self._rngs[slot] = minibatch_rng(self.task, int(run))
            self.run_ids[slot] = int(run)
        mask_t = torch.as_tensor(mask, device=self.device)
        self._update.restart(mask_t)
        self.active = self.active | mask_t
        self.first_loss = torch.where(mask_t, torch.tensor(float("nan"), device=self.device), self.first_loss)
        self.run_steps[mask] = 0

    def _minibatch(self) -> torch.Tensor:
        n = self._x_train.shape[0]
        size = min(self.task.batch_size, n)
        return torch.as_tensor(np.stack([rng.choice(n, size=size, replace=False) for rng in self._rngs]), device=self.device)

    def _lr_per_param(self, lrs: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
        lr = torch.as_tensor(np.asarray(lrs, dtype=np.float32), device=self.device)
        if lr.dim() == 2 and lr.shape == (self.n_runs, self.n_groups):
            return [lr[:, g].reshape((-1,) + (1,) * (p.dim() - 1)) for g, p in zip(self.group_of_param, self.params)]
        if lr.numel() != self.n_runs:
            raise ConfigError(f"lrs must be [{self.n_runs}] or [{self.n_runs}, {self.n_groups}], got {tuple(lr.shape)}", value=tuple(lr.shape))
        lr = lr.reshape(self.n_runs)
        return [lr.reshape((-1,) + (1,) * (p.dim() - 1)) for p in self.params]

    def step(self, lrs: np.ndarray | torch.Tensor, hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        lr_list = self._lr_per_param(lrs)
        hold_np = np.zeros(self.n_runs, dtype=bool) if hold is None else np.asarray(hold, dtype=bool).reshape(self.n_runs)
        hold_t = torch.as_tensor(hold_np, device=self.device)
        idx = self._minibatch()
        grads, losses = self._grad_fn(self.params, self.buffers, self._x_train[idx], self._y_train[idx])
        squares = [g.reshape(self.n_runs, -1).pow(2).sum(1) for g in grads]
        grad_norm = torch.sqrt(sum(squares))
        group_squares = torch.zeros(self.n_runs, self.n_groups, dtype=grad_norm.dtype, device=self.device)
        group_squares.index_add_(1, self._group_index, torch.stack(squares, dim=1))
        starting = torch.as_tensor(self.run_steps == 0, device=self.device) & ~hold_t
        self.first_loss = torch.where(starting, losses.detach(), self.first_loss)
        bad = (~torch.isfinite(losses) | ~torch.isfinite(grad_norm) | (losses > EXPLODE_FACTOR * self.first_loss)) & ~hold_t
        self.active = self.active & ~bad
        moving = self.active & ~hold_t
        new = self._update.apply(self.params, grads, lr_list, advance=~hold_np)
        keep = [moving.reshape((-1,) + (1,) * (p.dim() - 1)) for p in self.params]
        self.params = [torch.where(k, n, p) for k, n, p in zip(keep, new, self.params)]
        self.run_steps[~hold_np] += 1
        self.steps += 1
        nan = torch.tensor(float("nan"), device=self.device)
        report = (self.active | bad) & ~hold_t
        losses = torch.where(report, losses, nan)
        grad_norm = torch.where(report, grad_norm, nan)
        self.group_grad_norms = torch.where(report[:, None], group_squares.sqrt(), nan).detach().cpu().numpy().astype(np.float64)
        return losses.detach().cpu().numpy().astype(np.float64), grad_norm.detach().cpu().numpy().astype(np.float64)

    def evaluate(self) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            loss, acc = self._eval_fn(self.params, self.buffers, self._x_val, self._y_val)
        loss = torch.where(self.active & torch.isfinite(loss), loss, torch.tensor(float("nan"), device=self.device))
        return loss.cpu().numpy().astype(np.float64), acc.cpu().numpy().astype(np.float64)


class PlainRun:
    """Run ``run`` of ``task`` set up for a plain torch loop: the model, data and minibatch order the batched
    trainer gives that run, and the task's optimizer as ``torch.optim`` configures it.

    ```python
    plain = PlainRun(task, run=0)
    optimizer = plain.optimizer()
    for _ in range(task.step_budget):
        x, y = plain.next_batch()
        optimizer.zero_grad(); loss = plain.loss(plain.model(x), y); loss.backward(); optimizer.step()
    ```
    """

    def __init__(self, task: TrainingTask, *, run: int = 0, device: str | torch.device = "cpu") -> None:
        self.task, self.run = task, int(run)
        self.device = resolve_device(device)
        self.data = load_task_data(task)
        self.x_train, self.y_train = self.data.x_train.to(self.device), self.data.y_train.to(self.device)
        self.x_val, self.y_val = self.data.x_val.to(self.device), self.data.y_val.to(self.device)
        self.model = init_model(task, self.data, self.run).to(self.device)
        self.rng = minibatch_rng(task, self.run)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task's loss (cross-entropy, or MSE of the one output for a regression task)."""
        return task_loss(self.task)(logits, targets)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next minibatch, drawn exactly as :class:`BatchedTrainer` draws it for this run."""
        n = self.x_train.shape[0]
        idx = torch.as_tensor(self.rng.choice(n, size=min(self.task.batch_size, n), replace=False), device=self.device)
        return self.x_train[idx], self.y_train[idx]

    def optimizer(self, lr: float | None = None) -> torch.optim.Optimizer:
        """``torch.optim.SGD`` (momentum) or ``AdamW`` with the task's settings, at ``lr`` (default: the base LR)."""
        task = self.task
        lr = task.lr if lr is None else float(lr)
        if task.optimizer == "sgd":
            return torch.optim.SGD(self.model.parameters(), lr=lr, momentum=task.momentum, weight_decay=task.weight_decay)
        return torch.optim.AdamW(self.model.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                 weight_decay=task.weight_decay)

    def evaluate(self) -> tuple[float, float]:
        """Validation (loss, accuracy) of the model now; NaN loss stays NaN (accuracy NaN for regression)."""
        with torch.no_grad():
            logits = self.model(self.x_val)
            return float(self.loss(logits, self.y_val)), float(_accuracy(self.task, logits, self.y_val))
