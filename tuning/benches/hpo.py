"""``tunegym bench hpo``: compare HPO methods by the test-seed score of the configuration each one picks.

For every method, ``runs`` independent HPO runs (different sampler seeds and tune-seed rotations) each tune
the agent on tune seeds and hand their best configuration to the final evaluation on test seeds. The unit of
comparison is the run. Reported: IQM of the test scores with stratified bootstrap 95% CIs, probability of
improvement between methods, a performance profile, and anytime curves (best validation score so far against
training steps spent, pruned trials counting what they used). JSON + Markdown + PNG, in ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["register", "compare", "run_hpo_suite", "separation", "rank_methods", "SUITE_TASKS", "SUITE_METHODS"]


def _one_run(kwargs: dict[str, Any]) -> dict[str, Any]:
    from tunegym.tuning.commands.tune import tune

    best = tune(**kwargs)
    trials = json.loads((Path(kwargs["out"]) / "trials.json").read_text())["trials"]
    steps, best_so_far, current = [], [], float("inf")
    spent = 0
    for trial in trials:
        spent += int(trial["steps"] or 0)
        values = [trial["value"]] if trial["state"] == "COMPLETE" else []
        if trial["state"] == "PRUNED" and trial["intermediate"]:
            values = [list(trial["intermediate"].values())[-1]]
        for value in values:
            if value is not None:
                current = min(current, float(value))
        steps.append(spent)
        best_so_far.append(current)
    return {"test_score": best["test_score"], "validation_score": best["validation_score"], "config": best["config"],
            "anytime_steps": steps, "anytime_best": best_so_far}


def compare(results: dict[str, list[dict[str, Any]]], *, seed: int = 0) -> dict[str, Any]:
    """Statistics over runs for each method (lower scores are better)."""
    from tunegym.tuning.stats import iqm, performance_profile, probability_of_improvement, stratified_bootstrap_ci

    scores = {m: np.array([r["test_score"] for r in runs]) for m, runs in results.items()}
    summary = {}
    for method, values in scores.items():
        low, high = stratified_bootstrap_ci(values, reps=2000, seed=seed)
        summary[method] = {"iqm": iqm(values), "ci95": [low, high], "mean": float(values.mean()),
                           "runs": values.tolist()}
    methods = list(scores)
    improvement = {a: {b: probability_of_improvement(scores[a], scores[b]) for b in methods if b != a}
                   for a in methods}
    everything = np.concatenate(list(scores.values()))
    thresholds = np.linspace(everything.min(), everything.max(), 50)
    profiles = {m: performance_profile(v, thresholds).tolist() for m, v in scores.items()}
    return {"summary": summary, "probability_of_improvement": improvement,
            "profile": {"thresholds": thresholds.tolist(), "fraction_at_or_below": profiles}}


def _markdown(config: dict[str, Any], stats: dict[str, Any]) -> str:
    lines = [f"HPO methods tuning `{config['agent']}` on `{config['env']}`: {config['runs']} runs per method, "
             f"{config['trials']} trials per run, {config['budget']} training steps per trial; scores are the mean "
             f"cost per env step of each run's chosen config on test seeds {config['seeds']['test']} "
             "(lower is better).", "",
             "| method | IQM test score | 95% CI (stratified bootstrap) | runs |", "|---|---:|---:|---|"]
    for method, entry in stats["summary"].items():
        runs = ", ".join(f"{v:.1f}" for v in entry["runs"])
        lines.append(f"| {method} | {entry['iqm']:.2f} | {entry['ci95'][0]:.2f}–{entry['ci95'][1]:.2f} | {runs} |")
    methods = list(stats["summary"])
    lines += ["", "Probability that the row method's run beats the column method's (P(X < Y)):", "",
              "| | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for a in methods:
        cells = ["–" if a == b else f"{stats['probability_of_improvement'][a][b]:.2f}" for b in methods]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plots(results: dict[str, list[dict[str, Any]]], stats: dict[str, Any], out: Path) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the bench's plots")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for method, runs in results.items():
        horizon = max(r["anytime_steps"][-1] for r in runs)
        grid = np.linspace(0, horizon, 100)
        curves = []
        for r in runs:
            steps, best = np.array(r["anytime_steps"]), np.array(r["anytime_best"])
            index = np.searchsorted(steps, grid, side="right") - 1
            curves.append(np.where(index >= 0, best[np.clip(index, 0, None)], np.nan))
        with warnings.catch_warnings():  # before a run's first finished trial its curve is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            left.plot(grid, np.nanmean(np.array(curves), axis=0), label=method)
        right.plot(stats["profile"]["thresholds"], stats["profile"]["fraction_at_or_below"][method], label=method)
    left.set(xlabel="training steps spent", ylabel="best validation cost so far (mean over runs)",
             title="anytime performance")
    right.set(xlabel="test cost threshold", ylabel="fraction of runs at or below", title="performance profile")
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "hpo.png", dpi=80)
    plt.close(fig)


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_device, add_out, add_seeds

    parser = subparsers.add_parser("hpo", help="compare HPO methods over independent runs, scored on test seeds")
    parser.add_argument("--env", required=True)
    parser.add_argument("--env-kwargs", default="{}")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--space", default=None, help="search-space YAML (default: the agent's own)")
    parser.add_argument("--methods", default="random,tpe,hyperband")
    parser.add_argument("--runs", type=int, default=3, help="independent HPO runs per method")
    parser.add_argument("--trials", type=int, default=12, help="trials per run")
    parser.add_argument("--budget", type=int, default=1000, help="training steps per trial")
    parser.add_argument("--eval-steps", type=int, default=200)
    add_seeds(parser)
    parser.add_argument("--workers", type=int, default=1, help="HPO runs in parallel processes")
    add_device(parser, default="cpu")
    add_out(parser, required=True, help="output directory (results.json, results.md, plots, one study per run)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.commands.common import seed_split
    from tunegym.tuning.spaces import default_space, load_space

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        get_method(method)
    if args.runs < 1:
        raise ConfigError("--runs must be positive", value=args.runs)
    split = seed_split(args.seeds)
    space = load_space(args.space) if args.space else default_space(args.agent)
    env_kwargs = json.loads(args.env_kwargs)
    out = Path(args.out)
    jobs = []
    for method in methods:
        for run_index in range(args.runs):
            jobs.append((method, dict(env=args.env, agent=args.agent, out=out / method / f"run{run_index}",
                                      method=method, trials=args.trials, budget=args.budget, space=space,
                                      env_kwargs=env_kwargs, split=split, eval_steps=args.eval_steps,
                                      seed=run_index, resume=(out / method / f"run{run_index}" / "study.db").exists(),
                                      progress=False, device=getattr(args, "device", None) or "cpu")))
    if args.workers > 1:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            outcomes = list(pool.map(_one_run, [kwargs for _, kwargs in jobs]))
    else:
        from tqdm import tqdm

        outcomes = [_one_run(kwargs) for _, kwargs in tqdm(jobs, desc="HPO runs", unit="run")]
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for (method, _), outcome in zip(jobs, outcomes):
        results[method].append(outcome)
    stats = compare(results)
    config = {"env": args.env, "env_kwargs": env_kwargs, "agent": args.agent, "space": space, "methods": methods,
              "runs": args.runs, "trials": args.trials, "budget": args.budget, "eval_steps": args.eval_steps,
              "seeds": split.as_dict()}
    payload = {"config": config, "seeds": split.as_dict(), "versions": versions(), "statistics": stats,
               "runs": results}
    atomic_write_bytes(out / "results.json", json.dumps(payload, indent=2).encode())
    table = _markdown(config, stats)
    atomic_write_bytes(out / "results.md", table.encode())
    _plots(results, stats, out)
    print(table)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'hpo.png'}")
    return 0


# ---- the discriminating suite ------------------------------------------------------------------------------
# ``bench hpo`` above tunes one agent on one env. The suite below runs every method on a list of tasks whose
# landscapes separate methods at the suite's budget, and says per task whether they do: a task where the
# best and the worst method's test scores over independent runs do not differ (Welch's t-test, p >= 0.05;
# see ``separation``) is a tie, reported as such and left out of the ranking. ``run_hpo_suite`` is what
# ``tunegym bench all`` calls.

#: Methods the suite compares by default (PBT needs bandits and keeps no study: run it with ``bench hpo``).
SUITE_METHODS: tuple[str, ...] = ("random", "tpe", "hyperband", "dehb", "smac", "smac-mf")


def _synthetic_objective_class() -> type:
    from dataclasses import dataclass

    from tunegym.tuning.objective import Objective
    from tunegym.tuning.seeds import SeedSplit

    @dataclass(frozen=True)
    class SyntheticObjective(Objective):
        """A labelled-synthetic HPO landscape with the harness's protocol (tune seeds, rungs, test guard).

        The cost of a config is a curved valley in log learning rate and log batch size (their optimum moves
        together, as in SGD's linear-scaling rule) plus a categorical offset and a discount term; training
        for a fraction ``phi`` of the budget adds a bias ``(1 - phi)`` times a config-dependent term (low
        fidelities rank configs roughly, not exactly) and noise of scale ``0.15 / sqrt(phi)`` drawn from the
        validation seed and the config. Test scores average the noise-free cost with noise over test seeds.
        """

        def cost(self, config: Mapping[str, Any], phi: float, seed: int | None) -> float:
            log_lr = np.log10(config["learning_rate"])
            log_batch = np.log2(config["batch_size"])
            valley = (log_lr + 3.0 - 0.35 * (log_batch - 6.0)) ** 2 * 4.0 + 0.15 * (log_batch - 7.5) ** 2
            offset = {"adam": 0.0, "rmsprop": 0.25, "sgd": 0.6}[config["optimizer"]]
            discount = 6.0 * (config["gamma"] - 0.97) ** 2 / 0.01
            value = 1.0 + valley + offset + discount + (1.0 - phi) * (0.5 + 0.3 * abs(log_lr + 3.0))
            if seed is not None:
                key = [int(seed), int(config["learning_rate"] * 1e12) % 2**31, int(config["batch_size"]),
                       int(config["gamma"] * 1e9) % 2**31]
                value += 0.15 / np.sqrt(phi) * float(np.random.default_rng(key).standard_normal())
            return float(value)

        def __call__(self, trial: Any, config: Mapping[str, Any], run_seed: int = 0, *, budget: int | None = None,
                     number: int | None = None) -> float:
            import optuna

            budget = self.budget if budget is None else int(budget)
            number = trial.number if number is None else int(number)
            seeds = self.split.check(self.split.trial_seeds(number, self.seeds_per_trial, run_seed))
            score = float("nan")
            for rung in range(1, self.rungs + 1):
                target = int(round(budget * rung / self.rungs))
                score = float(np.mean([self.cost(config, target / self.budget, SeedSplit.derived(s, "validation"))
                                       for s in seeds]))
                trial.report(score, target)
                trial.set_user_attr("steps", target * len(seeds))
                if rung < self.rungs and trial.should_prune():
                    raise optuna.TrialPruned()
            return score

        def final_score(self, config: Mapping[str, Any]) -> dict[str, Any]:
            with self.split.final_evaluation() as test_seeds:
                per_seed = [self.cost(config, 1.0, SeedSplit.derived(s, "validation")) for s in test_seeds]
            return {"test_score": float(np.mean(per_seed)), "per_test_seed": per_seed, "train_seed": None}

    return SyntheticObjective


SYNTHETIC_SPACE = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "batch_size": {"type": "int", "low": 8, "high": 1024, "log": True},
    "optimizer": {"type": "categorical", "choices": ["adam", "rmsprop", "sgd"]},
    "gamma": {"type": "float", "low": 0.9, "high": 0.999},
}

def _at_equal_compute(task: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``task`` at equal *compute*: every method may spend trials x steps training steps, so methods that stop
    trials early (Hyperband, DEHB, SMAC-MF) run more of them. A task of its own: its scores do not pair with
    ``task``'s."""
    return {**task, "compute": True, **changes}


_SYNTHETIC_VALLEY = {"env": "synthetic", "agent": "synthetic", "env_kwargs": {}, "space": SYNTHETIC_SPACE,
                     "smoke": (10, 90, 1), "full": (40, 900, 1)}
_LINUCB_SORHEAT16 = {"env": "tunegym/SORHeat-v0", "agent": "linucb", "env_kwargs": {"grid": 16},
                     "space": {"alpha": {"type": "float", "low": 0.001, "high": 30.0, "log": True},
                               "degree": {"type": "int", "low": 1, "high": 6}},
                     "smoke": (6, 60, 20), "full": (20, 600, 100)}
_PPO_SOR = {"env": "tunegym/SOR-v0", "agent": "ppo", "env_kwargs": {},
            "space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                      "n_steps": {"type": "categorical", "choices": [32, 64, 128, 256]},
                      "ent_coef": {"type": "float", "low": 1e-8, "high": 0.1, "log": True},
                      "gamma": {"type": "float", "low": 0.0, "high": 0.999}},
            "smoke": None, "full": (16, 1024, 100)}

