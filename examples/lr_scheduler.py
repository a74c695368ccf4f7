"""The shipped learned LR scheduler in your own training loop, at your own learning rate (issue #19).

You wrote a model, a loop and an optimizer with the learning rate you would use for a cosine run. Swap
``CosineAnnealingLR`` for ``LearnedLRScheduler`` and add one line (``scheduler.observe(loss)``): the scheduler
starts at *your* LR (it never rescales it behind your back), follows cosine decay at that LR unless what it sees
in the first 30 steps says another schedule at another multiple of your LR will do better, and goes back to
cosine at your LR if the loss blows up (``scheduler.events`` says so). Here a small regression network (not one
of the scheduler's training tasks) with AdamW in two param groups (the head at a tenth of the body's LR), trained
both ways from the same weights and minibatches.

Run: ``python examples/lr_scheduler.py [--lr 3e-3] [--optimizer adamw|sgd] [--steps 400]``.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

from tunegym.agents import LearnedLRScheduler


def make_data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1200, 10, generator=g)
    y = torch.sin(2.0 * x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3] + 0.1 * torch.randn(1200, 1, generator=g)
    return x[:900], y[:900], x[900:], y[900:]


def train(schedule: str, lr: float, optimizer_name: str = "adamw", steps: int = 400, seed: int = 0) -> float:
    torch.manual_seed(seed)
    x_train, y_train, x_val, y_val = make_data()
    model = nn.Sequential(nn.Linear(10, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
    body = [p for module in list(model)[:-1] for p in module.parameters()]
    groups = [{"params": body, "lr": lr}, {"params": model[-1].parameters(), "lr": lr / 10}]
    if optimizer_name == "adamw":
        optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    else:
        optimizer = torch.optim.SGD(groups, momentum=0.9)

    if schedule == "learned":
        scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=steps)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    batches = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (64,), generator=batches)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        if schedule == "learned":
            scheduler.observe(loss)  # the one extra line
        scheduler.step()

    if schedule == "learned" and scheduler.events:
        print(f"  scheduler events: {scheduler.events}")
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x_val), y_val))


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=3e-3, help="your learning rate (the body's; the head gets a tenth)")
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    learned = train("learned", args.lr, args.optimizer, args.steps)
    cosine = train("cosine", args.lr, args.optimizer, args.steps)
    print(f"{args.optimizer} at lr={args.lr:g}, {args.steps} steps — validation MSE: LearnedLRScheduler {learned:.4f}, "
          f"CosineAnnealingLR {cosine:.4f}")
    assert math.isfinite(learned)
    return learned, cosine


if __name__ == "__main__":
    main()
