"""Baselines and oracles for every domain, speaking the agent interface (``predict``, ``learn``).

They answer ``predict(obs)`` like an agent, so every results table (``tunegym eval``, the benches) runs them
through the same evaluation loop as a learned policy:

- :class:`FixedKnob`: one knob value throughout (the domain's library default unless told otherwise);
- :class:`PerInstanceOracle`: for each instance, the constant knob value that gives the best return in
  hindsight, found by replaying the instance on a sibling env with every candidate value (the env's own
  reward decides, so it is the per-instance optimum of whatever the env optimises); a lower bound for any
  policy that holds one value per instance;
- the domains' hand-designed rules (Young's ω, the PI controller, tuned LR schedules, HiGHS on the full
  model), registered per domain in :data:`DOMAIN_BASELINES` by import string so nothing heavy is imported
  until a table needs it.

Oracles read the instance about to be solved from ``env.unwrapped.instance``, which an observation does not
carry in full: that is what makes them oracles rather than deployable policies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.envs.core.errors import ConfigError
from tunegym.envs.sor.features import young_omega

__all__ = ["FixedKnob", "PerInstanceOracle", "FixedOmega", "YoungOmega", "GridOracle", "DOMAIN_BASELINES",
           "register_baseline", "baselines_for"]


class _Baseline:
    """Shared plumbing: bound to an env, nothing to learn, ``predict`` encodes :meth:`value` with the env's knob."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.knob = self.env.knob

    def learn(self, env: gym.Env | None = None, total_timesteps: int = 0, **kwargs: Any) -> "_Baseline":
        """Nothing to learn; present so baselines run wherever agents do."""
        return self

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self.knob.encode(self.value()), state

    def value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class FixedKnob(_Baseline):
    """Always the same knob value (the nearest arm in a discrete env); default: the env's ``default_knob_value``."""

    def __init__(self, env: gym.Env, value: Any = None) -> None:
        super().__init__(env)
        if value is None:
            value = getattr(self.env, "default_knob_value", None)
            if value is None:
                raise ConfigError(f"{type(self.env).__name__} has no default knob value; pass value=", value=None)
        self.fixed = value

    def value(self) -> Any:
        return self.fixed


class PerInstanceOracle(_Baseline):
    """The best constant knob value per instance in hindsight, by the env's return over one process run.

    ``values``: the candidates (default: every arm, or ``count`` points of a box knob). Costs one replay per
    candidate per instance, on a sibling env built from the env's registered id (``env.unwrapped.sibling()``).
    """

    def __init__(self, env: gym.Env, values: Sequence[Any] | None = None, count: int = 10) -> None:
        super().__init__(env)
        self.values = list(self.knob.grid(count) if values is None else values)
        self._sibling: Any = None
        self._instance_id: str | None = None
        self._best: Any = None

    def value(self) -> Any:
        instance = self.env.instance
        key = getattr(instance, "id", None) or instance.instance_id
        if key != self._instance_id:
            self._best, self._instance_id = self._search(instance), key
        return self._best

    def _search(self, instance: Any) -> Any:
        if self._sibling is None:
            self._sibling = self.env.sibling()
        returns = [self._replay(instance, v) for v in self.values]
        return self.values[int(np.argmax(returns))]

    def _replay(self, instance: Any, value: Any) -> float:
        env = self._sibling
        env.reset(options={"instance": instance})
        action, total = self.knob.encode(value), 0.0
        while True:
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if terminated or truncated or env.process.instance is not instance:
                return total

    @classmethod
    def fine(cls, env: gym.Env, step: float = 0.01, low: float = 1.0, high: float = 1.99) -> "PerInstanceOracle":
        """The Learning to Relax per-instance optimum: a ``step`` grid on ``[low, high]`` (use a continuous env)."""
        return cls(env, values=list(np.arange(low, high + 1e-12, step)))


# ---- SOR's names (kept: the Learning to Relax tables and users' scripts use them) -------------------------
class FixedOmega(FixedKnob):
    """Always the same ω. ``omega=1`` is Gauss–Seidel."""

    def __init__(self, env: gym.Env, omega: float = 1.0) -> None:
        super().__init__(env, float(omega))


