"""The LR suite runner of ``tunegym bench all`` (and ``tunegym bench lr --suite``): suite ``lr-user-rate``.

A deployed scheduler at the user's own learning rate (issue #19). Protocol (also in the spec,
:mod:`tunegym.tuning.suite_specs.lr`):

1. **Tune** (the ``tune`` family at the first ``tune`` tune seeds, ``runs`` runs each; nothing else is read).
   Per tune run, as one vmapped batch (:func:`~tunegym.tuning.benches.lr.run_lr_curves`): constant, cosine and
   linear decay at the user's LR, and schedule-free (``schedulefree``) at the user's LR in a plain loop. The
   baseline with the best divergence-averse score (mean ln(loss / best baseline of that run) + share diverged)
   is **best on tune**: the single baseline the claims compare against (chosen on tune tasks, never per test
   task). The tuner's **default arm** is the better of cosine and linear at multiplier 1 (10^0): keeping it
   *is* that schedule at the user's LR. Then every arm (:data:`ARMS`: constant / cosine / linear x peak
   10^-1.5 … 10^1 of the user's LR) is trained on every tune run after a probe that follows the default arm for
   :data:`PROBE_DECISIONS` decisions of :data:`DECISION_INTERVAL` steps; the probe's context (optimizer kind,
   user's LR, loss noise and trend, gradient norm, loss ratio over the probe) is what the deployed tuner sees.
   A LinUCB bandit learns the arm from the context with bandit feedback (:func:`~tunegym.tuning.benches.lr.
   train_probe_tuner`); alpha, degree and the pessimism of the conservative rule (leave the default only for
   an arm whose lower confidence bound beats it; ``inf``: never leave) are chosen by leave-one-family-out
   cross-validation over the tune families with the goal's own score: mean ln(ratio to best-on-tune) +
   :data:`TAIL_WEIGHT` x (share of runs worse than :data:`TAIL` x best-on-tune + share of runs where leaving the
   default ended worse than :data:`TAIL` x the default: the harm the tuner itself does).
2. **Test** (each unseen family at the first ``dev_test`` dev-test seeds, or final-test with ``final=True``;
   run 0). Every method trains the task in a plain torch loop at the user's LR (:func:`train_plain`): the
   task's ``torch.optim`` optimizer with no schedule, ``CosineAnnealingLR``, ``LinearLR`` to 0, schedule-free,
   and :class:`~tunegym.agents.lr_scheduler.LearnedLRScheduler` (the deploy path itself). Final validation
   loss; NaN/inf or >= 10 counts as 10 (diverged).
3. **Claims** (instances = test tasks, strata = unseen families, ratios of validation losses shifted by
   :data:`SHIFT`, Holm-corrected together): learned vs best-on-tune, vs the per-task best baseline in
   hindsight, and vs each baseline. The goal check: ratio <= :data:`GOAL_RATIO`, CI upper end < 1 and no task
   above :data:`TAIL` x best-on-tune.

Writes ``lr_suite.md``, ``lr_suite.json``, ``lr_suite.png`` and the trained tuner ``lr-schedule.pt`` into
``out_dir``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_suite", "ARMS", "BASELINES", "METHODS", "train_plain", "untrained_tuner", "tune_phase", "deploy_phase",
           "PROBE_DECISIONS", "DECISION_INTERVAL", "SHIFT", "TAIL", "GOAL_RATIO", "write_card"]

ARM_FAMILIES = ("constant", "cosine", "linear")
ARM_PEAKS = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
ARMS = tuple((family, peak) for family in ARM_FAMILIES for peak in ARM_PEAKS)
BASELINES = ("constant", "cosine", "linear", "schedulefree")
METHODS = BASELINES + ("learned",)
DEFAULT_FAMILIES = ("cosine", "linear")
PROBE_DECISIONS = 3
DECISION_INTERVAL = 10
DIVERGED = 10.0
SHIFT = 0.01  # validation-loss ratios are (a + 0.01) / (b + 0.01): a solved task (loss ~1e-4) is not a 10x "win"
TAIL = 1.15
GOAL_RATIO = 0.95
TAIL_WEIGHT = 2.0
BANDIT_GRID = tuple((alpha, degree) for alpha in (0.5, 2.0, 8.0) for degree in (1, 2))
PESSIMISM_GRID = (0.0, 0.5, 1.0, 2.0, 4.0, float("inf"))
GUARD = (2.0, 0.5)  # DivergenceGuard(loss_factor, ramp_log10), as the previous tuner (chosen on its tune runs)
METRIC = "val_loss"


def untrained_tuner(degree: int = 1, default_arms: tuple[int, int] | None = None, *, guard: bool = True) -> Any:
    """A :class:`ProbeScheduleTuner` over :data:`ARMS` with this suite's probe, guard and (optional) default arms."""
    from tunegym.agents.lr_scheduler import CONTEXT_NAMES, DivergenceGuard, ProbeScheduleTuner

    dim = 1 + len(CONTEXT_NAMES) * int(degree)
    return ProbeScheduleTuner(list(ARMS), np.zeros((len(ARMS), dim)), np.zeros(len(ARMS)), degree=degree,
                              default_arms=default_arms, decision_interval=DECISION_INTERVAL,
                              probe_decisions=PROBE_DECISIONS, probe_log10=0.0,
                              guard=DivergenceGuard(*GUARD) if guard else None)


