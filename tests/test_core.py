"""Core building blocks: seed streams, instance ids, config validation, tuner files, the CLI shell."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
import torch

from tunegym.agents.config import build_config
from tunegym.agents.tuner_io import atomic_write_bytes, load_tuner_file, save_tuner_file
from tunegym.envs.core import CheckpointError, ConfigError, content_id, spawn_seeds, stream
from tunegym.tuning.cli import main


def test_named_streams_are_reproducible_and_independent():
    a = stream(5, "instances").random(4)
    assert np.array_equal(a, stream(5, "instances").random(4))
    assert not np.array_equal(a, stream(5, "agent").random(4))
    assert not np.array_equal(a, stream(6, "instances").random(4))
    seeds = spawn_seeds(3, 10)
    assert seeds == spawn_seeds(3, 10) and len(set(seeds)) == 10 and all(0 <= s < 2**32 for s in seeds)


def test_content_id_depends_on_content_only():
    x = np.arange(5.0)
    assert content_id("m", x, k=1) == content_id("m", x.copy(), k=1)
    assert content_id("m", x, k=1) != content_id("m", x, k=2)
    assert content_id("m", x) != content_id("m", x + 1e-12)


@dataclass(frozen=True)
class _Config:
    learning_rate: float = 1e-3
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    layers: tuple[int, ...] = (64, 64)
    flag: bool = False


def test_build_config_coerces_and_rejects_bad_input():
    config = build_config(_Config, {"learning_rate": 1, "steps": 20.0, "layers": [8]}, mode="b")
    assert config == _Config(1.0, 20, "b", (8,), False)
    with pytest.raises(ConfigError, match=r"unknown config key.*'lr'.*choices"):
        build_config(_Config, {"lr": 0.1})
    for bad in ({"steps": 1.5}, {"steps": "10"}, {"mode": "c"}, {"flag": 1}, {"learning_rate": "fast"}):
        with pytest.raises(ConfigError):
            build_config(_Config, bad)


def test_tuner_file_round_trip_and_refusals(tmp_path):
    path = tmp_path / "tuner.pt"
    save_tuner_file(path, "demo", {"env_id": "tunegym/SOR-v0", "seeds": [1]}, {"w": np.arange(3.0)})
    kind, meta, arrays = load_tuner_file(path, expect_kind="demo")
    assert kind == "demo" and meta["seeds"] == [1] and "versions" in meta
    np.testing.assert_array_equal(arrays["w"], np.arange(3.0))
    with pytest.raises(CheckpointError, match="expected"):
        load_tuner_file(path, expect_kind="other")

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"format": "tunegym-tuner", "tensors": {}, "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_tuner_file(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "truncated.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_tuner_file(tmp_path / "truncated.pt")
    torch.save({"some": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a tunegym tuner"):
        load_tuner_file(tmp_path / "foreign.pt")


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    atomic_write_bytes(path, b"old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_cli_lists_envs_and_reports_errors_in_one_line(capsys):
    assert main(["list"]) == 0
    assert "tunegym/SOR-v0" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
