"""A trained time-step controller usable outside the gym loop: three-body integrations and ODE solves.

:class:`StepSizeTuner` is the time-step domain's adapter around a :class:`~tunegym.agents.tuner.Tuner` (a policy
trained on ``tunegym/ThreeBody-v0``, ``ThreeBodyContinuous-v0``, ``ThreeBodyCommit-v0``, ``ODEStep-v0`` or
``ODEStepContinuous-v0`` plus that env's knob, features and reward settings). :meth:`integrate` and
:meth:`solve_ivp` build the env's own process and features from the env keyword arguments
(:func:`~tunegym.envs.timestep.env.three_body_settings`, :func:`~tunegym.envs.timestep.commit.commit_settings`,
:func:`~tunegym.envs.timestep.ode_env.ode_settings`) without constructing an env, and drive them exactly as the
env does: observation from the features, knob value from :meth:`Tuner.act`, one ``advance`` per decision. It must
not carry a second copy of an integrator, a controller or an observation.

Saved as one tuner file of kind ``"step-size-tuner"`` (the inner policy's tuner file embedded as bytes, the env id
and kwargs, and the domain, knob and features the tuner acts under, as JSON; :mod:`tunegym.agents.tuner_io`), so
``tunegym.agents.load_tuner(path)`` gives it back. A file of another domain is refused at load with
:class:`~tunegym.envs.core.errors.TunerMismatchError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tunegym.agents.tuner import Tuner
from tunegym.agents.tuner_io import (
    embed_tuner,
    load_embedded_tuner,
    load_tuner_file,
    save_tuner_file,
    versions,
)
from tunegym.envs.core.errors import CheckpointError, ConfigError, TunerMismatchError

__all__ = ["KIND", "StepSizeTuner", "timestep_settings"]

KIND = "step-size-tuner"
DOMAIN = "timestep"
THREE_BODY_IDS = ("tunegym/ThreeBody-v0", "tunegym/ThreeBodyContinuous-v0", "tunegym/ThreeBodyCommit-v0")
COMMIT_ID = "tunegym/ThreeBodyCommit-v0"
ODE_IDS = ("tunegym/ODEStep-v0", "tunegym/ODEStepContinuous-v0")


def timestep_settings(env_id: str, env_kwargs: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """The process, knob, features and reward of ``env_id`` built with ``env_kwargs`` (no env constructed).

    ``overrides`` replace env keywords for deployment (the decision interval, the tolerances); keywords that only
    shape the instance distribution (``families``, ``initial_conditions``, ``centre``) are ignored.
    """
    kwargs = {k: v for k, v in dict(env_kwargs or {}).items()
              if k not in ("families", "initial_conditions", "centre", "distribution")}
    kwargs.update(overrides)
    if env_id == COMMIT_ID:
        from tunegym.envs.timestep.commit import commit_settings

        return commit_settings(**kwargs)
    if env_id in THREE_BODY_IDS:
        from tunegym.envs.timestep.env import three_body_settings

        if env_id == "tunegym/ThreeBodyContinuous-v0":
            kwargs.setdefault("action", "continuous")
        return three_body_settings(**kwargs)
    if env_id in ODE_IDS:
        from tunegym.envs.timestep.ode_env import ode_settings

        if env_id == "tunegym/ODEStepContinuous-v0":
            kwargs.setdefault("action", "continuous")
        return ode_settings(**kwargs)
    raise ConfigError(f"StepSizeTuner needs a policy for one of {THREE_BODY_IDS + ODE_IDS}, got {env_id!r}",
                      value=env_id)


class StepSizeTuner:
    """Choose time steps with a trained policy: ``integrate`` (N-body, Hermite) or ``solve_ivp`` (ODEs).

    ``policy`` is a :class:`~tunegym.agents.tuner.Tuner` of the ``"timestep"`` domain (refused otherwise with
    :class:`TunerMismatchError`), or any object with ``predict(observation)`` trained on ``env_id`` with
    ``env_kwargs`` (the Tuner is then built from that env's settings).
    """

    def __init__(self, policy: Any, *, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None) -> None:
        inner = policy.tuner if isinstance(getattr(policy, "tuner", None), Tuner) else policy
        if isinstance(inner, Tuner):
            self.tuner = inner.expect(DOMAIN, adapter="StepSizeTuner", env_ids=THREE_BODY_IDS + ODE_IDS)
            settings = timestep_settings(self.tuner.env_id, self.tuner.env_kwargs)
            self.tuner.expect(DOMAIN, adapter="StepSizeTuner", observation_shape=settings.features.space.shape)
            if provenance:
                self.tuner.provenance.update(provenance)
            return
        if env_id is None:
            raise ConfigError("StepSizeTuner needs env_id= for a bare policy", value=type(policy).__name__)
        if not hasattr(policy, "predict"):
            raise ConfigError(f"policy {type(policy).__name__} has no predict(observation)", value=policy)
        settings = timestep_settings(env_id, env_kwargs)
        self.tuner = Tuner(policy, domain=DOMAIN, env_id=env_id, knob=settings.knob,
                           features=settings.features.config(),
                           reward={"name": settings.reward, "params": settings.reward_params},
                           env_kwargs=env_kwargs, provenance=provenance)

    # ---- the settings the tuner acts under -------------------------------------------------------------
    @property
    def policy(self) -> Any:
        return self.tuner.policy

    @property
    def env_id(self) -> str:
        return self.tuner.env_id

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return self.tuner.env_kwargs

    @property
    def provenance(self) -> dict[str, Any]:
        return self.tuner.provenance

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

    def _drive(self, process: Any, instance: Any, limit: int) -> tuple[list[Any], Any]:
        """Run ``process`` on ``instance`` as the env does, for at most ``limit`` decisions: the features the
        tuner was trained with observe, :meth:`Tuner.act` picks the knob value, the process advances."""
        features = self.tuner.make_features()
        process.start(instance)
        features.reset(process)
        values, record = [], None
        for _ in range(int(limit)):
            _, value = self.tuner.act(features.observation(process))
            record = process.advance(value)
            features.record(process, record)
            values.append(value)
            if process.done or record.terminated or record.truncated:
                break
        return values, record

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
        from tunegym.envs.timestep.instances import NBodyInstance
        from tunegym.envs.timestep.nbody import G_AU_MSUN_YR

        interval = float(self.env_kwargs.get("action_interval", 0.1))
        actions = max(1, math.ceil(t_end / interval - 1e-9))
        system = NBodyInstance(masses=np.asarray(masses, dtype=np.float64), positions=np.asarray(positions, dtype=np.float64),
                               velocities=np.asarray(velocities, dtype=np.float64), G=G_AU_MSUN_YR if G is None else G)
        if self.env_id == COMMIT_ID:
            settings = timestep_settings(self.env_id, self.env_kwargs, horizon=actions, action_interval=t_end / actions,
                                         keep_state=True)
            values, record = self._drive(settings.process, system, 1)
            state = settings.process.state
            return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                    "force_evaluations": int(record.cost), "energy_error": float(state.energy_error),
                    "status": record.status, "etas": [values[0]["eta"]] * actions,
                    "criterion_exponent": values[0]["criterion_exponent"], "time": float(state.time)}
        settings = timestep_settings(self.env_id, self.env_kwargs, action_interval=t_end / actions)
        etas, record = self._drive(settings.process, system, actions)
        state = settings.process.state
        return {"positions": state.positions.copy(), "velocities": state.velocities.copy(),
                "force_evaluations": int(state.force_evaluations), "energy_error": float(state.energy_error),
                "status": record.status, "etas": [float(e) for e in etas], "time": float(state.time)}

    # ---- ODEs ----------------------------------------------------------------------------------------
    def solve_ivp(self, fun: Callable[[float, np.ndarray], np.ndarray], t_span: tuple[float, float], y0, *,
                  rtol: float | None = None, atol: float | None = None, max_attempts: int = 100_000,
                  problem_family: str | None = None) -> dict[str, Any]:
        """Solve ``y' = fun(t, y)`` on ``t_span`` from ``y0`` with the trained controller choosing each step.

        The pair and tolerances default to the trained env's (``method``, ``rtol``, ``atol = rtol·1e-3``). The
        problem-family one-hot of the observation is zero unless ``problem_family`` names one of the training
        families (:data:`~tunegym.envs.timestep.ode.PROBLEMS`; a user's own problem is usually none of them).
        Returns ``t``, ``y`` (at ``t_span[1]``), ``rhs_evaluations``, ``accepted``, ``rejected``, ``status``
        (``"finished"``, ``"step_underflow"`` or ``"max_attempts"``) and ``knob_values`` (one per attempt).
        """
        if self.env_id not in ODE_IDS:
            raise ConfigError(f"solve_ivp needs an ODE policy; this one is for {self.env_id}", value=self.env_id)
        from tunegym.envs.timestep.process import ODEProblem

        t0, t1 = (float(v) for v in t_span)
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise ConfigError(f"t_span must be finite with t_end > t_start, got {t_span!r}", value=t_span)
        trained_rtol = float(self.env_kwargs.get("rtol", 1e-6))
        rtol = trained_rtol if rtol is None else float(rtol)
        atol = rtol * 1e-3 if atol is None else float(atol)
        settings = timestep_settings(self.env_id, self.env_kwargs, rtol=rtol, atol=atol, max_attempts=max_attempts)
        # Shift time to start at 0 so that the observation's h / t_end and progress mean what they meant in training.
        problem = ODEProblem(lambda t, y: np.asarray(fun(t + t0, y), dtype=np.float64),
                             tuple(np.asarray(y0, dtype=np.float64).reshape(-1)), t1 - t0, problem_family)
        values, record = self._drive(settings.process, problem, max_attempts)
        solver = settings.process.solver
        return {"t": solver.t + t0, "y": solver.y.copy(), "rhs_evaluations": int(solver.rhs_evaluations),
                "accepted": int(solver.accepted), "rejected": int(solver.rejected), "status": record.status,
                "knob_values": values}

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: the inner policy's tuner file (embedded bytes), the env id and kwargs, the domain, knob,
        features and reward the tuner acts under, and its provenance."""
        metadata = {**self.tuner.metadata(), "versions": versions()}
        save_tuner_file(path, KIND, metadata, {"policy_file": embed_tuner(self.policy)})

    @classmethod
    def load(cls, path: str | Path) -> StepSizeTuner:
        """Load a file written by :meth:`save` (``tunegym.agents.load_tuner`` dispatches here), or a core tuner file
        (kind ``"tuner"``) of the ``"timestep"`` domain; anything of another domain raises
        :class:`TunerMismatchError`."""
        kind, meta, arrays = load_tuner_file(path)
        if kind == "tuner":
            return cls(Tuner.load(path))
        if kind != KIND:
            raise TunerMismatchError(f"StepSizeTuner needs a {DOMAIN!r} tuner; {str(path)!r} holds a {kind!r} tuner",
                                     value=kind)
        try:
            data, env_id, env_kwargs = arrays["policy_file"], meta["env_id"], dict(meta.get("env_kwargs", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed step-size tuner: {exc}", value=str(path)) from exc
        domain = meta.get("domain", DOMAIN)
        if domain != DOMAIN or env_id not in THREE_BODY_IDS + ODE_IDS:
            raise TunerMismatchError(f"StepSizeTuner needs a {DOMAIN!r} tuner; {str(path)!r} is a {domain!r} tuner "
                                     f"trained on {env_id}", value=env_id)
        policy = load_embedded_tuner(data)
        if isinstance(policy, StepSizeTuner):
            raise CheckpointError(f"{str(path)!r} nests a step-size tuner inside another", value=str(path))
        tuner = cls(policy, env_id=env_id, env_kwargs=env_kwargs, provenance=meta.get("provenance", {}))
        stored = (meta.get("features") or {}).get("shape")
        if stored is not None:  # files that record their layout must still fit what the env builds now
            tuner.tuner.expect(DOMAIN, adapter="StepSizeTuner", observation_shape=tuple(stored))
        return tuner

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
