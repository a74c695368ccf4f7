"""``tunegym train``: train an agent (SB3 PPO/A2C/DQN/SAC or any registered bandit) on an env, resumably.

SB3 agents checkpoint atomically every ``--checkpoint-every`` seconds (at rollout boundaries) and at the
end; ``--resume`` continues a killed run from its last checkpoint to the same total step count. Other
agents (bandits) train in one go and save their own file at the end; resuming an unfinished one restarts it.
The run directory layout is :mod:`tunegym.tuning.runs`. This module parses and orchestrates; it does not
know any algorithm.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

from tunegym.envs.core.errors import CheckpointError, ConfigError

__all__ = ["register", "run", "load_config_file", "parse_env_kwargs"]

SB3_AGENTS = ("ppo", "a2c", "dqn", "sac")
MULTIAGENT_MODES = ("independent", "parameter-sharing", "joint", "flat", "shared")


def register(subparsers: argparse._SubParsersAction) -> None:
    from tunegym.tuning.commands.common import add_config, add_device, add_out, add_resume

    parser = subparsers.add_parser(
        "train", help="train an agent on an env into a resumable run directory",
        description="Train an agent (ppo, a2c, dqn, sac or a bandit) on an env. Writes run.json, config.json, "
                    "seeds.json, versions.json, checkpoints/ and TensorBoard logs under --out.",
    )
    parser.add_argument("--env", help="env id, e.g. tunegym/SOR-v0 (taken from run.json with --resume)")
    parser.add_argument("--agent", help="ppo, a2c, dqn, sac or a registered bandit")
    add_config(parser)
    parser.add_argument("--env-kwargs", help='env kwargs as JSON, e.g. \'{"variance": "low"}\'')
    parser.add_argument("--steps", type=int,
                        help="total env steps to train for (PPO/A2C: rounded up to whole rollouts, said on stderr). "
                             "With --resume: the run's own target; a larger value extends it (logged in run.json)")
    parser.add_argument("--seed", type=int, help="train seed (default 0)")
    add_out(parser, required=True, old=("--run-dir",),
            help="run directory (created; must not hold a run unless --resume)")
    add_device(parser)
    add_resume(parser, help="continue the run in --out from its last checkpoint (a complete run: nothing to do)")
    parser.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                        help="seconds between checkpoints (default 300; one is always written at the end)")
    parser.add_argument("--eval-every", type=int, default=0, metavar="STEPS",
                        help="evaluate on validation seeds every STEPS env steps and log eval/* (0: never)")
    parser.add_argument("--n-envs", type=int, metavar="N",
                        help="SB3 agents: env copies stepped per policy call (config key n_envs; default 1). "
                             "They run in this process (config vec_env: native), tunegym envs on N threads")
    parser.add_argument("--torch-threads", type=int, default=1, metavar="N",
                        help="torch threads of the learner on CPU (default 1: PPO's small networks train fastest "
                             "on one, and more threads stall whenever another process holds a core)")
    parser.add_argument("--logdir", help="TensorBoard directory (default OUT/tb)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--multiagent", choices=MULTIAGENT_MODES, default=None,
                        help="for a PettingZoo env (tunegym list): 'independent' = one bandit per agent (default "
                             "for bandits), 'parameter-sharing' = one bandit learns from every agent (its "
                             "index in the context), 'joint' = one agent sets every knob (default for SB3 agents), "
                             "'flat' = one bandit over all arm combinations, 'shared' = one action for all knobs")
    parser.set_defaults(func=run)


def load_config_file(path: str | None) -> dict[str, Any]:
    """A YAML or JSON mapping of config keys (``{}`` for no file); malformed files raise :class:`ConfigError`."""
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no config file at {path!r}", value=path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # a binary file, a file saved in another encoding, no permission
        raise ConfigError(f"cannot read config file {path!r} as UTF-8 text: {exc}", value=path) from None
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse config file {path!r}: {first}", value=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of config keys, got {type(data).__name__}",
                          value=path)
    return data


def parse_env_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--env-kwargs is not valid JSON: {exc}", value=text) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"--env-kwargs must be a JSON object, got {text!r}", value=text)
    return data


def _resolve(args: argparse.Namespace, rundir: Any) -> dict[str, Any]:
    """The run description: from the flags for a new run, from run.json (checked against flags) on resume."""
    from tunegym.tuning.commands.common import check_device, check_out, check_seed

    check_out(rundir.root, create=False)
    if args.device is not None:
        check_device(args.device)
    if args.seed is not None:
        check_seed(args.seed)
    config = load_config_file(args.config)
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    n_envs = getattr(args, "n_envs", None)
    if n_envs is not None:
        if n_envs < 1:
            raise ConfigError(f"--n-envs must be >= 1, got {n_envs}", value=n_envs)
        if config.get("n_envs", n_envs) != n_envs:
            raise ConfigError(f"--n-envs {n_envs} differs from n_envs {config['n_envs']} in --config", value=n_envs)
    if args.resume:
        run, saved_config = rundir.read()
        if n_envs is not None and n_envs != int(saved_config.get("n_envs", 1)):
            raise ConfigError(f"--n-envs {n_envs} differs from the run's n_envs {saved_config.get('n_envs', 1)}; "
                              f"drop it to resume", value=n_envs)
        for flag, key, value in (("--env", "env_id", args.env), ("--agent", "agent", args.agent),
                                 ("--seed", "seed", args.seed)):
            if value is not None and value != run.get(key):
                raise ConfigError(f"{flag} {value!r} differs from the run's {run.get(key)!r}; drop it to resume",
                                  value=value)
        saved_kwargs = {k: v for k, v in run.get("env_kwargs", {}).items() if k != "multiagent_view"}
        if args.env_kwargs is not None and env_kwargs != saved_kwargs:
            raise ConfigError(f"--env-kwargs differs from the run's {run.get('env_kwargs')}", value=env_kwargs)
        if config and any(saved_config.get(k) != v for k, v in config.items()):
            raise ConfigError("--config differs from the run's config.json; drop it to resume", value=config)
        if args.multiagent is not None and args.multiagent != run.get("multiagent"):
            raise ConfigError(f"--multiagent {args.multiagent!r} differs from the run's {run.get('multiagent')!r}",
                              value=args.multiagent)
        steps = int(run["steps"])
        if args.steps is not None and args.steps != steps:
            done = int(run.get("num_timesteps") or 0)
            if args.steps < max(steps, done):
                raise ConfigError(f"--steps {args.steps} is below the run's target of {steps} steps"
                                  f"{f' ({done} done)' if done else ''}; drop --steps to resume to the target",
                                  value=args.steps)
            if run["agent"] not in SB3_AGENTS or run.get("multiagent") in ("independent", "parameter-sharing"):
                raise ConfigError(f"--steps with --resume extends SB3 runs only; a {run['agent']!r} run trains in "
                                  f"one go: start a new run with --steps {args.steps}", value=args.steps)
            trained = f" ({done} trained)" if done > steps else ""
            print(f"tunegym train: extending the run's target from {steps}{trained} to {args.steps} steps "
                  f"(recorded in run.json)", file=sys.stderr)
            steps = int(args.steps)
        return {"env_id": run["env_id"], "env_kwargs": run.get("env_kwargs", {}), "agent": run["agent"],
                "config": saved_config, "steps": steps, "seed": int(run.get("seed", 0)),
                "device": args.device or run.get("device", "auto"), "multiagent": run.get("multiagent")}
    if rundir.exists():
        raise ConfigError(f"{str(rundir.root)!r} already holds a run; pass --resume to continue it or choose "
                          f"another --out", value=str(rundir.root))
    missing = [flag for flag, value in (("--env", args.env), ("--agent", args.agent), ("--steps", args.steps))
               if value is None]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)} (needed for a new run)", value=missing)
    if args.steps <= 0:
        raise ConfigError(f"--steps must be positive, got {args.steps}", value=args.steps)
    multiagent = _multiagent_mode(args.env, args.agent, args.multiagent)
    if n_envs is not None:
        if args.agent not in SB3_AGENTS:
            raise ConfigError(f"--n-envs applies to the SB3 agents {list(SB3_AGENTS)}, not {args.agent!r}",
                              value=n_envs)
        config = {**config, "n_envs": n_envs}
    if multiagent in ("joint", "flat", "shared"):
        env_kwargs = {**env_kwargs, "multiagent_view": multiagent}
    return {"env_id": args.env, "env_kwargs": env_kwargs, "agent": args.agent, "config": config,
            "steps": int(args.steps), "seed": 0 if args.seed is None else int(args.seed),
            "device": args.device or "auto", "multiagent": multiagent}


def _multiagent_mode(env_id: str, agent: str, requested: str | None) -> str | None:
    """How to train on ``env_id``: ``None`` for a single-agent env, else one of :data:`MULTIAGENT_MODES`."""
    from tunegym.envs.multiagent import ENV_IDS

    if env_id not in ENV_IDS:
        if requested is not None:
            raise ConfigError(f"--multiagent applies to PettingZoo envs {list(ENV_IDS)}, not {env_id!r}",
                              value=requested)
        return None
    mode = requested or ("joint" if agent in SB3_AGENTS else "independent")
    if mode in ("independent", "parameter-sharing") and agent in SB3_AGENTS:
        raise ConfigError(f"--multiagent {mode} needs an online learner (a bandit), not {agent!r}; use "
                          "--multiagent joint to train one SB3 policy that sets every knob", value=agent)
    return mode


def run(args: argparse.Namespace) -> int:
    from tunegym.tuning.commands.common import require_out
    from tunegym.tuning.runs import RunDir

    require_out("tunegym train", args)
    rundir = RunDir(args.out)
    spec = _resolve(args, rundir)
    if getattr(args, "torch_threads", 1) < 1:
        raise ConfigError(f"--torch-threads must be >= 1, got {args.torch_threads}", value=args.torch_threads)
    if args.checkpoint_every <= 0:
        raise ConfigError(f"--checkpoint-every must be positive, got {args.checkpoint_every}",
                          value=args.checkpoint_every)
    if spec.get("multiagent") in ("independent", "parameter-sharing"):
        return _train_independent(args, rundir, spec)
    if spec["agent"] in SB3_AGENTS:
        return _train_sb3(args, rundir, spec)
    return _train_generic(args, rundir, spec)


def _seeds(seed: int) -> dict[str, Any]:
    from tunegym.tuning.runs import TEST_SEEDS, validation_seeds

    return {"train": seed, "validation": validation_seeds(seed), "test_default": list(TEST_SEEDS)}


def _write_provenance(args: argparse.Namespace, rundir: Any, spec: dict[str, Any], config: dict[str, Any]) -> None:
    from tunegym.agents.tuner_io import versions

    if args.resume and rundir.exists():
        previous = rundir.read()[0]
        if spec["steps"] != previous.get("steps"):
            rundir.update_run(steps=spec["steps"],
                              extended_from=[*previous.get("extended_from", []), previous.get("steps")])
        return
    run_fields = {k: spec[k] for k in ("env_id", "env_kwargs", "agent", "steps", "seed", "device")}
    if spec.get("multiagent"):
        run_fields["multiagent"] = spec["multiagent"]
    rundir.write(run_fields, config, _seeds(spec["seed"]), versions())


def _train_sb3(args: argparse.Namespace, rundir: Any, spec: dict[str, Any]) -> int:
    from stable_baselines3.common.callbacks import CallbackList

    from tunegym.agents.config import config_to_dict
    from tunegym.agents.deeprl.agent import build_deeprl_agent, load_checkpoint_file
    from tunegym.agents.deeprl.callbacks import (
        InfoLoggerCallback,
        ProgressBarCallback,
        TimedCheckpointCallback,
        ValidationEvalCallback,
    )

    if (args.resume and rundir.checkpoint.is_file() and rundir.read()[0].get("completed")
            and int(rundir.read()[0].get("num_timesteps") or 0) >= spec["steps"]):
        _check_intact(rundir.checkpoint)
        trained = int(rundir.read()[0].get("num_timesteps") or 0)
        more = f", {trained} trained: PPO/A2C round up to whole rollouts" if trained > spec["steps"] else ""
        print(f"run in {rundir.root} is already complete ({spec['steps']} steps{more}); nothing to do")
        return 0
    payload = None
    for stale in rundir.checkpoint.parent.glob(f".{rundir.checkpoint.name}.*.tmp"):
        stale.unlink()  # a write interrupted by a kill; the last complete checkpoint is untouched
    import torch

    torch.set_num_threads(getattr(args, "torch_threads", 1))  # before any op starts torch's thread pool
    if args.resume and rundir.checkpoint.is_file():
        payload = load_checkpoint_file(rundir.checkpoint)  # refuse a corrupt/foreign file before building anything
        if payload["algo"] != spec["agent"]:
            raise CheckpointError(f"checkpoint {str(rundir.checkpoint)!r} holds a {payload['algo']!r} model, the run "
                                  f"is {spec['agent']!r}", value=payload["algo"])
        saved_env = json.loads(payload["metadata_json"]).get("env_id")
        if saved_env != spec["env_id"]:
            raise CheckpointError(f"checkpoint {str(rundir.checkpoint)!r} was trained on {saved_env!r}, the run is "
                                  f"on {spec['env_id']!r}", value=saved_env)
    agent = build_deeprl_agent(spec["agent"], spec["env_id"], spec["env_kwargs"], spec["config"],
                               seed=spec["seed"], device=spec["device"])
    try:
        _write_provenance(args, rundir, spec, config_to_dict(agent.config))
        if payload is not None:
            agent.restore_state(payload["state"])
        logdir = Path(args.logdir) if args.logdir else rundir.tensorboard
        agent.model.set_logger(_logger(logdir, resumed_at=agent.num_timesteps if payload is not None else None))
        _say_rollout_rounding(agent, spec, rundir, payload is not None)
        callbacks = [InfoLoggerCallback(), TimedCheckpointCallback(lambda: agent.save(rundir.checkpoint),
                                                                   args.checkpoint_every)]
        if args.eval_every > 0:
            from tunegym.tuning.evaluation import evaluate_policy
            from tunegym.tuning.runs import validation_seeds

            seeds = validation_seeds(spec["seed"])

            def evaluate(model: Any) -> dict[str, float]:
                stats = evaluate_policy(spec["env_id"], lambda env: model, seeds, env_kwargs=spec["env_kwargs"])
                return {"mean_cost": stats.cost, "mean_return": float(sum(stats.returns) / len(stats.returns))}

            callbacks.append(ValidationEvalCallback(evaluate, args.eval_every))
        if not args.no_progress:
            callbacks.append(ProgressBarCallback(spec["steps"], f"{spec['agent']} {spec['env_id']}"))
        start = agent.num_timesteps
        agent.learn_until(spec["steps"], callback=CallbackList(callbacks))
        agent.save(rundir.checkpoint)
        rundir.update_run(num_timesteps=agent.num_timesteps, completed=True)
        print(f"trained {spec['agent']} on {spec['env_id']}: {agent.num_timesteps} steps"
              f"{f' (resumed at {start})' if payload is not None else ''}; checkpoint {rundir.checkpoint}")
    finally:
        agent.close()
    return 0


def _check_intact(path: Path) -> None:
    """A complete run's saved model, checked before ``--resume`` says there is nothing to do: a corrupt or
    truncated file is a :class:`CheckpointError` naming it, not "already complete"."""
    from tunegym.agents.tuner_io import check_archive

    check_archive(path, "saved model")


def _logger(logdir: Path, resumed_at: int | None = None) -> Any:
    """SB3's TensorBoard + CSV logger, but appending to an existing ``progress.csv`` (a resumed run) instead
    of truncating it as ``stable_baselines3.common.logger.configure`` does. ``resumed_at``: the checkpoint's step
    count; rows a killed run logged after it are dropped first, since the resumed run logs those steps again."""
    from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

    class AppendingCSV(CSVOutputFormat):
        def __init__(self, filename: Path) -> None:
            if resumed_at is not None and filename.is_file():
                _drop_rows_after(filename, resumed_at)
            existed = filename.is_file() and filename.stat().st_size > 0
            self.file = open(filename, "r+" if existed else "w+")  # noqa: SIM115 - closed by Logger.close
            header = self.file.readline().strip() if existed else ""
            self.keys = header.split(",") if header else []
            self.file.seek(0, os.SEEK_END)  # new rows after the old ones; new keys rewrite the header
            self.separator, self.quotechar = ",", '"'

    logdir.mkdir(parents=True, exist_ok=True)
    return Logger(folder=str(logdir), output_formats=[TensorBoardOutputFormat(str(logdir)),
                                                      AppendingCSV(logdir / "progress.csv")])


def _drop_rows_after(path: Path, step: int, column: str = "time/total_timesteps") -> None:
    """Rewrite the CSV log ``path`` (atomically) without the rows whose ``column`` exceeds ``step``; a log without
    that column, or one that cannot be parsed, is left as it is."""
    import csv
    import io

    from tunegym.agents.tuner_io import atomic_write_bytes

    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except (OSError, UnicodeDecodeError, csv.Error):
        return
    if not rows or column not in rows[0]:
        return
    index = rows[0].index(column)

    def keep(row: list[str]) -> bool:
        try:
            return index >= len(row) or not row[index] or float(row[index]) <= step
        except ValueError:
            return True

    kept = [rows[0]] + [row for row in rows[1:] if keep(row)]
    if len(kept) < len(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        atomic_write_bytes(path, out.getvalue().encode())


def _say_rollout_rounding(agent: Any, spec: dict[str, Any], rundir: Any, resumed: bool) -> None:
    """On-policy SB3 agents (PPO, A2C) train in whole rollouts: say when --steps is rounded up, and record it."""
    model = agent.model
    n_steps = getattr(model, "n_steps", None)
    if not isinstance(n_steps, int) or spec["agent"] not in ("ppo", "a2c"):
        return
    rollout = n_steps * int(getattr(model, "n_envs", 1) or 1)
    target = -(-spec["steps"] // rollout) * rollout
    if target == spec["steps"]:
        return
    rundir.update_run(steps_rounded_to=target)
    if not resumed:
        print(f"tunegym train: {spec['agent']} collects {rollout} steps per rollout (n_steps x envs), so "
              f"--steps {spec['steps']} trains {target} steps (recorded in run.json as steps_rounded_to)",
              file=sys.stderr)


class _ProgressWrapper:
    """Counts env steps into a tqdm bar and a running mean of ``info["cost"]`` for agents without callbacks."""

    @staticmethod
    def wrap(env: Any, total: int, disable: bool, description: str):
        import gymnasium as gym
        from tqdm.auto import tqdm

        class Wrapper(gym.Wrapper):
            def __init__(self, inner: gym.Env) -> None:
                super().__init__(inner)
                self.bar = tqdm(total=total, desc=description, unit="step", disable=disable or None,
                                dynamic_ncols=True)
                self.costs: list[float] = []

            def step(self, action: Any):
                result = self.env.step(action)
                self.bar.update(1)
                cost = result[4].get("cost")
                if isinstance(cost, (int, float)):
                    self.costs.append(float(cost))
                    if len(self.costs) % 50 == 0:  # the running mean of the last 100 costs, not every step
                        recent = self.costs[-100:]
                        self.bar.set_postfix(mean_cost=f"{sum(recent) / len(recent):.1f}", refresh=False)
                return result

            def close(self) -> None:
                self.bar.close()
                super().close()

        return Wrapper(env)


def _train_generic(args: argparse.Namespace, rundir: Any, spec: dict[str, Any]) -> int:
    """Bandits and any other registered agent: ``make_agent`` → ``learn`` → ``save`` (atomically)."""
    from tunegym.agents.deeprl.envs import make_env
    from tunegym.agents.registry import make_agent

    if args.resume and rundir.agent_file.is_file() and rundir.read()[0].get("completed"):
        _check_intact(rundir.agent_file)
        print(f"run in {rundir.root} is already complete; nothing to do")
        return 0
    env = make_env(spec["env_id"], spec["env_kwargs"])
    try:
        agent = make_agent(spec["agent"], env, spec["config"], seed=spec["seed"], device=spec["device"])
        config = getattr(agent, "config", None)
        resolved = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(spec["config"])
        _write_provenance(args, rundir, spec, resolved)
        wrapped = _ProgressWrapper.wrap(env, spec["steps"], args.no_progress, f"{spec['agent']} {spec['env_id']}")
        # The run's seed fixes the instance stream (``learn`` resets without a seed and continues it); unseeded, the
        # first reset drew OS entropy and the same --seed gave a different run each time.
        wrapped.reset(seed=spec["seed"])
        agent.learn(wrapped, total_timesteps=spec["steps"])
        wrapped.bar.close()
        _log_costs(Path(args.logdir) if args.logdir else rundir.tensorboard, wrapped.costs)
        rundir.agent_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = rundir.agent_file.with_name(f".agent.{os.getpid()}.pt")
        # What made the file travels with it, as the multi-agent path's does (an agent registered by a user may
        # save without it).
        provenance = {"env_id": spec["env_id"], "env_kwargs": spec["env_kwargs"], "steps": spec["steps"],
                      "train_seed": spec["seed"]}
        if "provenance" in inspect.signature(agent.save).parameters:
            agent.save(temporary, provenance=provenance)
        else:
            agent.save(temporary)
        os.replace(temporary, rundir.agent_file)
        rundir.update_run(num_timesteps=len(wrapped.costs) or spec["steps"], completed=True)
        print(f"trained {spec['agent']} on {spec['env_id']}: {spec['steps']} steps; agent file {rundir.agent_file}")
    finally:
        env.close()
    return 0


def _train_independent(args: argparse.Namespace, rundir: Any, spec: dict[str, Any]) -> int:
    """One online learner per agent (or one shared by all) of a PettingZoo env, saved to one tuner file."""
    from tqdm.auto import tqdm

    from tunegym.agents.multiagent import IndependentLearners, ParameterSharing
    from tunegym.envs.multiagent import make

    if args.resume and rundir.agent_file.is_file() and rundir.read()[0].get("completed"):
        _check_intact(rundir.agent_file)
        print(f"run in {rundir.root} is already complete; nothing to do")
        return 0
    env = make(spec["env_id"], **spec["env_kwargs"])
    try:
        klass = ParameterSharing if spec["multiagent"] == "parameter-sharing" else IndependentLearners
        learners = klass(env, spec["agent"], spec["config"], seed=spec["seed"])
        _write_provenance(args, rundir, spec, spec["config"])
        costs: list[float] = []
        bar = tqdm(total=spec["steps"], desc=f"{spec['agent']} x{len(env.possible_agents)} {spec['env_id']}",
                   unit="step", disable=args.no_progress or None, dynamic_ncols=True)

        def on_step(info: dict[str, Any]) -> None:
            bar.update(1)
            cost = info.get("cost")
            if isinstance(cost, (int, float)):
                costs.append(float(cost))

        learners.learn(env, spec["steps"], seed=spec["seed"], callback=on_step)
        bar.close()
        _log_costs(Path(args.logdir) if args.logdir else rundir.tensorboard, costs)
        rundir.agent_file.parent.mkdir(parents=True, exist_ok=True)
        learners.save(rundir.agent_file, provenance={"env_id": spec["env_id"], "env_kwargs": spec["env_kwargs"],
                                                     "steps": spec["steps"], "train_seed": spec["seed"]})
        rundir.update_run(num_timesteps=spec["steps"], completed=True)
        print(f"trained {spec['multiagent']} {spec['agent']} for {len(learners.learners)} agents on {spec['env_id']}: "
              f"{spec['steps']} joint steps; tuner file {rundir.agent_file}")
    finally:
        env.close()
    return 0


def _log_costs(logdir: Path, costs: list[float], every: int = 100) -> None:
    """TensorBoard ``env/cost`` for agents that do not log themselves: the mean over each block of steps."""
    if not costs:
        return
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    try:
        for end in range(every, len(costs) + every, every):
            block = costs[end - every:end]
            if block:
                writer.add_scalar("env/cost", sum(block) / len(block), min(end, len(costs)))
    finally:
        writer.close()

