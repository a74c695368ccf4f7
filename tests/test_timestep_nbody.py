"""The Hermite integrator is 4th order, conserves momentum, batches exactly, and rejects bad systems;
ThreeBody-v0 replays from a seed, uses given instances and ends close encounters with a penalty."""

from __future__ import annotations

import numpy as np
import pytest
from tunegym.envs.core.errors import ActionError, ConfigError, InstanceError
from tunegym.envs.timestep.env import make_three_body, make_three_body_continuous
from tunegym.envs.timestep.instances import (
    NBodyInstance,
    PaperThreeBodyDistribution,
    load_initial_conditions,
)
from tunegym.envs.timestep.nbody import (
    G_NBODY,
    HermiteState,
    crossing_time,
    simulate,
    total_energy,
)

PYTHAGOREAN = (np.array([3.0, 4.0, 5.0]), np.array([[1.0, 3.0, 0.0], [-2.0, -1.0, 0.0], [1.0, -1.0, 0.0]]),
               np.zeros((3, 3)))


@pytest.mark.slow
def test_energy_error_shrinks_sixteenfold_when_eta_halves():
    m, x, v = PYTHAGOREAN
    errors = [abs(simulate(m, x, v, 1.0, eta, G=G_NBODY).energy_error) for eta in (0.02, 0.01, 0.005)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(12.0 < r < 20.0 for r in ratios), ratios


def test_energy_error_keeps_falling_below_the_old_round_off_floor():
    # Test instance 103 forms a tight binary ~10 au from the origin. Without compensated corrector updates and
    # offset-based pair differences its error *grew* from 1e-9.2 (η=1e-3) to 1e-8.3 (η=2.15e-4).
    from tunegym.envs.core.seeding import stream

    inst = next(PaperThreeBodyDistribution().sequence(stream(103, "instances")))
    coarse, fine = (abs(simulate(inst.masses, inst.positions, inst.velocities, 10.0, eta, G=inst.G).energy_error)
                    for eta in (1e-3, 2.15e-4))
    assert fine < 10**-13.5 and fine < coarse / 10**1.5, (coarse, fine)


def test_momentum_and_centre_of_mass_velocity_are_conserved():
    inst = PaperThreeBodyDistribution().sample(np.random.default_rng(3))
    result = simulate(inst.masses, inst.positions, inst.velocities, 2.0, 1e-2)
    assert result.status == "ok"
    momentum = (inst.masses[:, None] * result.velocities).sum(0)
    com = (inst.masses[:, None] * result.positions).sum(0) / inst.masses.sum()
    assert np.allclose(momentum, 0.0, atol=1e-9)
    assert np.allclose(com, 0.0, atol=1e-9)  # centred at rest: the centre of mass stays at the origin


def test_paper_distribution_is_centred_and_at_rest():
    inst = PaperThreeBodyDistribution().sample(np.random.default_rng(0))
    assert np.allclose((inst.masses[:, None] * inst.positions).sum(0), 0.0)
    assert np.all(inst.velocities == 0) and np.all(inst.masses == 1.0)


def test_batched_run_equals_looped_runs():
    dist = PaperThreeBodyDistribution()
    rng = np.random.default_rng(1)
    systems = [dist.sample(rng) for _ in range(4)]
    etas = np.array([1e-3, 3e-3, 1e-2, 3e-2])
    batch = simulate(np.stack([s.masses for s in systems]), np.stack([s.positions for s in systems]),
                     np.stack([s.velocities for s in systems]), 1.0, etas)
    for k, s in enumerate(systems):
        single = simulate(s.masses, s.positions, s.velocities, 1.0, etas[k])
        assert np.array_equal(single.positions, batch.positions[k])
        assert single.force_evaluations == batch.force_evaluations[k] == single.steps + 1
        assert single.energy_error == batch.energy_error[k]


def test_criterion_exponent_spends_more_steps_at_short_timescales_and_stays_fourth_order():
    # β = 0 is the default criterion, bit for bit; β > 0 shrinks the step where τ < t_ref (close encounters), so the
    # same η costs more; the scheme's order is unchanged (halving η still cuts the error ~16x).
    m, x, v = PYTHAGOREAN
    plain = simulate(m, x, v, 1.0, 0.01, G=G_NBODY)
    zero = simulate(m, x, v, 1.0, 0.01, G=G_NBODY, criterion_exponent=0.0)
    assert np.array_equal(plain.positions, zero.positions) and plain.steps == zero.steps
    bent = simulate(m, x, v, 1.0, 0.01, G=G_NBODY, criterion_exponent=0.2)
    assert bent.steps > plain.steps and bent.status == "ok"
    errors = [abs(simulate(m, x, v, 1.0, eta, G=G_NBODY, criterion_exponent=0.1).energy_error) for eta in (0.02, 0.01)]
    assert 10.0 < errors[0] / errors[1] < 24.0
    state = HermiteState(m, x, v, G=G_NBODY)
    state.advance(1.0, 0.01, criterion_exponent=0.2)
    assert state.steps == bent.steps and np.array_equal(state.positions, bent.positions)
    assert crossing_time(m, x, v, G=G_NBODY) > 0


def test_bad_criterion_exponent_or_zero_energy_raise_typed_errors():
    m, x, v = PYTHAGOREAN
    for bad in (np.nan, 2.0, [0.1, 0.2]):
        with pytest.raises(ConfigError):
            simulate(m, x, v, 1.0, 0.01, G=G_NBODY, criterion_exponent=bad)
    with pytest.raises(ConfigError):
        HermiteState(m, x, v, G=G_NBODY).advance(1.0, 0.01, criterion_exponent=np.inf)
    # A binary with exactly zero total energy (parabolic) has no crossing time: a clear error, not a division by 0.
    m2, x2 = np.array([1.0, 1.0]), np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0]])
    v2 = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])  # kinetic 2·½·1² = 1 = -potential (G m² / r = 1)
    assert abs(float(total_energy(m2, x2, v2, G_NBODY))) < 1e-15
    with pytest.raises(InstanceError):
        simulate(m2, x2, v2, 1.0, 0.01, G=G_NBODY, criterion_exponent=0.1)


