"""The same seed gives the same trajectory across processes, not only within one.

Users compare runs made in different processes and on different machines, where the interpreter's hash seed
(``PYTHONHASHSEED``: set and str-keyed dict order), the numba/BLAS/OpenMP thread counts, the order modules are
imported in and the state of the global RNGs all differ. Each check here runs the same seeded work in two
subprocesses that differ in all of those and compares the results bit for bit (floats as ``float.hex``, arrays
as raw bytes; wall-clock figures are left out):

- every registered Gymnasium env and every PettingZoo env: ``reset(seed=3)``, then a fixed action sequence
  (the action space seeded with 0); observations, rewards, ``info["cost"]`` and the rest of ``info``;
- the shipped tuners on a small input each (``pretrained:`` sor-ppo, krylov, krylov-gmres, lr-schedule,
  step-size-ode, step-size-three-body, mip-lns under node/iteration limits, never a time limit);
- ``tunegym train --agent epsilon_greedy`` into two run directories: tuner file, run/seeds/config/versions
  files and the logged metrics (TensorBoard events without their wall times) match, and seeds and versions are
  recorded.

Known exception: the LR envs' torch training is not bit-identical across torch intra-op thread counts for
every task (``tunegym/LRGroups-v0`` at seed 3 differs in its first step between 1 and 2 threads: MKL's sgemm
of a (10, 32) x (32, 16) backward product); it is compared across hash seeds and import orders at equal
thread settings only. ``tunegym train`` pins torch to one thread, so CLI runs are not affected.

The file is also the worker: ``python tests/test_reproducibility_processes.py worker NAME`` prints one JSON
object of encoded results (``NAME`` picks the process variant: what is imported first, what order the work
runs in).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ENV_IDS = ("tunegym/SOR-v0", "tunegym/SORMatrix-v0", "tunegym/SORDynamic-v0", "tunegym/SORHeat-v0",
           "tunegym/ThreeBody-v0", "tunegym/ThreeBodyContinuous-v0", "tunegym/ThreeBodyCommit-v0",
           "tunegym/ODEStep-v0", "tunegym/ODEStepContinuous-v0", "tunegym/ODEController-v0", "tunegym/MIPLNS-v0",
           "tunegym/MIPLNSRate-v0", "tunegym/LRSchedule-v0", "tunegym/LRScheduleContinuous-v0", "tunegym/PCG-v0",
           "tunegym/PGMRES-v0")
MULTIAGENT_IDS = ("tunegym/BlockSOR-v0", "tunegym/LRGroups-v0", "tunegym/LNSOperatorRate-v0", "tunegym/StepOrder-v0")
TUNERS = ("sor-ppo", "krylov", "krylov-gmres", "lr-schedule", "step-size-ode", "step-size-three-body", "mip-lns")
#: results that depend on torch's intra-op thread count (see the module docstring): compared at equal threads only
THREAD_SENSITIVE = ("tunegym/LRGroups-v0",)
STEPS = 6  # actions per env rollout (episodes that end early are reset without a seed, continuing the stream)
TORCH_STEPS = 3  # the LR envs' steps each train a torch model for a window of optimizer steps: fewer of them
SEED = 3
WALL_CLOCK_KEYS = ("wall", "elapsed", "seconds", "highs_time", "tuner_time", "check_time")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# ---- the worker: runs in a subprocess ---------------------------------------------------------------------------
def _enc(x: Any) -> Any:
    """A JSON form that is equal exactly when the values are bit-identical (floats as hex, arrays as bytes)."""
    if isinstance(x, dict):
        return {str(k): _enc(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))
                if not any(w in str(k) for w in WALL_CLOCK_KEYS)}
    if isinstance(x, (list, tuple)):
        return [_enc(v) for v in x]
    if isinstance(x, np.ndarray):
        return [str(x.dtype), list(x.shape), np.ascontiguousarray(x).tobytes().hex()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (float, np.floating)):
        return float(x).hex()
    if isinstance(x, (int, np.integer)):
        return int(x)
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "detach"):  # a torch tensor
        return _enc(x.detach().cpu().numpy())
    return repr(x)


def _roll_env(env_id: str) -> list[Any]:
    import gymnasium as gym

    import tunegym.envs  # noqa: F401  (registers the envs)

    env = gym.make(env_id)
    obs, info = env.reset(seed=SEED)
    env.action_space.seed(0)
    steps = [["reset", _enc(obs), _enc(info)]]
    for _ in range(TORCH_STEPS if "/LR" in env_id else STEPS):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append([_enc(action), _enc(obs), _enc(reward), _enc(info.get("cost")), terminated, truncated,
                      _enc(info)])
        if terminated or truncated:
            obs, info = env.reset()
            steps.append(["reset", _enc(obs), _enc(info)])
    env.close()
    return steps


def _roll_multiagent(env_id: str) -> list[Any]:
    from tunegym.envs.multiagent import make

    env = make(env_id)
    obs, infos = env.reset(seed=SEED)
    action_spaces = {agent: env.action_space(agent) for agent in env.possible_agents}
    for i, agent in enumerate(env.possible_agents):
        action_spaces[agent].seed(i)
    steps = [["reset", _enc(obs), _enc(infos)]]
    for _ in range(TORCH_STEPS if "/LR" in env_id else STEPS):
        if not env.agents:
            obs, infos = env.reset()
            steps.append(["reset", _enc(obs), _enc(infos)])
        actions = {agent: action_spaces[agent].sample() for agent in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        steps.append([_enc(actions), _enc(obs), _enc(rewards), _enc({a: i.get("cost") for a, i in infos.items()}),
                      _enc(terminations), _enc(truncations), _enc(infos)])
    env.close()
    return steps


def _poisson(n: int) -> Any:
    import scipy.sparse as sp

    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    return (sp.kron(sp.identity(n), T) + sp.kron(T, sp.identity(n))).tocsr()


def _run_tuner(name: str) -> list[Any]:
    """The tuner ``pretrained:name`` on a small input; its decisions and results, encoded (one list per call)."""
    from tunegym.agents import load_tuner

    if name == "sor-ppo":
        import gymnasium as gym

        import tunegym.envs  # noqa: F401

        policy, env = load_tuner("pretrained:sor-ppo"), gym.make("tunegym/SOR-v0")
        obs, _ = env.reset(seed=SEED)
        out = []
        for _ in range(STEPS):
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, _, _, info = env.step(action)
            out.append(_enc([action, obs, reward, info["cost"]]))
        return out
    if name in ("krylov", "krylov-gmres"):
        import scipy.sparse as sp

        from tunegym.agents import KrylovTuner

        tuner, A = KrylovTuner.load(f"pretrained:{name}"), _poisson(20)
        if name == "krylov-gmres":  # a convection term makes the systems non-symmetric
            shift = sp.diags(np.ones(A.shape[0] - 1), 1)
            A = (A + 0.3 * (shift - shift.T)).tocsr()
        rng, out = np.random.default_rng(0), []
        for k in range(4):  # a sequence: the tuner learns (and may reuse a preconditioner) between solves
            result = tuner.solve((A + 0.1 * k * sp.identity(A.shape[0])).tocsr(), rng.standard_normal(A.shape[0]),
                                 learn=True)
            out.append(_enc([repr(result.arm), result.iterations, result.work, result.x, result.success]))
        return out
    if name == "lr-schedule":
        import torch

        from tunegym.agents import LearnedLRScheduler

        torch.manual_seed(0)
        x, y = torch.randn(128, 8), torch.randint(0, 2, (128,))
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=45)
        batches, out = torch.Generator().manual_seed(1), []
        for _ in range(45):
            idx = torch.randint(0, 128, (32,), generator=batches)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            scheduler.observe(loss.detach())
            scheduler.step()
            out.append(_enc([optimizer.param_groups[0]["lr"], float(loss.detach())]))
        return out + [_enc(scheduler.decisions), _enc([p.detach().numpy() for p in model.parameters()])]
    if name == "step-size-ode":
        result = load_tuner("pretrained:step-size-ode").solve_ivp(
            lambda t, y: np.array([y[1], -np.sin(y[0]) + 0.3 * np.cos(t)]), (0.0, 10.0), [1.0, 0.0], rtol=1e-6)
        return [_enc([result.nfev, result.t, result.y, result.knob_values])]
    if name == "step-size-three-body":
        result = load_tuner("pretrained:step-size-three-body").integrate(
            masses=np.ones(3), positions=np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0]]), velocities=np.zeros((3, 3)),
            t_end=0.3)
        return [_enc(result)]
    if name == "mip-lns":
        from tunegym.agents import LNSSolver
        from tunegym.envs.mip.instances import GENERATORS

        out = []
        # Interleaved with HiGHS under a work limit (HiGHS solves this one), then the LNS alone for 30 steps.
        for generator, kwargs, settings, budget in (
                ("facility", {"n_customers": 30, "n_facilities": 20}, {}, {"work_limit": 20}),
                ("indset", {"n_nodes": 300}, {"interleave": False}, {"max_iterations": 30})):
            model = GENERATORS[generator](np.random.default_rng(0), **kwargs)
            solver = LNSSolver("pretrained:mip-lns", seed=0, sub_time_limit=None, **settings)
            sol = solver.solve(model, time_limit=None, **budget)
            out.append(_enc([sol.status, sol.objective, sol.iterations, sol.work, sol.work_trace, sol.dual_bound,
                             [entry[1:] for entry in sol.trace], sol.operator_counts, sol.observations,
                             sorted(sol.values.items())]))
        return out
    raise ValueError(name)


def _worker(variant: str) -> dict[str, Any]:
    """All the seeded work of one process. ``"perturbed"`` imports the heavy modules first, disturbs every global
    RNG and runs the work in reverse order; ``"lr-only"`` runs only the thread-sensitive envs."""
    if variant == "perturbed":
        import random

        import stable_baselines3  # noqa: F401
        import torch

        import tunegym.agents.tuners  # noqa: F401
        import tunegym.tuning.cli  # noqa: F401

        random.seed(99)
        np.random.seed(99)
        torch.manual_seed(99)
    jobs = [("env", env_id) for env_id in ENV_IDS] + [("multiagent", env_id) for env_id in MULTIAGENT_IDS] \
        + [("tuner", name) for name in TUNERS]
    if variant == "lr-only":
        jobs = [("multiagent", env_id) for env_id in THREAD_SENSITIVE]
    if variant == "perturbed":  # at other thread counts: the thread-sensitive envs are left to "lr-only"
        jobs = [job for job in reversed(jobs) if job[1] not in THREAD_SENSITIVE]
    run = {"env": _roll_env, "multiagent": _roll_multiagent, "tuner": _run_tuner}
    results, seconds = {}, {}
    for kind, name in jobs:
        t0 = time.perf_counter()
        results[f"{kind}:{name}"] = run[kind](name)
        seconds[f"{kind}:{name}"] = round(time.perf_counter() - t0, 2)
    return {"results": results, "seconds": seconds}


# ---- the tests ----------------------------------------------------------------------------------------------------
def _environment(hash_seed: int, threads: int | None) -> dict[str, str]:
    """This environment with the given hash seed; thread variables set to ``threads``, or removed (library
    defaults: one thread per core) when None, since conftest sets some of them for the test process."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONHASHSEED"] = str(hash_seed)
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_VARS})
    return env


