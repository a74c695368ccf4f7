"""``tunegym bench lr``: tuned LR schedules vs the learned scheduler on real torch training runs (issue 9).

Protocol. Tune tasks come from :func:`~tunegym.envs.lr.tasks.standard_distribution` with seeds 0..T-1
only; test tasks from seeds 100.. of the same distribution ("seen family") and of
:func:`~tunegym.envs.lr.tasks.unseen_distribution` (wine / breast-cancer MLPs, never tuned on).

* Baselines: constant, step decay (x0.1 at 50 % and 75 %), cosine, linear decay, warmup-stable-decay
  (5 % warmup, linear decay over the last 20 %), OneCycle (the LR curve of ``torch.optim.lr_scheduler.
  OneCycleLR``, momentum not cycled), each with one peak multiplier of the task's base LR chosen on the
  tune tasks (grid of half decades, criterion: mean ln(val loss / best val loss on that task)). All
  schedules x peaks of one task train as one vmapped batch from the same initial weights and minibatches.
  Schedule-free AdamW (``schedulefree.AdamWScheduleFree``, if installed) replaces the task's optimizer,
  peak tuned the same way, run with the plain single-run path.
* Learned: an :class:`~tunegym.agents.lr_scheduler.LRSchedulePolicy` (MLP on the env features, validation
  masked), initialised by regression onto the best tuned baseline and improved by the cross-entropy
  method on the tune tasks; population members train as one vmapped batch in ``LRScheduleVectorEnv``.
  The mean policy of the generation with the best score is kept (scores come from different task draws,
  so this is a noisy choice).
* Score: final validation loss and accuracy per test task (a diverged run, or one whose validation loss
  reaches 10, scores loss 10 and accuracy 0);
  IQM over tasks with a 95 % percentile bootstrap over tasks (``tunegym.tuning.stats``), plus the IQM of
  the loss ratio to the best tuned baseline on that task (losses floored at ``LOSS_FLOOR`` = 1e-4 in ratios).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunegym.envs.core.seeding import stream
from tunegym.envs.lr.tasks import LRTaskDistribution, TrainingTask, standard_distribution, tiny_distribution, unseen_distribution
from tunegym.envs.lr.trainer import BatchedTrainer, SingleTrainer

__all__ = ["register", "run", "schedule_factors", "SCHEDULES"]

SCHEDULES = ("constant", "step", "cosine", "linear", "wsd", "onecycle")
PEAKS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)  # log10 multipliers of the base LR
DIVERGED_LOSS = 10.0
# Losses below this count as solved: ratios of float32 losses that underflow to 0 mean nothing.
LOSS_FLOOR = 1e-4
DECISION_INTERVAL = 10


def schedule_factors(name: str, steps: int) -> np.ndarray:
    """LR / peak LR at each of ``steps`` optimizer steps."""
    progress = np.arange(steps) / steps
    if name == "constant":
        return np.ones(steps)
    if name == "step":
        return np.where(progress < 0.5, 1.0, np.where(progress < 0.75, 0.1, 0.01))
    if name == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * progress))
    if name == "linear":
        return 1.0 - progress
    if name == "wsd":
        warm = np.minimum(1.0, (np.arange(steps) + 1) / max(1, int(0.05 * steps)))
        decay = np.clip((1.0 - progress) / 0.2, 0.0, 1.0)
        return np.minimum(warm, decay)
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
    raise ValueError(name)


def _log_ratio(loss: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(loss, LOSS_FLOOR) / np.maximum(reference, LOSS_FLOOR))


def run_schedules(task: TrainingTask, candidates: list[tuple[str, float]], run: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Final (val loss, val accuracy) of each (schedule, log10 peak), all in one vmapped batch."""
    steps = task.step_budget
    trainer = BatchedTrainer(task, len(candidates), device="cpu", runs=[run] * len(candidates))
    curves = np.stack([task.lr * 10.0**peak * schedule_factors(name, steps) for name, peak in candidates])
    for s in range(steps):
        trainer.step(curves[:, s])
    loss, acc = trainer.evaluate()
    return _capped(loss, acc)