#: The suite's tasks: per scale, (trials per run, training steps per trial, validation steps). ``None``: the
#: task is not run at that scale. The RL tasks also run at equal compute: at equal trial counts the
#: multi-fidelity methods get no credit for the training steps their early stops save.
SUITE_TASKS: dict[str, dict[str, Any]] = {
    "synthetic-valley": _SYNTHETIC_VALLEY,
    "synthetic-valley-compute": _at_equal_compute(_SYNTHETIC_VALLEY),
    "linucb-sorheat16": _LINUCB_SORHEAT16,
    "ppo-sor": _PPO_SOR,
    "linucb-sorheat16-compute": _at_equal_compute(_LINUCB_SORHEAT16, smoke=None),
    "ppo-sor-compute": _at_equal_compute(_PPO_SOR),
}


def _suite_objective(task: dict[str, Any], budget: int, eval_steps: int, split: Any) -> Any:
    from tunegym.tuning.objective import Objective

    if task["env"] == "synthetic":
        return _synthetic_objective_class()("synthetic", "synthetic", budget, split, eval_steps=eval_steps)
    return Objective(task["env"], task["agent"], budget, split, dict(task["env_kwargs"]), 1, eval_steps)


def _suite_run(job: dict[str, Any]) -> dict[str, Any]:
    """One HPO run of one method on one task: study in ``OUT/TASK/METHOD/runN``, best config on test seeds."""
    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.runner import run_study, trial_records

    task, method, run_index, out = job["task"], job["method"], job["run"], Path(job["out"])
    trials, budget, eval_steps = task[job["scale"]]
    objective = _suite_objective(task, budget, eval_steps, job["split"])
    out.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    chosen = get_method(method)
    max_steps = None
    if task.get("compute"):  # equal compute: trials x budget full-fidelity steps; the trial count is only a cap
        max_steps = trials * budget * objective.seeds_per_trial
        trials = trials * objective.rungs if chosen.multi_fidelity else trials
    study = run_study(objective, task["space"], chosen, trials, storage=storage, study_name=f"{method}-seed{run_index}",
                      seed=run_index, resume=True, progress=False, max_steps=max_steps)
    records = trial_records(study)
    complete = [t for t in records if t["state"] == "COMPLETE" and t["value"] is not None]
    best = min(complete, key=lambda t: t["value"])
    final = objective.final_score(best["params"])
    steps, by_steps, by_trials, current, spent = [], [], [], float("inf"), 0
    for trial in records:
        spent += int(trial["steps"] or 0)
        if trial["state"] == "COMPLETE" and trial["value"] is not None:
            current = min(current, float(trial["value"]))
        steps.append(spent)
        by_steps.append(current)
    by_trials = list(by_steps)
    result = {"task": job["name"], "method": method, "run": run_index, "test_score": final["test_score"],
              "validation_score": best["value"], "config": best["params"], "anytime_steps": steps,
              "anytime_best": by_steps, "anytime_trials": list(range(1, len(records) + 1)),
              "anytime_best_by_trial": by_trials}
    atomic_write_bytes(out / "trials.json", json.dumps({"trials": records}, indent=2).encode())
    atomic_write_bytes(out / "best.json", json.dumps({**result, "per_test_seed": final["per_test_seed"],
                                                      "seeds": job["split"].as_dict()}, indent=2).encode())
    return result


