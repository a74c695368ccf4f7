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
    from tunegym.tuning.commands.common import add_deprecated, add_out

    parser = subparsers.add_parser("deploy", help="export a trained run's policy as a tuner file")
    parser.add_argument("--run", metavar="RUN_DIR", help="the run directory to export (what `tunegym train --out` "
                                                         "wrote)")
    add_deprecated(parser, "--run-dir", "run", "--run")
    add_out(parser, kind="file", required=True, help="tuner file to write (e.g. sor-ppo.pt)")
    parser.add_argument("--wrap", choices=("none", "step-size"), default="none",
                        help="step-size: wrap the policy of a ThreeBody/ODEStep run as a StepSizeTuner file "
                             "(load_tuner(FILE).solve_ivp / integrate; what `python -m "
                             "tunegym.agents.step_size_tuner` made)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunegym.agents.tuner_io import atomic_write_bytes, load_tuner_file
    from tunegym.envs.core.errors import CheckpointError
    from tunegym.tuning.runs import RunDir

    if not getattr(args, "run", None):
        from tunegym.envs.core.errors import ConfigError

        raise ConfigError("the following arguments are required: --run", value=None)
    from tunegym.tuning.commands.common import check_out

    rundir = RunDir(args.run)
    run_info, _ = rundir.read()
    check_out(args.out, kind="file")  # a directory or an empty --out: one line, not an OSError from os.replace
    if getattr(args, "wrap", "none") == "step-size":
        return _deploy_step_size(args, rundir, run_info)
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


def _deploy_step_size(args: argparse.Namespace, rundir: object, run_info: dict) -> int:
    """The run's policy inside a :class:`~tunegym.agents.step_size_tuner.StepSizeTuner` for the run's env."""
    from tunegym.agents.step_size_tuner import StepSizeTuner
    from tunegym.agents.tuners import load_tuner
    from tunegym.envs.core.errors import CheckpointError

    if rundir.checkpoint.is_file():
        from tunegym.agents.deeprl.policy import SB3Policy

        policy = SB3Policy.from_checkpoint(rundir.checkpoint)
    elif rundir.agent_file.is_file():
        policy = load_tuner(rundir.agent_file)
    else:
        raise CheckpointError(f"run {str(rundir.root)!r} has no checkpoint yet (train it first)", value=str(rundir.root))
    provenance = {"env_id": run_info["env_id"], "env_kwargs": run_info.get("env_kwargs", {}),
                  "agent": run_info["agent"], "train_seed": run_info.get("seed"),
                  "train_steps": run_info.get("num_timesteps") or run_info.get("steps"), "source": "tunegym deploy"}
    tuner = StepSizeTuner(policy, env_id=run_info["env_id"], env_kwargs=run_info.get("env_kwargs", {}),
                          provenance=provenance)
    tuner.save(args.out)
    print(f"wrote step-size-tuner {args.out} ({run_info['agent']} on {run_info['env_id']})")
    return 0