def _capped(loss: float) -> float:
    return DIVERGED if not np.isfinite(loss) or loss >= DIVERGED else float(loss)


def train_plain(task: Any, method: str, tuner: Any = None, run: int = 0) -> dict[str, Any]:
    """Train run ``run`` of ``task`` in a plain torch loop at the user's LR (``task.lr``) with ``method``'s schedule;
    returns the final validation loss (capped), whether it diverged, and for ``learned`` what the scheduler did."""
    import torch

    from tunegym.agents.lr_scheduler import LearnedLRScheduler
    from tunegym.envs.lr.trainer import ADAM_BETAS, ADAM_EPS, PlainRun

    plain = PlainRun(task, run=run)
    steps = int(task.step_budget)
    scheduler = None
    if method == "schedulefree":
        from tunegym.envs.core.extras import require

        schedulefree = require("schedulefree", "lr", "the schedule-free baseline of the LR suite")

        warmup = max(1, int(0.05 * steps))
        if task.optimizer == "adamw":
            optimizer = schedulefree.AdamWScheduleFree(plain.model.parameters(), lr=task.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                                       warmup_steps=warmup, weight_decay=task.weight_decay)
        else:
            optimizer = schedulefree.SGDScheduleFree(plain.model.parameters(), lr=task.lr, momentum=task.momentum,
                                                     warmup_steps=warmup, weight_decay=task.weight_decay)
        optimizer.train()
    else:
        optimizer = plain.optimizer()
        if method == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        elif method == "linear":
            scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
        elif method == "learned":
            scheduler = LearnedLRScheduler(optimizer, tuner, total_steps=steps)
        elif method != "constant":
            raise ValueError(f"unknown method {method!r}")
    diverged = False
    for _ in range(steps):
        x, y = plain.next_batch()
        optimizer.zero_grad()
        loss = plain.loss(plain.model(x), y)
        if method == "learned":
            scheduler.observe(loss)
        if not torch.isfinite(loss):
            diverged = True  # the weights are gone: nothing after this step can recover them
            break
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if method == "schedulefree":
        optimizer.eval()
    val_loss = _capped(plain.evaluate()[0]) if not diverged else DIVERGED
    out: dict[str, Any] = {"val_loss": val_loss, "diverged": bool(diverged or val_loss >= DIVERGED)}
    if method == "learned":
        policy = scheduler.tuner.policy
        out.update(arm=None if policy.arm is None else list(ARMS[policy.arm]), reverted=scheduler.reverted,
                   events=[dict(e) for e in scheduler.events])
    return out


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.log((np.asarray(a) + SHIFT) / (np.asarray(b) + SHIFT))


def _group(task: Any) -> str:
    return f"{task.family}/{task.dataset}"


