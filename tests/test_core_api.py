"""The shared core: knobs, step records, the instance stream, ProcessEnv, the Tuner and the conformance checker.

The user-facing promise tested here: wrapping one's own algorithm as a Process + Knob + Features gives a
registered env that passes the conformance rules, trains and evaluates through the CLI by Gymnasium's
``module:Env-v0`` id, and deploys as a Tuner that makes the decisions an env rollout makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from tunegym.agents.tuner import Tuner
from tunegym.envs.core.errors import ActionError, ConfigError, TunerMismatchError
from tunegym.envs.core.knob import ArmKnob, BoxKnob, CompositeKnob, knob_from_dict
from tunegym.envs.core.process import StepRecord
from tunegym.envs.testing import ConformanceError, check_tunegym_env

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import own_task  # noqa: E402  (registers NewtonDamping-v0)


def test_arm_knob_decodes_and_refuses_bad_indices():
    knob = ArmKnob("omega", (1.0, 1.5, 1.9))
    assert knob.decode(1) == 1.5 and knob.decode(np.int64(2)) == 1.9 and knob.decode(np.array([0])) == 1.0
    assert knob.encode(1.55) == 1
    for bad in (3, -1, 1.5, float("nan"), "a", [0, 1]):
        with pytest.raises(ActionError):
            knob.decode(bad)


def test_box_knob_is_normalised_and_clips_to_the_physical_range():
    knob = BoxKnob("eta", 1e-4, 1e-1, scale="log")
    assert knob.space.low[0] == -1 and knob.space.high[0] == 1
    assert knob.decode([-1.0]) == pytest.approx(1e-4) and knob.decode([1.0]) == pytest.approx(1e-1)
    assert knob.decode([0.0]) == pytest.approx(10 ** -2.5)
    assert knob.decode([7.0]) == pytest.approx(1e-1)  # clipped, never outside the range
    assert knob.decode(knob.encode(3e-3)) == pytest.approx(3e-3)
    with pytest.raises(ActionError):
        knob.decode([float("nan")])


def test_composite_knob_flat_index_has_the_last_part_fastest_and_round_trips():
    knob = CompositeKnob("lns", [ArmKnob("operator", ("a", "b", "c")), ArmKnob("rate", (0.1, 0.5))])
    assert knob.space.n == 6
    assert knob.decode(3) == {"operator": "b", "rate": 0.5}
    assert knob.join([2, 0]) == 4 and knob.split(4) == (2, 0)
    assert knob.encode({"operator": "c", "rate": 0.5}) == 5
    for original in (knob, ArmKnob("x", (1, 2)), BoxKnob("y", 0.2, 1.5)):
        assert knob_from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_step_record_info_carries_the_contract_and_hides_wall_time():
    record = StepRecord(cost=12, cost_unit="sweeps", knob=np.float64(1.5), instance_id="i-1", quality=float("nan"),
                        quality_name="residual", wall_time=0.3, extra={"sweeps": np.int64(12)})
    info = record.info()
    assert info["cost"] == 12.0 and info["cost_unit"] == "sweeps" and info["knob"] == 1.5
    assert info["instance_id"] == "i-1" and info["quality"] is None and info["residual"] is None
    assert "wall_time" not in info and type(info["sweeps"]) is int
    with pytest.raises(ValueError):
        StepRecord(cost=float("inf"), cost_unit="sweeps", knob=1.0, instance_id="i")


def test_own_task_env_passes_the_conformance_checker():
    check_tunegym_env(gym.make("NewtonDamping-v0"))


def test_checker_catches_an_env_that_ignores_the_instance_it_is_given():
    class IgnoresReplay(own_task.NewtonDampingEnv):
        def reset(self, *, seed=None, options=None):  # the DACBench fault: options["instance"] dropped
            return super().reset(seed=seed)

    with pytest.raises(ConformanceError, match="replay"):
        check_tunegym_env(IgnoresReplay(), skip_gym_check=True)


def test_replaying_an_instance_gives_the_same_trajectory_whatever_the_seed():
    env = gym.make("NewtonDamping-v0")
    env.reset(seed=3)
    instance = env.unwrapped.instance
    runs = []
    for seed in (1, 999):
        obs, _ = env.reset(seed=seed, options={"instance": instance})
        trace = [obs.tolist()]
        for action in (0, 3, 3, 1):
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append((obs.tolist(), reward, info["cost"], info["knob"]))
            if terminated or truncated:
                break
        runs.append(trace)
    assert runs[0] == runs[1]
    with pytest.raises(ConfigError, match="BratuProblem"):
        env.reset(options={"instance": "not a problem"})


def test_deployed_tuner_makes_the_env_rollouts_decisions(tmp_path):
    env = gym.make("NewtonDamping-v0")
    env.reset(seed=0)
    from tunegym.agents import make_agent

    agent = make_agent("linucb", env, seed=0)
    agent.learn(env, total_timesteps=300)
    tuner = Tuner.from_env(agent, env)
    tuner.save(tmp_path / "newton.pt")
    loaded = Tuner.load(tmp_path / "newton.pt")
    assert loaded.domain == "newton" and loaded.knob == tuner.knob and loaded.observation_shape == (2,)

    env.reset(seed=7)
    instance = env.unwrapped.instance
    obs, _ = env.reset(options={"instance": instance})
    env_knobs, env_cost, done = [], 0.0, False
    while not done:
        action, _ = agent.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        env_knobs.append(info["knob"])
        env_cost += info["cost"]
        done = terminated or truncated
    run = loaded.drive(own_task.DampedNewton(), instance)
    assert [r.knob for r in run] == env_knobs
    assert sum(r.cost for r in run) == env_cost


def test_a_tuner_of_another_domain_is_refused_in_one_line():
    from tunegym.agents.baselines import FixedKnob

    env = gym.make("NewtonDamping-v0")
    tuner = Tuner.from_env(FixedKnob(env), env)
    with pytest.raises(TunerMismatchError, match="LNSSolver needs a 'mip' tuner; this is a 'newton' tuner"):
        tuner.expect("mip", adapter="LNSSolver")
    with pytest.raises(TunerMismatchError, match="shape"):
        tuner.expect("newton", adapter="NewtonSolver", observation_shape=(3,))


@pytest.mark.slow
def test_own_task_trains_and_evaluates_through_the_cli_by_module_id(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = subprocess.run([sys.executable, str(EXAMPLES / "own_task.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert script.returncode == 0, script.stderr
    assert "per-instance oracle" in script.stdout and "deployed:" in script.stdout
    cli = [sys.executable, "-m", "tunegym.tuning.cli"]
    out = tmp_path / "run"
    train = subprocess.run(cli + ["train", "--env", "own_task:NewtonDamping-v0", "--agent", "linucb", "--steps", "300",
                                  "--out", str(out)], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    evaluation = subprocess.run(cli + ["eval", "--run", str(out), "--seeds", "100-103"], cwd=EXAMPLES, env=env,
                                capture_output=True, text=True, timeout=600)
    assert evaluation.returncode == 0, evaluation.stderr
    assert "newton_iterations per episode" in evaluation.stdout
    assert "fixed default knob" in evaluation.stdout and "per-instance oracle" in evaluation.stdout
