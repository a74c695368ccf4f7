"""``tunegym bench lr``: tuned LR schedules vs a bandit-learned scheduler on real torch training runs (issue 9).

Protocol (seeds from :class:`~tunegym.tuning.seeds.SeedSplit`; tuning never sees a test seed):

* Tasks. Tune tasks: :func:`~tunegym.envs.lr.tasks.standard_distribution` at the tune seeds, each trained
  ``--runs`` times (run ids 0.., i.e. other initial weights and minibatch orders). Test tasks: the test
  seeds of the same distribution ("seen") and of :func:`~tunegym.envs.lr.tasks.unseen_distribution`
  (wine / breast-cancer MLPs of other widths, depths, batch sizes and budgets; never tuned on), run 0.
* Baselines: constant, step decay (x0.1 at 50 % and 75 %), cosine, linear decay, warmup-stable-decay,
  OneCycle (:mod:`tunegym.envs.lr.schedules`), and schedule-free AdamW if ``schedulefree`` is installed.
  Each has one peak multiplier of the base LR *per optimizer* (SGD+momentum, AdamW), chosen on the tune
  runs of that optimizer from a half-decade grid by the divergence-averse score
  ``mean ln(val loss / best on that run) + DIVERGENCE_WEIGHT x fraction diverged``.
* Learned: a :class:`~tunegym.agents.lr_scheduler.ProbeScheduleTuner` whose arms are schedule family x
  peak, played after a 20-step probe that follows the default arm (the best tuned baseline of the run's
  optimizer kind, so keeping it *is* that baseline), chosen by a LinUCB contextual bandit
  (:class:`~tunegym.agents.bandits.contextual.LinUCB`) on the probe's context (optimizer kind, loss level,
  noise and trend, gradient-norm level and noise). The bandit learns online with bandit feedback (only the
  played arm's reward) over ``--rounds`` rounds that replay the tune runs; every arm of a run is trained
  once, as one vmapped batch, so a round costs a table look-up instead of a training run. The shipped
  tuner is conservative around the best tuned baseline: per optimizer kind its default arm is that
  baseline (family and tuned peak), and it leaves it only for an arm whose lower confidence bound beats
  it (``ProbeScheduleTuner.choose``). LinUCB's exploration width and feature degree and the pessimism
  come from ``BANDIT_GRID`` x ``PESSIMISM_GRID`` by leave-one-family-out cross-validation over the tune
  tasks (hold out e.g. every char-model run, train on the rest, score on it): the tune-side stand-in
  for the unseen distribution. Reward:
  ``-min(ln(val loss / best on that run), 5)``, minus 1 more if the run diverged. At test time the tuner
  runs in ``LRSchedule-v0`` (continuous action) like any policy. Baseline peaks are tuned first (pass 1);
  the learned arms are trained on the same tune runs afterwards (pass 2), because their probe follows the
  tuned baseline.
* Score: final validation loss and accuracy per test task (a diverged run, or one whose validation loss
  reaches 10, scores loss 10 and accuracy 0); IQM over tasks with a 95 % percentile bootstrap
  (``tunegym.tuning.stats``), the IQM of the loss ratio to the per-task best baseline, and the goal check:
  paired per-task ratio of the learned loss to that of the best single tuned baseline (chosen on tune
  runs, and the best on the test split in hindsight), with IQM, bootstrap CI and win/loss counts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.envs.core.seeding import stream
from tunegym.envs.lr.features import ScheduleFeatures
from tunegym.envs.lr.schedules import SCHEDULES, schedule_factors
from tunegym.envs.lr.tasks import LRTaskDistribution, TrainingTask, standard_distribution, tiny_distribution, unseen_distribution
from tunegym.envs.lr.trainer import BatchedTrainer, PlainRun

__all__ = ["register", "run", "schedule_factors", "SCHEDULES", "LEARNED_ARMS", "train_probe_tuner", "plot_results"]

PEAKS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)  # log10 multipliers of the base LR
LEARNED_FAMILIES = ("constant", "step", "cosine", "linear", "wsd")
LEARNED_PEAKS = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
LEARNED_ARMS = tuple((family, peak) for family in LEARNED_FAMILIES for peak in LEARNED_PEAKS)
PROBE_DECISIONS = 2
PROBE_LOG10 = -1.0
DIVERGED_LOSS = 10.0
DIVERGENCE_WEIGHT = 1.0
REWARD_CAP = 5.0
# Losses below this count as solved: ratios of float32 losses that underflow to 0 mean nothing.
LOSS_FLOOR = 1e-4
DECISION_INTERVAL = 10
OPTIMIZERS = ("sgd", "adamw")
# The divergence guard of newly trained tuners (``--no-guard`` turns it off): ramp up to an arm far above the
# probe's LR by at most half a decade per decision, and revert to the default arm (the tuned baseline) when the
# train loss after leaving it exceeds GUARD_LOSS_FACTOR x the loss at the switch. Chosen on tune runs only.
GUARD_LOSS_FACTOR = 2.0
GUARD_RAMP_LOG10 = 0.5


def _log_ratio(loss: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(loss, LOSS_FLOOR) / np.maximum(reference, LOSS_FLOOR))


def _capped(loss: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN/inf or >= ``DIVERGED_LOSS`` validation loss is a diverged run: loss DIVERGED_LOSS, accuracy 0."""
    loss, acc = np.asarray(loss, dtype=np.float64), np.asarray(acc, dtype=np.float64)
    bad = ~np.isfinite(loss) | (loss >= DIVERGED_LOSS)
    return np.where(bad, DIVERGED_LOSS, loss), np.where(bad, 0.0, acc)


