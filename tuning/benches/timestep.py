"""``tunegym bench timestep``: cost–accuracy of time-step control on the three-body problem and classic ODEs.

Three-body (``tunegym/ThreeBody-v0``, Saz Ulibarrena & Portegies Zwart, arXiv 2502.12809): every fixed η of
the paper's grid, a contextual bandit that switches η every 0.1 yr, the per-instance η controller of
``tunegym/ThreeBodyCommit-v0`` (:func:`fit_commit_controller`: a pilot run, then one η per instance; μ chosen on tune
seeds so that it spends no more than the best fixed η) and REBOUND's IAS15 when ``rebound`` is installed, each
integrating the same test-seed instances for ``--actions`` × 0.1 yr. Cost = force evaluations, accuracy = final
``|ΔE/E0|`` (median over instances; failed runs count with their error).

ODEs (``tunegym/ODEStep-v0``): the classical I controller, Gustafsson's PI controller and SciPy ``solve_ivp``
over a tolerance grid, against a contextual bandit that sets the PI controller's gain (``--ode-knob``), its
reward/feature variant chosen on tune problems (:func:`fit_ode_gain_controller`). Cost = RHS evaluations, accuracy =
relative global error at ``t_end`` (median); ``gap_to_pi_front`` places the learned point against PI's front.

Writes ``timestep.json``, ``timestep.md`` and ``timestep_pareto.png`` under ``--out``. Test seeds are used only
for the final evaluation.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COMMIT_MUS", "commit_rollouts", "fit_commit_controller", "fit_ode_gain_controller", "gap_to_front",
           "ias15_run", "ode_instances", "ode_policy_runs", "pareto_front", "pi_front", "register", "run",
           "three_body_rollout"]

TUNE_SEEDS = tuple(range(10))
TEST_SEEDS = tuple(range(100, 110))
#: log10 of the smallest error the tables and plots resolve: relative errors are measured in float64, so
#: anything below ~1e-16 (an exactly conserved energy included) is "at machine precision", shown as "< -16".
LOG10_ERROR_FLOOR = -16.0


def _log10_errors(errors: Any) -> np.ndarray:
    """log10 of ``errors`` floored at :data:`LOG10_ERROR_FLOOR` (a zero error would otherwise be -inf, or
    -300 from a 1e-300 guard, and drag a median of a few seeds to nonsense like -157.9)."""
    return np.log10(np.maximum(np.asarray(errors, dtype=float), 10.0 ** LOG10_ERROR_FLOOR))


def format_log10_error(value: float) -> str:
    """A median log10 error for a table: ``< -16`` at the floor, else two decimals."""
    return f"< {LOG10_ERROR_FLOOR:.0f}" if value <= LOG10_ERROR_FLOOR else f"{value:.2f}"
#: μ grid of the per-instance η controller (ThreeBodyCommit-v0): evaluations one decade of energy error is worth.
COMMIT_MUS = (3.5e4, 3.75e4, 4e4, 4.25e4, 4.5e4, 4.75e4, 5e4)


def _replace_test_count(current: str, count: int) -> str:
    from tunegym.tuning.commands.common import evaluation_seeds, merge_seed_text, seed_range_text

    return merge_seed_text(current, "test", seed_range_text(count, evaluation_seeds(current)[0]))


def _replace_test_start(current: str, start: int) -> str:
    from tunegym.tuning.commands.common import evaluation_seeds, merge_seed_text, seed_range_text

    return merge_seed_text(current, "test", seed_range_text(len(evaluation_seeds(current)), start))


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_deprecated, add_out, add_seeds

    parser = subparsers.add_parser("timestep", help="time-step control: three-body and ODE cost-accuracy fronts")
    add_out(parser, default="runs/bench-timestep",
            help="output directory (timestep.json, timestep.md, timestep_pareto.png)")
    parser.add_argument("--actions", type=int, default=300, help="three-body actions (0.1 yr each) per test run")
    parser.add_argument("--train-steps", type=int, default=6000, help="bandit training steps on ThreeBody-v0")
    parser.add_argument("--ode-train-steps", type=int, default=20000, help="bandit training steps on ODEStep-v0")
    parser.add_argument("--ode-knob", default="pi_safety", choices=("pi_safety", "safety"),
                        help="the gain the learned ODE controller sets: the PI rule's (default) or the I rule's")
    parser.add_argument("--ode-rejection-penalties", type=float, nargs="+", default=[3.0, 5.0, 8.0, 12.0],
                        help="reward variants tried on tune seeds (price of a rejected step)")
    parser.add_argument("--ode-degrees", type=int, nargs="+", default=[1, 3], help="feature degrees tried on tune seeds")
    parser.add_argument("--lagrange-multiplier", type=float, default=1e14,
                        help="λ of the trade-off force evaluations + λ·|ΔE/E0| that picks the best fixed η on tune "
                             "seeds (and of reward 'lagrangian')")
    parser.add_argument("--reward-mode", default="local", choices=("local", "paper", "lagrangian"),
                        help="ThreeBody-v0 reward the learned controller trains on (default local)")
    parser.add_argument("--local-target", type=float, default=1e-12, help="per-action |dE| target (reward local)")
    parser.add_argument("--agent", default="linucb", help="registered agent name (a discrete-action bandit)")
    add_seeds(parser, default="test=100-109",
              help="test seeds: test=LOW-HIGH (default test=100-109; tune seeds are fixed at 0-9)")
    add_deprecated(parser, "--test-seeds", "seeds", "--seeds test=LOW-HIGH", type=int,
                   convert=lambda n, current: _replace_test_count(current, n))
    add_deprecated(parser, "--test-start", "seeds", "--seeds test=LOW-HIGH", type=int,
                   convert=lambda start, current: _replace_test_start(current, start))
    parser.add_argument("--commit-episodes", type=int, default=30000,
                        help="training episodes of the per-instance η controller (ThreeBodyCommit-v0); 0 skips it")
    parser.add_argument("--commit-tune-seeds", type=int, default=100, help="its tune seeds 0..N-1")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.set_defaults(func=run)


# -- three-body -------------------------------------------------------------------------------------------
def three_body_rollout(instance: Any, policy: Callable[[np.ndarray], Any], actions: int,
                       env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one instance for ``actions`` actions; return force evaluations, final |ΔE/E0| and status."""
    from tunegym.envs.timestep.env import make_three_body

    env = make_three_body(episode_length=actions, **(env_kwargs or {}))
    obs, _ = env.reset(seed=0, options={"instance": instance})
    info: dict[str, Any] = {}
    etas = []
    for _ in range(actions):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        etas.append(info["eta"])
        if terminated or truncated:
            break
    return {"force_evaluations": int(info["total_force_evaluations"]), "energy_error": abs(info["energy_error"]),
            "status": info["status"], "mean_log10_eta": float(np.mean(np.log10(etas)))}


