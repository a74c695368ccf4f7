"""Conformance checks for tunegym envs, as library functions (like PettingZoo's ``parallel_api_test``).

``check_tunegym_env(env)`` runs Gymnasium's ``check_env`` and then what tunegym promises on top of it:
observations stay inside the declared space over random rollouts, the same seed gives the same trajectory,
``reset(options={"instance": env.unwrapped.instance})`` replays an instance exactly whatever the reset
seed, and every step's ``info`` carries the cost contract (``cost``, ``cost_unit``, ``knob``,
``instance_id``, ``quality``). ``check_tunegym_vector_env`` and ``check_tunegym_parallel_env`` do the same
for a native vector env and a PettingZoo ``ParallelEnv``. The test suite runs them on every registered id;
users run them on their own envs. Each failure raises :class:`ConformanceError` naming the check.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tunegym.envs.core.errors import TunegymError

__all__ = ["ConformanceError", "check_info_contract", "check_tunegym_env", "check_tunegym_vector_env",
           "check_tunegym_parallel_env", "INFO_KEYS"]

#: keys every step's info must carry
INFO_KEYS = ("cost", "cost_unit", "knob", "instance_id", "quality")


class ConformanceError(TunegymError, AssertionError):
    """An env breaks one of tunegym's conformance rules; the message names the rule and the env."""


def _same(a: Any, b: Any) -> bool:
    """Exact equality of nested observations/infos, NaN equal to NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.shape != b_arr.shape:
            return False
        if a_arr.dtype.kind in "fc" or b_arr.dtype.kind in "fc":
            return bool(np.array_equal(a_arr, b_arr, equal_nan=True))
        return bool(np.array_equal(a_arr, b_arr))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return a is b


def check_info_contract(info: dict[str, Any], where: str) -> None:
    """One step's ``info`` carries the cost contract; :class:`ConformanceError` otherwise."""
    missing = [key for key in INFO_KEYS if key not in info]
    if missing:
        raise ConformanceError(f"{where}: step info lacks {missing} (has {sorted(info)})")
    cost = info["cost"]
    if not isinstance(cost, (int, float, np.floating, np.integer)) or not math.isfinite(float(cost)) or cost < 0:
        raise ConformanceError(f"{where}: info['cost'] must be a finite count >= 0, got {cost!r}")
    if not isinstance(info["cost_unit"], str) or not info["cost_unit"]:
        raise ConformanceError(f"{where}: info['cost_unit'] must name the unit, got {info['cost_unit']!r}")
    if not isinstance(info["instance_id"], str) or not info["instance_id"]:
        raise ConformanceError(f"{where}: info['instance_id'] must be a non-empty string, got {info['instance_id']!r}")


def _rollout(env: Any, seed: int | None, actions: list[Any], options: dict[str, Any] | None = None) -> list[Any]:
    obs, info = env.reset(seed=seed, options=options)
    trace: list[Any] = [("reset", obs, info)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append(("step", obs, float(reward), bool(terminated), bool(truncated), info))
        if terminated or truncated:
            break
    return trace


def _first_difference(a: list[Any], b: list[Any]) -> str | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if not _same(list(x), list(y)):
            return f"step {i}: {x!r:.300} != {y!r:.300}"
    if len(a) != len(b):
        return f"lengths {len(a)} != {len(b)}"
    return None


def check_tunegym_env(env: Any, *, steps: int = 8, seed: int = 0, skip_gym_check: bool = False) -> None:
    """Check a single-agent env (built with ``gym.make`` or directly) against tunegym's rules.

    ``steps`` random actions per rollout (seeded from ``seed``) keep it cheap for slow processes.
    """
    name = getattr(getattr(env, "spec", None), "id", None) or type(env.unwrapped).__name__
    if not skip_gym_check:
        from gymnasium.utils.env_checker import check_env

        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # a checker warning is a failure here
            warnings.filterwarnings("ignore", message=".*render.*")
            try:
                check_env(env.unwrapped, skip_render_check=True)
            except UserWarning as exc:
                raise ConformanceError(f"{name}: gymnasium's check_env warns: {exc}") from None
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]

    first = _rollout(env, seed, actions)
    for entry in first:
        obs = entry[1]
        if not env.observation_space.contains(obs):
            raise ConformanceError(f"{name}: observation outside {env.observation_space}: {obs!r}")
        if entry[0] == "step":
            check_info_contract(entry[5], name)
    if "instance_id" not in first[0][2]:
        raise ConformanceError(f"{name}: reset info lacks 'instance_id'")
    again = _rollout(env, seed, actions)
    diff = _first_difference(first, again)
    if diff:
        raise ConformanceError(f"{name}: the same seed gave a different trajectory ({diff})")

    env.reset(seed=seed + 1)
    instance = getattr(env.unwrapped, "instance", None)
    if instance is None:
        raise ConformanceError(f"{name}: env.unwrapped.instance is None after reset")
    original = _rollout(env, seed + 1, actions)
    replay_a = _rollout(env, seed + 12345, actions, options={"instance": instance})
    replay_b = _rollout(env, seed + 54321, actions, options={"instance": instance})
    if getattr(env.unwrapped, "sequence", False):
        # A sequence env's later systems follow the replayed one on their own stream: compare the replayed
        # system's solve (first observation, then the first step without the next system's observation).
        original = [original[0], original[1][:1] + original[1][2:]]
        compared = [replay_a[0], replay_a[1][:1] + replay_a[1][2:]]
    else:
        compared = replay_a
    diff = _first_difference(replay_a, replay_b) or _first_difference(original, compared)
    if diff:
        raise ConformanceError(f"{name}: reset(options={{'instance': ...}}) did not replay the instance ({diff})")


def check_tunegym_vector_env(env: Any, *, steps: int = 4, seed: int = 0) -> None:
    """Check a native vector env: batched spaces, the same seed gives the same trajectory, the info contract."""
    name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__

    def run() -> list[Any]:
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace: list[Any] = [(obs,)]
        for _ in range(steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            if not env.observation_space.contains(obs):
                raise ConformanceError(f"{name}: batched observation outside {env.observation_space}")
            for key in INFO_KEYS:
                if key not in info:
                    raise ConformanceError(f"{name}: vector step info lacks {key!r} (has {sorted(info)})")
            trace.append((obs, np.asarray(reward), np.asarray(terminated), np.asarray(truncated),
                          np.asarray(info["cost"])))
        return trace

    diff = _first_difference(run(), run())
    if diff:
        raise ConformanceError(f"{name}: the same seed gave a different batched trajectory ({diff})")


def check_tunegym_parallel_env(make_env: Callable[[], Any], *, cycles: int = 6, seed: int = 0) -> None:
    """Check a PettingZoo ``ParallelEnv`` factory: PettingZoo's own API and seed tests plus the info contract."""
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    env = make_env()
    name = type(env).__name__
    parallel_api_test(env, num_cycles=cycles)
    parallel_seed_test(make_env, num_cycles=cycles)
    env = make_env()
    env.reset(seed=seed)
    for _ in range(cycles):
        if not env.agents:
            break
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        _, _, _, _, infos = env.step(actions)
        for agent, info in infos.items():
            check_info_contract(info, f"{name}[{agent}]")
    env.close()