def tune_phase(tasks: Sequence[Any], runs: int, rounds: int, seed: int, log=print) -> dict[str, Any]:
    """Baselines, default arm, arm table, contexts and the cross-validated bandit on the tune runs."""
    from tunegym.envs.lr.schedules import schedule_factors
    from tunegym.tuning.benches.lr import arm_rewards, probe_context, run_lr_curves, train_probe_tuner

    started = time.perf_counter()
    rows = [(t, r) for t in range(len(tasks)) for r in range(runs)]
    base = np.zeros((len(rows), len(BASELINES)))
    for i, (t, r) in enumerate(rows):
        task = tasks[t]
        curves = np.stack([np.log10(np.maximum(schedule_factors(name, task.step_budget), 1e-12)) for name in BASELINES[:3]])
        base[i, :3] = run_lr_curves(task, curves, r)[0]
        base[i, 3] = train_plain(task, "schedulefree", run=r)["val_loss"]
    best_row = base.min(axis=1)
    scores = {name: float(np.mean(_log_ratio(base[:, j], best_row)) + np.mean(base[:, j] >= DIVERGED))
              for j, name in enumerate(BASELINES)}
    best_on_tune = min(BASELINES, key=scores.get)
    default_family = min(DEFAULT_FAMILIES, key=scores.get)
    default = ARMS.index((default_family, 0.0))
    log(f"tune baselines scored ({time.perf_counter() - started:.0f} s): {scores}; best on tune {best_on_tune}, "
        f"default arm {ARMS[default]}")

    probe = untrained_tuner(1, (default, default))
    arm_loss = np.zeros((len(rows), len(ARMS)))
    contexts = []
    for i, (t, r) in enumerate(rows):
        task = tasks[t]
        adaptive = task.optimizer == "adamw"
        curves = np.stack([probe.planned_log10(a, task.step_budget, adaptive=adaptive) for a in range(len(ARMS))])
        arm_loss[i], _, observations = run_lr_curves(task, curves, r, probe_lane=default, probe_decisions=PROBE_DECISIONS,
                                                     decision_interval=DECISION_INTERVAL)
        contexts.append(probe_context(probe, task, observations))
        log(f"  tune task {t} run {r} ({_group(task)}/{task.optimizer}, lr {task.lr:.2g}, {task.step_budget} steps): "
            f"best baseline {best_row[i]:.4f}, best arm {arm_loss[i].min():.4f} {ARMS[int(arm_loss[i].argmin())]} "
            f"({time.perf_counter() - started:.0f} s)")
    contexts = np.array(contexts)
    best_run = np.minimum(best_row, arm_loss.min(axis=1))
    rewards = np.stack([arm_rewards(arm_loss[i], best_run[i]) for i in range(len(rows))])
    reference = base[:, BASELINES.index(best_on_tune)]
    groups = np.array([_group(tasks[t]) for t, _ in rows])

    def make(degree: int) -> Any:
        return untrained_tuner(degree, (default, default))

    cv: dict[str, float] = {}
    for alpha, degree in BANDIT_GRID:
        totals = {beta: 0.0 for beta in PESSIMISM_GRID}
        for group in sorted(set(groups)):
            held = groups == group
            if held.all():
                continue
            tuner, _ = train_probe_tuner(contexts[~held], rewards[~held], rounds=max(1, int(rounds * (~held).mean())), seed=seed,
                                         alpha=alpha, degree=degree, default_arms=(default, default), log=lambda *_: None,
                                         untrained=make)
            for beta in PESSIMISM_GRID:
                tuner.pessimism = beta if np.isfinite(beta) else 1e12
                chosen = np.array([tuner.choose(c) for c in contexts[held]])
                played = arm_loss[np.flatnonzero(held), chosen]
                ratio = np.exp(_log_ratio(played, reference[held]))
                harm = np.exp(_log_ratio(played, arm_loss[np.flatnonzero(held), default]))
                score = np.mean(np.log(ratio)) + TAIL_WEIGHT * (np.mean(ratio > TAIL) + np.mean(harm > TAIL))
                totals[beta] += float(score) * held.sum() / len(rows)
        for beta in PESSIMISM_GRID:
            cv[f"alpha={alpha},degree={degree},pessimism={beta}"] = totals[beta]
    key = min(cv, key=lambda k: (round(cv[k], 9), -float(k.rsplit("=", 1)[1])))  # ties: the more cautious
    parts = dict(item.split("=") for item in key.split(","))
    alpha, degree, pessimism = float(parts["alpha"]), int(parts["degree"]), float(parts["pessimism"])
    log(f"CV (leave one tune family out): {key} scores {cv[key]:.4f} (never leaving the default: "
        f"{cv[f'alpha={alpha},degree={degree},pessimism=inf']:.4f})")
    tuner, history = train_probe_tuner(contexts, rewards, rounds=rounds, seed=seed, alpha=alpha, degree=degree,
                                       default_arms=(default, default), pessimism=pessimism if np.isfinite(pessimism) else 1e12,
                                       log=lambda *_: None, untrained=make)
    chosen = np.array([tuner.choose(c) for c in contexts])
    in_sample = np.exp(_log_ratio(arm_loss[np.arange(len(rows)), chosen], reference))
    return {"tuner": tuner, "baseline_scores": scores, "best_on_tune": best_on_tune, "default_arm": list(ARMS[default]),
            "alpha": alpha, "degree": degree, "pessimism": pessimism, "cv_scores": cv, "bandit_history": history,
            "tune_choices": [list(ARMS[c]) for c in chosen], "tune_in_sample_ratio": [float(v) for v in in_sample],
            "tune_runs": [{"task": tasks[t].describe(), "run": r, "baselines": dict(zip(BASELINES, map(float, base[i]))),
                           "arms": [float(v) for v in arm_loss[i]], "context": [float(v) for v in contexts[i]]}
                          for i, (t, r) in enumerate(rows)],
            "seconds": time.perf_counter() - started}


