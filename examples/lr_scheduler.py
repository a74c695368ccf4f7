"""Train a model outside the env's task distribution with the learned LR scheduler (issue 9).

The model is a regression network with LayerNorm (the env only has classifiers), trained with plain
``torch.optim.AdamW`` in two param groups (body and head at a tenth of the body's LR) on generated data,
in the standard loop: ``loss.backward(); optimizer.step(); scheduler.observe(loss); scheduler.step()``.
It compares the learned schedule with cosine decay from the same peak LR and prints the final validation
loss of both. Run: ``python examples/lr_scheduler.py [--tuner PATH]`` (default ``pretrained:lr-schedule``).
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

from tunegym.agents.lr_scheduler import LearnedLRScheduler


def make_data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1200, 10, generator=g)
    y = torch.sin(2.0 * x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3] + 0.1 * torch.randn(1200, 1, generator=g)
    return x[:900], y[:900], x[900:], y[900:]


def train(kind: str, tuner: str, steps: int = 600, seed: int = 0) -> float:
    torch.manual_seed(seed)
    x_train, y_train, x_val, y_val = make_data()
    model = nn.Sequential(nn.Linear(10, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
    body = [p for module in list(model)[:-1] for p in module.parameters()]
    optimizer = torch.optim.AdamW([{"params": body, "lr": 3e-3}, {"params": model[-1].parameters(), "lr": 3e-4}])
    if kind == "learned":
        scheduler = LearnedLRScheduler(optimizer, tuner, total_steps=steps)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    batches = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (64,), generator=batches)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        if kind == "learned":
            scheduler.observe(loss)
        scheduler.step()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x_val), y_val))


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default="pretrained:lr-schedule")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    learned = train("learned", args.tuner, steps=args.steps)
    cosine = train("cosine", args.tuner, steps=args.steps)
    print(f"final validation MSE after {args.steps} steps: learned scheduler {learned:.4f}, cosine {cosine:.4f}")
    assert math.isfinite(learned)
    return learned, cosine


if __name__ == "__main__":
    main()