def ias15_run(instance: Any, t_end: float) -> dict[str, Any] | None:
    """REBOUND IAS15 on ``instance`` to ``t_end``; force evaluations counted through ``additional_forces``."""
    try:
        import rebound
    except ImportError:
        return None
    sim = rebound.Simulation()
    sim.G = instance.G
    for m, x, v in zip(instance.masses, instance.positions, instance.velocities):
        sim.add(m=float(m), x=x[0], y=x[1], z=x[2], vx=v[0], vy=v[1], vz=v[2])
    sim.integrator = "ias15"
    sim.exact_finish_time = 1
    calls = [0]

    def count(_sim):  # called once per force evaluation
        calls[0] += 1

    sim.additional_forces = count
    e0 = sim.energy()
    sim.integrate(t_end)
    return {"force_evaluations": calls[0], "energy_error": abs(sim.energy() - e0) / abs(e0), "status": "ok",
            "steps": int(sim.steps_done)}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = np.array([r["energy_error"] for r in runs], dtype=float)
    evals = np.array([r["force_evaluations"] for r in runs], dtype=float)
    return {"median_log10_error": float(np.median(_log10_errors(errors))), "mean_evaluations": float(evals.mean()),
            "median_evaluations": float(np.median(evals)),
            "failures": int(sum(r["status"] != "ok" for r in runs)), "runs": runs}


