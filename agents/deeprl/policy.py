"""A deployed SB3 policy: rebuilt from a data-only tuner file (kind ``"sb3-policy"``) and used to predict.

The file holds the policy's ``state_dict`` tensors and JSON metadata (algorithm, observation/action spaces,
architecture, provenance). Loading rebuilds the SB3 policy class from that description and loads the
weights; no pickled object is ever executed. It must not depend on the env being installed: spaces come
from the metadata, so a tuner adapter can drive a user's own solver with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunegym.agents.deeprl.spaces import space_from_json
from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError

__all__ = ["SB3Policy"]

POLICY_KIND = "sb3-policy"


class SB3Policy:
    """Inference-only SB3 policy with the agent verbs ``predict``, ``save`` and ``load``.

    ``metadata`` carries the provenance (env id and kwargs, algorithm, config, seed, steps, versions);
    ``observation_space`` / ``action_space`` are the spaces it was trained on.
    """

    kind = POLICY_KIND

    def __init__(self, metadata: dict[str, Any], state_dict: dict[str, Any]) -> None:
        from tunegym.agents.deeprl.agent import ALGORITHMS, _ACTIVATIONS, _import

        try:
            description = metadata["policy"]
            algo = description["algo"]
            policy_class = _import(ALGORITHMS[algo][1])
            activation = _ACTIVATIONS[description["activation"]]
            net_arch = [int(n) for n in description["net_arch"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"sb3-policy metadata is malformed: missing or bad {exc}", value=metadata) from exc
        self.metadata = metadata
        self.algo = algo
        self.observation_space = space_from_json(description["observation_space"])
        self.action_space = space_from_json(description["action_space"])
        self.policy = policy_class(
            self.observation_space, self.action_space, lambda _: 0.0, net_arch=net_arch, activation_fn=activation
        )
        tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in state_dict.items()}
        try:
            self.policy.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"sb3-policy weights do not match its {algo.upper()} architecture {net_arch}: "
                f"{str(exc).splitlines()[0]}",
                value=None,
            ) from exc
        self.policy.set_training_mode(False)

    @property
    def env_id(self) -> str | None:
        return self.metadata.get("env_id")

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return dict(self.metadata.get("env_kwargs") or {})

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """``(action, None)`` for one observation or a batch, as SB3's ``predict``."""
        return self.policy.predict(observation, state, episode_start, deterministic)

    def learn(self, env: Any = None, total_timesteps: int = 0, **kwargs: Any) -> "SB3Policy":
        """A deployed policy does not learn; present so it runs wherever agents do."""
        return self

    def save(self, path: str | Path) -> None:
        save_tuner_file(path, POLICY_KIND, self.metadata, dict(self.policy.state_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "SB3Policy":
        _, metadata, arrays = load_tuner_file(path, expect_kind=POLICY_KIND)
        return cls(metadata, arrays)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> "SB3Policy":
        """The policy inside a training checkpoint (no env, no optimizer): what ``eval`` and ``deploy`` use."""
        import json

        from tunegym.agents.deeprl.agent import load_checkpoint_file

        payload = load_checkpoint_file(path)
        try:
            metadata = json.loads(payload["metadata_json"])
            state_dict = payload["state"]["parameters"]["policy"]
            metadata["policy"] = json.loads(payload["policy_json"])
            metadata["num_timesteps"] = int(payload["state"]["counters"]["num_timesteps"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r} has malformed checkpoint contents: {exc}", value=str(path)) from exc
        return cls(metadata, state_dict)

    def __repr__(self) -> str:
        return (f"SB3Policy(algo={self.algo!r}, env_id={self.env_id!r}, "
                f"steps={self.metadata.get('num_timesteps')})")
