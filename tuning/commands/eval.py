"""``tunegym eval``: a trained run's policy against the env's baselines and oracle on test seeds.

Loads the policy from the run directory (SB3 checkpoint or the agent's own tuner file), rolls it out on
each seed together with the baselines the env supports (SOR: fixed ω=1, Young's ω*, the per-instance grid
oracle), and writes ``eval/eval-<seeds>.json`` and ``.md`` in the run directory. Test seeds are touched
here and nowhere in training.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tunegym.envs.core.errors import ConfigError

__all__ = ["register", "run", "BASELINES"]

#: ``--baselines`` default: every baseline of the env's domain (:func:`tunegym.agents.baselines.baselines_for`)
BASELINES = ("all",)


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_deprecated, add_out, add_seeds

    parser = subparsers.add_parser("eval", help="evaluate a trained run against baselines on test seeds")
    parser.add_argument("--run", metavar="RUN_DIR", help="the run directory to evaluate (what `tunegym train "
                                                         "--out` wrote)")
    add_deprecated(parser, "--run-dir", "run", "--run")
    add_seeds(parser, default="test", help="seeds to evaluate on: test=LOW-HIGH, a suite name (test = 100-109, "
                                           "tune = 0-9), LOW-HIGH or a comma list (default test)")
    add_out(parser, help="directory for eval-SEEDS.json and .md (default RUN_DIR/eval)")
    parser.add_argument("--episodes", type=int, default=1, help="episodes per seed (default 1)")
    parser.add_argument("--max-steps", type=int, default=None, help="env steps per seed (default: --episodes episodes)")
    parser.add_argument("--baselines", default="all",
                        help="baselines to compare: 'all' (default: the domain's rules, fixed knob, per-instance "
                             "oracle), 'none', or comma-separated words matched against their names "
                             "(e.g. fixed,young,oracle)")
    parser.add_argument("--json", action="store_true",
                        help="print the JSON result instead of the Markdown table (files are written either way)")
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


def _baseline_builders(env: Any, selection: str) -> tuple[dict[str, Any], list[str]]:
    """The env's baselines picked by ``--baselines`` (``all``, ``none`` or words matched in their names)."""
    from tunegym.agents.baselines import baselines_for

    words = [w.strip().lower() for w in selection.split(",") if w.strip()]
    if words in ([], ["none"]):
        return {}, []
    if not hasattr(env.unwrapped, "knob"):
        return {}, words  # a multi-agent view: the per-knob baselines live on the single-agent ids
    available, not_here = {}, []
    for label, maker in baselines_for(env).items():
        try:  # a domain's rule may fit only some of its envs (the PI controller is for ODEStep, not three-body)
            maker(env)
        except ConfigError:
            not_here.append(label)
            continue
        available[label] = maker
    if words == ["all"]:
        return available, []
    chosen = {label: maker for label, maker in available.items() if any(w in label.lower() for w in words)}
    unmatched = [w for w in words if not any(w in label.lower() for label in available)]
    if unmatched:
        raise ConfigError(f"unknown baseline(s) {unmatched}; this env has {list(available)}", value=unmatched)
    return chosen, []


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.deeprl.envs import make_env
    from tunegym.agents.tuner_io import atomic_write_bytes, versions
    from tunegym.tuning.evaluation import evaluate_methods, markdown_table
    from tunegym.tuning.commands.common import check_out, evaluation_seeds
    from tunegym.tuning.runs import RunDir

    if not getattr(args, "run", None):
        raise ConfigError("the following arguments are required: --run", value=None)
    rundir = RunDir(args.run)
    run_info, config = rundir.read()
    seeds = evaluation_seeds(args.seeds)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}", value=args.episodes)
    if args.max_steps is not None and args.max_steps < 1:  # was: 0 or -3 ran one step per seed and reported it
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}", value=args.max_steps)
    if getattr(args, "out", None) is not None:
        check_out(args.out, create=False)
    env_id, env_kwargs = run_info["env_id"], run_info.get("env_kwargs", {})
    policy = _load_policy(rundir, run_info)

    probe = make_env(env_id, env_kwargs)
    baselines, skipped = _baseline_builders(probe, args.baselines)
    episode_length = probe.spec.max_episode_steps if probe.spec is not None else None
    probe.close()
    steps = args.max_steps
    if steps is None and args.episodes > 1:
        if episode_length is None:
            raise ConfigError(f"{env_id} has no fixed episode length; give --max-steps instead of --episodes",
                              value=args.episodes)
        steps = args.episodes * episode_length
    trained = f"{run_info['agent']} (trained)"
    methods: dict[str, Any] = {trained: lambda env: policy, **baselines}

    if run_info.get("multiagent") in ("independent", "parameter-sharing"):
        from tunegym.tuning.evaluation import evaluate_parallel

        results = [evaluate_parallel(env_id, policy, seeds, env_kwargs=env_kwargs, steps=steps, method=trained)]
        others = {name: maker for name, maker in methods.items() if name != trained}
        results += evaluate_methods(env_id, others, seeds, env_kwargs=env_kwargs, steps=steps)
    else:
        results = evaluate_methods(env_id, methods, seeds, env_kwargs=env_kwargs, steps=steps)
    reference = next((name for name in baselines if name.lower().startswith("fixed")), None)
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
        f"{report['train_seed']}, {report['num_timesteps']} training steps. Cost: the env's `info['cost']` in "
        f"{results[0].cost_unit}, mean over seeds; oracles see the instance before it is solved.",
        "",
        markdown_table(results, reference=reference),
        *([f"\nBaselines {skipped} skipped: a multi-agent view has no single knob; evaluate them on the "
           f"single-agent id."] if skipped else []),
    ]) + "\n"
    tag = args.seeds.replace(",", "_").replace("=", "")
    out = check_out(args.out if getattr(args, "out", None) is not None else rundir.eval_dir)
    atomic_write_bytes(out / f"eval-{tag}.json", (json.dumps(report, indent=2, default=str) + "\n").encode())
    atomic_write_bytes(out / f"eval-{tag}.md", markdown.encode())
    print(json.dumps(report, indent=2, default=str) if args.json else markdown, end="")
    print(f"wrote {out / f'eval-{tag}.json'} and .md", file=sys.stderr)
    return 0