@pytest.mark.parametrize(
    "masses, positions, velocities",
    [
        ([1.0, 0.0, 1.0], PYTHAGOREAN[1], PYTHAGOREAN[2]),                    # zero mass
        ([1.0, -1.0, 1.0], PYTHAGOREAN[1], PYTHAGOREAN[2]),                   # negative mass
        ([1.0, 1.0, 1.0], [[0, 0, 0], [0, 0, 0], [1, 0, 0.0]], PYTHAGOREAN[2]),  # coincident bodies
        ([1.0, 1.0, 1.0], [[np.nan, 0, 0], [1, 0, 0], [2, 0, 0.0]], PYTHAGOREAN[2]),
        ([1.0, 1.0, 1.0], PYTHAGOREAN[1], np.full((3, 3), np.inf)),
        ([1.0, 1.0, 1.0], np.zeros((3, 2)), PYTHAGOREAN[2]),                  # wrong shape
        ([1.0, 1.0], PYTHAGOREAN[1], PYTHAGOREAN[2]),                         # masses mismatch
        ([1.0], [[0, 0, 0.0]], [[0, 0, 0.0]]),                                # one body
    ],
)
def test_bad_systems_raise_instance_error(masses, positions, velocities):
    with pytest.raises(InstanceError):
        simulate(masses, positions, velocities, 1.0, 1e-2)


@pytest.mark.parametrize("t_end, eta", [(0.0, 1e-2), (1.0, -1.0), (1.0, np.nan)])
def test_bad_settings_raise_config_error(t_end, eta):
    m, x, v = PYTHAGOREAN
    with pytest.raises(ConfigError):
        simulate(m, x, v, t_end, eta, G=G_NBODY)


HEAD_ON = NBodyInstance(np.ones(3), np.array([[-1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0]]), np.zeros((3, 3)), G_NBODY)


def test_head_on_collision_ends_with_a_status_not_nan():
    result = simulate(HEAD_ON.masses, HEAD_ON.positions, HEAD_ON.velocities, 5.0, 1e-2, G=G_NBODY)
    assert result.status == "close_encounter"
    assert np.all(np.isfinite(result.positions)) and np.isfinite(result.energy_error)


