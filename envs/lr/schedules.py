"""Named LR schedule shapes (LR / peak LR as a function of training progress), shared by baselines and tuners.

The tuned baselines of ``tunegym bench lr`` and the schedule families a learned tuner chooses among
(:class:`~tunegym.agents.lr_scheduler.ProbeScheduleTuner`) read their curves here, so both follow the
same formulas. This module only computes factors; it chooses no peak and trains nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from tunegym.envs.core.errors import ConfigError

__all__ = ["SCHEDULES", "TUNED_LOG10_PEAKS", "schedule_factor", "schedule_factors"]

SCHEDULES = ("constant", "step", "cosine", "linear", "wsd", "onecycle")
# Stable-decay share of warmup-stable-decay: linear decay to 0 over the last 20 % of training.
WSD_DECAY_FRACTION = 0.2
WSD_WARMUP_FRACTION = 0.05


def schedule_factor(name: str, progress: np.ndarray | float) -> np.ndarray:
    """LR / peak LR at ``progress`` in [0, 1) for the closed-form shapes (no warmup, no OneCycle).

    ``"wsd"`` here is the stable-decay part only (a caller that wants warmup adds it, as
    :func:`schedule_factors` does), because a tuner that probes first has already warmed up.
    """
    p = np.clip(np.asarray(progress, dtype=np.float64), 0.0, 1.0)
    if name == "constant":
        return np.ones_like(p)
    if name == "step":
        return np.where(p < 0.5, 1.0, np.where(p < 0.75, 0.1, 0.01))
    if name == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * p))
    if name == "linear":
        return 1.0 - p
    if name == "wsd":
        return np.clip((1.0 - p) / WSD_DECAY_FRACTION, 0.0, 1.0)
    raise ConfigError(f"schedule must be one of {SCHEDULES}, got {name!r}", value=name)


def schedule_factors(name: str, steps: int) -> np.ndarray:
    """LR / peak LR at each of ``steps`` optimizer steps (``wsd`` with 5 % warmup, ``onecycle`` as torch's)."""
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}", value=steps)
    progress = np.arange(steps) / steps
    if name == "wsd":
        warm = np.minimum(1.0, (np.arange(steps) + 1) / max(1, int(WSD_WARMUP_FRACTION * steps)))
        return np.minimum(warm, schedule_factor("wsd", progress))
    if name == "onecycle":
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([param], lr=1.0)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=steps, cycle_momentum=False)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return np.array(out)
    return schedule_factor(name, progress)


#: The peaks (log10 multipliers of the base LR, per optimizer) ``tunegym bench lr`` tuned for each schedule on
#: its tune seeds only (``benchmarks/lr_results.json``, ``tuned``; command in ``benchmarks/lr.md``). The
#: baselines of ``DOMAIN_BASELINES["lr"]`` play these schedules in the env.
TUNED_LOG10_PEAKS: dict[str, dict[str, float]] = {
    "constant": {"sgd": -0.5, "adamw": 0.5},
    "step": {"sgd": -0.5, "adamw": 1.0},
    "cosine": {"sgd": -0.5, "adamw": 1.0},
    "linear": {"sgd": -0.5, "adamw": 1.0},
    "wsd": {"sgd": -0.5, "adamw": 1.0},
    "onecycle": {"sgd": 0.0, "adamw": 1.0},
}
