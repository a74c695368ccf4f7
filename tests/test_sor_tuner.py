"""SORTuner: train, save, load, and solve the user's own systems, including ones it was not trained on."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tunegym.agents import SORTuner, load_tuner
from tunegym.agents.tuners import pretrained_path
from tunegym.envs.core.errors import CheckpointError, ConfigError, TunerMismatchError
from tunegym.envs.sor import ShiftedLaplacianDistribution, poisson2d, solve


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tuner = SORTuner.train("tunegym/SOR-v0", "chebcb", steps=1500, seed=0)
    path = tmp_path_factory.mktemp("tuner") / "sor.pt"
    tuner.save(path)
    return tuner, path


def test_saved_tuner_loads_and_solves_a_new_system(trained):
    tuner, path = trained
    loaded = load_tuner(path)
    assert isinstance(loaded, SORTuner) and loaded.provenance["train_seed"] == 0
    A = sp.csr_matrix(poisson2d(10) + 0.1 * sp.identity(100))
    b = np.random.default_rng(5).standard_normal(100)
    result = loaded.solve(A, b)
    assert result.converged and 1.0 <= result.omega <= 1.95
    np.testing.assert_allclose(result.x, spla.spsolve(A.tocsc(), b), rtol=1e-6, atol=1e-8)
    assert loaded.choose_omega(A) == tuner.choose_omega(A)


def test_learned_tuner_beats_gauss_seidel_on_held_out_systems(trained):
    tuner, _ = trained
    dist = ShiftedLaplacianDistribution("high")
    rng = np.random.default_rng(2024)  # systems no training seed produced
    learned, gauss_seidel = [], []
    for _ in range(30):
        system = dist.sample(rng)
        A = system.matrix.to_csr()
        learned.append(tuner.solve(A, system.b).sweeps)
        gauss_seidel.append(solve(A, system.b, 1.0).sweeps)
    assert np.mean(learned) < 0.3 * np.mean(gauss_seidel)


def test_online_learning_updates_and_save_keeps_it(trained, tmp_path):
    _, path = trained
    tuner = SORTuner.load(path)
    before = tuner.policy.t
    A = poisson2d(10) + 0.2 * sp.identity(100)
    for seed in range(5):  # the deploy path (issue #19): the sequence learner learns, the policy stays frozen
        tuner.solve(A, np.random.default_rng(seed).standard_normal(100), learn=True)
    assert tuner.adaptation.t == 5 and tuner.policy.t == before
    env_system = ShiftedLaplacianDistribution("high").sample(np.random.default_rng(9))
    tuner.solve_system(env_system, learn=True)  # the env path updates the policy as an env step would
    assert tuner.policy.t == before + 1
    tuner.save(tmp_path / "more.pt")
    again = SORTuner.load(tmp_path / "more.pt")
    assert again.policy.t == before + 1 and again.adaptation.t == 5
    assert again.adaptation.counts.tolist() == tuner.adaptation.counts.tolist()
    assert again.choose_omega(A) == tuner.choose_omega(A)


@pytest.mark.parametrize("kind", ["bigger_laplacian", "nonsymmetric", "not_dominant"])
def test_foreign_matrices_get_a_valid_omega_and_an_answer(trained, kind):
    tuner, _ = trained
    rng = np.random.default_rng(0)
    if kind == "bigger_laplacian":
        A = sp.csr_matrix(poisson2d(30) + 0.02 * sp.identity(900))
    elif kind == "nonsymmetric":
        n = 200
        A = sp.random(n, n, density=0.02, random_state=1, format="csr") + sp.diags(np.full(n, 3.0))
    else:  # SPD but not diagonally dominant: rho_J > 1, outside anything the tuner saw
        M = rng.standard_normal((40, 40))
        A = sp.csr_matrix(M @ M.T + 0.5 * np.eye(40))
    b = rng.standard_normal(A.shape[0])
    omega = tuner.choose_omega(A)
    assert 1.0 <= omega <= 1.95
    result = tuner.solve(A, b, max_sweeps=20_000)
    assert result.status in ("converged", "max_sweeps", "diverged") and np.all(np.isfinite(result.x))
    if kind != "not_dominant":
        assert result.converged


def test_deep_rl_policy_as_a_tuner_and_its_limits():
    tuner = SORTuner.from_policy(load_tuner("pretrained:sor-ppo"))
    A = poisson2d(10) + 0.0 * sp.identity(100)
    result = tuner.solve(A, np.ones(100))
    assert result.converged and result.sweeps < solve(A, np.ones(100), 1.0).sweeps / 3
    with pytest.raises(ConfigError, match="online"):  # the env path needs an online policy
        tuner.solve_system(ShiftedLaplacianDistribution("high").sample(np.random.default_rng(0)), learn=True)
    assert tuner.solve(A, np.ones(100), learn=True).converged  # the deploy learner works beside any policy


def test_corrupt_or_foreign_tuner_files_are_refused(tmp_path, trained):
    _, path = trained
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        SORTuner.load(tmp_path / "cut.pt")
    with pytest.raises(TunerMismatchError, match="SORTuner needs a 'sor' tuner") as caught:
        SORTuner.load(pretrained_path("step-size-ode"))  # a tuner of another domain, refused before any solve
    assert "\n" not in str(caught.value)


def test_a_shipped_policy_file_loads_as_a_tuner_directly():
    direct = SORTuner.load(pretrained_path("sor-ppo"))  # an SB3 policy that records tunegym/SOR-v0
    wrapped = SORTuner.from_policy(load_tuner("pretrained:sor-ppo"))
    A = poisson2d(10) + 0.1 * sp.identity(100)
    assert direct.choose_omega(A) == wrapped.choose_omega(A)