def separation(scores: dict[str, list[float]], *, alpha: float = 0.05) -> dict[str, Any]:
    """Does a task separate methods? Compare the best and the worst method's final scores over their runs.

    ``gap`` is the worst minus the best method's mean final score (lower is better); ``spread`` the standard
    error of that difference, ``sqrt(s_best²/n_best + s_worst²/n_worst)``; ``p_value`` Welch's t-test of the two
    methods' runs (SciPy; unequal variances). ``tie`` unless ``p_value < alpha``: if the two methods farthest
    apart cannot be told apart over independent runs, no pair can, and the task says nothing about the
    methods at this scale. (Welch rather than a paired test: with 5 runs a signed-rank test cannot reach
    0.05, and the runs share only the tune-seed rotation.) Screening the extreme pair is a one-family test
    of "do any methods differ", not a claim about that pair.
    """
    from scipy import stats

    means = {m: float(np.mean(v)) for m, v in scores.items()}
    stds = {m: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for m, v in scores.items()}
    best, worst = min(means, key=means.get), max(means, key=means.get)
    gap = means[worst] - means[best]
    a, b = np.asarray(scores[best], dtype=float), np.asarray(scores[worst], dtype=float)
    spread = float(np.sqrt(stds[best] ** 2 / a.size + stds[worst] ** 2 / b.size))
    if a.size < 2 or b.size < 2 or gap <= 0.0:
        p_value = 1.0
    elif spread == 0.0:
        p_value = 0.0  # both methods constant over runs, and different
    else:
        p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return {"means": means, "stds": stds, "best": best, "worst": worst, "gap": gap, "spread": spread,
            "p_value": p_value, "alpha": alpha, "tie": bool(not p_value < alpha)}


