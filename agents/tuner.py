"""``Tuner``: what ships — a policy plus the knob, features and reward settings it was trained with.

A domain adapter (``SORTuner``, ``StepSizeTuner``, ``LearnedLRScheduler``, ``LNSSolver``, ``KrylovTuner``)
holds a :class:`Tuner` and drives its domain's process with it: it rebuilds the observation through
:meth:`Tuner.make_features` (the very class the env uses), asks :meth:`Tuner.act` for the knob value and,
when learning online, feeds back :meth:`Tuner.reward` of the step record (the env's named reward). So a
deployed tuner and an env rollout on the same instance and seed make identical decisions.

A tuner file (kind ``"tuner"``, :mod:`tunegym.agents.tuner_io`) stores the inner policy's own tuner file as
bytes beside this JSON: ``domain``, ``env_id``, ``env_kwargs``, ``knob``, ``features`` (name, parameters,
shape), ``reward`` and ``provenance``. :meth:`Tuner.expect` refuses a tuner of the wrong domain or
observation layout with one typed line, before any work; :func:`as_tuner` turns any loaded policy file
that records its env (an SB3 policy from ``tunegym deploy``, a bandit from ``tunegym train``) into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agents.tuner_io import embed_tuner, load_embedded_tuner, load_tuner_file, save_tuner_file, versions
from tunegym.envs.core.errors import CheckpointError, ConfigError, TunerMismatchError
from tunegym.envs.core.features import Features, make_features
from tunegym.envs.core.knob import Knob, knob_from_dict
from tunegym.envs.core.process import StepRecord
from tunegym.envs.core.rewards import make_reward

__all__ = ["KIND", "Tuner", "TunerAdapter", "as_tuner"]

KIND = "tuner"


class Tuner:
    """A trained policy and the exact env settings (domain, knob, features, reward) it acts under."""

    def __init__(self, policy: Any, *, domain: str, env_id: str, knob: Knob, features: Mapping[str, Any],
                 reward: Mapping[str, Any] | None = None, env_kwargs: Mapping[str, Any] | None = None,
                 provenance: Mapping[str, Any] | None = None) -> None:
        if not hasattr(policy, "predict"):
            raise ConfigError(f"policy {type(policy).__name__} has no predict(observation)", value=policy)
        self.policy, self.domain, self.env_id, self.knob = policy, str(domain), str(env_id), knob
        self.features_config = dict(features)
        self.reward_config = dict(reward or {"name": "neg_cost", "params": {}})
        self.env_kwargs = dict(env_kwargs or {})
        self.provenance = dict(provenance or {})
        self._reward_fn = make_reward(self.reward_config["name"], self.reward_config.get("params"))

    # ---- building ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, policy: Any, env: Any, *, provenance: Mapping[str, Any] | None = None) -> "Tuner":
        """Wrap ``policy`` trained on ``env`` (a :class:`~tunegym.envs.core.env.ProcessEnv`, possibly wrapped)."""
        base = env.unwrapped
        if not hasattr(base, "tuner_config"):
            raise ConfigError(f"{type(base).__name__} is not a tunegym process env; cannot record its settings")
        spec = getattr(base, "spec", None)
        config = base.tuner_config()
        return cls(policy, domain=config["domain"], env_id=spec.id if spec else type(base).__name__,
                   knob=base.knob, features=config["features"], reward=config["reward"],
                   env_kwargs=dict(spec.kwargs) if spec else {}, provenance=provenance)

    # ---- acting --------------------------------------------------------------------------------------
    def make_features(self) -> Features:
        """A fresh features object, the same class and parameters the env used in training."""
        return make_features(self.features_config)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.features_config.get("shape") or ())

    @property
    def online(self) -> bool:
        """Whether the policy can keep learning from deployed steps (a bandit: ``select``/``update``)."""
        return hasattr(self.policy, "select") and (hasattr(self.policy, "observe") or hasattr(self.policy, "update"))

    def act(self, observation: np.ndarray, *, learn: bool = False) -> tuple[Any, Any]:
        """``(action, knob value)`` for an observation: greedy, or exploring as in training when ``learn``."""
        if learn:
            if not self.online:
                raise ConfigError(f"learn=True needs an online policy (a bandit); this tuner holds a "
                                  f"{type(self.policy).__name__}", value=type(self.policy).__name__)
            action = self.policy.select(observation)
        else:
            action, _ = self.policy.predict(observation, deterministic=True)
        return action, self.knob.decode(action)

    def reward(self, record: StepRecord) -> float:
        """The env's reward for a step record (the named function the env was configured with)."""
        return float(self._reward_fn(record))

    def learn_from(self, observation: np.ndarray, action: Any, record: StepRecord,
                   info: dict[str, Any] | None = None) -> None:
        """Update an online policy from one deployed step, exactly as ``Bandit.learn`` does in the env.
        ``info``: ``record.info()`` when the caller has it already (it is built once per step)."""
        if hasattr(self.policy, "observe"):
            self.policy.observe(observation, action, self.reward(record), record.info() if info is None else info)
        else:
            self.policy.update(observation, action, self.reward(record))

    def drive(self, process: Any, instance: Any, *, learn: bool = False, max_decisions: int | None = None,
              **start_kwargs: Any) -> list[StepRecord]:
        """Run ``process`` on ``instance`` to its end with this tuner deciding: the generic deploy adapter.

        The loop an env rollout makes (features reset → observe → act → advance → record), without an env:
        a user's own process gets a deployable tuner without writing one. ``learn=True`` keeps learning online.
        """
        features = self.make_features()
        process.start(instance, **start_kwargs)
        features.reset(process)
        records: list[StepRecord] = []
        while not process.done and (max_decisions is None or len(records) < max_decisions):
            observation = features.observation(process)
            action, value = self.act(observation, learn=learn)
            record = process.advance(value)
            features.record(process, record)
            if learn:
                self.learn_from(observation, action, record)
            records.append(record)
        return records

    def expect(self, domain: str | tuple[str, ...], *, adapter: str, observation_shape: tuple[int, ...] | None = None,
               env_ids: tuple[str, ...] | None = None) -> "Tuner":
        """Refuse this tuner unless it fits ``adapter``: right domain, env and observation layout."""
        domains = (domain,) if isinstance(domain, str) else tuple(domain)
        what = f"a {self.domain!r} tuner trained on {self.env_id} (observation {self.observation_shape})"
        if self.domain not in domains:
            raise TunerMismatchError(f"{adapter} needs a {' or '.join(map(repr, domains))} tuner; this is {what}",
                                     value=self.domain)
        if env_ids is not None and self.env_id not in env_ids:
            raise TunerMismatchError(f"{adapter} needs a tuner trained on one of {list(env_ids)}; this is {what}",
                                     value=self.env_id)
        if observation_shape is not None and tuple(observation_shape) != self.observation_shape:
            raise TunerMismatchError(f"{adapter} builds observations of shape {tuple(observation_shape)}; this is "
                                     f"{what}", value=self.observation_shape)
        return self

    # ---- persistence ---------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {"domain": self.domain, "env_id": self.env_id, "env_kwargs": self.env_kwargs,
                "knob": self.knob.to_dict(), "features": self.features_config, "reward": self.reward_config,
                "provenance": self.provenance, "versions": versions()}

    def save(self, path: str | Path) -> None:
        """One tuner file: the inner policy's file (embedded bytes) and these settings as JSON."""
        save_tuner_file(path, KIND, self.metadata(), {"policy_file": embed_tuner(self.policy)})

    @classmethod
    def load(cls, path: str | Path) -> "Tuner":
        _, meta, arrays = load_tuner_file(path, expect_kind=KIND)
        try:
            policy = load_embedded_tuner(arrays["policy_file"])
            return cls(policy, domain=meta["domain"], env_id=meta["env_id"], knob=knob_from_dict(meta["knob"]),
                       features=meta["features"], reward=meta.get("reward"), env_kwargs=meta.get("env_kwargs"),
                       provenance=meta.get("provenance"))
        except (KeyError, TypeError, ConfigError) as exc:
            raise CheckpointError(f"{str(path)!r} is a malformed tuner file: {exc}", value=str(path)) from None

    def __repr__(self) -> str:
        return (f"Tuner(domain={self.domain!r}, env_id={self.env_id!r}, policy={type(self.policy).__name__}, "
                f"knob={self.knob.name!r}, features={self.features_config.get('name')!r})")


