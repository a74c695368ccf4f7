"""``tunegym eval``: a trained run's policy against the env's baselines and oracle on test seeds.

Loads the policy from the run directory (SB3 checkpoint or the agent's own tuner file), rolls it out on
each seed together with the baselines the env supports (SOR: fixed ω=1, Young's ω*, the per-instance grid
oracle), and writes ``eval/eval-<seeds>.json`` and ``.md`` in the run directory. Test seeds are touched
here and nowhere in training.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tunegym.envs.core.errors import ConfigError

__all__ = ["register", "run", "BASELINES"]

#: baselines for envs exposing the SOR knob API (``knob``, ``current_instance``, ``cost_of``)
BASELINES = ("fixed", "young", "oracle")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a trained run against baselines on test seeds")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seeds", default="test", help="test (100-109), tune (0-9), LOW-HIGH or a comma list")
    parser.add_argument("--episodes", type=int, default=1, help="episodes per seed (default 1)")
    parser.add_argument("--max-steps", type=int, default=None, help="env steps per seed (default: --episodes episodes)")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help=f"comma list of baselines to compare (default {','.join(BASELINES)}; 'none' for none)")
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the Markdown table")
    parser.set_defaults(func=run)


def _load_policy(rundir: Any, run_info: dict[str, Any]) -> Any:
    from tunegym.agents.tuners import load_tuner

    if rundir.checkpoint.is_file():
        from tunegym.agents.deeprl.policy import SB3Policy

        return SB3Policy.from_checkpoint(rundir.checkpoint)
    if rundir.agent_file.is_file():
        return load_tuner(rundir.agent_file)
    from tunegym.envs.core.errors import CheckpointError

    raise CheckpointError(f"run {str(rundir.root)!r} has no checkpoint yet (train it first)", value=str(rundir.root))


def _baseline_builders(names: list[str]) -> dict[str, Any]:
    from tunegym.agents.baselines import FixedOmega, GridOracle, YoungOmega

    table = {
        "fixed": ("fixed ω=1", lambda env: FixedOmega(env, 1.0)),
        "young": ("Young ω*", YoungOmega),
        "oracle": ("grid oracle", GridOracle),
    }
    return {table[n][0]: table[n][1] for n in names}


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.deeprl.envs import make_env
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.evaluation import evaluate_methods, markdown_table
    from tunegym.tuning.runs import RunDir, parse_seeds

    rundir = RunDir(args.run_dir)
    run_info, config = rundir.read()
    seeds = parse_seeds(args.seeds)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}", value=args.episodes)
    names = [] if args.baselines.strip() in ("", "none") else [n.strip() for n in args.baselines.split(",")]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; choices: {list(BASELINES)}", value=unknown)
    env_id, env_kwargs = run_info["env_id"], run_info.get("env_kwargs", {})
    policy = _load_policy(rundir, run_info)

    probe = make_env(env_id, env_kwargs)
    supports_sor_baselines = all(hasattr(probe.unwrapped, a) for a in ("knob", "current_instance", "cost_of"))
    episode_length = probe.spec.max_episode_steps if probe.spec is not None else None
    probe.close()
    steps = args.max_steps
    if steps is None and args.episodes > 1:
        if episode_length is None:
            raise ConfigError(f"{env_id} has no fixed episode length; give --max-steps instead of --episodes",
                              value=args.episodes)
        steps = args.episodes * episode_length
    trained = f"{run_info['agent']} (trained)"
    methods: dict[str, Any] = {trained: lambda env: policy}
    skipped = []
    if supports_sor_baselines:
        methods.update(_baseline_builders(names))
    elif names:
        skipped = names

    if run_info.get("multiagent") in ("independent", "parameter-sharing"):
        from tunegym.tuning.evaluation import evaluate_parallel

        results = [evaluate_parallel(env_id, policy, seeds, env_kwargs=env_kwargs, steps=steps, method=trained)]
        others = {name: maker for name, maker in methods.items() if name != trained}
        results += evaluate_methods(env_id, others, seeds, env_kwargs=env_kwargs, steps=steps)
    else:
        results = evaluate_methods(env_id, methods, seeds, env_kwargs=env_kwargs, steps=steps)
    reference = "fixed ω=1" if "fixed ω=1" in methods else None
    report = {
        "run_dir": str(rundir.root),
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "agent": run_info["agent"],
        "config": config,
        "train_seed": run_info.get("seed"),
        "num_timesteps": run_info.get("num_timesteps"),
        "seeds": seeds,
        "episodes": args.episodes,
        "steps_per_seed": steps if steps is not None else episode_length,
        "baselines_skipped": skipped,
        "versions": versions(),
        "results": [r.as_dict() for r in results],
    }
    markdown = "\n".join([
        f"# {run_info['agent']} on {env_id} {env_kwargs or ''}".rstrip(),
        "",
        f"Seeds {seeds[0]}…{seeds[-1]} ({len(seeds)}), "
        f"{'one episode' if report['steps_per_seed'] is None else str(report['steps_per_seed']) + ' env steps'} "
        f"each; train seed "
        f"{report['train_seed']}, {report['num_timesteps']} training steps. Cost: the env's `info['cost']` per "
        f"step (SOR: sweeps), mean over seeds.",
        "",
        markdown_table(results, reference=reference, unit="cost / step"),
        *([f"\nBaselines {skipped} skipped: the env exposes no SOR knob."] if skipped else []),
    ]) + "\n"
    tag = args.seeds.replace(",", "_")
    rundir.eval_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(rundir.eval_dir / f"eval-{tag}.json", (json.dumps(report, indent=2, default=str) + "\n").encode())
    atomic_write_bytes(rundir.eval_dir / f"eval-{tag}.md", markdown.encode())
    print(json.dumps(report, indent=2, default=str) if args.json else markdown, end="")
    return 0