def fit_commit_controller(tune: list[Any], *, horizon: int, reference_evaluations: float, episodes: int,
                          mus: tuple[float, ...] = COMMIT_MUS, agent: str = "eps_regressor",
                          agent_config: dict[str, Any] | None = None, seed: int = 0) -> tuple[float, Any, dict[str, Any]]:
    """The per-instance η controller of ThreeBodyCommit-v0, trained on ``tune`` instances only.

    One ``agent`` (default: ε-greedy over per-arm ridge regressions of the reward on the pilot's features, ε = 1, i.e.
    uniform exploration, linear features) per μ of ``mus``, ``episodes`` episodes each, replayed over ``tune`` (runs
    are deterministic and cached, so every (instance, arm) pair is seen ~episodes/(len(tune)·arms) times). μ is then
    chosen by the *iso-cost* rule: the largest μ whose mean force evaluations on ``tune`` (pilot included) are at most
    ``reference_evaluations`` (the best fixed η's on the same instances): spend no more than the fixed η, be as
    accurate as possible. Returns ``(mu, model, {mu: tune summary})``.
    """
    from tunegym.agents.registry import make_agent
    from tunegym.envs.timestep.commit import make_three_body_commit

    config = {"epsilon": 1.0, "degree": 1} if agent_config is None else agent_config
    models, tune_summaries = {}, {}
    for mu in mus:
        env = make_three_body_commit(tune, horizon=horizon, error_weight=mu)
        model = make_agent(agent, env, config, seed=seed)
        env.reset(seed=seed)
        model.learn(env, total_timesteps=episodes)
        models[mu] = model
        tune_summaries[mu] = {k: v for k, v in _summary(commit_rollouts(model, env, tune)).items() if k != "runs"}
    fits = [mu for mu in mus if tune_summaries[mu]["mean_evaluations"] <= reference_evaluations]
    chosen = max(fits) if fits else min(mus)
    return chosen, models[chosen], tune_summaries


def commit_rollouts(model: Any, env: Any, instances: list[Any]) -> list[dict[str, Any]]:
    """One ThreeBodyCommit-v0 episode per instance with ``model``'s greedy arm: force evaluations (pilot included),
    final |ΔE/E0|, status and the chosen η."""
    runs = []
    for inst in instances:
        obs, _ = env.reset(options={"instance": inst})
        _, _, _, _, info = env.step(model.predict(obs, deterministic=True)[0])
        runs.append({"force_evaluations": int(info["force_evaluations"]), "energy_error": float(info["energy_error"]),
                     "status": info["status"], "eta": info["eta"]})
    return runs


#: PI runs through which the PI front is drawn, as multiples of the controller's rtol.
PI_FRONT_RTOL_FACTORS = (30.0, 10.0, 3.0, 1.0, 0.3)


def ode_instances(seeds: Any) -> list[Any]:
    """Two ODEStep-v0 problems per seed (seeds ``s`` and ``s + 1000``): the bench's tune and test sets."""
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.timestep.ode import ODEProblemDistribution

    dist = ODEProblemDistribution()
    return ([dist.sample(stream(s, "instances")) for s in seeds]
            + [dist.sample(stream(s + 1000, "instances")) for s in seeds])


def pi_front(instances: list[Any], rtol: float) -> list[tuple[float, float]]:
    """(mean RHS evaluations, median log10 global error) of the PI controller at rtol × :data:`PI_FRONT_RTOL_FACTORS`."""
    from tunegym.envs.timestep.ode import PIController, integrate

    points = []
    for pi_rtol in [f * rtol for f in PI_FRONT_RTOL_FACTORS]:
        runs = [integrate(inst, controller=PIController(), rtol=pi_rtol) for inst in instances]
        points.append((float(np.mean([r.rhs_evaluations for r in runs])),
                       float(np.median(_log10_errors([1.0 if r.global_error is None else r.global_error
                                                      for r in runs])))))
    return sorted(points)


def gap_to_front(front: list[tuple[float, float]], cost: float, error: float) -> float:
    """``error`` minus the front's median log10 error at ``cost`` (log-log interpolation); negative = below it."""
    return error - float(np.interp(np.log(cost), [np.log(c) for c, _ in front], [e for _, e in front]))