def rank_methods(per_task: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Mean rank of each method's mean score over the tasks that are not ties (1 = best; equal means share
    the average of their ranks)."""
    ranks: dict[str, list[float]] = {}
    for verdict in per_task.values():
        if verdict["tie"]:
            continue
        from scipy.stats import rankdata

        names = list(verdict["means"])
        positions = rankdata([verdict["means"][m] for m in names], method="average")  # equal means share a rank
        for method, position in zip(names, positions):
            ranks.setdefault(method, []).append(float(position))
    return {m: float(np.mean(r)) for m, r in sorted(ranks.items(), key=lambda item: np.mean(item[1]))}


def _suite_plot(name: str, runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the HPO suite's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for method, results in runs.items():
        length = min(len(r["anytime_best_by_trial"]) for r in results)
        curves = np.array([r["anytime_best_by_trial"][:length] for r in results], dtype=float)
        curves[~np.isfinite(curves)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            line, = left.plot(np.arange(1, length + 1), np.nanmean(curves, axis=0), label=method)
            horizon = max(r["anytime_steps"][-1] for r in results)
            grid = np.linspace(0, horizon, 100)
            by_steps = []
            for r in results:
                index = np.searchsorted(np.array(r["anytime_steps"]), grid, side="right") - 1
                best = np.array(r["anytime_best"], dtype=float)
                best[~np.isfinite(best)] = np.nan
                by_steps.append(np.where(index >= 0, best[np.clip(index, 0, None)], np.nan))
            right.plot(grid, np.nanmean(np.array(by_steps), axis=0), color=line.get_color(), label=method)
    left.set(xlabel="trials", ylabel="best full-budget validation score so far (mean over runs)", title=name)
    right.set(xlabel="training steps spent", title=f"{name}: by steps")
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_hpo_suite(scale: str, out: Path, methods: tuple[str, ...] | list[str] = SUITE_METHODS,
                  runs: int | None = None, *, tasks: list[str] | None = None, workers: int = 1) -> dict[str, Any]:
    """Every method on every task of ``scale`` (``smoke``: 2 runs, tiny budgets; ``full``: 5 runs), ``runs``
    independent HPO runs each (run ``k`` uses sampler seed ``k``). Writes ``hpo.md``, ``hpo.json`` and one
    ``hpo_TASK.png`` (anytime curves) into ``out`` and returns ``{"scores": {task: {method: [final test
    score per run]}}, "separation": {task: verdict}, "ranking": {method: mean rank}, ...}``; run ``k`` of
    every method meets the same tune-seed rotation, so scores pair over (run, task)."""
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.seeds import SeedSplit

    if scale not in ("smoke", "full"):
        raise ConfigError(f"unknown suite scale {scale!r}; choices: ['smoke', 'full']", value=scale)
    runs = runs if runs is not None else (2 if scale == "smoke" else 5)
    if runs < 1:
        raise ConfigError("runs must be positive", value=runs)
    methods = list(methods)
    for method in methods:
        if get_method(method).population:
            raise ConfigError(f"{method} keeps no study; the suite compares study methods", value=method)
    names = [t for t in (tasks or SUITE_TASKS) if SUITE_TASKS[t].get(scale)] if tasks is None else list(tasks)
    unknown = [t for t in names if t not in SUITE_TASKS]
    if unknown:
        raise ConfigError(f"unknown suite tasks {unknown}; choices: {sorted(SUITE_TASKS)}", value=unknown)
    split = SeedSplit()
    out = Path(out)
    jobs = [{"name": name, "task": SUITE_TASKS[name], "scale": scale, "method": method, "run": k, "split": split,
             "out": str(out / name / method / f"run{k}")}
            for name in names for method in methods for k in range(runs)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_suite_run, jobs))
    else:
        results = [_suite_run(job) for job in jobs]
    by_task: dict[str, dict[str, list[dict[str, Any]]]] = {n: {m: [] for m in methods} for n in names}
    for result in results:
        by_task[result["task"]][result["method"]].append(result)
    scores = {n: {m: [r["test_score"] for r in rs] for m, rs in by_task[n].items()} for n in names}
    verdicts = {n: separation(scores[n]) for n in names}
    ranking = rank_methods(verdicts)
    for name in names:
        _suite_plot(name, by_task[name], out / f"hpo_{name}.png")
    settings = {n: {**dict(zip(("trials", "budget", "eval_steps"), SUITE_TASKS[n][scale])),
                    "compute": bool(SUITE_TASKS[n].get("compute"))} for n in names}
    payload = {"scale": scale, "methods": methods, "runs": runs, "tasks": settings, "seeds": split.as_dict(),
               "versions": versions(), "scores": scores, "separation": verdicts, "ranking": ranking,
               "lower_is_better": True, "details": by_task}
    atomic_write_bytes(out / "hpo.json", json.dumps(payload, indent=2).encode())
    atomic_write_bytes(out / "hpo.md", _suite_markdown(payload).encode())
    return payload


def rerender_hpo_suite(out: Path) -> dict[str, Any]:
    """Recompute the verdicts and ranking of a finished suite run from its ``hpo.json`` (no study is rerun) and
    rewrite ``hpo.json`` and ``hpo.md``: what changes when the separation rule does, on the same scores."""
    from tunegym.agents.tuner_io import atomic_write_bytes

    out = Path(out)
    payload = json.loads((out / "hpo.json").read_text())
    payload["separation"] = {task: separation(scores) for task, scores in payload["scores"].items()}
    payload["ranking"] = rank_methods(payload["separation"])
    atomic_write_bytes(out / "hpo.json", json.dumps(payload, indent=2).encode())
    atomic_write_bytes(out / "hpo.md", _suite_markdown(payload).encode())
    return payload


def merge_hpo_suites(out: Path, other: Path) -> dict[str, Any]:
    """Add the tasks of the finished suite run in ``other`` to the one in ``out`` (same scale, methods and runs;
    a task in both is refused) and re-render ``out``: for a task run on its own, e.g. the hour-long ``ppo-sor``.
    The other run's PNGs are copied beside."""
    import shutil

    from tunegym.agents.tuner_io import atomic_write_bytes
    from tunegym.envs.core.errors import ConfigError

    out, other = Path(out), Path(other)
    base, extra = json.loads((out / "hpo.json").read_text()), json.loads((other / "hpo.json").read_text())
    for key in ("scale", "methods", "runs", "seeds"):
        if base[key] != extra[key]:
            raise ConfigError(f"cannot merge suite runs that differ in {key}: {base[key]!r} vs {extra[key]!r}")
    both = sorted(set(base["tasks"]) & set(extra["tasks"]))
    if both:
        raise ConfigError(f"both suite runs hold tasks {both}", value=both)
    for key in ("tasks", "scores", "details"):
        base[key] = {**base[key], **extra[key]}
    base.setdefault("merged_from", []).append({"dir": str(other), "tasks": sorted(extra["tasks"]),
                                               "versions": extra["versions"]})
    for task in extra["tasks"]:
        if (other / f"hpo_{task}.png").exists():
            shutil.copyfile(other / f"hpo_{task}.png", out / f"hpo_{task}.png")
    atomic_write_bytes(out / "hpo.json", json.dumps(base, indent=2).encode())
    return rerender_hpo_suite(out)