def deploy_phase(families: dict[str, Any], seeds: Sequence[int], tuner: Any, methods: Sequence[str], log=print) -> list[dict[str, Any]]:
    """Every method on every test task (run 0), each in a plain torch loop at the user's LR."""
    from tunegym.envs.core.seeding import stream

    rows = []
    started = time.perf_counter()
    for family, distribution in families.items():
        for seed in seeds:
            # each family its own stream of a seed, so families do not share optimizers, LRs and sizes seed by seed
            task = distribution.sample(stream(int(seed), f"lr-user-rate/{family}"))
            results = {m: train_plain(task, m, tuner) for m in methods}
            rows.append({"family": family, "seed": int(seed), "task": task.describe(), "user_lr": task.lr,
                         "optimizer": task.optimizer, **{m: results[m]["val_loss"] for m in methods},
                         "diverged": {m: results[m]["diverged"] for m in methods},
                         **({k: results["learned"][k] for k in ("arm", "reverted", "events")} if "learned" in results else {})})
            log(f"  test {family} seed {seed} ({task.optimizer}, lr {task.lr:.2g}): "
                + ", ".join(f"{m} {results[m]['val_loss']:.4f}" for m in methods)
                + f" ({time.perf_counter() - started:.0f} s)")
    return rows


def _claims(rows: list[dict[str, Any]], best_on_tune: str, suite: Any, split: str) -> list[Any]:
    from tunegym.tuning.stats import finalize_claims, paired_claim

    strata = [r["family"] for r in rows]
    learned = [r["learned"] for r in rows]
    baselines = {"best_on_tune_" + best_on_tune: [r[best_on_tune] for r in rows],
                 "best_per_task": [min(r[b] for b in BASELINES) for r in rows],
                 **{b: [r[b] for r in rows] for b in BASELINES if b != best_on_tune}}
    raw = [paired_claim(learned, values, strata=strata, shift=SHIFT, seed=i, method_name="learned", baseline_name=name,
                        metric=METRIC, domain=suite.domain, suite=suite.name, suite_version=suite.version, split=split)
           for i, (name, values) in enumerate(baselines.items())]
    return finalize_claims(raw)


def _iqm(values: Sequence[float]) -> float:
    from tunegym.tuning.stats import iqm

    return iqm(np.asarray(values, dtype=float))