class YoungOmega(_Baseline):
    """Young's ``ω* = 2 / (1 + sqrt(1 - ρ_J²))`` from the next system's Jacobi spectral radius.

    Exact for setting A (``ρ_J`` is known in closed form); estimated for user matrices. Optimal for the
    asymptotic rate of consistently ordered matrices, not necessarily for the sweep count to a finite tolerance.
    """

    def value(self) -> float:
        return young_omega(self.env.process.system.jacobi_radius)  # the system the next decision solves


GridOracle = PerInstanceOracle


# ---- the baselines ``tunegym eval`` prints beside a learned policy, per domain ---------------------------
#: domain -> {label: "module:factory(env) -> policy"}; every domain also gets the generic two below
DOMAIN_BASELINES: dict[str, dict[str, str]] = {
    "sor": {
        "fixed ω=1 (Gauss–Seidel)": "tunegym.agents.baselines:FixedOmega",
        "Young ω*": "tunegym.agents.baselines:YoungOmega",
    },
    "lr": {
        "tuned constant": "tunegym.agents.lr_scheduler:tuned_constant",
        "tuned step decay": "tunegym.agents.lr_scheduler:tuned_step",
        "tuned cosine": "tunegym.agents.lr_scheduler:tuned_cosine",
        "tuned linear decay": "tunegym.agents.lr_scheduler:tuned_linear",
        "tuned warmup-stable-decay": "tunegym.agents.lr_scheduler:tuned_wsd",
        "tuned OneCycle": "tunegym.agents.lr_scheduler:tuned_onecycle",
    },
    # ODE envs only (they raise ConfigError on a three-body env); the three-body best fixed η is the generic
    # FixedKnob (each env's default_knob_value); IAS15 is no policy over η (tunegym bench timestep reports it)
    "timestep": {
        "PI controller (Gustafsson)": "tunegym.envs.timestep.baselines:PIControllerPolicy",
        "I controller (classical)": "tunegym.envs.timestep.baselines:IControllerPolicy",
    },
    "mip": {
        "random operator": "tunegym.agents.mip_baselines:RandomOperator",
        "fixed best single operator (crossover)": "tunegym.agents.mip_baselines:best_single_operator",
        "Balans Softmax, graded [8,4,2,1]": "tunegym.agents.mip_baselines:BalansSoftmax",
    },
    "krylov": {
        "fixed Jacobi": "tunegym.agents.krylov_tuner:fixed_jacobi",
        "fixed AMG-SA, rebuilt per system": "tunegym.agents.krylov_tuner:fixed_amg",
        "fixed AMG-SA once, then reuse": "tunegym.agents.krylov_tuner:amg_then_reuse",
    },
}
GENERIC_BASELINES: dict[str, str] = {
    "fixed default knob": "tunegym.agents.baselines:FixedKnob",
    "per-instance oracle": "tunegym.agents.baselines:PerInstanceOracle",
}


def register_baseline(domain: str, label: str, factory: str) -> None:
    """Add a baseline (``factory(env) -> policy``, an import string) to ``domain``'s table."""
    DOMAIN_BASELINES.setdefault(domain, {})[label] = factory


def _resolve(factory: str) -> Callable[[gym.Env], Any]:
    module_name, attr = factory.split(":")
    return getattr(importlib.import_module(module_name), attr)


def baselines_for(env: gym.Env) -> dict[str, Callable[[gym.Env], Any]]:
    """``{label: make(env) -> policy}``: the domain's rules, then the generic fixed knob and oracle.

    The generic fixed knob is left out where the env has no ``default_knob_value`` or the domain already
    lists a fixed baseline.
    """
    base = env.unwrapped
    domain = getattr(base, "domain", None)
    table = dict(DOMAIN_BASELINES.get(domain, {}))
    for label, factory in GENERIC_BASELINES.items():
        if factory.endswith(":FixedKnob") and (getattr(base, "default_knob_value", None) is None
                                               or any("fixed" in name for name in table)):
            continue
        table[label] = factory
    return {label: _resolve(factory) for label, factory in table.items()}
