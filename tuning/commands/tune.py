"""``tunegym tune``: tune an agent's hyperparameters on tune seeds, then score the best config on test seeds.

Writes ``OUT/run.json`` (what was run: env, agent, space, method, budget, seed split, storage, versions),
``OUT/trials.json`` (every trial; PBT: every member with its history) and ``OUT/best.json`` (best config,
its validation score and its test-seed score), each atomically and each with the seed split, versions and
run config. The study itself lives in the storage (``OUT/study.db`` by default), so ``--resume`` continues a
killed run (PBT keeps its population in memory and starts again).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register", "tune"]


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_device, add_out, add_resume, add_seeds

    parser = subparsers.add_parser("tune", help="tune an agent's hyperparameters with a strict tune/test split")
    parser.add_argument("--env", required=True, help="env id, e.g. tunegym/SOR-v0")
    parser.add_argument("--env-kwargs", default="{}", help="env kwargs as JSON")
    parser.add_argument("--agent", required=True, help="agent name (bandit or ppo/a2c/dqn/sac)")
    parser.add_argument("--space", default=None, help="search-space YAML (default: the agent's own)")
    parser.add_argument("--method", default="tpe",
                        help="random, grid, tpe, cmaes, sha, hyperband, dehb, smac, smac-mf, pbt (in-process); ray backend: "
                             "random, asha, pbt")
    parser.add_argument("--backend", default="optuna", choices=["optuna", "ray"],
                        help="optuna (default; SQLite/journal/PostgreSQL storage) or ray (Ray Tune: ASHA, PBT)")
    parser.add_argument("--trials", type=int, default=20, help="trials in the study (PBT: population size); default 20")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--budget", type=int, default=2000, help="training env steps per trial and tune seed")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop when the trials have trained this many env steps in all (equal compute across "
                             "methods: Hyperband/DEHB/SMAC-MF then run more, shorter trials; --trials becomes a cap)")
    parser.add_argument("--seeds-per-trial", type=int, default=1, help="tune seeds each trial averages over")
    parser.add_argument("--eval-steps", type=int, default=200, help="validation env steps per score")
    add_seeds(parser)
    parser.add_argument("--seed", type=int, default=0, help="HPO run seed (sampler, trial seed rotation)")
    parser.add_argument("--storage", default=None, help="sqlite:///F.db (default OUT/study.db), journal:F, postgresql://")
    parser.add_argument("--study", default=None,
                        help="study name (default: METHOD-AGENT-seedSEED); a named study that exists is joined")
    add_out(parser, required=True, help="output directory (run.json, trials.json, best.json, study.db)")
    add_resume(parser, help="continue the study in --out after a crash or kill (re-queues its interrupted trials); "
                            "an --out without a tune run is an error")
    add_device(parser, default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def tune(
    *,
    env: str,
    agent: str,
    out: Path,
    method: str = "tpe",
    trials: int = 20,
    budget: int = 2000,
    space: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    split: Any = None,
    seeds_per_trial: int = 1,
    eval_steps: int = 200,
    workers: int = 1,
    seed: int = 0,
    storage: str | None = None,
    study: str | None = None,
    resume: bool = False,
    progress: bool = True,
    backend: str = "optuna",
    device: str = "cpu",
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Run one HPO study and its final test-seed evaluation; returns the ``best.json`` content.

    Every argument is checked, and the env and agent are built once with the agent's default config, before
    anything is written: a mistake that would fail every trial (an unknown env, env kwargs the env rejects, an
    agent that cannot act in the env's action space, a device without a GPU) is one :class:`ConfigError` here,
    not a study that retries failing trials for ever.
    """
    from collections.abc import Mapping

    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.commands.common import check_device, check_out, check_seed
    from tunegym.tuning.methods import get_method
    from tunegym.tuning.objective import Objective
    from tunegym.tuning.runner import finished_trials, run_study, trial_records
    from tunegym.tuning.seeds import SeedSplit
    from tunegym.tuning.spaces import default_space, validate_space

    if backend not in ("optuna", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; choices: ['optuna', 'ray']", value=backend)
    if backend == "optuna":
        chosen = get_method(method)
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise ConfigError(f"--env-kwargs must be a JSON object, got {env_kwargs!r}", value=env_kwargs)
    for flag, value in (("--trials", trials), ("--workers", workers), ("--budget", budget),
                        ("--eval-steps", eval_steps), ("--seeds-per-trial", seeds_per_trial)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{flag} must be a positive whole number, got {value!r}", value=value)
    check_seed(seed)
    device = check_device(device)
    space = validate_space(space) if space is not None else default_space(agent)
    split = split or SeedSplit()
    if seeds_per_trial > len(split.tune):
        raise ConfigError(f"--seeds-per-trial {seeds_per_trial} is more than the {len(split.tune)} tune seeds; "
                          "give more tune seeds (--seeds) or average over fewer", value=seeds_per_trial)
    if max_steps is not None and (backend == "ray" or chosen.population):
        raise ConfigError("--max-steps needs an Optuna study method (not Ray, not PBT)", value=max_steps)
    out = Path(out)
    if resume and not (out / "run.json").is_file():
        raise ConfigError(f"--resume: {str(out)!r} holds no tune run (no run.json); drop --resume to start one",
                          value=str(out))
    _preflight(env, dict(env_kwargs or {}), agent, split, device)
    out = check_out(out)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study_name = study or f"{method}-{agent}-seed{seed}"
    objective = Objective(env, agent, budget, split, dict(env_kwargs or {}), seeds_per_trial, eval_steps,
                          device=device)
    run_info = {"env_id": env, "env_kwargs": dict(env_kwargs or {}), "agent": agent, "space": space,
                "method": method, "backend": backend, "trials": trials, "budget": budget, "seeds_per_trial": seeds_per_trial,
                "eval_steps": eval_steps, "seed": seed, "seeds": split.as_dict(), "storage": storage,
                "study": study_name, "workers": workers, "max_steps": max_steps, "versions": versions()}
    _check_same_run(out, run_info, resume=resume, join=study is not None)
    atomic_write_bytes(out / "run.json", json.dumps(run_info, indent=2).encode())
    # Every result file says its seeds, versions and the run's config, so any one of them stands alone.
    provenance = {"seeds": split.as_dict(), "versions": run_info["versions"], "run": run_info}
    if backend == "ray":
        from tunegym.tuning.ray_backend import run_ray

        outcome = run_ray(objective, space, method, trials, out, seed=seed, workers=workers, resume=resume)
        atomic_write_bytes(out / "trials.json", json.dumps({**provenance, "trials": outcome["trials"]},
                                                           indent=2, default=str).encode())
        best = {"config": outcome["config"], "trial": None, "validation_score": outcome["validation_score"],
                "seeds": split.as_dict(), "versions": versions(), "env_id": env, "agent": agent,
                "method": method, "backend": "ray", "run": run_info}
        best.update(objective.final_score(outcome["config"]))
        atomic_write_bytes(out / "best.json", json.dumps(best, indent=2).encode())
        return best
    if chosen.population:
        from tunegym.tuning.pbt import run_pbt

        outcome = run_pbt(objective, space, trials, seed=seed, progress=progress)
        atomic_write_bytes(out / "trials.json", json.dumps({**provenance, "trials": outcome["trials"]},
                                                           indent=2).encode())
        best = {"config": outcome["config"], "trial": outcome["trial"], "validation_score": outcome["validation_score"],
                "seeds": split.as_dict(), "versions": versions(), "env_id": env, "agent": agent, "method": method,
                "run": run_info}
        best.update(objective.final_score(outcome["config"]))
        atomic_write_bytes(out / "best.json", json.dumps(best, indent=2).encode())
        return best
    # Naming the study explicitly means "join it if it exists" (workers on many machines, one study).
    result = run_study(objective, space, chosen, trials, storage=storage, study_name=study_name,
                       workers=workers, seed=seed, resume=resume, join=study is not None, progress=progress,
                       max_steps=max_steps)
    records = trial_records(result)
    atomic_write_bytes(out / "trials.json", json.dumps({**provenance, "trials": records},
                                                       indent=2).encode())
    complete = [t for t in finished_trials(result) if t.value is not None and t.state.name == "COMPLETE"]
    if not complete:
        raise ConfigError("no trial completed; see trials.json for the failures", value=study_name)
    best_trial = min(complete, key=lambda t: t.value)
    best = {"config": best_trial.params, "trial": best_trial.number, "validation_score": best_trial.value,
            "seeds": split.as_dict(), "versions": versions(), "env_id": env, "agent": agent, "method": method,
            "run": run_info}
    best.update(objective.final_score(best_trial.params))
    atomic_write_bytes(out / "best.json", json.dumps(best, indent=2).encode())
    return best


#: run.json fields a resumed study must keep: its stored trials were trained and scored under them (``trials``,
#: ``workers``, ``max_steps`` and ``storage`` may change)
SAME_ON_RESUME = ("env_id", "env_kwargs", "agent", "space", "method", "backend", "budget", "seeds_per_trial",
                  "eval_steps", "seed", "seeds", "study")


def _check_same_run(out: Path, run_info: dict[str, Any], *, resume: bool, join: bool) -> None:
    """Refuse to mix two runs in one ``--out``.

    Without ``--resume`` (or ``--study``, which joins a named study) an ``--out`` that holds a tune run is an
    error: its run.json, trials.json and best.json would be overwritten by another study's. With ``--resume``
    the fields of :data:`SAME_ON_RESUME` must match the stored run: a resumed study with other seeds would mix
    trials trained on other tune seeds (or on what are now its test seeds), another budget or space would mix
    scores that do not compare.
    """
    from tunegym.envs.core.errors import ConfigError

    path = out / "run.json"
    if not path.is_file() or join:
        return
    if not resume:
        raise ConfigError(f"{str(out)!r} already holds a tune run; pass --resume to continue it or choose another "
                          f"--out", value=str(out))
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--resume: cannot read {str(path)!r}: {exc}", value=str(path)) from None
    if not isinstance(stored, dict):
        raise ConfigError(f"--resume: {str(path)!r} is not a tune run description", value=str(path))
    current = json.loads(json.dumps(run_info, default=str))
    changed = [key for key in SAME_ON_RESUME if key in stored and stored[key] != current.get(key)]
    if changed:
        detail = "; ".join(f"{key}: {stored[key]!r} -> {current.get(key)!r}" for key in changed)
        raise ConfigError(f"--resume with other settings than the stored run ({detail}); resume with the run's own "
                          f"flags or choose another --out", value=changed)


def _preflight(env_id: str, env_kwargs: dict[str, Any], agent: str, split: Any, device: str) -> None:
    """Build the env and the agent (default config) once, as a trial would, and close them again.

    Optuna scores a trial that raises a :class:`TunegymError` as failed and the study asks for another, so
    a mistake that fails *every* trial would otherwise loop for ever; here it is one error before the study.
    """
    from tunegym.agents.deeprl.envs import make_env
    from tunegym.agents.registry import make_agent
    from tunegym.tuning.seeds import SeedSplit

    env = make_env(env_id, env_kwargs)
    try:
        env.reset(seed=SeedSplit.derived(split.tune[0], "env"))
        built = make_agent(agent, env, {}, seed=SeedSplit.derived(split.tune[0], "agent"), device=device)
        close = getattr(built, "close", None)
        if callable(close):
            close()
    finally:
        env.close()


def run(args: argparse.Namespace) -> int:
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.commands.common import seed_split
    from tunegym.tuning.spaces import load_space

    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--env-kwargs is not valid JSON: {exc}", value=args.env_kwargs) from exc
    best = tune(
        env=args.env, agent=args.agent, out=Path(args.out), method=args.method, trials=args.trials,
        max_steps=args.max_steps,
        budget=args.budget, space=load_space(args.space) if args.space else None, env_kwargs=env_kwargs,
        split=seed_split(args.seeds), seeds_per_trial=args.seeds_per_trial, eval_steps=args.eval_steps,
        workers=args.workers, seed=args.seed, storage=args.storage, study=args.study, resume=args.resume,
        progress=not args.no_progress, backend=args.backend, device=args.device or "cpu",
    )
    print(f"best config {best['config']}: validation {best['validation_score']:.4g}, "
          f"test-seed score {best['test_score']:.4g} over {len(best['per_test_seed'])} test seeds")
    print(f"results in {args.out}/best.json, trials.json, run.json")
    return 0