def ode_policy_runs(model: Any, instances: list[Any], *, rtol: float, env_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One ODEStep-v0 episode per instance with ``model``'s greedy actions."""
    from tunegym.envs.timestep.ode_env import make_ode_step

    runs = []
    for inst in instances:
        env = make_ode_step(max_attempts=20000, rtol=rtol, **env_kwargs)
        obs, _ = env.reset(seed=0, options={"instance": inst})
        while True:
            obs, _, terminated, truncated, info = env.step(model.predict(obs, deterministic=True)[0])
            if terminated or truncated:
                break
        runs.append({"instance_id": inst.instance_id, "family": inst.family,
                     "rhs_evaluations": info["total_rhs_evaluations"], "global_error": info.get("global_error"),
                     "rejected": env.solver.rejected,
                     "status": "ok" if info["status"] == "finished" else info["status"]})
    return runs


def _cost_error(runs: list[dict[str, Any]]) -> tuple[float, float]:
    errors = [r["global_error"] if r["global_error"] is not None else 1.0 for r in runs]
    return float(np.mean([r["rhs_evaluations"] for r in runs])), float(np.median(_log10_errors(errors)))


def fit_ode_gain_controller(tune: list[Any], *, rtol: float, knob: str = "pi_safety",
                            variants: list[tuple[float, int]] | None = None, agent: str = "linucb",
                            steps: int = 20000, seed: int = 0) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A bandit that sets the step controller's gain (ODEStep-v0 ``knob``) at ``rtol``, trained on the env's tune
    stream (``seed``) once per reward/feature variant ``(rejection penalty, feature degree)``; the variant whose
    median error on the ``tune`` instances lies furthest below (least above) the PI controller's front there is
    kept. Test instances are never read. Returns ``(model, env kwargs, {variants, chosen})``."""
    from tunegym.agents.registry import make_agent
    from tunegym.envs.timestep.ode_env import make_ode_step

    front = pi_front(tune, rtol)
    rows, best = [], None
    for penalty, degree in variants or [(3.0, 1)]:
        env_kwargs = {"knob": knob, "rejection_penalty": penalty}
        env = make_ode_step(max_attempts=2000, rtol=rtol, **env_kwargs)
        model = make_agent(agent, env, {"degree": degree}, seed=seed)
        env.reset(seed=seed)
        model.learn(env, total_timesteps=steps)
        cost, error = _cost_error(ode_policy_runs(model, tune, rtol=rtol, env_kwargs=env_kwargs))
        row = {"rejection_penalty": penalty, "degree": degree, "tune_mean_rhs_evaluations": cost,
               "tune_median_log10_error": error, "tune_gap_to_pi_front": gap_to_front(front, cost, error)}
        rows.append(row)
        if best is None or row["tune_gap_to_pi_front"] < best[2]["tune_gap_to_pi_front"]:
            best = (model, env_kwargs, row)
    return best[0], best[1], {"variants": rows, "chosen": best[2], "knob": knob, "pi_front_on_tune": front}


def _train_bandit(env: Any, agent: str, steps: int, seed: int) -> Any:
    from tunegym.agents.registry import make_agent

    model = make_agent(agent, env, seed=seed)
    env.reset(seed=seed)
    model.learn(env, total_timesteps=steps)
    return model


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the non-dominated points (cost, log10 error), both lower-is-better."""
    front = []
    for name, (cost, err) in points.items():
        dominated = any(c <= cost and e <= err and (c < cost or e < err) for other, (c, e) in points.items()
                        if other != name)
        if not dominated:
            front.append(name)
    return front


def run(args: argparse.Namespace) -> int:
    from tunegym.envs.core.seeding import stream
    from tunegym.envs.timestep.env import DEFAULT_ETAS, make_three_body
    from tunegym.envs.timestep.instances import PaperThreeBodyDistribution

    from tunegym.tuning.commands.common import evaluation_seeds

    if getattr(args, "seeds", None):
        test_seeds = evaluation_seeds(args.seeds)
    else:  # a Namespace built by code written for the old flags
        test_seeds = list(range(args.test_start, args.test_start + args.test_seeds))
    if args.smoke:
        args.actions, args.train_steps, args.ode_train_steps = 10, 200, 300
        args.commit_episodes, args.commit_tune_seeds = min(args.commit_episodes, 60), 3
        test_seeds = test_seeds[:2]
    args.test_seeds = len(test_seeds)  # sizes the tune-instance set below, as before
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dist = PaperThreeBodyDistribution()
    test_instances = [dist.sample(stream(seed, "instances")) for seed in test_seeds]
    tune_instances = [dist.sample(stream(seed, "instances")) for seed in TUNE_SEEDS[: max(2, args.test_seeds)]]

    # fixed η: the best one on tune seeds minimises the Lagrangian mean(force evaluations + λ·|ΔE/E0|) over
    # the same horizon (the η a user with trade-off λ would pick; the learned controller trains on that λ too)
    tb: dict[str, Any] = {}
    tune_objective = {}
    lam = args.lagrange_multiplier
    for k, eta in enumerate(DEFAULT_ETAS):
        name = f"fixed eta={eta:.2e}"
        tb[name] = _summary([three_body_rollout(inst, lambda obs, k=k: k, args.actions) for inst in test_instances])
        tune_runs = [three_body_rollout(inst, lambda obs, k=k: k, args.actions) for inst in tune_instances]
        tune_objective[name] = float(np.mean([r["force_evaluations"] + lam * r["energy_error"] for r in tune_runs]))
    best_fixed = min(tune_objective, key=tune_objective.get)

    learn_kwargs = {"reward_mode": args.reward_mode, "local_target": args.local_target, "lagrange_multiplier": lam,
                    "observation": "lagrangian" if args.reward_mode == "lagrangian" else "paper"}
    env = make_three_body(episode_length=100, **learn_kwargs)
    model = _train_bandit(env, args.agent, args.train_steps, seed=TUNE_SEEDS[0])
    learned_name = f"learned ({args.agent}, reward {args.reward_mode})"
    tb[learned_name] = _summary([three_body_rollout(inst, lambda obs: model.predict(obs, deterministic=True)[0],
                                                    args.actions, learn_kwargs) for inst in test_instances])
    commit_name, commit = None, None
    if args.commit_episodes > 0:
        from tunegym.envs.timestep.commit import (
            constant_eta_run,
            make_three_body_commit,
        )

        commit_tune = [dist.sample(stream(seed, "instances")) for seed in range(args.commit_tune_seeds)]
        best_eta = DEFAULT_ETAS[list(tune_objective).index(best_fixed)]
        reference = float(np.mean([constant_eta_run(inst, best_eta, args.actions)[0] for inst in commit_tune]))
        mu, commit_model, commit_tune_summaries = fit_commit_controller(
            commit_tune, horizon=args.actions, reference_evaluations=reference, episodes=args.commit_episodes)
        commit_name = f"learned per-instance eta (ThreeBodyCommit-v0, eps_regressor, mu={mu:g})"
        env = make_three_body_commit(commit_tune, horizon=args.actions, error_weight=mu)
        tb[commit_name] = _summary(commit_rollouts(commit_model, env, test_instances))
        commit = {"mu": mu, "mu_rule": "largest mu whose tune mean force evaluations (pilot included) <= the best "
                  f"fixed eta's on the same tune seeds 0-{args.commit_tune_seeds - 1}: {reference:.0f}",
                  "reference_evaluations": reference, "tune": commit_tune_summaries,
                  "episodes": args.commit_episodes}
    ias = [ias15_run(inst, 0.1 * args.actions) for inst in test_instances]
    if all(r is not None for r in ias):
        tb["IAS15 (rebound)"] = _summary(ias)
    tb_points = {n: (s["mean_evaluations"], s["median_log10_error"]) for n, s in tb.items()}
    lc, le = tb_points[learned_name]
    bc, be = tb_points[best_fixed]
    three_body = {
        "methods": {n: {k: v for k, v in s.items() if k != "runs"} for n, s in tb.items()},
        "runs": {n: s["runs"] for n, s in tb.items()},
        "best_fixed_on_tune_seeds": best_fixed,
        "best_fixed_rule": f"argmin over the grid of the tune-seed mean of force_evaluations + {lam:g}·|dE/E0|",
        "tune_objective": tune_objective,
        "learned_dominates_best_fixed": bool(lc <= bc and le <= be and (lc < bc or le < be)),
        "pareto_front": pareto_front(tb_points),
    }
    if commit_name is not None:
        cc, ce = tb_points[commit_name]
        three_body["per_instance_controller"] = {
            **commit, "name": commit_name, "dominates_best_fixed": bool(cc <= bc and ce <= be and (cc < bc or ce < be))}

    # ODEs
    from tunegym.envs.timestep.ode import (
        IController,
        PIController,
        integrate,
        solve_ivp_baseline,
    )

    ode_test = ode_instances(test_seeds)
    rtols = (1e-4, 1e-6, 1e-8) if not args.smoke else (1e-4,)
    od: dict[str, Any] = {}
    for rtol in rtols:
        for label, fn in (("I controller", lambda i, r=rtol: integrate(i, controller=IController(), rtol=r)),
                          ("PI controller", lambda i, r=rtol: integrate(i, controller=PIController(), rtol=r)),
                          ("solve_ivp RK45", lambda i, r=rtol: solve_ivp_baseline(i, rtol=r))):
            runs = []
            for inst in ode_test:
                res = fn(inst)
                runs.append({"instance_id": inst.instance_id, "family": inst.family,
                             "rhs_evaluations": res.rhs_evaluations, "global_error": res.global_error,
                             "rejected": None if label.startswith("solve_ivp") else res.rejected,  # not exposed
                             "status": res.status})
            od[f"{label} rtol={rtol:.0e}"] = runs
    # one learned controller per tolerance, each trained (and its variant chosen) on tune seeds at that rtol
    ode_tune = ode_instances(range(len(TUNE_SEEDS)))
    learned_names, ode_variants = {}, {}
    for rtol in rtols:
        variants = ([(3.0, 1)] if args.smoke else
                    [(p, d) for p in args.ode_rejection_penalties for d in args.ode_degrees])
        ode_model, env_kwargs, table = fit_ode_gain_controller(
            ode_tune, rtol=rtol, knob=args.ode_knob, variants=variants, agent=args.agent,
            steps=args.ode_train_steps, seed=TUNE_SEEDS[0])
        ode_variants[f"{rtol:.0e}"] = table
        learned_names[rtol] = (f"learned ({args.agent}, {args.ode_knob}, penalty {env_kwargs['rejection_penalty']:g}, "
                               f"degree {table['chosen']['degree']}) rtol={rtol:.0e}")
        od[learned_names[rtol]] = ode_policy_runs(ode_model, ode_test, rtol=rtol, env_kwargs=env_kwargs)

    def ode_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        errors = [r["global_error"] if r["global_error"] is not None else 1.0 for r in runs]
        return {"mean_rhs_evaluations": float(np.mean([r["rhs_evaluations"] for r in runs])),
                "median_log10_error": float(np.median(_log10_errors(errors))),
                "failures": int(sum(r["status"] != "ok" for r in runs)),
                "rejected": None if any(r["rejected"] is None for r in runs) else int(sum(r["rejected"] for r in runs))}

    ode_methods = {n: ode_summary(r) for n, r in od.items()}
    ode_points = {n: (s["mean_rhs_evaluations"], s["median_log10_error"]) for n, s in ode_methods.items()}
    ode = {"methods": ode_methods, "runs": od, "pareto_front": pareto_front(ode_points), "learned_vs_pi": {},
           "learned_variants_on_tune": ode_variants}
    for rtol, lname in learned_names.items():
        (lc2, le2), (pc2, pe2) = ode_points[lname], ode_points[f"PI controller rtol={rtol:.0e}"]
        # "matches PI": not dominated by PI's point at the same rtol, and within 5% cost / 0.3 decades of it
        ode["learned_vs_pi"][f"{rtol:.0e}"] = {
            "learned": [lc2, le2], "pi": [pc2, pe2],
            "dominated_by_pi": bool(pc2 <= lc2 and pe2 <= le2 and (pc2 < lc2 or pe2 < le2)),
            "matches_pi": bool(lc2 <= 1.05 * pc2 and le2 <= pe2 + 0.3),
            "dominates_pi": bool(lc2 <= pc2 and le2 <= pe2 and (lc2 < pc2 or le2 < pe2)),
            "gap_to_pi_front": gap_to_front(pi_front(ode_test, rtol), lc2, le2),
        }

    result = {"bench": "timestep", "version": 0, "tune_seeds": list(TUNE_SEEDS), "test_seeds": test_seeds,
              "config": {k: v for k, v in vars(args).items() if k != "func"}, "three_body": three_body, "ode": ode}
    from tunegym.agents.tuner_io import atomic_write_bytes

    atomic_write_bytes(out / "timestep.json", json.dumps(result, indent=1, default=float).encode())
    atomic_write_bytes(out / "timestep.md", _markdown(result).encode())
    _plot(tb_points, ode_points, out / "timestep_pareto.png")
    print(_markdown(result))
    print(f"wrote {out / 'timestep.json'}, {out / 'timestep.md'}, {out / 'timestep_pareto.png'}")
    return 0


def _markdown(result: dict[str, Any]) -> str:
    tb, ode = result["three_body"], result["ode"]
    lines = [f"# tunegym bench timestep (test seeds {result['test_seeds']})", "",
             "## Three-body (ThreeBody-v0), cost = force evaluations, accuracy = final |ΔE/E0|", "",
             "| method | mean force evals | median log10 abs dE | failures |", "|---|---:|---:|---:|"]
    for name, s in tb["methods"].items():
        lines.append(f"| {name} | {s['mean_evaluations']:.0f} | {format_log10_error(s['median_log10_error'])} | "
                     f"{s['failures']} |")
    lines += ["", (f"best fixed η on tune seeds ({tb['best_fixed_rule']}): {tb['best_fixed_on_tune_seeds']}; "
                   f"learned Pareto-dominates it: "
                   f"{tb['learned_dominates_best_fixed']}; Pareto front: {', '.join(tb['pareto_front'])}"), ""]
    if "per_instance_controller" in tb:
        pc = tb["per_instance_controller"]
        lines += [(f"per-instance η controller ({pc['mu_rule']}; mu={pc['mu']:g}) Pareto-dominates the best fixed η: "
                   f"{pc['dominates_best_fixed']}"), ""]
    lines += [
              "## ODEs (ODEStep-v0 problems), cost = RHS evaluations, accuracy = global error at t_end", "",
              "| method | mean RHS evals | median log10 error | rejected steps | failures |", "|---|---:|---:|---:|---:|"]
    for name, s in ode["methods"].items():
        lines.append(f"| {name} | {s['mean_rhs_evaluations']:.0f} | {format_log10_error(s['median_log10_error'])} | "
                     f"{'n/a' if s['rejected'] is None else s['rejected']} | {s['failures']} |")
    lines += ["", ("| rtol | learned (evals, log10 error) | PI (evals, log10 error) | dominated by PI | "
                   "matches PI (≤1.05x cost, ≤+0.3 dec) | dominates PI | gap to PI's front (dec) |"),
              "|---|---|---|---|---|---|---:|"]
    for rtol, c in ode["learned_vs_pi"].items():
        lines.append(f"| {rtol} | {c['learned'][0]:.0f}, {format_log10_error(c['learned'][1])} | "
                     f"{c['pi'][0]:.0f}, {format_log10_error(c['pi'][1])} | "
                     f"{c['dominated_by_pi']} | {c['matches_pi']} | {c['dominates_pi']} | {c['gap_to_pi_front']:+.2f} |")
    lines += ["", f"Pareto front: {', '.join(ode['pareto_front'])}", ""]
    return "\n".join(lines)


def _plot(tb_points: dict[str, tuple[float, float]], ode_points: dict[str, tuple[float, float]], path: Path) -> None:
    from tunegym.envs.core.extras import require

    matplotlib = require("matplotlib", "report", "the bench's plots")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, points, title, xlabel in ((axes[0], tb_points, "three-body", "mean force evaluations"),
                                      (axes[1], ode_points, "ODEs", "mean RHS evaluations")):
        groups: dict[str, list[tuple[float, float]]] = {}
        for name, p in points.items():
            groups.setdefault(name.split(" rtol=")[0].split(" eta=")[0], []).append(p)
        for label, pts in groups.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if len(pts) > 1 else "*", label=label,
                    markersize=6 if len(pts) > 1 else 14)
        if any(p[1] <= LOG10_ERROR_FLOOR for p in points.values()):
            ax.axhline(LOG10_ERROR_FLOOR, color="grey", linestyle=":", linewidth=1,
                       label=f"machine precision (errors < 1e{LOG10_ERROR_FLOOR:.0f} shown here)")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median log10 error")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
