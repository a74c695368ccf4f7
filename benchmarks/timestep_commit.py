"""Per-instance constant η (``tunegym/ThreeBodyCommit-v0``) against the best fixed η on the three-body test set.

Issue 8's goal: a learned controller trained on tune seeds must Pareto-dominate the best fixed η on test seeds (fewer
mean force evaluations AND lower median log10|ΔE/E0|). The best fixed η is the bench's rule (``tunegym bench
timestep``): the paper-grid η minimising the tune-seed (0–9) mean of ``evaluations + λ·|ΔE/E0|``, λ=1e14, 300 × 0.1 yr.

The controller: a pilot run at η=4.64e-2 (its cost counted), then one η from :data:`COMMIT_ETAS` held for the whole
run from t=0. Learned on ThreeBodyCommit-v0 (one decision per episode) over tune seeds 0..N-1 with reward
``-(evaluations/μ) - log10(|ΔE|/1e-16)``, for each μ of a grid, by ``eps_regressor`` (per-arm ridge regression of
the reward on the pilot features) with ε=1: uniformly random arms while training, greedy at test. (LinUCB, α=1 or 5,
collapsed onto one or two arms: its confidence widths are small next to the reward noise of the few tune instances
that need 5–10× the usual work.) μ for the goal check is chosen on tune seeds only: the smallest
μ whose learned controller's tune-seed median log10 error is at most the best fixed η's (same tune seeds): "match
the best fixed η's accuracy on tune seeds, spend less". Also reported: the per-instance hindsight oracle (best arm
per test instance for the same objective, pilot cost included) — an upper bound no controller can exceed.

    nice python benchmarks/timestep_commit.py --out benchmarks/timestep_results     # ≈4 min here

``--criterion-exponents 0 0.05 0.1`` makes every arm a pair (β, η) (``ThreeBodyCommit-v0(criterion_exponents=...)``):
the run also bends the step criterion to ``dt = η·τ·(τ/t_ref)^β``; ``--test-start`` moves the test sets to other seeds
and ``--out-name`` keeps the runs apart (commands and results in ``benchmarks/timestep.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.agents.registry import make_agent
from tunegym.agents.tuner_io import atomic_write_bytes
from tunegym.envs.core.seeding import stream
from tunegym.envs.timestep.commit import (
    COMMIT_ETAS,
    constant_eta_run,
    make_three_body_commit,
)
from tunegym.envs.timestep.env import DEFAULT_ETAS
from tunegym.envs.timestep.instances import PaperThreeBodyDistribution


def summary(evals: list[float], errors: list[float], failures: int = 0) -> dict[str, float]:
    return {"mean_evaluations": float(np.mean(evals)),
            "median_log10_error": float(np.median(np.log10(np.maximum(errors, 1e-300)))),
            "mean_log10_error": float(np.mean(np.log10(np.maximum(errors, 1e-16)))), "failures": int(failures)}


def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
    ac, ae, bc, be = a["mean_evaluations"], a["median_log10_error"], b["mean_evaluations"], b["median_log10_error"]
    return bool(ac <= bc and ae <= be and (ac < bc or ae < be))


def front_error_at(fixed: dict[str, dict[str, float]], cost: float) -> float:
    """The fixed-η front's median log10 error at ``cost`` (log-log interpolation between grid η)."""
    pts = sorted((v["mean_evaluations"], v["median_log10_error"]) for v in fixed.values())
    return float(np.interp(math.log(cost), [math.log(c) for c, _ in pts], [e for _, e in pts]))


def evaluate(model: Any, env: Any, instances: list[Any]) -> dict[str, Any]:
    evals, errors, etas, betas, fails = [], [], [], [], 0
    for inst in instances:
        obs, _ = env.reset(options={"instance": inst})
        _, _, _, _, info = env.step(model.predict(obs, deterministic=True)[0])
        evals.append(info["force_evaluations"])
        errors.append(info["energy_error"])
        etas.append(info["eta"])
        betas.append(info["criterion_exponent"])
        fails += info["status"] != "ok"
    return {**summary(evals, errors, fails), "etas": etas, "criterion_exponents": betas}


def fixed_table(instances: list[Any], etas: Any, horizon: int) -> dict[str, dict[str, float]]:
    out = {}
    for eta in etas:
        runs = [constant_eta_run(inst, float(eta), horizon) for inst in instances]
        out[f"fixed eta={eta:.3e}"] = summary([r[0] for r in runs], [r[1] for r in runs],
                                              sum(r[2] != "ok" for r in runs))
    return out