class TunerAdapter:
    """Base of the domain adapters (``SORTuner``, ``StepSizeTuner``, ``KrylovTuner``): each holds a core
    :class:`Tuner` in ``self.tuner`` and exposes its settings under the same names."""

    tuner: Tuner

    @property
    def policy(self) -> Any:
        return self.tuner.policy

    @property
    def knob(self) -> Any:
        return self.tuner.knob

    @property
    def env_id(self) -> str:
        return self.tuner.env_id

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return self.tuner.env_kwargs

    @property
    def provenance(self) -> dict[str, Any]:
        return self.tuner.provenance


def as_tuner(policy: Any, *, env_kwargs: Mapping[str, Any] | None = None) -> Tuner:
    """A :class:`Tuner` for ``policy``: itself if it is one, else rebuilt from the env the policy records.

    Policies that record their env (``env_id`` and ``env_kwargs`` attributes: SB3 policies deployed with
    ``tunegym deploy``, shipped pretrained files) get the settings of that env, built once with ``gym.make``.
    """
    if isinstance(policy, Tuner):
        return policy
    if hasattr(policy, "tuner") and isinstance(policy.tuner, Tuner):
        return policy.tuner
    env_id = getattr(policy, "env_id", None)
    if not env_id:
        raise TunerMismatchError(f"{type(policy).__name__} records no env it was trained on, so its observation "
                                 f"layout is unknown; save it as a Tuner (Tuner.from_env) first",
                                 value=type(policy).__name__)
    import gymnasium as gym

    import tunegym.envs  # noqa: F401  (registers the ids)

    kwargs = dict(getattr(policy, "env_kwargs", None) or {}) if env_kwargs is None else dict(env_kwargs)
    env = gym.make(env_id, **kwargs)
    try:
        return Tuner.from_env(policy, env, provenance={"env_id": env_id, "policy": repr(policy)})
    finally:
        env.close()