def _plot(rows: list[dict[str, Any]], best_on_tune: str, path: Path) -> str | None:
    try:
        import matplotlib
    except ImportError:
        return "no plot: matplotlib is not installed"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for family in sorted({r["family"] for r in rows}):
        mine = [r for r in rows if r["family"] == family]
        ax.scatter([np.log10(r["user_lr"]) for r in mine],
                   [float(np.exp(_log_ratio(r["learned"], r[best_on_tune]))) for r in mine], label=family, s=18)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(TAIL, color="tab:red", linewidth=0.8, linestyle="--")
    ax.set_yscale("log")
    ax.set_xlabel("log10 user LR")
    ax.set_ylabel(f"learned / {best_on_tune} (val loss, +{SHIFT})")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def _goal(claim: Any, worst: float) -> str:
    met = claim.ratio <= GOAL_RATIO and claim.ci_high < 1.0 and worst <= TAIL
    return ("**met**" if met else "**not met**") + (
        f" (ratio {claim.ratio:.3f} {'<=' if claim.ratio <= GOAL_RATIO else '>'} {GOAL_RATIO}, CI upper "
        f"{claim.ci_high:.3f} {'<' if claim.ci_high < 1 else '>='} 1, worst task {worst:.3f} "
        f"{'<=' if worst <= TAIL else '>'} {TAIL})")


def _markdown(suite: Any, payload: dict[str, Any], claims: Sequence[Any], header: str) -> str:
    from tunegym.tuning.stats import claims_to_markdown

    rows, tune = payload["per_task"], payload["tune"]
    best = tune["best_on_tune"]
    ratios = np.exp(_log_ratio([r["learned"] for r in rows], [r[best] for r in rows]))
    hindsight = np.exp(_log_ratio([r["learned"] for r in rows], [min(r[b] for b in BASELINES) for r in rows]))
    headline = next(c for c in claims if c.baseline.startswith("best_on_tune"))
    per_task = next(c for c in claims if c.baseline == "best_per_task")
    cfg = payload["config"]
    lines = [f"# LR suite `{suite.key}` — {cfg['split']}, {cfg['scale']} scale", "", header, "", suite.description, "",
             f"Tune: {len(tune['tune_runs'])} runs of the `tune` family (seeds {cfg['tune_seeds'][0]}–{cfg['tune_seeds'][-1]}). "
             f"Test: {len(rows)} tasks, {len(cfg['families'])} unseen families x seeds {cfg['test_seeds'][0]}–{cfg['test_seeds'][-1]}, "
             "run 0, every method in a plain torch loop at the task's user LR.", "",
             f"Best baseline on the tune runs (**chosen on tune tasks, not per test task**): `{best}` "
             f"(scores, lower is better: {', '.join(f'{k} {v:.3f}' for k, v in tune['baseline_scores'].items())}). "
             f"Default arm of the tuner: {tune['default_arm'][0]} at 10^{tune['default_arm'][1]:g} x the user's LR. "
             f"Bandit (leave-one-family-out CV over tune families): alpha {tune['alpha']}, degree {tune['degree']}, "
             f"pessimism {tune['pessimism']}.", "",
             "## Goal", "",
             f"- learned / best on tune (`{best}`): IQM ratio {headline.ratio:.3f} [{headline.ci_low:.3f}, {headline.ci_high:.3f}], "
             f"n = {headline.n}, worst task {ratios.max():.3f}, tasks above {TAIL}: {int(np.sum(ratios > TAIL))}; "
             f"verdict **{headline.verdict}**; goal {_goal(headline, float(ratios.max()))}.",
             f"- learned / per-task best baseline in hindsight: IQM ratio {per_task.ratio:.3f} [{per_task.ci_low:.3f}, "
             f"{per_task.ci_high:.3f}], worst {hindsight.max():.3f}; verdict **{per_task.verdict}**.", "",
             "## Claims", "",
             f"Ratio: IQM over test tasks of (learned val loss + {SHIFT}) / (baseline + {SHIFT}); CI: bootstrap within "
             "families; p: Wilcoxon signed-rank, Holm-adjusted over this report.", "",
             claims_to_markdown(claims),
             "## By family", "",
             "| family | n | " + " | ".join(f"IQM {m}" for m in METHODS) + f" | learned / {best} (IQM) | worst |",
             "|---|---:|" + "---:|" * (len(METHODS) + 2)]
    for family in cfg["families"]:
        mine = [r for r in rows if r["family"] == family]
        rr = np.exp(_log_ratio([r["learned"] for r in mine], [r[best] for r in mine]))
        lines.append(f"| {family} | {len(mine)} | " + " | ".join(f"{_iqm([r[m] for r in mine]):.4f}" for m in METHODS)
                     + f" | {_iqm(rr):.3f} | {rr.max():.3f} |")
    lines += ["", "## By the user's learning rate", "", f"| log10 user LR | n | learned / {best} (IQM) | worst | "
              "left the default | reverted |", "|---|---:|---:|---:|---:|---:|"]
    for low in (-4, -3, -2):
        mine = [i for i, r in enumerate(rows) if low <= np.log10(r["user_lr"]) < low + 1]
        if mine:
            left = sum(1 for i in mine if rows[i]["arm"] != tune["default_arm"])
            lines.append(f"| [{low}, {low + 1}) | {len(mine)} | {_iqm(ratios[mine]):.3f} | {ratios[mine].max():.3f} | {left} | "
                         f"{sum(1 for i in mine if rows[i]['reverted'])} |")
    arms: dict[str, int] = {}
    for r in rows:
        arms[str(r["arm"])] = arms.get(str(r["arm"]), 0) + 1
    bad = [(float(ratios[i]), r) for i, r in enumerate(rows) if ratios[i] > TAIL]
    lines += ["", f"Arms played on test tasks: {json.dumps(arms)}. Guard reverts: {sum(r['reverted'] for r in rows)}; "
              f"tasks with a non-finite train loss under the learned scheduler: {sum(1 for r in rows if any(e['event'] == 'non_finite_loss' for e in r['events']))}; "
              f"diverged: " + ", ".join(f"{m} {sum(r['diverged'][m] for r in rows)}" for m in METHODS) + ".", ""]
    if bad:
        lines += [f"Tasks above {TAIL} x `{best}`:", ""]
        for ratio, r in sorted(bad, key=lambda x: -x[0]):
            t = r["task"]
            lines.append(f"- {ratio:.3f}: {r['family']} seed {r['seed']} ({t['optimizer']}, lr {r['user_lr']:.2g}, width {t['width']}, "
                         f"depth {t['depth']}, batch {t['batch_size']}, {t['step_budget']} steps, noise {t['label_noise']}): "
                         f"learned {r['learned']:.4f} with {r['arm']}{' (reverted)' if r['reverted'] else ''} vs {best} {r[best]:.4f}")
        lines.append("")
    lines += ["![learned / best-on-tune per test task](lr_suite.png)", ""]
    return "\n".join(lines) + "\n"


