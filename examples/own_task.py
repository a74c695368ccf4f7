"""Your own task on tunegym's core: the damping of each Newton step on Bratu's -u'' = λ e^u, u(0)=u(1)=0.

A Process, a Knob and a Features class give a registered env, the CLI, the generic baselines and a Tuner:
    python examples/own_task.py      # or: cd examples && tunegym train --env own_task:NewtonDamping-v0 ...
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import scipy.sparse as sp
from gymnasium import spaces
from scipy.sparse.linalg import spsolve

from tunegym.envs.core import ArmKnob, Distribution, Features, Instance, Process, ProcessEnv, register_features


@dataclass(frozen=True)
class BratuProblem(Instance):
    lam: float  # the Bratu parameter λ (solutions exist below ≈ 3.51)
    n: int
    amplitude: float  # initial guess u0 = amplitude · sin(πx)

    @property
    def instance_id(self) -> str:
        return f"bratu-{self.lam:.6f}-{self.n}-{self.amplitude:.6f}"


class BratuDistribution(Distribution):
    def sample(self, rng: np.random.Generator) -> BratuProblem:
        return BratuProblem(float(rng.uniform(0.5, 3.4)), int(rng.integers(50, 200)), float(rng.uniform(0, 8)))


class DampedNewton(Process):
    cost_unit, quality_name = "newton_iterations", "residual_norm"

    def start(self, instance: BratuProblem, rng=None) -> None:
        self.instance, n = instance, instance.n
        self.h, x = 1.0 / (n + 1), np.linspace(0, 1, n + 2)[1:-1]
        self.laplacian = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csc")
        self.u, self.iterations = instance.amplitude * np.sin(np.pi * x), 0
        self.residual = self._residual(self.u)

    def _residual(self, u: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging iterate ends the run as "diverged"
            return self.laplacian @ u - self.instance.lam * self.h**2 * np.exp(u)

    @property
    def done(self) -> bool:
        return self.iterations >= 50 or not np.isfinite(self.norm) or self.norm < 1e-10

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.residual, np.inf))

    def advance(self, damping: float):
        jacobian = self.laplacian - sp.diags(self.instance.lam * self.h**2 * np.exp(self.u))
        self.u = self.u - damping * spsolve(jacobian.tocsc(), self.residual)
        self.residual, self.iterations = self._residual(self.u), self.iterations + 1
        status = "converged" if self.norm < 1e-10 else "diverged" if not np.isfinite(self.norm) else "running"
        return self.record(1.0 + 50.0 * (status == "diverged"), damping, quality=self.norm, status=status,
                           terminated=status != "running", truncated=self.iterations >= 50)


class NewtonState(Features):
    name = "newton.state"
    space = spaces.Box(np.array([-12.0, 0.0], np.float32), np.array([12.0, 4.0], np.float32))

    def observe(self, process: DampedNewton) -> np.ndarray:
        return np.array([np.log10(max(process.norm, 1e-12)), process.instance.lam])


register_features(NewtonState.name, f"{__name__}:NewtonState")


class NewtonDampingEnv(ProcessEnv):
    """Pick the damping factor of each Newton step on Bratu problems; cost = Newton iterations."""

    domain, default_knob_value = "newton", 1.0

    def __init__(self) -> None:
        super().__init__(DampedNewton(), BratuDistribution(), ArmKnob("damping", (0.25, 0.5, 0.75, 1.0)),
                         NewtonState(), reward="neg_cost", instance_type=BratuProblem)


if "NewtonDamping-v0" not in gym.registry:
    gym.register("NewtonDamping-v0", entry_point=NewtonDampingEnv)

if __name__ == "__main__":
    from tunegym.agents import FixedKnob, PerInstanceOracle, Tuner, make_agent
    from tunegym.envs.testing import check_tunegym_env
    from tunegym.tuning.evaluation import evaluate_methods, markdown_table

    check_tunegym_env(env := gym.make("NewtonDamping-v0"))  # the rules every tunegym env meets
    env.reset(seed=0)
    (agent := make_agent("linucb", env, seed=0)).learn(env, total_timesteps=2000)
    methods = {"full Newton": FixedKnob, "learned (LinUCB)": lambda e: agent, "per-instance oracle": PerInstanceOracle}
    print(markdown_table(evaluate_methods("NewtonDamping-v0", methods, range(100, 110)), reference="full Newton"))
    tuner = Tuner.from_env(agent, env)  # what ships: policy + knob + features + reward settings
    run = tuner.drive(DampedNewton(), BratuProblem(lam=3.3, n=120, amplitude=6.0))
    print(f"deployed: {len(run)} Newton steps, dampings {[r.knob for r in run]}, final |F| {run[-1].quality:.1e}")