def oracle(instances: list[Any], mu: float, horizon: int, probe_eta: float,
           betas: tuple[float, ...] = (0.0,)) -> dict[str, float]:
    evals, errors = [], []
    for inst in instances:
        pilot = constant_eta_run(inst, probe_eta, horizon)[0]
        runs = [constant_eta_run(inst, float(eta), horizon, 0.1, 200_000, beta) for beta in betas for eta in COMMIT_ETAS]
        best = min(runs, key=lambda r: r[0] + mu * math.log10(max(r[1], 1e-16)))
        evals.append(best[0] + pilot)
        errors.append(best[1])
    return summary(evals, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune-seeds", type=int, default=100, help="tune seeds 0..N-1 the controller trains on")
    parser.add_argument("--test-sets", type=int, nargs="+", default=[10, 40],
                        help="test sets: seeds S..S+n-1, S = --test-start")
    parser.add_argument("--test-start", type=int, default=100, help="first test seed of every test set")
    parser.add_argument("--criterion-exponents", type=float, nargs="+", default=[0.0],
                        help="β values of the arms (each with every η of COMMIT_ETAS); 0 alone = per-instance η only")
    parser.add_argument("--out-name", default="timestep_commit", help="basename of the .json/.png written under --out")
    parser.add_argument("--mu-rule", choices=("iso-accuracy", "iso-cost"), default="iso-accuracy",
                        help="how μ is chosen on tune seeds for the goal check (see chosen_mu_rule in the JSON)")
    parser.add_argument("--save-policy", metavar="PATH",
                        help="also save the tune-chosen μ's controller as a StepSizeTuner file (load_tuner(PATH))")
    parser.add_argument("--mus", type=float, nargs="+", default=[2e4, 2.5e4, 3e4, 3.5e4, 4e4, 5e4])
    parser.add_argument("--train-episodes", type=int, default=3000)
    parser.add_argument("--agent", default="eps_regressor")
    parser.add_argument("--agent-config", default='{"epsilon": 1.0, "degree": 1}',
                        help="JSON agent config (default: uniform exploration, linear ridge per arm)")
    parser.add_argument("--horizon", type=int, default=300)
    parser.add_argument("--lagrange-multiplier", type=float, default=1e14, help="λ of the best-fixed-η rule")
    parser.add_argument("--out", default="benchmarks/timestep_results")
    args = parser.parse_args()

    dist = PaperThreeBodyDistribution()
    tune = [dist.sample(stream(s, "instances")) for s in range(args.tune_seeds)]
    tests = {n: [dist.sample(stream(s, "instances")) for s in range(args.test_start, args.test_start + n)]
             for n in args.test_sets}
    betas = tuple(args.criterion_exponents)

    # the bench's rule, on the bench's tune seeds 0-9 and the paper grid
    lam = args.lagrange_multiplier
    objective = {float(eta): float(np.mean([r[0] + lam * r[1] for r in
                                            (constant_eta_run(inst, float(eta), args.horizon) for inst in tune[:10])]))
                 for eta in DEFAULT_ETAS}
    best_eta = min(objective, key=objective.get)
    print(f"best fixed eta (tune seeds 0-9, lambda={lam:g}): {best_eta:.3e}", flush=True)
    best_tune = fixed_table(tune, [best_eta], args.horizon)[f"fixed eta={best_eta:.3e}"]

    result: dict[str, Any] = {"best_fixed_eta": best_eta, "best_fixed_rule": f"argmin over the paper grid of the "
                              f"tune-seed (0-9) mean of evaluations + {lam:g}·|dE/E0|", "tune_seeds": args.tune_seeds,
                              "train_episodes": args.train_episodes, "agent": args.agent,
                              "agent_config": json.loads(args.agent_config), "commit_etas": COMMIT_ETAS,
                              "criterion_exponents": list(betas), "test_start": args.test_start,
                              "best_fixed_on_tune": best_tune, "learned": {}, "oracle": {}, "fixed": {}}
    for n, insts in tests.items():
        result["fixed"][n] = fixed_table(insts, sorted(set(COMMIT_ETAS) | {best_eta}), args.horizon)

    models = {}
    for mu in args.mus:
        env = make_three_body_commit(tune, horizon=args.horizon, error_weight=mu, criterion_exponents=betas)
        model = make_agent(args.agent, env, json.loads(args.agent_config), seed=0)
        env.reset(seed=0)
        model.learn(env, total_timesteps=args.train_episodes)
        models[mu] = model
        entry = {"tune": evaluate(model, env, tune)}
        for n, insts in tests.items():
            entry[n] = evaluate(model, env, insts)
            result["oracle"].setdefault(n, {})[mu] = oracle(insts, mu, args.horizon, env.probe_eta, betas)
        result["learned"][mu] = entry
        t = entry["tune"]
        print(f"mu={mu:g}: tune {t['mean_evaluations']:,.0f} evals at {t['median_log10_error']:.2f} "
              f"(best fixed {best_tune['mean_evaluations']:,.0f} at {best_tune['median_log10_error']:.2f}); "
              + "; ".join(f"test{n} {entry[n]['mean_evaluations']:,.0f} at {entry[n]['median_log10_error']:.2f}, "
                          f"oracle {result['oracle'][n][mu]['mean_evaluations']:,.0f} at "
                          f"{result['oracle'][n][mu]['median_log10_error']:.2f}" for n in tests), flush=True)

    if args.mu_rule == "iso-accuracy":
        ok = [mu for mu in args.mus
              if result["learned"][mu]["tune"]["median_log10_error"] <= best_tune["median_log10_error"]]
        chosen = min(ok) if ok else max(args.mus)
        result["chosen_mu_rule"] = ("smallest mu whose learned tune-seed median log10 error <= the best fixed eta's on "
                                    "the same tune seeds (else the largest mu)")
    else:
        ok = [mu for mu in args.mus if result["learned"][mu]["tune"]["mean_evaluations"] <= best_tune["mean_evaluations"]]
        chosen = max(ok) if ok else min(args.mus)
        result["chosen_mu_rule"] = ("largest mu whose learned tune-seed mean force evaluations <= the best fixed eta's on "
                                    "the same tune seeds (else the smallest mu): spend no more, be as accurate as possible")
    result["chosen_mu"] = chosen
    result["goal"] = {}
    for n in tests:
        fixed_best = result["fixed"][n][f"fixed eta={best_eta:.3e}"]
        learned = result["learned"][chosen][n]
        result["goal"][n] = {
            "learned": {k: v for k, v in learned.items() if k != "etas"}, "best_fixed": fixed_best,
            "learned_dominates_best_fixed": dominates(learned, fixed_best),
            "learned_minus_fixed_front_decades": learned["median_log10_error"]
            - front_error_at(result["fixed"][n], learned["mean_evaluations"]),
            "oracle_dominates_best_fixed_at_any_mu": any(dominates(o, fixed_best) for o in result["oracle"][n].values()),
            "learned_dominates_best_fixed_at_any_mu": any(dominates(result["learned"][m][n], fixed_best)
                                                          for m in args.mus),
        }
        print(f"test{n}: chosen mu={chosen:g}: {json.dumps(result['goal'][n])}", flush=True)
    if args.save_policy:
        from tunegym.agents.step_size_tuner import COMMIT_ID, StepSizeTuner

        command = "python benchmarks/timestep_commit.py " + " ".join(sys.argv[1:])
        tuner = StepSizeTuner(models[chosen], env_id=COMMIT_ID,
                              env_kwargs={"horizon": args.horizon, "error_weight": chosen,
                                          "criterion_exponents": list(betas)},
                              provenance={"made_by": command, "tune_seeds": list(range(args.tune_seeds)),
                                          "train_episodes": args.train_episodes, "agent": args.agent,
                                          "agent_config": json.loads(args.agent_config), "mu": chosen,
                                          "mu_rule": result["chosen_mu_rule"]})
        tuner.save(args.save_policy)
        result["saved_policy"] = str(args.save_policy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{args.out_name}.json", json.dumps(result, indent=1, default=str).encode())
    _plot(result, tests, out / f"{args.out_name}.png")


def _plot(result: dict[str, Any], tests: dict[int, Any], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 4.5), squeeze=False)
    for ax, n in zip(axes[0], tests):
        fixed = result["fixed"][n]
        pts = sorted((v["mean_evaluations"], v["median_log10_error"]) for v in fixed.values())
        ax.plot(*zip(*pts), "o-", color="grey", label="fixed η")
        b = fixed[f"fixed eta={result['best_fixed_eta']:.3e}"]
        ax.plot(b["mean_evaluations"], b["median_log10_error"], "s", color="k", ms=9, label="best fixed η (tune rule)")
        lp = [(result["learned"][m][n]["mean_evaluations"], result["learned"][m][n]["median_log10_error"])
              for m in result["learned"]]
        what = "η" if result.get("criterion_exponents", [0.0]) == [0.0] else "(β, η)"
        ax.plot(*zip(*lp), "^-", color="C1", label=f"learned per-instance {what} (μ sweep)")
        c = result["learned"][result["chosen_mu"]][n]
        ax.plot(c["mean_evaluations"], c["median_log10_error"], "*", color="C3", ms=14, label="learned, tune-chosen μ")
        op = [(o["mean_evaluations"], o["median_log10_error"]) for o in result["oracle"][n].values()]
        ax.plot(*zip(*op), "v--", color="C2", label="hindsight oracle (μ sweep)")
        ax.set_xscale("log")
        ax.set_xlim(1.5e4, 3e5)
        ax.set_xlabel("mean force evaluations (incl. pilot)")
        ax.set_ylabel("median log10 |ΔE/E0|")
        start = result.get("test_start", 100)
        ax.set_title(f"ThreeBodyCommit: test seeds {start}–{start + n - 1}, 30 yr")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
