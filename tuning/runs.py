"""The training run directory: its layout, its provenance files, and where its checkpoints live.

```
DIR/
  run.json          what was run: env id + kwargs, agent, total steps, seed, device, run format version
  config.json       the agent's full resolved config (every field, defaults included)
  seeds.json        train seed, validation seeds (derived from it), default test seeds of `tunegym eval`
  versions.json     package versions (tunegym, torch, stable-baselines3, gymnasium, numpy, ...)
  checkpoints/
    last.pt         data-only checkpoint (SB3 agents), rewritten atomically every --checkpoint-every s and at the end
    agent.pt        the trained agent's own file (bandits and other non-SB3 agents), written at the end
  tb/               TensorBoard event files (SB3's rollout/ train/ keys, env/cost, env/quality, eval/...)
  eval/             `tunegym eval` results: eval-<seeds>.json and .md
```
A run is a function of (run.json, config.json): ``tunegym train --run-dir DIR --resume`` needs nothing else.
This module knows paths and JSON files only; it trains nothing and imports neither torch nor SB3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.agents.tuner_io import atomic_write_bytes
from tunegym.envs.core.errors import CheckpointError
from tunegym.tuning.seeds import SeedSplit

__all__ = ["RunDir", "RUN_FORMAT", "TEST_SEEDS", "TUNE_SEEDS", "validation_seeds"]

RUN_FORMAT = 1
#: Default seed sets, the harness's (ARLBench / how-to-autorl convention): tune 0-9, test 100-109.
TUNE_SEEDS: tuple[int, ...] = SeedSplit().tune
TEST_SEEDS: tuple[int, ...] = SeedSplit().test


def validation_seeds(train_seed: int, count: int = 3) -> list[int]:
    """Seeds for evaluations during training, derived from the train seed and kept clear of the test range."""
    import numpy as np

    state = np.random.SeedSequence([int(train_seed), 0x7A1]).generate_state(count)
    return [int(1_000 + s % 1_000_000) for s in state]


def _dump(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())


#: run.json fields the commands read, and the types each must have (when present)
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "env_id": (str,), "agent": (str,), "env_kwargs": (dict,), "steps": (int,), "seed": (int,), "run_format": (int,),
    "num_timesteps": (int, type(None)), "multiagent": (str, type(None)), "device": (str, type(None)),
}


def _wrong_fields(run: dict[str, Any]) -> list[str]:
    """``"name (expected type, got value)"`` for each field of ``run`` whose type is not what the commands read
    (a bool is not an int here)."""
    wrong = []
    for name, types in _RUN_FIELDS.items():
        if name in run:
            value = run[name]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                wrong.append(f"{name} (expected {' or '.join(t.__name__ for t in types)}, got {value!r})")
    return wrong


@dataclass(frozen=True)
class RunDir:
    """Paths and provenance files of one training run."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    run_json = property(lambda self: self.root / "run.json")
    config_json = property(lambda self: self.root / "config.json")
    seeds_json = property(lambda self: self.root / "seeds.json")
    versions_json = property(lambda self: self.root / "versions.json")
    checkpoint = property(lambda self: self.root / "checkpoints" / "last.pt")
    agent_file = property(lambda self: self.root / "checkpoints" / "agent.pt")
    tensorboard = property(lambda self: self.root / "tb")
    eval_dir = property(lambda self: self.root / "eval")

    def exists(self) -> bool:
        return self.run_json.is_file()

    def write(self, run: Mapping[str, Any], config: Mapping[str, Any], seeds: Mapping[str, Any],
              versions: Mapping[str, str]) -> None:
        """Write the provenance files (before training starts, so a killed run can be resumed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        _dump(self.config_json, dict(config))
        _dump(self.seeds_json, dict(seeds))
        _dump(self.versions_json, dict(versions))
        _dump(self.run_json, {"run_format": RUN_FORMAT, **dict(run)})

    def read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(run, config)``; a missing or unreadable file raises :class:`CheckpointError`."""
        if not self.exists():
            raise CheckpointError(f"{str(self.root)!r} is not a tunegym run directory (no run.json)", value=str(self.root))
        try:
            run = json.loads(self.run_json.read_text())
            config = json.loads(self.config_json.read_text()) if self.config_json.is_file() else {}
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"unreadable run files in {str(self.root)!r}: {exc}", value=str(self.root)) from exc
        if not isinstance(run, dict) or not isinstance(config, dict) or "env_id" not in run or "agent" not in run:
            raise CheckpointError(f"{str(self.run_json)!r} is not a tunegym run description", value=str(self.run_json))
        wrong = _wrong_fields(run)
        if wrong:  # a hand-edited or foreign run.json: one line here, not a TypeError in whichever command reads it
            raise CheckpointError(f"{str(self.run_json)!r} has fields of the wrong type: {', '.join(wrong)}",
                                  value=wrong)
        if run.get("run_format", 0) > RUN_FORMAT:
            raise CheckpointError(f"{str(self.run_json)!r} has run format {run.get('run_format')}, newer than this "
                                  f"tunegym ({RUN_FORMAT})", value=run.get("run_format"))
        return run, config

    def update_run(self, **fields: Any) -> None:
        run, _ = self.read()
        _dump(self.run_json, {**run, **fields})
