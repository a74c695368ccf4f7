"""A trained time-step controller usable outside the gym loop: three-body integrations and ODE solves.

:class:`StepSizeTuner` wraps a policy trained on ``tunegym/ThreeBody-v0`` or ``tunegym/ODEStep-v0`` (a bandit or
an SB3 policy: anything with ``predict(observation)``) with the settings of the env it learned on, and runs the
same process code that env runs: :meth:`integrate` drives a :class:`~tunegym.envs.timestep.env.ThreeBodyEnv`
over the user's system, :meth:`solve_ivp` drives an embedded Runge–Kutta pair through
:func:`~tunegym.envs.timestep.ode_env.controlled_attempt` (the env's own controller step). It must not carry a
second copy of an integrator or of the observation.

Saved as one tuner file of kind ``"step-size-tuner"`` (the inner policy's tuner file embedded as bytes, the env
settings as JSON; :mod:`tunegym.agents.tuner_io`), so ``tunegym.agents.load_tuner(path)`` gives it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.agents.tuner_io import (
    embed_tuner,
    load_embedded_tuner,
    load_tuner_file,
    save_tuner_file,
    versions,
)
from tunegym.envs.core.errors import CheckpointError, ConfigError, InstanceError

__all__ = ["KIND", "StepSizeTuner"]

KIND = "step-size-tuner"
THREE_BODY_IDS = ("tunegym/ThreeBody-v0", "tunegym/ThreeBodyContinuous-v0", "tunegym/ThreeBodyCommit-v0")
COMMIT_ID = "tunegym/ThreeBodyCommit-v0"
ODE_IDS = ("tunegym/ODEStep-v0", "tunegym/ODEStepContinuous-v0")


class StepSizeTuner:
    """Choose time steps with a trained policy: ``integrate`` (N-body, Hermite) or ``solve_ivp`` (ODEs)."""

    def __init__(self, policy: Any, *, env_id: str, env_kwargs: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None) -> None:
        if env_id not in THREE_BODY_IDS + ODE_IDS:
            raise ConfigError(f"StepSizeTuner needs a policy for one of {THREE_BODY_IDS + ODE_IDS}, got {env_id!r}",
                              value=env_id)
        if not hasattr(policy, "predict"):
            raise ConfigError(f"policy {type(policy).__name__} has no predict(observation)", value=policy)
        self.policy, self.env_id = policy, env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.provenance = dict(provenance or {})

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def train(cls, env_id: str = "tunegym/ODEStep-v0", agent: str = "linucb", *, steps: int = 20000, seed: int = 0,
              env_kwargs: dict[str, Any] | None = None, config: dict[str, Any] | None = None) -> StepSizeTuner:
        """Train ``agent`` on ``env_id`` (instance stream of tune seed ``seed``) for ``steps`` env steps."""
        from tunegym.agents.registry import train_agent

        policy, env, provenance = train_agent(env_id, agent, steps=steps, seed=seed, env_kwargs=env_kwargs,
                                              config=config)
        env.close()
        return cls(policy, env_id=env_id, env_kwargs=env_kwargs, provenance=provenance)

    def _action(self, observation: np.ndarray) -> Any:
        action, _ = self.policy.predict(observation, deterministic=True)
        return action

    # ---- three-body ----------------------------------------------------------------------------------
    def integrate(self, masses, positions, velocities, t_end: float, *, G: float | None = None) -> dict[str, Any]:
        """Integrate one N-body system from t=0 to ``t_end``, the policy choosing η every decision interval.

        A ThreeBodyCommit-v0 policy instead runs the env's pilot (coarse η over the whole span), picks one η from it
        and integrates the system from t=0 with that η held (``force_evaluations`` includes the pilot's).
        The interval is the trained env's ``action_interval`` (0.1 yr by default), shrunk evenly so that a whole
        number of intervals lands on ``t_end``. Returns ``positions``, ``velocities``, ``force_evaluations``,
        ``energy_error`` (relative, signed), ``status``, ``etas`` (one per interval) and ``time``. Bad systems
        raise :class:`InstanceError` (as :func:`tunegym.envs.timestep.nbody.simulate`).
        """
        if self.env_id not in THREE_BODY_IDS:
            raise ConfigError(f"integrate needs a three-body policy; this one is for {self.env_id}", value=self.env_id)
        if not (isinstance(t_end, (int, float)) and math.isfinite(t_end) and t_end > 0):
            raise ConfigError(f"t_end must be finite and positive, got {t_end!r}", value=t_end)
        from tunegym.envs.timestep.env import make_three_body
        from tunegym.envs.timestep.instances import NBodyInstance
        from tunegym.envs.timestep.nbody import G_AU_MSUN_YR

        kwargs = {k: v for k, v in self.env_kwargs.items() if k not in ("episode_length", "action_interval")}
        interval = float(self.env_kwargs.get("action_interval", 0.1))
        actions = max(1, math.ceil(t_end / interval - 1e-9))
        system = NBodyInstance(masses=np.asarray(masses, dtype=np.float64), positions=np.asarray(positions, dtype=np.float64),
                               velocities=np.asarray(velocities, dtype=np.float64), G=G_AU_MSUN_YR if G is None else G)
        if self.env_id == COMMIT_ID:
            return self._integrate_committed(system, t_end, actions, kwargs)
        if self.env_id.startswith("tunegym/ThreeBodyContinuous"):
            kwargs.setdefault("action", "continuous")
        env = make_three_body(system, centre=False, episode_length=actions, action_interval=t_end / actions,
                              **kwargs)
        obs, _ = env.reset(seed=0)
        etas: list[float] = []
        info: dict[str, Any] = {"status": "ok"}
        for _ in range(actions):
            obs, _, terminated, truncated, info = env.step(self._action(obs))
            etas.append(info["eta"])
            if terminated or truncated:
                break
        state = env.state
        return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                "force_evaluations": int(state.force_evaluations), "energy_error": float(state.energy_error),
                "status": info["status"], "etas": etas, "time": float(state.time)}

    def _integrate_committed(self, system: Any, t_end: float, actions: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        from tunegym.envs.timestep.commit import (
            constant_eta_state,
            make_three_body_commit,
        )

        kwargs = {k: v for k, v in kwargs.items() if k != "horizon"}
        env = make_three_body_commit([system], horizon=actions, action_interval=t_end / actions, **kwargs)
        obs, info = env.reset(seed=0)
        eta, beta = env.action_to_arm(self._action(obs))
        state, status = constant_eta_state(system, eta, actions, t_end / actions, env.max_steps_per_action, beta)
        return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                "force_evaluations": int(state.force_evaluations + info["pilot_evaluations"]),
                "energy_error": float(state.energy_error), "status": status, "etas": [eta] * actions,
                "criterion_exponent": beta, "time": float(state.time)}

    # ---- ODEs ----------------------------------------------------------------------------------------
    def solve_ivp(self, fun: Callable[[float, np.ndarray], np.ndarray], t_span: tuple[float, float], y0, *,
                  rtol: float | None = None, atol: float | None = None, max_attempts: int = 100_000,
                  problem_family: str | None = None) -> dict[str, Any]:
        """Solve ``y' = fun(t, y)`` on ``t_span`` from ``y0`` with the trained controller choosing each step.

        The pair and tolerances default to the trained env's (``method``, ``rtol``, ``atol = rtol·1e-3``). The
        problem-family one-hot of the observation is zero unless ``problem_family`` names one of the training
        families (:data:`~tunegym.envs.timestep.ode.PROBLEMS`; a user's own problem is usually none of them).
        Returns ``t``, ``y`` (at ``t_span[1]``), ``rhs_evaluations``, ``accepted``, ``rejected``, ``status``
        (``"finished"``, ``"step_underflow"`` or ``"max_attempts"``).
        """
        if self.env_id not in ODE_IDS:
            raise ConfigError(f"solve_ivp needs an ODE policy; this one is for {self.env_id}", value=self.env_id)
        from tunegym.envs.timestep.ode import METHODS
        from tunegym.envs.timestep.ode_env import (
            ODEStepEnv,
            PIMemory,
            controlled_attempt,
            controller_observation,
        )

        t0, t1 = (float(v) for v in t_span)
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise ConfigError(f"t_span must be finite with t_end > t_start, got {t_span!r}", value=t_span)
        y0 = np.asarray(y0, dtype=np.float64).reshape(-1)
        if y0.size == 0 or not np.all(np.isfinite(y0)):
            raise InstanceError(f"y0 must be a non-empty finite vector, got {y0!r}", value=y0)
        from tunegym.envs.timestep.ode import PROBLEMS

        if problem_family is not None and problem_family not in PROBLEMS:
            raise ConfigError(f"problem_family must be one of {PROBLEMS} or None, got {problem_family!r}",
                              value=problem_family)
        env = ODEStepEnv(**self.env_kwargs)  # for its spaces, knob and action decoding only
        rtol = env.rtol if rtol is None else float(rtol)
        atol = rtol * 1e-3 if atol is None else float(atol)
        # Shift time to start at 0 so that the observation's h / t_end and progress mean what they meant in training.
        solver = METHODS[env.method](lambda t, y: np.asarray(fun(t + t0, y), dtype=np.float64), 0.0, y0, t1 - t0,
                                     rtol=rtol, atol=atol)
        h = solver.initial_step()
        errors, accepted, status = [1.0, 1.0], True, "max_attempts"
        memory = PIMemory()
        for attempt in range(int(max_attempts)):
            obs = controller_observation(solver, errors, accepted, h, t1 - t0, problem_family,
                                         env.observation_space)
            knob_value = env.action_to_factor(self._action(obs))
            h, _, now_accepted, err, attempt_status = controlled_attempt(
                solver, env.knob, knob_value, h, errors[1], accepted, t1 - t0,
                previous_error=memory.previous_error, first=attempt == 0)
            memory.after_factor(errors[1], accepted, attempt == 0)
            accepted = now_accepted
            errors = [errors[1], err]
            if attempt_status != "ok":
                status = attempt_status
                break
            if solver.finished:
                status = "finished"
                break
        return {"t": solver.t + t0, "y": solver.y.copy(), "rhs_evaluations": int(solver.rhs_evaluations),
                "accepted": int(solver.accepted), "rejected": int(solver.rejected), "status": status}

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: the inner policy's tuner file (embedded bytes), the env id and kwargs, provenance."""
        metadata = {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "provenance": self.provenance,
                    "versions": versions()}
        save_tuner_file(path, KIND, metadata, {"policy_file": embed_tuner(self.policy)})

    @classmethod
    def load(cls, path: str | Path) -> StepSizeTuner:
        """Load a file written by :meth:`save` (``tunegym.agents.load_tuner`` dispatches here)."""
        _, meta, arrays = load_tuner_file(path, expect_kind=KIND)
        try:
            data, env_id, env_kwargs = arrays["policy_file"], meta["env_id"], dict(meta.get("env_kwargs", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed step-size tuner: {exc}", value=str(path)) from exc
        policy = load_embedded_tuner(data)
        if isinstance(policy, StepSizeTuner):
            raise CheckpointError(f"{str(path)!r} nests a step-size tuner inside another", value=str(path))
        return cls(policy, env_id=env_id, env_kwargs=env_kwargs, provenance=meta.get("provenance", {}))

    def __repr__(self) -> str:
        return f"StepSizeTuner(policy={type(self.policy).__name__}, env_id={self.env_id!r})"


def main(argv: list[str] | None = None) -> int:
    """Deprecated (removed next release): ``python -m tunegym.agents.step_size_tuner --out FILE [--env ID --agent
    NAME --steps N --seed S --env-kwargs JSON]`` trains a step-size tuner on tune seed ``--seed`` and saves it
    (how ``agents/pretrained/step-size-ode.pt`` was made). Use the CLI: ``tunegym train --env ID --agent NAME
    --steps N --seed S --env-kwargs JSON --out RUN`` then ``tunegym deploy --run RUN --wrap step-size --out FILE``.
    The shim still trains through :meth:`StepSizeTuner.train`, so the shipped files' recipes reproduce."""
    import argparse
    import json
    import sys

    print("tunegym: warning: `python -m tunegym.agents.step_size_tuner` is deprecated and will be removed in the "
          "next release; use `tunegym train ... --out RUN` then `tunegym deploy --run RUN --wrap step-size --out "
          "FILE`", file=sys.stderr)
    parser = argparse.ArgumentParser(description="train and save a StepSizeTuner (deprecated: tunegym train + deploy)")
    parser.add_argument("--env", default="tunegym/ODEStep-v0", choices=THREE_BODY_IDS + ODE_IDS)
    parser.add_argument("--agent", default="linucb")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="env kwargs as JSON")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tuner = StepSizeTuner.train(args.env, args.agent, steps=args.steps, seed=args.seed,
                                env_kwargs=json.loads(args.env_kwargs))
    tuner.save(args.out)
    print(f"wrote {tuner!r} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