def test_close_encounter_terminates_the_episode_with_the_penalty():
    env = make_three_body(failure_penalty=1234.0, action_interval=0.5)
    obs, info = env.reset(seed=0, options={"instance": HEAD_ON})
    assert info["instance_id"] == HEAD_ON.instance_id
    for _ in range(20):
        obs, reward, terminated, _, info = env.step(5)
        assert env.observation_space.contains(obs)
        if terminated:
            break
    assert terminated and reward == -1234.0
    assert info["status"] in ("close_encounter", "energy_limit")


def test_reset_uses_the_given_instance():
    env = make_three_body()
    env.reset(seed=0)
    obs, info = env.reset(options={"instance": HEAD_ON})
    assert info["instance_id"] == HEAD_ON.instance_id
    assert env.unwrapped.instance is HEAD_ON
    assert np.isclose(obs[0], np.log10(2.0), atol=1e-6)  # bodies 1 and 2 start 2 units apart
    with pytest.raises(ConfigError):
        env.reset(options={"instance": "not an instance"})


def test_same_seed_same_trajectory_and_cost_in_info():
    def run(seed):
        env = make_three_body_continuous(episode_length=5)
        env.action_space.seed(seed)
        env.reset(seed=seed)
        out = []
        for _ in range(5):
            obs, reward, _, truncated, info = env.step(env.action_space.sample())
            out.append((obs.tolist(), reward, info["force_evaluations"], info["energy_error"]))
        assert truncated
        return out

    first = run(4)
    assert first == run(4) and first != run(5)
    assert all(fe >= 1 for _, _, fe, _ in first)


def test_bad_actions_raise_action_error():
    env = make_three_body()
    env.reset(seed=0)
    for bad in (10, -1, 0.5):
        with pytest.raises(ActionError):
            env.step(bad)
    cont = make_three_body_continuous()
    cont.reset(seed=0)
    with pytest.raises(ActionError):
        cont.step(np.array([np.nan]))


def test_user_initial_conditions_from_arrays_csv_and_yaml(tmp_path):
    m, x, v = PYTHAGOREAN
    csv_path = tmp_path / "ics.csv"
    lines = ["system,mass,x,y,z,vx,vy,vz"] + [f"a,{m[i]},{x[i][0]},{x[i][1]},{x[i][2]},0,0,0" for i in range(3)]
    csv_path.write_text("\n".join(lines) + "\n")
    yaml_path = tmp_path / "ics.yaml"
    yaml_path.write_text(f"masses: {m.tolist()}\npositions: {x.tolist()}\nvelocities: {v.tolist()}\nG: 1.0\n")
    from_csv = load_initial_conditions(csv_path, G=1.0)[0]
    from_yaml = load_initial_conditions(yaml_path)[0]
    assert from_csv == from_yaml == NBodyInstance(m, x, v, 1.0)
    env = make_three_body({"masses": m, "positions": x, "velocities": v, "G": 1.0})
    _, info = env.reset(seed=0)
    assert info["instance_id"] == from_csv.centred().instance_id
    with pytest.raises(InstanceError):
        load_initial_conditions(tmp_path / "missing.csv")


def test_local_reward_pays_for_cheap_accurate_actions():
    from tunegym.envs.timestep.env import local_reward

    assert local_reward(1e-14, 10) > local_reward(1e-14, 1000)  # cheaper is better under the target
    assert local_reward(1e-14, 10) > local_reward(1e-9, 10)  # over the target costs
    env = make_three_body(reward_mode="local", episode_length=3)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(4)
    assert reward == pytest.approx(local_reward(abs(info["energy_error"]), info["force_evaluations"]), abs=1e-9)
    with pytest.raises(ConfigError):
        make_three_body(reward_mode="nope")


def test_bench_pareto_front_and_ias15_are_consistent():
    from tunegym.tuning.benches.timestep import ias15_run, pareto_front

    front = pareto_front({"a": (10.0, -5.0), "b": (20.0, -6.0), "c": (30.0, -5.5), "d": (5.0, -1.0)})
    assert sorted(front) == ["a", "b", "d"]
    pytest.importorskip("rebound")
    inst = PaperThreeBodyDistribution().sample(np.random.default_rng(0))
    run = ias15_run(inst, 1.0)
    assert run["force_evaluations"] > run["steps"] > 0 and run["energy_error"] < 1e-10