def write_card(policy_path: str | Path, payload: dict[str, Any], command: str) -> Path:
    """The ``NAME.json`` card beside a tuner saved from the suite: what it is, the command, how it scored."""
    policy_path = Path(policy_path)
    tune, goal = payload["tune"], payload["goal"]
    card = {
        "name": policy_path.stem,
        "kind": "lr-schedule-bandit",
        "summary": (f"ProbeScheduleTuner at the user's learning rate: the first {PROBE_DECISIONS * DECISION_INTERVAL} steps "
                    f"follow the default arm ({tune['default_arm'][0]} at exactly the user's LR, 10^0), then one of "
                    f"{len(ARMS)} arms (constant / cosine / linear x 10^-1.5 … 10^1 of the user's LR) chosen by a "
                    "LinUCB contextual bandit from the optimizer kind, the user's LR and the probe's loss and "
                    "gradient statistics; conservative around the default; divergence guard (ramp, revert to the "
                    "default on a loss blow-up or a non-finite window). Multipliers of each param group's initial LR, "
                    "for LearnedLRScheduler."),
        "made_by": [command],
        "training": (f"LinUCB (alpha={tune['alpha']}, degree={tune['degree']}, pessimism={tune['pessimism']}, by "
                     f"leave-one-family-out CV), {payload['config']['rounds']} replayed rounds over "
                     f"{len(tune['tune_runs'])} runs of suite {payload['config']['suite']} family `tune` "
                     "(breast_cancer, diabetes, spirals, friedman, charseq never read)"),
        "evaluation": {"report": "benchmarks/lr.md (section 'Deployed at your learning rate')", **goal},
    }
    out = policy_path.with_suffix(".json")
    out.write_text(json.dumps(card, indent=2) + "\n")
    return out


