"""MIP LNS on HiGHS: generators, loader errors, LNS step invariants, env determinism, deploy path."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import tunegym.envs  # noqa: F401  (registers the envs)
from tunegym.envs.core.errors import ActionError
from tunegym.envs.mip.instances import (
    GENERATORS, TINY, InfeasibleModelError, MalformedModelError, NoIntegerVariablesError,
    UnboundedRelaxationError, load_model,
)
from tunegym.envs.mip.lns import OPERATORS, LNSConfig, LNSProcess, best_known_objective

MPS_HEAD = "NAME t\nROWS\n N obj\n L r1\nCOLUMNS\n"


@pytest.mark.parametrize("family", sorted(GENERATORS))
def test_each_generator_gives_a_feasible_model_highs_solves(family):
    inst = GENERATORS[family](np.random.default_rng(3), **TINY[family])
    h = inst.to_highs()
    h.run()
    x = np.array(h.getSolution().col_value)
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    assert inst.violation(x) < 1e-6
    if inst.feasible_point is not None:
        assert inst.violation(inst.feasible_point) == 0


def test_generators_are_seeded():
    a = GENERATORS["auction"](np.random.default_rng(5), **TINY["auction"])
    b = GENERATORS["auction"](np.random.default_rng(5), **TINY["auction"])
    assert a.instance_id == b.instance_id


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_bad_model_gives_its_typed_error(tmp_path):
    with pytest.raises(MalformedModelError):
        load_model(_write(tmp_path, "bad.mps", "this is not a model\n"))
    with pytest.raises(MalformedModelError):
        load_model(tmp_path / "missing.mps")
    lp_only = MPS_HEAD + "    x obj 1 r1 1\nRHS\n    rhs r1 4\nENDATA\n"
    with pytest.raises(NoIntegerVariablesError):
        load_model(_write(tmp_path, "lp.mps", lp_only))
    infeasible = ("\\ infeasible\nMinimize\n obj: x\nSubject To\n c1: x >= 5\n c2: x <= 2\nGeneral\n x\nEnd\n")
    with pytest.raises(InfeasibleModelError):
        load_model(_write(tmp_path, "inf.lp", infeasible))
    unbounded = "Minimize\n obj: - x\nSubject To\n c1: x >= 1\nBounds\n x >= 0\nGeneral\n x\nEnd\n"
    with pytest.raises(UnboundedRelaxationError):
        load_model(_write(tmp_path, "unb.lp", unbounded))


@pytest.mark.parametrize("family", sorted(GENERATORS))
def test_lns_steps_never_worsen_the_incumbent_and_stay_feasible(family):
    inst = GENERATORS[family](np.random.default_rng(7), **TINY[family])
    proc = LNSProcess(LNSConfig(sub_nodes=20))
    proc.start(inst, np.random.default_rng(0))
    previous = proc.best_objective
    for k in range(2 * len(OPERATORS)):
        record = proc.advance({"operator": OPERATORS[k % len(OPERATORS)], "destroy_rate": 0.3 + 0.3 * (k % 2)})
        assert inst.violation(proc.current) < 1e-6
        assert proc.current_objective <= previous + 1e-9
        assert record.cost == record.extra["nodes"] >= 0 and record.cost_unit == "sub_mip_nodes"
        assert record.quality == pytest.approx(proc.gap())
        previous = proc.current_objective
    with pytest.raises(ActionError):
        proc.advance({"operator": "teleport", "destroy_rate": 0.3})
    with pytest.raises(ActionError):
        proc.advance({"operator": "mutation", "destroy_rate": 1.5})


def test_simulated_annealing_keeps_feasibility_and_best():
    inst = GENERATORS["indset"](np.random.default_rng(1), **TINY["indset"])
    proc = LNSProcess(LNSConfig(acceptance="simulated_annealing", temperature=1.0, destroy_rate=0.5))
    proc.start(inst, np.random.default_rng(0))
    best = proc.best_objective
    for k in range(12):
        proc.advance(OPERATORS[k % len(OPERATORS)])  # an operator name: at the config's destroy rate
        assert inst.violation(proc.current) < 1e-6 and proc.best_objective <= best + 1e-9
        best = proc.best_objective


def _trajectory(env_id, seed, steps=15, **kwargs):
    env = gym.make(env_id, **kwargs)
    obs, info = env.reset(seed=seed)
    out = [(obs.tolist(), info["instance_id"])]
    for k in range(steps):
        obs, reward, term, trunc, info = env.step(k % env.action_space.n)
        assert env.observation_space.contains(obs)
        out.append((obs.tolist(), reward, info["best_objective"], info["outcome"], info["nodes"]))
        if term or trunc:
            env.reset()
    return out


@pytest.mark.parametrize("env_id", ["tunegym/MIPLNS-v0", "tunegym/MIPLNSRate-v0"])
def test_same_seed_same_trajectory(env_id):
    assert _trajectory(env_id, 4) == _trajectory(env_id, 4)


def test_graded_reward_uses_balans_levels():
    traj = _trajectory("tunegym/MIPLNS-v0", 2, reward="graded")
    assert {t[1] for t in traj[1:]} <= {8.0, 4.0, 2.0, 1.0}


def test_reset_uses_the_instance_it_is_given():
    inst = GENERATORS["facility"](np.random.default_rng(9), **TINY["facility"])
    env = gym.make("tunegym/MIPLNS-v0", families=("setcover",))
    _, info = env.reset(seed=0, options={"instance": inst})
    assert info["instance_id"] == inst.instance_id
    assert info["reference"] == pytest.approx(best_known_objective(inst))
    _, _, _, _, info = env.step(0)
    assert info["instance_id"] == inst.instance_id


def test_mip_solve_writes_a_valid_solution_file_atomically(tmp_path, capsys):
    from tunegym.tuning.cli import main

    inst = GENERATORS["auction"](np.random.default_rng(0), n_items=40, n_bids=150)
    model = tmp_path / "auction.mps"
    inst.to_highs().writeModel(str(model))
    out = tmp_path / "sol.json"
    assert main(["mip", "solve", str(model), "--time-limit", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "objective:" in printed and "status:" in printed
    payload = json.loads(out.read_text())
    loaded = load_model(model)
    x = np.array([payload["values"][n] for n in loaded.names()])
    assert loaded.violation(x) < 1e-6
    assert loaded.objective(x) == pytest.approx(payload["objective"])
    assert [p.name for p in tmp_path.iterdir()] and not any(p.name.startswith(".") or p.suffix == ".tmp"
                                                             for p in tmp_path.iterdir())


def test_process_draws_come_from_the_instance_so_two_runs_replay():
    inst = GENERATORS["auction"](np.random.default_rng(4), **TINY["auction"])

    def run():
        proc = LNSProcess(LNSConfig(sub_nodes=20))
        proc.start(inst)
        return [proc.advance({"operator": op, "destroy_rate": 0.5}).info() for op in OPERATORS]

    assert run() == run()


def test_rewards_are_named_functions_of_the_step_record():
    from tunegym.envs.core.rewards import make_reward

    env = gym.make("tunegym/MIPLNS-v0", reward="graded", reward_levels=(5, 3, 2, 0))
    env.reset(seed=1)
    _, reward, _, _, _ = env.step(0)
    record = env.unwrapped.last_record
    assert reward == make_reward("mip.graded", {"levels": [5, 3, 2, 0]})(record)
    env = gym.make("tunegym/MIPLNS-v0")
    env.reset(seed=1)
    _, reward, _, _, info = env.step(0)
    expected = (info["best_before"] - info["best_objective"]) / max(abs(info["reference"]), abs(info["best_before"]))
    assert reward == pytest.approx(expected) == make_reward("mip.improvement")(env.unwrapped.last_record)


def test_softmax_bandit_is_registered_and_tries_every_operator_first_then_prefers_the_best():
    from tunegym.agents.bandits import BANDITS, Softmax
    from tunegym.agents.registry import make_agent

    assert BANDITS["softmax"] is Softmax
    env = gym.make("tunegym/MIPLNS-v0")
    bandit = make_agent("softmax", env, {"tau": 0.5}, seed=0)
    assert bandit.n_arms == len(OPERATORS) and bandit.predict(None)[0] in range(len(OPERATORS))
    for _ in range(200):
        arm = bandit.select(None)
        bandit.update(None, arm, 8.0 if arm == 3 else 1.0)
    assert bandit.predict(None)[0] == 3 and bandit.counts[3] > 100