def run_lr_curves(task: TrainingTask, log10_curves: np.ndarray, run: int = 0, *, probe_lane: int | None = None,
                  probe_decisions: int = PROBE_DECISIONS, decision_interval: int = DECISION_INTERVAL,
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
    """Train one lane per row of ``log10_curves`` ([lanes, steps], log10 multipliers of the base LR) as one batch.

    All lanes start from run ``run``'s weights and see its minibatches. Returns final (val loss, val
    accuracy) per lane and, if ``probe_lane`` is given, that lane's observations at decisions ``0 ..
    probe_decisions`` (what a :class:`ProbeScheduleTuner` sees up to its choice in the env; :func:`probe_context`).
    """
    steps = task.step_budget
    lanes = log10_curves.shape[0]
    trainer = BatchedTrainer(task, lanes, device="cpu", runs=[run] * lanes)
    lrs = task.lr * 10.0 ** log10_curves
    features = ScheduleFeatures(total_steps=steps) if probe_lane is not None else None
    probe_obs = None if features is None else [features.observation(None)]
    window_losses: list[float] = []
    window_grads: list[float] = []
    for s in range(steps):
        loss, grad = trainer.step(lrs[:, s])
        if features is not None and len(probe_obs) <= probe_decisions:
            window_losses.append(loss[probe_lane])
            window_grads.append(grad[probe_lane])
            taken = s + 1
            if taken % decision_interval == 0 or taken == steps:
                features.record(None, features.window_record(window_losses, window_grads, log10_curves[probe_lane, s]))
                window_losses, window_grads = [], []
                probe_obs.append(features.observation(None))
    loss, acc = trainer.evaluate()
    return (*_capped(loss, acc), probe_obs)


def probe_context(tuner: Any, task: TrainingTask, observations: list[np.ndarray]) -> np.ndarray:
    """The context a :class:`ProbeScheduleTuner` chooses its arm on in ``task``, from the probe lane's observations
    (:func:`run_lr_curves`): a copy of ``tuner`` is reset for the task (optimizer kind, user's LR) and acts on them,
    exactly as in the env or a :class:`LearnedLRScheduler`."""
    import copy

    from tunegym.agents.lr_scheduler import is_adaptive_optimizer

    probe = copy.deepcopy(tuner)
    probe.reset(adaptive=is_adaptive_optimizer(task.optimizer), base_lr=task.lr)
    for obs in observations:
        probe.act(obs)
        if probe.chosen_context is not None:
            return probe.chosen_context
    return probe.context(observations[-1])  # a run shorter than the probe: its last observation


def run_schedules(task: TrainingTask, candidates: list[tuple[str, float]], run: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Final (val loss, val accuracy) of each (schedule, log10 peak), all in one vmapped batch."""
    curves = np.stack([peak + np.log10(np.maximum(schedule_factors(name, task.step_budget), 1e-12)) for name, peak in candidates])
    loss, acc, _ = run_lr_curves(task, curves, run)
    return loss, acc


def run_schedulefree(task: TrainingTask, log10_peak: float, run: int = 0) -> tuple[float, float]:
    """Schedule-free AdamW (replacing the task's optimizer) at ``3e-3 x 10**log10_peak``, 5 % warmup."""
    import schedulefree
    import torch  # here, not at module level: `tunegym --help` builds this module's parser without torch

    plain = PlainRun(task, run=run, device="cpu")  # run `run`'s weights, data and minibatches, in a plain loop
    model = plain.model
    opt = schedulefree.AdamWScheduleFree(model.parameters(), lr=3e-3 * 10.0**log10_peak,
                                         warmup_steps=max(1, int(0.05 * task.step_budget)), weight_decay=task.weight_decay)
    opt.train()
    for _ in range(task.step_budget):
        x, y = plain.next_batch()
        opt.zero_grad()
        loss = plain.loss(model(x), y)
        if not torch.isfinite(loss):
            return DIVERGED_LOSS, 0.0
        loss.backward()
        opt.step()
    opt.eval()
    val_loss, val_acc = _capped(*plain.evaluate())
    return float(val_loss), float(val_acc)


def run_tuner(task: TrainingTask, tuner: Any) -> tuple[float, float]:
    """Final (val loss, accuracy) of a schedule tuner driving ``LRSchedule-v0`` (continuous action) on run 0 of ``task``."""
    from tunegym.agents.lr_scheduler import is_adaptive_optimizer
    from tunegym.envs.lr.env import LRScheduleEnv

    if callable(getattr(tuner, "reset", None)):
        tuner.reset(adaptive=is_adaptive_optimizer(task.optimizer), base_lr=task.lr)
    env = LRScheduleEnv(action="continuous", decision_interval=tuner.decision_interval, val_every=10**6, device="cpu")
    obs, _ = env.reset(options={"instance": task})
    done, info = False, {}
    while not done:
        action, _ = tuner.predict(obs)  # the normalised continuous action for the tuner's log10 multiplier
        obs, _, done, _, info = env.step(action)
    loss, acc = _capped(np.array([np.nan if info.get("val_loss") is None else info["val_loss"]]),
                        np.array([0.0 if info.get("val_accuracy") is None else info["val_accuracy"]]))
    return float(loss[0]), float(acc[0])


def _tasks(distribution: LRTaskDistribution, seeds: tuple[int, ...] | range) -> list[TrainingTask]:
    return [distribution.sample(stream(seed, "instances")) for seed in seeds]


def _untrained_tuner(degree: int = 1, *, guard: bool = True) -> Any:
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES, DivergenceGuard, ProbeScheduleTuner

    dim = 1 + len(CONTEXT_NAMES) * degree
    return ProbeScheduleTuner(list(LEARNED_ARMS), np.zeros((len(LEARNED_ARMS), dim)), np.zeros(len(LEARNED_ARMS)),
                              degree=degree, decision_interval=DECISION_INTERVAL, probe_decisions=PROBE_DECISIONS,
                              probe_log10=PROBE_LOG10,
                              guard=DivergenceGuard(GUARD_LOSS_FACTOR, GUARD_RAMP_LOG10) if guard else None)


def arm_rewards(loss: np.ndarray, best: float) -> np.ndarray:
    """The bandit's reward for each arm's final loss on a run whose best known loss is ``best``."""
    reward = -np.minimum(_log_ratio(loss, np.full_like(loss, best)), REWARD_CAP)
    return reward - (loss >= DIVERGED_LOSS) * 1.0


def train_probe_tuner(contexts: np.ndarray, rewards: np.ndarray, *, rounds: int, seed: int, alpha: float = 0.5,
                      degree: int = 1, default_arms: tuple[int, int] | None = None, pessimism: float = 0.0,
                      guard: bool = True, log=print, untrained: Any = None) -> tuple[Any, list[dict[str, float]]]:
    """LinUCB on replayed tune runs: round t draws a run, the bandit sees its context, plays one arm, and
    learns only that arm's reward. Returns the :class:`ProbeScheduleTuner` that plays the bandit's estimates
    (greedy, or conservative around ``default_arms`` with ``pessimism``) and a learning curve.
    ``untrained(degree)``: the tuner to fill (default: this bench's arms, :func:`_untrained_tuner`)."""
    from tunegym.agents.bandits.contextual import LinUCB
    from tunegym.agents.lr_scheduler import CONTEXT_HIGH, CONTEXT_LOW

    tuner = _untrained_tuner(degree, guard=guard) if untrained is None else untrained(degree)
    bandit = LinUCB(len(tuner.arms), {"alpha": alpha, "ridge": 1.0, "degree": degree}, seed=seed,
                    context_low=CONTEXT_LOW, context_high=CONTEXT_HIGH)
    rng = stream(seed, "bandit-replay")
    history, window = [], []
    for t in range(int(rounds)):
        i = int(rng.integers(len(contexts)))
        arm = bandit.select(contexts[i])
        bandit.update(contexts[i], arm, float(rewards[i, arm]))
        window.append(rewards[i, arm] - rewards[i].max())  # regret vs the best arm of that run
        if (t + 1) % max(1, rounds // 10) == 0:
            history.append({"round": t + 1, "mean_regret_last": float(np.mean(window))})
            log(f"  bandit round {t + 1}: mean regret over last {len(window)} rounds {np.mean(window):.3f}")
            window = []
    tuner.use_bandit(bandit)
    tuner.default_arms = None if default_arms is None else tuple(int(a) for a in default_arms)
    tuner.pessimism = float(pessimism)
    return tuner, history


BANDIT_GRID = tuple((alpha, degree) for alpha in (0.25, 1.0, 3.0, 10.0) for degree in (1, 2))
PESSIMISM_GRID = (0.0, 1.0, 3.0, 10.0)


def _policy_score(arm_loss: np.ndarray, best: np.ndarray, chosen: np.ndarray) -> float:
    """The divergence-averse score of playing ``chosen[i]`` on run i (mean ln ratio + weight x diverged share)."""
    played = arm_loss[np.arange(len(chosen)), chosen]
    return float(np.mean(_log_ratio(played, best) + DIVERGENCE_WEIGHT * (played >= DIVERGED_LOSS)))


def select_bandit_config(contexts: np.ndarray, rewards: np.ndarray, arm_loss: np.ndarray, best: np.ndarray,
                         group_of_run: np.ndarray, default_arms: tuple[int, int], *, rounds: int, seed: int,
                         log=print) -> tuple[tuple[float, int, float], dict[str, float]]:
    """(alpha, degree, pessimism) by leave-one-family-out cross-validation over the *tune* tasks.

    Each fold holds out every run of one task family (e.g. all char-model tasks), trains the bandit on the
    others and scores the tuner on the held-out family: a stand-in, inside the tune seeds, for the unseen
    task distribution of the test. Test tasks play no part.
    """
    groups = sorted(set(group_of_run.tolist()))
    scores: dict[str, float] = {}
    for alpha, degree in BANDIT_GRID:
        held_out = {beta: 0.0 for beta in PESSIMISM_GRID}
        for group in groups:
            test = group_of_run == group
            train = ~test
            if not train.any():
                continue
            tuner, _ = train_probe_tuner(contexts[train], rewards[train], rounds=max(1, int(rounds * train.mean())), seed=seed,
                                         alpha=alpha, degree=degree, default_arms=default_arms, log=lambda *_: None)
            for beta in PESSIMISM_GRID:
                tuner.pessimism = beta
                chosen = np.array([tuner.choose(c) for c in contexts[test]])
                held_out[beta] += _policy_score(arm_loss[test], best[test], chosen) * test.sum() / len(contexts)
        for beta in PESSIMISM_GRID:
            scores[f"alpha={alpha},degree={degree},pessimism={beta}"] = float(held_out[beta])
            log(f"  CV alpha={alpha} degree={degree} pessimism={beta}: held-out-family score {held_out[beta]:.3f}")
    key = min(scores, key=scores.get)
    parts = dict(item.split("=") for item in key.split(","))
    return (float(parts["alpha"]), int(parts["degree"]), float(parts["pessimism"])), scores


def default_arms_for(tuned: dict[str, Any], best_name: str) -> tuple[int, int]:
    """Per optimizer kind (SGD, AdamW): the arm nearest the best tuned baseline (its family, else cosine;
    the learned peak nearest its tuned peak). A schedule-free baseline maps to cosine at its peak."""
    family = best_name if best_name in LEARNED_FAMILIES else "cosine"
    out = []
    for opt in OPTIMIZERS:
        peak = float(tuned[best_name]["log10_peak"][opt])
        nearest = min(LEARNED_PEAKS, key=lambda p: abs(p - peak))
        out.append(LEARNED_ARMS.index((family, nearest)))
    return out[0], out[1]


def _summary(losses: np.ndarray, accs: np.ndarray, ratios: np.ndarray) -> dict[str, Any]:
    from tunegym.tuning.stats import iqm, stratified_bootstrap_ci

    return {
        "iqm_val_loss": iqm(losses), "ci_val_loss": stratified_bootstrap_ci(losses[:, None]),
        "iqm_val_accuracy": iqm(accs), "ci_val_accuracy": stratified_bootstrap_ci(accs[:, None]),
        "iqm_loss_ratio_to_best_baseline": iqm(ratios), "ci_loss_ratio": stratified_bootstrap_ci(ratios[:, None]),
        "n_tasks": int(losses.size), "diverged": int(np.sum(losses >= DIVERGED_LOSS)),
    }


def _paired(learned: np.ndarray, baseline: np.ndarray) -> dict[str, Any]:
    """IQM (and 95 % bootstrap CI) of the per-task ratio learned / baseline, and win/tie/loss counts (1 % tie band)."""
    from tunegym.tuning.stats import iqm, stratified_bootstrap_ci

    ratio = np.exp(_log_ratio(learned, baseline))
    return {"iqm_ratio": iqm(ratio), "ci_ratio": stratified_bootstrap_ci(ratio[:, None]),
            "wins": int(np.sum(ratio < 0.99)), "ties": int(np.sum(np.abs(ratio - 1) <= 0.01)), "losses": int(np.sum(ratio > 1.01))}


def write_tuner_card(policy_path: str | Path, payload: dict[str, Any]) -> Path:
    """The ``NAME.json`` beside a saved tuner: what it is, the command that made it, how it scored (from ``payload``)."""
    policy_path = Path(policy_path)
    goal = payload["goal"]
    card = {
        "name": policy_path.stem,
        "kind": "lr-schedule-bandit",
        "summary": ("ProbeScheduleTuner: a 20-step probe that follows the default arm (the best tuned baseline for the "
                    f"optimizer kind), then one schedule family x peak multiplier of {len(payload['learned_arms'])} arms "
                    "chosen from the probe's loss / gradient-norm statistics and the optimizer kind by a LinUCB contextual "
                    "bandit; multipliers of each param group's initial LR, for LearnedLRScheduler."
                    + ("" if not payload["bandit_config"].get("guard") else
                       f" Divergence guard {payload['bandit_config']['guard']}: ramp up to an arm far above the probe's LR, and "
                       "revert to the default arm when the train loss after the switch exceeds loss_factor x its value at the switch.")),
        "made_by": [payload["command"]],
        "training": (f"LinUCB (alpha={payload['bandit_config']['alpha']}, degree={payload['bandit_config']['degree']}, "
                     f"pessimism={payload['bandit_config']['pessimism']} around default arms "
                     f"{payload['bandit_config']['default_arms']}, chosen by leave-one-family-out CV over tune tasks), {len(payload['bandit_history']) and payload['bandit_history'][-1]['round']} "
                     f"replayed rounds over standard_distribution tune seeds {payload['seed_split']['tune'][0]}-"
                     f"{payload['seed_split']['tune'][-1]} x {payload['runs_per_task']} runs"),
        "evaluation": {
            "report": "benchmarks/lr.md",
            **{f"{split}_learned_over_{g['best_on_tune']}_iqm_ratio": g["vs_best_on_tune"]["iqm_ratio"] for split, g in goal.items()},
            **{f"{split}_learned_over_best_in_hindsight_{g['best_in_hindsight']}_iqm_ratio": g["vs_best_in_hindsight"]["iqm_ratio"]
               for split, g in goal.items()},
        },
    }
    out = policy_path.with_suffix(".json")
    out.write_text(json.dumps(card, indent=2) + "\n")
    return out


def plot_results(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> str | None:
    """``lr.png``: per test split, each method's IQM loss / per-task best baseline with its 95% CI (1 = the
    best baseline on every task). Returns why the plot was skipped (no matplotlib), else ``None``."""
    try:
        import matplotlib
    except ImportError:
        return 'no plot: matplotlib is not installed (pip install "tunegym[report]")'
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (split_name, methods) in zip(axes[0], results.items()):
        ordered = sorted(methods.items(), key=lambda kv: kv[1]["iqm_loss_ratio_to_best_baseline"])
        names = [m for m, _ in ordered]
        centre = np.array([s["iqm_loss_ratio_to_best_baseline"] for _, s in ordered])
        low = np.array([s["ci_loss_ratio"][0] for _, s in ordered])
        high = np.array([s["ci_loss_ratio"][1] for _, s in ordered])
        colours = ["tab:red" if m == "learned" else "tab:blue" for m in names]
        ax.barh(names, centre, xerr=[np.maximum(centre - low, 0), np.maximum(high - centre, 0)], color=colours,
                capsize=3)
        ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xlabel("IQM val loss / per-task best baseline [95% CI]")
        ax.set_title(f"{split_name} test tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_out, add_seeds

    parser = subparsers.add_parser("lr", help="LR schedules (tuned peak per optimizer) vs a bandit-learned LR scheduler")
    add_out(parser, default="runs/bench-lr", help="output directory (lr.json, lr.md, lr.png, lr-schedule.pt)")
    add_seeds(parser, default="tune=0-15,test=100-119",
              help="tune tasks and test tasks (per distribution): tune=LOW-HIGH,test=LOW-HIGH (default "
                   "tune=0-15,test=100-119)")
    parser.add_argument("--runs", type=int, default=2, help="training runs per tune task (other init/minibatches)")
    parser.add_argument("--rounds", type=int, default=4000, help="bandit rounds (replayed tune runs)")
    parser.add_argument("--save-policy", default=None, help="also write the learned tuner here (e.g. agents/pretrained/lr-schedule.pt)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny tasks (CI)")
    parser.add_argument("--no-guard", action="store_true", help="train and ship the tuner without its divergence guard")
    parser.add_argument("--suite", default=None, metavar="NAME",
                        help="run a registered LR suite instead (e.g. lr-user-rate: the scheduler at the user's own LR, "
                             "tuned on its tune family, tested on unseen families; tuning/benches/lr_suite.py); "
                             "--save-policy then ships the suite's tuner")
    parser.add_argument("--scale", default="smoke", choices=("smoke", "full"), help="suite scale (with --suite)")
    parser.add_argument("--final", action="store_true", help="with --suite: test on the final-test split (logged in "
                                                             "OUT/../final_test_ledger.jsonl)")
    parser.set_defaults(func=run)


def run_suite_command(args: argparse.Namespace) -> int:
    """``tunegym bench lr --suite NAME``: the suite runner, and with ``--save-policy`` the shipped tuner and its card."""
    import shutil

    from tunegym.tuning.benches.lr_suite import run_suite, write_card
    from tunegym.tuning.stats import claims_to_markdown
    from tunegym.tuning.suites import Ledger, get_suite

    suite = get_suite(args.suite)
    out = Path(args.out)
    command = (f"tunegym bench lr --suite {args.suite} --scale {args.scale} --out {args.out} --seed {args.seed}"
               + (" --final" if args.final else "") + (f" --save-policy {args.save_policy}" if args.save_policy else ""))
    from tunegym.tuning.benches import all as bench_all

    bench_all.start_context(command)
    if args.final:
        Ledger(out.parent).record(suite, suite.methods, note=command)
    claims = run_suite(suite, args.scale, out, final=args.final, seed=args.seed)
    print(claims_to_markdown(claims))
    if args.save_policy:
        shutil.copyfile(out / "lr-schedule.pt", args.save_policy)
        card = write_card(args.save_policy, json.loads((out / "lr_suite.json").read_text()), command)
        print(f"wrote {args.save_policy} and {card}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    if getattr(args, "suite", None):
        return run_suite_command(args)
    torch.set_num_threads(1)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tunegym.tuning.commands.common import seed_split

    split = seed_split(args.seeds)
    seen = tiny_distribution() if args.smoke else standard_distribution()
    unseen = tiny_distribution() if args.smoke else unseen_distribution()
    tune_tasks = _tasks(seen, split.tune)
    test_sets = {"seen": _tasks(seen, split.test), "unseen": _tasks(unseen, split.test)}
    try:
        import schedulefree  # noqa: F401
        have_sf = True
    except ImportError:
        have_sf = False
    guard = not getattr(args, "no_guard", False)

    # 1. Train every baseline candidate on every tune run (one vmapped batch per run).
    candidates = [(name, peak) for name in SCHEDULES for peak in PEAKS]
    tune_runs = [(t, r) for t in range(len(tune_tasks)) for r in range(args.runs)]
    base_loss = np.zeros((len(tune_runs), len(candidates)))
    sf_loss = np.full((len(tune_runs), len(PEAKS)), np.inf)
    optimizer_of = np.array([tune_tasks[t].optimizer for t, _ in tune_runs])
    for row, (t, r) in enumerate(tune_runs):
        task = tune_tasks[t]
        curves = [peak + np.log10(np.maximum(schedule_factors(name, task.step_budget), 1e-12)) for name, peak in candidates]
        base_loss[row] = run_lr_curves(task, np.stack(curves), r)[0]
        if have_sf:
            sf_loss[row] = [run_schedulefree(task, peak, r)[0] for peak in PEAKS]
        print(f"tune task {t} run {r} ({task.family}/{task.dataset}/{task.optimizer}, {task.step_budget} steps): "
              f"best baseline {base_loss[row].min():.4f} ({time.time() - started:.0f} s)")
    baseline_best = np.minimum(base_loss.min(axis=1), sf_loss.min(axis=1))

    # 2. Per-optimizer peaks of the baselines, divergence-averse score.
    def score(losses: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return (_log_ratio(losses[rows], baseline_best[rows, None]).mean(axis=0)
                + DIVERGENCE_WEIGHT * (losses[rows] >= DIVERGED_LOSS).mean(axis=0))

    tuned: dict[str, dict[str, Any]] = {}
    methods_base = list(SCHEDULES) + (["schedulefree_adamw"] if have_sf else [])
    for name in methods_base:
        tuned[name] = {"log10_peak": {}, "tune_score": {}}
        for opt in OPTIMIZERS:
            rows = np.flatnonzero(optimizer_of == opt)
            if rows.size == 0:
                tuned[name]["log10_peak"][opt], tuned[name]["tune_score"][opt] = 0.0, float("nan")
                continue
            if name == "schedulefree_adamw":
                s = score(sf_loss, rows)
                j = int(np.argmin(s))
                tuned[name]["log10_peak"][opt], tuned[name]["tune_score"][opt] = PEAKS[j], float(s[j])
            else:
                idx = [i for i, (n, _) in enumerate(candidates) if n == name]
                s = score(base_loss[:, idx], rows)
                j = int(np.argmin(s))
                tuned[name]["log10_peak"][opt], tuned[name]["tune_score"][opt] = candidates[idx[j]][1], float(s[j])
        counts = {opt: int(np.sum(optimizer_of == opt)) for opt in OPTIMIZERS}
        tuned[name]["overall_score"] = float(sum(counts[o] * tuned[name]["tune_score"][o] for o in OPTIMIZERS if counts[o])
                                             / max(1, sum(counts.values())))
    best_name = min(methods_base, key=lambda n: tuned[n]["overall_score"])
    print(f"tuned peaks: { {k: v['log10_peak'] for k, v in tuned.items()} }; best on tune runs: {best_name}")

    # 2b. Every learned arm on every tune run, after a probe that follows the default arm (the best tuned
    #     baseline) of the run's optimizer, so the probe's context is what the deployed tuner will see.
    #     With the guard on, an arm far above the probe's LR is trained with the guard's (open-loop) ramp; the
    #     guard's loss check is feedback and is not in this table: it acts only when the tuner is deployed.
    defaults = default_arms_for(tuned, best_name)
    probe = _untrained_tuner(guard=guard)
    probe.default_arms = defaults
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES

    arm_loss = np.zeros((len(tune_runs), len(LEARNED_ARMS)))
    contexts = np.zeros((len(tune_runs), len(CONTEXT_NAMES)))
    for row, (t, r) in enumerate(tune_runs):
        task = tune_tasks[t]
        adaptive = task.optimizer == "adamw"
        curves = np.stack([probe.planned_log10(a, task.step_budget, adaptive=adaptive) for a in range(len(LEARNED_ARMS))])
        arm_loss[row], _, probe_obs = run_lr_curves(task, curves, r, probe_lane=0)
        contexts[row] = probe_context(probe, task, probe_obs)
    best_per_run = np.minimum(baseline_best, arm_loss.min(axis=1))
    print(f"learned arms trained on the tune runs ({time.time() - started:.0f} s)")

    # 3. The bandit learns which arm to play from the probe context (bandit feedback, replayed tune runs).
    rewards = np.stack([arm_rewards(arm_loss[i], best_per_run[i]) for i in range(len(tune_runs))])
    group_of_run = np.array([f"{tune_tasks[t].family}/{tune_tasks[t].dataset}" for t, _ in tune_runs])
    (alpha, degree, pessimism), cv_scores = select_bandit_config(contexts, rewards, arm_loss, best_per_run, group_of_run,
                                                                 defaults, rounds=args.rounds, seed=args.seed)
    tuner, history = train_probe_tuner(contexts, rewards, rounds=args.rounds, seed=args.seed, alpha=alpha, degree=degree,
                                       default_arms=defaults, pessimism=pessimism, guard=guard)
    chosen = np.array([tuner.choose(c) for c in contexts])
    tune_learned_score = _policy_score(arm_loss, baseline_best, chosen)  # on the scale of the baselines' scores
    command = (f"tunegym bench lr --out {args.out} --seeds {args.seeds} --runs {args.runs} --rounds {args.rounds} "
               f"--seed {args.seed}" + (" --smoke" if args.smoke else "") + ("" if guard else " --no-guard")
               + (f" --save-policy {args.save_policy}" if args.save_policy else ""))
    provenance = {"made_by": command, "tune_seeds": list(split.tune), "runs_per_task": args.runs,
                  "distribution": seen.describe() | {"params": str(seen.params)}, "bandit": "LinUCB", "alpha": alpha,
                  "degree": degree, "pessimism": pessimism, "cv_scores": cv_scores}
    tuner.save(out / "lr-schedule.pt", provenance=provenance)
    if args.save_policy:
        tuner.save(args.save_policy, provenance=provenance)

    # 4. Test: every method on every test task (run 0 of test seeds; never seen while tuning).
    results: dict[str, Any] = {}
    goal: dict[str, Any] = {}
    per_task: dict[str, list[dict[str, Any]]] = {}
    methods = methods_base + ["learned"]
    for split_name, tasks in test_sets.items():
        loss = {m: [] for m in methods}
        acc = {m: [] for m in methods}
        rows = []
        for task in tasks:
            l_b, a_b = run_schedules(task, [(n, tuned[n]["log10_peak"][task.optimizer]) for n in SCHEDULES])
            for i, n in enumerate(SCHEDULES):
                loss[n].append(l_b[i]); acc[n].append(a_b[i])
            if have_sf:
                l_sf, a_sf = run_schedulefree(task, tuned["schedulefree_adamw"]["log10_peak"][task.optimizer])
                loss["schedulefree_adamw"].append(l_sf); acc["schedulefree_adamw"].append(a_sf)
            l_p, a_p = run_tuner(task, tuner)
            loss["learned"].append(l_p); acc["learned"].append(a_p)
            rows.append({"task": task.describe(), "learned_arm": list(LEARNED_ARMS[tuner.arm]) if tuner.arm is not None else None,
                         "guard_fired": bool(tuner.guard_fired), **{m: loss[m][-1] for m in methods}})
        arrays = {m: np.array(loss[m]) for m in methods}
        best = np.min([arrays[m] for m in methods_base], axis=0)
        results[split_name] = {m: _summary(arrays[m], np.array(acc[m]), np.exp(_log_ratio(arrays[m], best))) for m in methods}
        from tunegym.tuning.stats import iqm

        hindsight = min(methods_base, key=lambda m: iqm(arrays[m]))
        goal[split_name] = {"best_on_tune": best_name, "vs_best_on_tune": _paired(arrays["learned"], arrays[best_name]),
                            "best_in_hindsight": hindsight, "vs_best_in_hindsight": _paired(arrays["learned"], arrays[hindsight]),
                            "learned_iqm_loss": iqm(arrays["learned"]), "best_on_tune_iqm_loss": iqm(arrays[best_name]),
                            "best_in_hindsight_iqm_loss": iqm(arrays[hindsight])}
        per_task[split_name] = rows
    payload = {"command": command, "seed_split": split.as_dict(), "runs_per_task": args.runs, "tuned": tuned,
               "best_on_tune": best_name, "learned_tune_score": tune_learned_score,
               "bandit_config": {"alpha": alpha, "degree": degree, "pessimism": pessimism,
                                 "default_arms": {o: list(LEARNED_ARMS[a]) for o, a in zip(OPTIMIZERS, defaults)},
                                 "guard": None if tuner.guard is None else tuner.guard.as_dict()},
               "bandit_cv_scores": cv_scores, "learned_arms": [list(a) for a in LEARNED_ARMS],
               "tune_arm_choices": [list(LEARNED_ARMS[c]) for c in chosen], "bandit_history": history, "results": results,
               "goal": goal, "per_task": per_task, "wall_s": time.time() - started, "smoke": bool(args.smoke)}
    (out / "lr.json").write_text(json.dumps(payload, indent=1, default=float))
    if args.save_policy:
        write_tuner_card(args.save_policy, json.loads((out / "lr.json").read_text()))
    lines = [f"# tunegym bench lr{' (smoke)' if args.smoke else ''}", "", f"Command: `{command}`", "",
             f"Tuned log10 peaks per optimizer: {json.dumps({k: v['log10_peak'] for k, v in tuned.items()})}; "
             f"best on tune runs: {best_name} (score {tuned[best_name]['overall_score']:.3f}); learned on tune runs: {tune_learned_score:.3f} "
             f"(LinUCB alpha={alpha}, degree={degree}, pessimism={pessimism}, default arms "
             f"{ {o: LEARNED_ARMS[a] for o, a in zip(OPTIMIZERS, defaults)} }, chosen by leave-one-family-out CV over tune tasks).", ""]
    for split_name in test_sets:
        g = goal[split_name]
        lines += [f"## {split_name} test tasks ({len(test_sets[split_name])})", "",
                  "| method | IQM val loss [95% CI] | IQM val acc [95% CI] | IQM loss / per-task best baseline [95% CI] | diverged |",
                  "|---|---|---|---|---|"]
        for m, s in sorted(results[split_name].items(), key=lambda kv: kv[1]["iqm_val_loss"]):
            lines.append(f"| {m} | {s['iqm_val_loss']:.4f} [{s['ci_val_loss'][0]:.4f}, {s['ci_val_loss'][1]:.4f}] | "
                         f"{s['iqm_val_accuracy']:.3f} [{s['ci_val_accuracy'][0]:.3f}, {s['ci_val_accuracy'][1]:.3f}] | "
                         f"{s['iqm_loss_ratio_to_best_baseline']:.3f} [{s['ci_loss_ratio'][0]:.3f}, {s['ci_loss_ratio'][1]:.3f}] | {s['diverged']} |")
        for key, label in (("vs_best_on_tune", f"best on tune runs ({g['best_on_tune']})"),
                           ("vs_best_in_hindsight", f"best on this split in hindsight ({g['best_in_hindsight']})")):
            p = g[key]
            lines.append(f"\nLearned / {label}: IQM ratio {p['iqm_ratio']:.3f} [{p['ci_ratio'][0]:.3f}, {p['ci_ratio'][1]:.3f}], "
                         f"wins/ties/losses {p['wins']}/{p['ties']}/{p['losses']}.")
        lines.append("")
    (out / "lr.md").write_text("\n".join(lines) + "\n")
    note = plot_results(results, out / "lr.png")
    print("\n".join(lines))
    print(f"wrote {out / 'lr.json'}, {out / 'lr.md'}" + (f" ({note})" if note else f", {out / 'lr.png'}")
          + f" ({time.time() - started:.0f} s)")
    return 0