def run_suite(suite: Any, scale: str, out_dir: str | Path, *, final: bool = False, seed: int = 0, log=print) -> list[Any]:
    """Run ``suite`` (``lr-user-rate``) at ``scale``; write ``lr_suite.md``/``.json``/``.png`` and ``lr-schedule.pt``
    into ``out_dir``; return the Holm-finalized claims (on ``final_test`` when ``final``, else ``dev_test``)."""
    import torch

    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.benches.all import report_header

    torch.set_num_threads(1)
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = "final_test" if final else "dev_test"
    sizes = {"step_budget": tuple(suite.size("step_budget", scale)), "n_samples": int(suite.size("n_samples", scale))}
    distributions = {name: replace(d, **sizes) for name, d in suite.make_distributions().items()}
    tune_dist = distributions.pop("tune")
    from tunegym.envs.core.seeding import stream

    tune_seeds = list(suite.seeds("tune", scale))
    test_seeds = list(suite.seeds(split, scale, final=final))
    tune_tasks = [tune_dist.sample(stream(s, "instances")) for s in tune_seeds]
    runs, rounds = int(suite.size("runs", scale)), int(suite.size("rounds", scale))
    tune = tune_phase(tune_tasks, runs, rounds, seed, log=log)
    tuner = tune.pop("tuner")
    provenance = {"made_by": f"lr_suite.run_suite({suite.key!r}, {scale!r}, final={final})", "suite": suite.key,
                  "tune_seeds": tune_seeds, "runs_per_task": runs, "bandit": "LinUCB", "alpha": tune["alpha"],
                  "degree": tune["degree"], "pessimism": tune["pessimism"]}
    tuner.save(out / "lr-schedule.pt", provenance=provenance)
    methods = [m for m in suite.methods if m in METHODS]
    rows = deploy_phase(distributions, test_seeds, str(out / "lr-schedule.pt"), methods, log=log)
    claims = _claims(rows, tune["best_on_tune"], suite, split)
    best = tune["best_on_tune"]
    ratios = np.exp(_log_ratio([r["learned"] for r in rows], [r[best] for r in rows]))
    headline = next(c for c in claims if c.baseline.startswith("best_on_tune"))
    per_task = next(c for c in claims if c.baseline == "best_per_task")
    goal = {"split": split, "scale": scale, "n": headline.n, "best_on_tune": best,
            "learned_over_best_on_tune_iqm_ratio": headline.ratio, "ci": [headline.ci_low, headline.ci_high],
            "verdict": headline.verdict, "worst_task_ratio": float(ratios.max()), "tasks_above_tail": int(np.sum(ratios > TAIL)),
            "learned_over_best_per_task_iqm_ratio": per_task.ratio, "ci_per_task": [per_task.ci_low, per_task.ci_high],
            "goal_met": bool(headline.ratio <= GOAL_RATIO and headline.ci_high < 1.0 and ratios.max() <= TAIL)}
    duration = time.perf_counter() - started
    header = report_header(suite, scale, duration, final=final)
    config = {"suite": suite.key, "scale": scale, "split": split, "tune_seeds": tune_seeds, "test_seeds": test_seeds,
              "runs": runs, "rounds": rounds, "families": list(distributions), "methods": methods, "arms": [list(a) for a in ARMS],
              "probe_decisions": PROBE_DECISIONS, "decision_interval": DECISION_INTERVAL, "shift": SHIFT, "tail": TAIL,
              "goal_ratio": GOAL_RATIO, "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()}}
    payload = {"config": config, "provenance": header, "versions": versions(), "tune": tune, "per_task": rows,
               "goal": goal, "claims": [c.to_dict() for c in claims], "wall_time_s": duration, "spec": suite.to_dict()}
    atomic_write_bytes(out / "lr_suite.json", json.dumps(payload, indent=1, default=float).encode())
    note = _plot(rows, best, out / "lr_suite.png")
    atomic_write_bytes(out / "lr_suite.md", _markdown(suite, payload, claims, header["markdown"]).encode())
    log(f"wrote {out / 'lr_suite.md'}, {out / 'lr_suite.json'}" + (f" ({note})" if note else f", {out / 'lr_suite.png'}")
        + f" ({duration:.0f} s)")
    return claims
