"""Speed of the learning-rate env and its trainer on CPU: env steps/s and optimizer steps/s per instance.

Run: ``nice python benchmarks/lr_speed.py`` (writes ``benchmarks/lr_speed.json``; ``benchmarks/lr_speed.md``
quotes it). There is one training step, the vmapped batch trainer (``vmap(grad(functional_call))`` over K runs
of one task); the single env ``LRSchedule-v0`` drives it at K=1, the vector env at K=``num_envs``. DACBench's SGD benchmark reports about 0.2-11 env
steps/s (DESIGN §3.3) for the same kind of work (an LR decision per mini-batch window of an MLP/CNN
training run); the ratio column divides our env steps/s by those two ends. Wall-clock figures depend on
machine load: the numbers in the report came from a shared 2-core machine.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from tunegym.envs.lr.env import LRScheduleEnv, LRScheduleVectorEnv
from tunegym.envs.lr.tasks import TrainingTask
from tunegym.envs.lr.trainer import BatchedTrainer

DACBENCH_SGD_ENV_STEPS_PER_S = (0.2, 11.0)
TASKS = {
    "tiny-mlp (env default)": TrainingTask("mlp", "blobs", width=16, n_samples=256, batch_size=32, step_budget=60),
    "mlp-64x2 digits": TrainingTask("mlp", "digits", width=64, depth=2, n_samples=1024, batch_size=64, step_budget=300),
    "cnn-8ch digits": TrainingTask("cnn", "digits", width=8, n_samples=1024, batch_size=64, step_budget=300),
    "char-64": TrainingTask("char", "charseq", width=64, n_samples=1024, batch_size=64, step_budget=300),
}


def _rate(fn, min_seconds: float = 1.0) -> float:
    fn()  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def optimizer_steps(task: TrainingTask, k: int) -> float:
    """Optimizer steps per second per instance of the batch trainer at batch ``k``."""
    batched = BatchedTrainer(task, k, device="cpu")
    lrs = np.full(k, task.lr * 0.3)
    return _rate(lambda: batched.step(lrs)) * k


def env_steps(task: TrainingTask, decision_interval: int, num_envs: int | None) -> float:
    """Env steps (decisions) per second, summed over sub-envs for the vector env."""
    if num_envs is None:
        env = LRScheduleEnv(device="cpu", decision_interval=decision_interval)
        env.reset(options={"instance": task})

        def step() -> None:
            if env.step(3)[2]:
                env.reset(options={"instance": task})

        return _rate(step, 2.0)
    # Autoreset off: every run ends together and the whole batch restarts on the same task, so no step is a bare reset.
    vec = LRScheduleVectorEnv(num_envs, device="cpu", decision_interval=decision_interval, autoreset_mode="disabled")
    vec.reset(options={"instance": task})
    actions = np.full(num_envs, 3)

    def vstep() -> None:
        if vec.step(actions)[2].all():
            vec.reset(options={"instance": task})

    return _rate(vstep, 2.0) * num_envs


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for name, task in TASKS.items():
        row = {"task": name, "optimizer_steps_per_s_per_instance": {}, "env_steps_per_s": {}}
        for k in (1, 8, 32):
            row["optimizer_steps_per_s_per_instance"][f"batched K={k}"] = optimizer_steps(task, k)
        for n in (None, 8, 32):
            row["env_steps_per_s"]["single env" if n is None else f"vector env K={n}"] = env_steps(task, 10, n)
        rows.append(row)
        print(json.dumps(row))
    payload = {"device": "cpu", "torch_threads": 1, "machine": platform.processor() or platform.machine(),
               "decision_interval": 10, "dacbench_sgd_env_steps_per_s": DACBENCH_SGD_ENV_STEPS_PER_S, "rows": rows}
    Path(__file__).with_suffix(".json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