def _capped(loss: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN/inf or >= ``DIVERGED_LOSS`` validation loss is a diverged run: loss DIVERGED_LOSS, accuracy 0."""
    loss, acc = np.asarray(loss, dtype=np.float64), np.asarray(acc, dtype=np.float64)
    bad = ~np.isfinite(loss) | (loss >= DIVERGED_LOSS)
    return np.where(bad, DIVERGED_LOSS, loss), np.where(bad, 0.0, acc)


def run_schedulefree(task: TrainingTask, log10_peak: float, run: int = 0) -> tuple[float, float]:
    import schedulefree

    single = SingleTrainer(task, run=run, device="cpu")
    model, rng = single.model, single._rng
    opt = schedulefree.AdamWScheduleFree(model.parameters(), lr=3e-3 * 10.0**log10_peak,
                                         warmup_steps=max(1, int(0.05 * task.step_budget)), weight_decay=task.weight_decay)
    opt.train()
    n = single._x_train.shape[0]
    for _ in range(task.step_budget):
        idx = torch.as_tensor(rng.choice(n, size=min(task.batch_size, n), replace=False))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(single._x_train[idx]), single._y_train[idx])
        if not torch.isfinite(loss):
            return DIVERGED_LOSS, 0.0
        loss.backward()
        opt.step()
    opt.eval()
    val_loss, val_acc = _capped(*single.evaluate())
    return float(val_loss), float(val_acc)


def run_policies(task: TrainingTask, policies: list[Any], run: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Final (val loss, accuracy) of each policy on ``task``; all policies train one vmapped batch."""
    from tunegym.envs.lr.env import LRScheduleVectorEnv

    env = LRScheduleVectorEnv(len(policies), action="continuous", decision_interval=policies[0].decision_interval,
                              val_every=10**6, device="cpu", common_run=run)
    obs, _ = env.reset(options={"instance": task})
    loss = np.full(len(policies), DIVERGED_LOSS)
    acc = np.zeros(len(policies))
    done = np.zeros(len(policies), dtype=bool)
    while not done.all():
        actions = np.array([[p.act(o)] for p, o in zip(policies, obs)], dtype=np.float32)
        obs, _, done_now, _, info = env.step(actions)
        for i in range(len(policies)):
            if done_now[i] and not done[i] and info["val_loss"][i] is not None:
                loss[i], acc[i] = info["val_loss"][i], info["val_accuracy"][i]
        done = done_now
    return _capped(loss, acc)


def _tasks(distribution: LRTaskDistribution, seeds: range | list[int]) -> list[TrainingTask]:
    return [distribution.sample(stream(seed, "instances")) for seed in seeds]


def _fit_policy_to_schedule(policy: Any, tasks: list[TrainingTask], name: str, peak: float, seed: int) -> None:
    """Behaviour cloning: regress the policy's output onto ``peak * schedule(progress)`` on real observations."""
    from tunegym.envs.lr.env import LRScheduleEnv

    observations, targets = [], []
    for task in tasks:
        env = LRScheduleEnv(action="continuous", decision_interval=policy.decision_interval, val_every=10**6, device="cpu")
        obs, _ = env.reset(options={"instance": task})
        factors = schedule_factors(name, task.step_budget)
        done, step = False, 0
        while not done:
            target = float(np.clip(peak + np.log10(max(factors[min(step, task.step_budget - 1)], 1e-6)), policy.log10_low, policy.log10_high))
            observations.append(obs)
            targets.append(target)
            obs, _, done, _, _ = env.step(np.array([target], dtype=np.float32))
            step += policy.decision_interval
    x = torch.as_tensor(np.array(observations), dtype=torch.float64)
    low, span = policy._low, policy._span
    scaled = 2.0 * (x - low) / span - 1.0
    if not policy.use_validation:
        scaled = scaled * policy._mask
    y = torch.as_tensor(np.array(targets), dtype=torch.float64)
    y_logit = torch.logit(((y - policy.log10_low) / (policy.log10_high - policy.log10_low)).clamp(1e-3, 1 - 1e-3))
    torch.manual_seed(seed)
    opt = torch.optim.Adam(policy.net.parameters(), lr=1e-2)
    for _ in range(1500):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(policy.net(scaled)[:, 0], y_logit)
        loss.backward()
        opt.step()


def train_learned_policy(tune_tasks: list[TrainingTask], best_loss: np.ndarray, best: tuple[str, float], *,
                         generations: int, population: int, tasks_per_generation: int, seed: int,
                         log=print) -> tuple[Any, list[dict[str, float]]]:
    """Behaviour cloning onto the best tuned baseline, then the cross-entropy method on tune tasks."""
    from tunegym.agents.lr_scheduler import LRSchedulePolicy

    policy = LRSchedulePolicy(8, decision_interval=DECISION_INTERVAL, seed=seed)
    _fit_policy_to_schedule(policy, tune_tasks[:2], best[0], best[1], seed)
    rng = stream(seed, "agent")
    mean = policy.get_flat()
    sigma = np.full(mean.size, 0.3)
    n_elite = max(2, population // 4)
    history = []
    kept_mean, kept_score = mean.copy(), np.inf
    members = [LRSchedulePolicy(8, decision_interval=DECISION_INTERVAL) for _ in range(population)]
    for gen in range(generations):
        candidates = mean + sigma * rng.standard_normal((population, mean.size))
        candidates[0] = mean  # the current mean is always evaluated (elitism)
        for member, flat in zip(members, candidates):
            member.set_flat(flat)
        picks = rng.choice(len(tune_tasks), size=min(tasks_per_generation, len(tune_tasks)), replace=False)
        scores = np.zeros(population)
        for t in picks:
            loss, _ = run_policies(tune_tasks[t], members, run=1 + gen)
            scores += _log_ratio(loss, best_loss[t]) / len(picks)
        if scores[0] < kept_score:  # the best-scoring mean so far is what ships (CEM can collapse late)
            kept_mean, kept_score = candidates[0].copy(), float(scores[0])
        order = np.argsort(scores)
        elite = candidates[order[:n_elite]]
        mean = elite.mean(axis=0)
        sigma = np.maximum(0.7 * sigma + 0.3 * elite.std(axis=0), 0.02)
        history.append({"generation": gen, "mean_member_score": float(scores[0]), "best_score": float(scores[order[0]])})
        log(f"  CEM gen {gen}: mean-policy ln(loss/best)={scores[0]:+.3f}  best member={scores[order[0]]:+.3f}")
    policy.set_flat(kept_mean)
    return policy, history


def _summary(losses: np.ndarray, accs: np.ndarray, ratios: np.ndarray) -> dict[str, Any]:
    from tunegym.tuning.stats import iqm, stratified_bootstrap_ci

    return {
        "iqm_val_loss": iqm(losses), "ci_val_loss": stratified_bootstrap_ci(losses[:, None]),
        "iqm_val_accuracy": iqm(accs), "ci_val_accuracy": stratified_bootstrap_ci(accs[:, None]),
        "iqm_loss_ratio_to_best_baseline": iqm(ratios), "ci_loss_ratio": stratified_bootstrap_ci(ratios[:, None]),
        "n_tasks": int(losses.size), "diverged": int(np.sum(losses >= DIVERGED_LOSS)),
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lr", help="LR schedules (tuned peak) vs the learned LR scheduler on torch training runs")
    parser.add_argument("--out", default="runs/bench-lr")
    parser.add_argument("--tune-seeds", type=int, default=8, help="tune tasks: standard distribution seeds 0..N-1")
    parser.add_argument("--test-seeds", type=int, default=10, help="test tasks per distribution, seeds 100..")
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--tasks-per-generation", type=int, default=3)
    parser.add_argument("--save-policy", default=None, help="also write the learned policy here (tuner file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny tasks and sizes (CI)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seen = tiny_distribution() if args.smoke else standard_distribution()
    unseen = tiny_distribution() if args.smoke else unseen_distribution()
    tune_tasks = _tasks(seen, range(args.tune_seeds))
    test_sets = {"seen": _tasks(seen, range(100, 100 + args.test_seeds)),
                 "unseen": _tasks(unseen, range(100, 100 + args.test_seeds))}
    try:
        import schedulefree  # noqa: F401
        have_sf = True
    except ImportError:
        have_sf = False

    # 1. Tune every schedule's peak on the tune tasks.
    candidates = [(name, peak) for name in SCHEDULES for peak in PEAKS]
    tune_loss = np.array([run_schedules(task, candidates)[0] for task in tune_tasks])  # [tasks, candidates]
    sf_loss = np.array([[run_schedulefree(task, peak)[0] for peak in PEAKS] for task in tune_tasks]) if have_sf else None
    best_per_task = tune_loss.min(axis=1)
    if sf_loss is not None:
        best_per_task = np.minimum(best_per_task, sf_loss.min(axis=1))
    tune_score = _log_ratio(tune_loss, best_per_task[:, None]).mean(axis=0)
    tuned = {}
    for name in SCHEDULES:
        idx = [i for i, (n, _) in enumerate(candidates) if n == name]
        j = idx[int(np.argmin(tune_score[idx]))]
        tuned[name] = {"log10_peak": candidates[j][1], "tune_score": float(tune_score[j])}
    if sf_loss is not None:
        sf_score = _log_ratio(sf_loss, best_per_task[:, None]).mean(axis=0)
        tuned["schedulefree_adamw"] = {"log10_peak": PEAKS[int(np.argmin(sf_score))], "tune_score": float(sf_score.min())}
    best_name = min((n for n in SCHEDULES), key=lambda n: tuned[n]["tune_score"])
    print(f"tuned peaks: { {k: v['log10_peak'] for k, v in tuned.items()} }; best on tune tasks: {best_name}")

    # 2. Learn a policy on the tune tasks.
    policy, history = train_learned_policy(
        tune_tasks, best_per_task, (best_name, tuned[best_name]["log10_peak"]),
        generations=args.generations, population=args.population, tasks_per_generation=args.tasks_per_generation, seed=args.seed,
    )
    provenance = {"made_by": f"tunegym bench lr --out {args.out} --tune-seeds {args.tune_seeds} --generations {args.generations} "
                             f"--population {args.population} --seed {args.seed}" + (" --smoke" if args.smoke else ""),
                  "tune_seeds": list(range(args.tune_seeds)), "distribution": seen.describe() | {"params": str(seen.params)}}
    policy.save(out / "lr-schedule.pt", provenance=provenance)
    if args.save_policy:
        policy.save(args.save_policy, provenance=provenance)

    # 3. Test: every method on every test task (run 0; never seen during tuning).
    results: dict[str, Any] = {}
    per_task: dict[str, list[dict[str, Any]]] = {}
    for split, tasks in test_sets.items():
        methods = list(SCHEDULES) + (["schedulefree_adamw"] if have_sf else []) + ["learned"]
        loss = {m: [] for m in methods}
        acc = {m: [] for m in methods}
        rows = []
        for task in tasks:
            l_b, a_b = run_schedules(task, [(n, tuned[n]["log10_peak"]) for n in SCHEDULES])
            for i, n in enumerate(SCHEDULES):
                loss[n].append(l_b[i]); acc[n].append(a_b[i])
            if have_sf:
                l_sf, a_sf = run_schedulefree(task, tuned["schedulefree_adamw"]["log10_peak"])
                loss["schedulefree_adamw"].append(l_sf); acc["schedulefree_adamw"].append(a_sf)
            l_p, a_p = run_policies(task, [policy])
            loss["learned"].append(l_p[0]); acc["learned"].append(a_p[0])
            rows.append({"task": task.describe(), **{m: loss[m][-1] for m in methods}})
        best = np.min([loss[m] for m in methods if m != "learned"], axis=0)
        results[split] = {m: _summary(np.array(loss[m]), np.array(acc[m]), np.exp(_log_ratio(np.array(loss[m]), best))) for m in methods}
        per_task[split] = rows
    payload = {"tuned": tuned, "best_on_tune": best_name, "cem_history": history, "results": results, "per_task": per_task,
               "tune_seeds": list(range(args.tune_seeds)), "test_seeds": list(range(100, 100 + args.test_seeds)),
               "wall_s": time.time() - started, "smoke": bool(args.smoke)}
    (out / "lr.json").write_text(json.dumps(payload, indent=1, default=float))
    lines = [f"# tunegym bench lr{' (smoke)' if args.smoke else ''}", "",
             f"Tuned log10 peak multipliers: {json.dumps({k: v['log10_peak'] for k, v in tuned.items()})}; best on tune tasks: {best_name}.", ""]
    for split in test_sets:
        lines += [f"## {split} test tasks ({args.test_seeds})", "",
                  "| method | IQM val loss [95% CI] | IQM val acc [95% CI] | IQM loss / best tuned baseline [95% CI] | diverged |",
                  "|---|---|---|---|---|"]
        for m, s in sorted(results[split].items(), key=lambda kv: kv[1]["iqm_loss_ratio_to_best_baseline"]):
            lines.append(f"| {m} | {s['iqm_val_loss']:.4f} [{s['ci_val_loss'][0]:.4f}, {s['ci_val_loss'][1]:.4f}] | "
                         f"{s['iqm_val_accuracy']:.3f} [{s['ci_val_accuracy'][0]:.3f}, {s['ci_val_accuracy'][1]:.3f}] | "
                         f"{s['iqm_loss_ratio_to_best_baseline']:.3f} [{s['ci_loss_ratio'][0]:.3f}, {s['ci_loss_ratio'][1]:.3f}] | {s['diverged']} |")
        lines.append("")
    (out / "lr.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'lr.json'}, {out / 'lr.md'} ({time.time() - started:.0f} s)")
    return 0
