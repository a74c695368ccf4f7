"""``tunegym deploy``: a trained run's policy as a tuner file (data only) with its provenance.

SB3 runs become ``"sb3-policy"`` files (policy weights + JSON metadata: env id and kwargs, algorithm,
spaces, architecture, config, seeds, versions, step count); agents that save their own tuner files
(bandits) are checked and copied. ``tunegym.agents.load_tuner(FILE)`` loads either.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("deploy", help="export a trained run's policy as a tuner file")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", required=True, help="tuner file to write (e.g. sor-ppo.pt)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, load_tuner_file
    from tunegym.envs.core.errors import CheckpointError
    from tunegym.tuning.runs import RunDir

    rundir = RunDir(args.run_dir)
    run_info, _ = rundir.read()
    seeds = json.loads(rundir.seeds_json.read_text()) if rundir.seeds_json.is_file() else {"train": run_info.get("seed")}
    if rundir.checkpoint.is_file():
        from tunegym.agents.deeprl.policy import SB3Policy

        policy = SB3Policy.from_checkpoint(rundir.checkpoint)
        policy.metadata.update({"seeds": seeds, "run": run_info, "source": "tunegym deploy"})
        policy.save(args.out)
        kind = policy.kind
    elif rundir.agent_file.is_file():
        kind, _, _ = load_tuner_file(rundir.agent_file)  # refuse anything that is not a tuner file
        atomic_write_bytes(args.out, rundir.agent_file.read_bytes())
    else:
        raise CheckpointError(f"run {str(rundir.root)!r} has no checkpoint yet (train it first)", value=str(rundir.root))
    print(f"wrote {kind} tuner {args.out} ({run_info['agent']} on {run_info['env_id']})")
    return 0
