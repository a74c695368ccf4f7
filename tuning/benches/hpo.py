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
from typing import Any

import numpy as np

__all__ = ["register", "compare"]


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
    import matplotlib

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
    parser.add_argument("--seeds", default="tune=0-9,test=100-109")
    parser.add_argument("--workers", type=int, default=1, help="HPO runs in parallel processes")
    parser.add_argument("--out", required=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.seeds import SeedSplit
    from tunegym.tuning.spaces import default_space, load_space

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        get_method(method)
    if args.runs < 1:
        raise ConfigError("--runs must be positive", value=args.runs)
    split = SeedSplit.parse(args.seeds)
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
                                      progress=False)))
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
    return 0