def _suite_markdown(payload: dict[str, Any]) -> str:
    methods = payload["methods"]
    lines = [f"HPO suite, scale `{payload['scale']}`: {payload['runs']} independent runs per method and task; "
             "each cell is the mean ± std over runs of the chosen config's test-seed score "
             f"(seeds {payload['seeds']['test'][0]}–{payload['seeds']['test'][-1]}; lower is better).", "",
             "| task | trials × steps | " + " | ".join(methods)
             + " | gap best–worst | its std. error | Welch p | verdict |",
             "|---|---|" + "---:|" * len(methods) + "---:|---:|---:|---|"]
    for task, verdict in payload["separation"].items():
        setting = payload["tasks"][task]
        cells = [f"{verdict['means'][m]:.4g} ± {verdict['stds'][m]:.2g}" for m in methods]
        outcome = "tie: dropped from the ranking" if verdict["tie"] else \
            f"separates ({verdict['best']} best, {verdict['worst']} worst)"
        size = f"{setting['trials']} × {setting['budget']}" + (" steps' compute" if setting.get("compute") else "")
        lines.append(f"| {task} | {size} | " + " | ".join(cells)
                     + f" | {verdict['gap']:.3g} | {verdict['spread']:.3g} | {verdict['p_value']:.2g} | {outcome} |")
    lines += ["", "Mean rank over the tasks that separate methods (1 = best): "
              + (", ".join(f"{m} {r:.2f}" for m, r in payload["ranking"].items()) or "no task separates them"),
              ""]
    lines += [f"![{task}](hpo_{task}.png)" for task in payload["separation"]]
    return "\n".join(lines) + "\n"
