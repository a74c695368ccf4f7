"""Every time-step env passes tunegym's conformance checker (Gymnasium's check_env without warnings, observations
in their space, same seed → same trajectory, instance replay, the info contract); the hand-designed controllers
run through the evaluation loop as policies."""

from __future__ import annotations

import gymnasium as gym
import pytest

import tunegym.envs  # noqa: F401  (registers the ids)
from tunegym.agents.baselines import baselines_for
from tunegym.envs.testing import check_tunegym_env, check_tunegym_parallel_env

SINGLE = {
    "tunegym/ThreeBody-v0": {"episode_length": 6},
    "tunegym/ThreeBodyContinuous-v0": {"episode_length": 6},
    "tunegym/ThreeBodyCommit-v0": {"horizon": 5},
    "tunegym/ODEStep-v0": {},
    "tunegym/ODEStepContinuous-v0": {},
}


@pytest.mark.parametrize("env_id", sorted(SINGLE))
def test_single_agent_env_conforms(env_id):
    env = gym.make(env_id, **SINGLE[env_id])
    check_tunegym_env(env, steps=6)
    assert env.unwrapped.domain == "timestep" and env.unwrapped.default_knob_value is not None


def test_step_order_parallel_env_conforms():
    import pettingzoo

    check_tunegym_parallel_env(lambda: pettingzoo.make("parallel", "tunegym/StepOrder-v0", max_attempts=40))


def test_step_order_replays_an_instance_whatever_the_seed():
    from tunegym.envs.multiagent import make

    env = make("tunegym/StepOrder-v0")
    env.reset(seed=5)
    instance = env.env.instance

    def run(seed):
        obs, _ = env.reset(seed=seed, options={"instance": instance})
        out = [obs["order"].tolist()]
        for order in (1, 0, 0, 1, 0):
            obs, rewards, _, _, infos = env.step({"step_size": 6, "order": order})
            out.append((obs["order"].tolist(), rewards["order"], infos["order"]["cost"], infos["order"]["knob"]))
        return out

    assert run(1) == run(2)


def test_ode_controllers_run_through_the_evaluation_loop():
    from tunegym.envs.timestep.ode import IController, PIController, integrate
    from tunegym.tuning.evaluation import evaluate_policy

    env = gym.make("tunegym/ODEStep-v0")
    table = baselines_for(env)
    assert {"PI controller (Gustafsson)", "I controller (classical)", "fixed default knob"} <= set(table)
    for label in ("PI controller (Gustafsson)", "I controller (classical)"):
        stats = evaluate_policy("tunegym/ODEStep-v0", table[label], [100, 101], method=label)
        assert len(stats.returns) == 2 and stats.cost > 0
    # on the rule's own knob the policy *is* the rule, attempt for attempt
    for knob, rule, controller in (("pi_safety", "PI controller (Gustafsson)", PIController()),
                                   ("safety", "I controller (classical)", IController())):
        env = gym.make("tunegym/ODEStep-v0", knob=knob, max_attempts=100_000)
        policy = table[rule](env)
        obs, _ = env.reset(seed=101)
        instance = env.unwrapped.instance
        while True:
            obs, _, terminated, truncated, info = env.step(policy.predict(obs)[0])
            if terminated or truncated:
                break
        reference = integrate(instance, controller=controller, rtol=1e-6)
        assert (info["total_rhs_evaluations"], env.unwrapped.solver.rejected) == (reference.rhs_evaluations,
                                                                                  reference.rejected)


def test_three_body_best_fixed_eta_is_the_generic_fixed_knob():
    from tunegym.envs.core.errors import ConfigError
    from tunegym.tuning.evaluation import evaluate_policy

    env = gym.make("tunegym/ThreeBody-v0", episode_length=3)
    table = baselines_for(env)
    stats = evaluate_policy("tunegym/ThreeBody-v0", table["fixed default knob"], [100],
                            env_kwargs={"episode_length": 3})
    assert stats.cost > 0
    assert env.unwrapped.knob.decode(table["fixed default knob"](env).predict(None)[0]) == pytest.approx(2.154e-3,
                                                                                                    rel=1e-3)
    with pytest.raises(ConfigError, match="ODE"):
        table["PI controller (Gustafsson)"](env)
