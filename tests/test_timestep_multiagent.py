"""StepOrder-v0 drives the ODEStep-v0 process (same costs when the order is held) and switches pairs for free."""

from __future__ import annotations

import pytest
from tunegym.envs.core.errors import ActionError, ConfigError
from tunegym.envs.multiagent import make
from tunegym.envs.timestep.ode_env import DEFAULT_SAFETIES, make_ode_step

SAFETY_09 = DEFAULT_SAFETIES.index(0.9)


def _run_single(seed: int, method: str) -> list[int]:
    env = make_ode_step(method=method, max_attempts=2000)
    env.reset(seed=seed)
    costs = []
    while True:
        _, _, terminated, truncated, info = env.step(SAFETY_09)
        costs.append(info["total_rhs_evaluations"])
        if terminated or truncated:
            return costs


@pytest.mark.parametrize("order, method", [(1, "RK45"), (0, "RK23")])
def test_holding_the_order_reproduces_the_single_agent_process(order, method):
    env = make("tunegym/StepOrder-v0")
    env.reset(seed=7)
    costs = []
    while env.agents:
        _, _, _, _, infos = env.step({"step_size": SAFETY_09, "order": order})
        costs.append(infos["order"]["total_rhs_evaluations"])
        assert infos["order"]["method"] == method
    assert costs == _run_single(7, method)


def test_switching_pairs_costs_each_pairs_stages_and_no_extra_evaluation():
    env = make("tunegym/StepOrder-v0")
    env.reset(seed=3)
    spent = []
    for order in (1, 0, 1, 0):
        _, _, _, _, infos = env.step({"step_size": SAFETY_09, "order": order})
        spent.append(infos["step_size"]["rhs_evaluations"])
    assert spent == [6, 3, 6, 3]


def test_bad_order_action_and_fixed_knobs_raise_typed_errors():
    env = make("tunegym/StepOrder-v0")
    env.reset(seed=0)
    with pytest.raises(ActionError):
        env.step({"step_size": 0, "order": 2})
    with pytest.raises(ConfigError):
        make("tunegym/StepOrder-v0", method="RK23")