def _start_worker(variant: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "worker", variant], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, what: str) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, f"{what} failed:\n{stderr[-3000:]}"
    return stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """Every subprocess of this file, started together (they are independent) and awaited."""
    out = tmp_path_factory.mktemp("train")
    train = [sys.executable, "-m", "tunegym.tuning.cli", "train", "--agent", "epsilon_greedy", "--env",
             "tunegym/SOR-v0", "--steps", "200", "--seed", "0", "--no-progress"]
    processes = {
        "plain": _start_worker("plain", _environment(0, None)),
        "perturbed": _start_worker("perturbed", _environment(12345, 1)),
        "lr-only": _start_worker("lr-only", _environment(777, None)),
        "train-a": subprocess.Popen([*train, "--out", str(out / "a")], env=_environment(0, None),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "train-b": subprocess.Popen([*train, "--out", str(out / "b")], env=_environment(4242, 1),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    done = {name: _finish(process, name) for name, process in processes.items()}
    result = {name: json.loads(done[name]) for name in ("plain", "perturbed", "lr-only")}
    result["train"] = (out / "a", out / "b")
    return result


def _first_difference(a: list[Any], b: list[Any]) -> str:
    """Where two encoded trajectories first differ: the step and the fields (info keys by name)."""
    names = ("action", "observation", "reward", "cost", "terminated", "truncated", "info")
    for step, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y) == len(names) and x[0] != "reset":
            fields = [n for n, u, v in zip(names, x, y) if u != v]
            info = sorted(k for k in set(x[6]) | set(y[6]) if x[6].get(k) != y[6].get(k)) \
                if isinstance(x[6], dict) and isinstance(y[6], dict) else []
            return f"first difference at step {step}: {fields}, info keys {info}"
        return f"first difference at entry {step}"
    return f"lengths differ: {len(a)} vs {len(b)}"


def _check(runs: dict[str, Any], key: str, other: str = "perturbed") -> None:
    a, b = runs["plain"]["results"][key], runs[other]["results"][key]
    assert a == b, f"{key}: not reproduced in another process ({other}); {_first_difference(a, b)}"


def test_every_env_is_covered():
    """The lists above follow the registry: a new env id must be added here (and pass) or this fails."""
    import tunegym.envs as envs

    assert ENV_IDS == tuple(spec.id for spec in envs.ENVS)
    assert MULTIAGENT_IDS == tuple(spec.id for spec in envs.MULTIAGENT_ENVS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_trajectory_is_the_same_in_another_process(runs, env_id):
    _check(runs, f"env:{env_id}")


@pytest.mark.parametrize("env_id", [i for i in MULTIAGENT_IDS if i not in THREAD_SENSITIVE])
def test_multiagent_trajectory_is_the_same_in_another_process(runs, env_id):
    _check(runs, f"multiagent:{env_id}")


@pytest.mark.parametrize("env_id", THREAD_SENSITIVE)
def test_lr_groups_trajectory_is_the_same_in_another_process_at_equal_threads(runs, env_id):
    _check(runs, f"multiagent:{env_id}", other="lr-only")


@pytest.mark.parametrize("name", TUNERS)
def test_shipped_tuner_gives_the_same_result_in_another_process(runs, name):
    _check(runs, f"tuner:{name}")


def test_rollouts_did_real_work(runs):
    """Guards against comparing trivially equal results: costs vary along the rollouts and the MIP tuner's LNS
    took steps."""
    results = runs["plain"]["results"]
    for env_id in ("tunegym/SOR-v0", "tunegym/PCG-v0", "tunegym/ThreeBody-v0"):
        costs = {step[3] for step in results[f"env:{env_id}"] if step[0] != "reset"}
        assert None not in costs and len(costs) > 1, (env_id, costs)
    assert len({json.dumps(entry) for entry in results["tuner:lr-schedule"][:-2]}) > 1  # the LR moved
    interleaved, lns = results["tuner:mip-lns"]
    assert lns[2] == 30 and interleaved[0] == "optimal"


def _events(run: Path) -> list[bytes]:
    """The run's TensorBoard events, wall times zeroed (the file name holds time and pid, so it differs)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    files = sorted((run / "tb").glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    events = []
    for event in EventFileLoader(str(files[0])).Load():
        event.wall_time = 0.0
        events.append(event.SerializeToString())
    return events


def test_train_twice_in_separate_processes_saves_the_same_run(runs):
    a, b = runs["train"]
    for name in ("run.json", "seeds.json", "config.json", "versions.json", "checkpoints/agent.pt"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    events = _events(a)
    assert len(events) > 1 and events == _events(b)  # version header + env/cost every 100 steps


def test_train_records_its_seeds_and_versions(runs):
    from tunegym.agents.tuner_io import load_tuner_file

    run = runs["train"][0]
    record = json.loads((run / "run.json").read_text())
    seeds = json.loads((run / "seeds.json").read_text())
    versions = json.loads((run / "versions.json").read_text())
    assert record["seed"] == seeds["train"] == 0 and record["completed"] and record["num_timesteps"] == 200
    assert seeds["validation"] and seeds["test_default"]
    assert {"tunegym", "numpy", "gymnasium", "torch"} <= set(versions) and all(versions.values())
    _, meta, _ = load_tuner_file(run / "checkpoints" / "agent.pt", expect_kind="bandit")
    assert meta["seed"] == 0 and meta["versions"] == versions


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    print(json.dumps(_worker(sys.argv[2])))
