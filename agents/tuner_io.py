"""Tuner files: data, never code.

A tuner file holds named arrays (weights, bandit statistics) and JSON metadata (kind, version,
provenance: env id, seeds, config, package versions). It is written with ``torch.save`` of a plain dict of
tensors and strings and read back with ``torch.load(weights_only=True)``, which refuses any pickled object
that is not a tensor or a primitive container, so a tuner file from a stranger cannot run code on load.
Writes are atomic (temporary file, ``fsync``, ``os.replace``): a killed write never leaves a half file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunegym.envs.core.errors import CheckpointError

__all__ = ["FORMAT", "FORMAT_VERSION", "atomic_write_bytes", "check_archive", "check_format_version", "embed_tuner",
           "load_embedded_tuner", "load_tuner_file", "save_tuner_file", "versions"]

FORMAT = "tunegym-tuner"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of the packages a result or tuner depends on (recorded beside every artifact)."""
    from importlib.metadata import PackageNotFoundError, version

    import platform

    out = {"python": platform.python_version()}
    for name in ("tunegym", "numpy", "scipy", "gymnasium", "torch", "stable-baselines3", "pyamg", "numba", "highspy",
                 "pettingzoo"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same-directory temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_archive(path: Path, what: str = "tuner file") -> None:
    """Refuse a file that is not an intact zip archive (:class:`CheckpointError`).

    ``torch.load`` does not verify the archive's CRC-32 checksums, so a flipped byte inside a weight tensor
    would load as silently wrong weights; ``testzip`` reads every member and compares its checksum.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a loadable tunegym {what} (not a readable zip archive; "
                              f"corrupt, truncated or another format: {type(exc).__name__})", value=str(path)) from exc
    if bad is not None:
        raise CheckpointError(f"{str(path)!r} is not a loadable tunegym {what}: it is corrupt (member {bad!r} "
                              f"fails its checksum)", value=str(path))


def check_format_version(path: Path, version: Any, current: int, what: str = "tuner format") -> None:
    """Refuse a ``format_version`` that is not an int (a hand-edited or foreign file) or is newer than
    ``current`` (written by a later tunegym), with :class:`CheckpointError` rather than a ``TypeError``."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CheckpointError(f"{str(path)!r} has an invalid {what} version {version!r}", value=version)
    if version > current:
        raise CheckpointError(f"{str(path)!r} has {what} {version}, newer than this tunegym ({current}); "
                              f"upgrade tunegym", value=version)


def save_tuner_file(path: str | Path, kind: str, metadata: dict[str, Any], arrays: dict[str, Any]) -> None:
    """Save a tuner: ``kind`` names the adapter that loads it; ``arrays`` are numpy arrays or tensors."""
    import io

    tensors = {}
    for name, value in arrays.items():
        tensor = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value, copy=True))
        tensors[name] = tensor.clone()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "metadata_json": json.dumps({**metadata, "versions": metadata.get("versions", versions())}, default=str),
        "tensors": tensors,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_tuner_file(path: str | Path, *, expect_kind: str | None = None) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """Load ``(kind, metadata, arrays)``; raise :class:`CheckpointError` for anything not a tunegym tuner.

    Arrays come back as numpy arrays. Files carrying pickled objects are refused by
    ``torch.load(weights_only=True)`` before any of their code can run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no tuner file at {str(path)!r}", value=str(path))
    import pickle
    import warnings
    import zipfile

    # Tuner files are torch zip archives; anything else (a bare pickle, text, garbage) is refused before torch
    # reads it, so torch's legacy loader never reports a stray byte as ``KeyError: 101``.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{str(path)!r} is not a tunegym tuner file (not a torch zip archive; corrupt, "
                              f"truncated or another format)", value=str(path))
    check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol warning: the refusal below says it all
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises retrying with weights_only=False, which is exactly what tunegym never does.
        raise CheckpointError(f"{str(path)!r} is not a tunegym tuner file: it carries code (pickled objects "
                              f"beyond tensors), which tunegym refuses to load",
                              value=str(path)) from exc
    except Exception as exc:  # RuntimeError, EOFError, zipfile errors...: a damaged archive
        raise CheckpointError(f"{str(path)!r} is not a loadable tunegym tuner file (corrupt or truncated: "
                              f"{type(exc).__name__})", value=str(path)) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a tunegym tuner file", value=str(path))
    check_format_version(path, payload.get("format_version", 0), FORMAT_VERSION)
    kind = str(payload.get("kind"))
    if expect_kind is not None and kind != expect_kind:
        raise CheckpointError(f"{str(path)!r} holds a {kind!r} tuner, expected {expect_kind!r}", value=kind)
    try:
        metadata = json.loads(payload["metadata_json"])
        arrays = {name: tensor.numpy() for name, tensor in payload["tensors"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{str(path)!r} has malformed tuner contents: {exc}", value=str(path)) from exc
    return kind, metadata, arrays


def embed_tuner(policy: Any) -> np.ndarray:
    """``policy.save`` into a temporary file, returned as bytes (uint8) to nest inside another tuner file."""
    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "policy.pt"
        policy.save(inner)
        return np.frombuffer(inner.read_bytes(), dtype=np.uint8).copy()


def load_embedded_tuner(data: np.ndarray) -> Any:
    """The tuner nested by :func:`embed_tuner`, loaded with ``load_tuner`` (so its own kind is checked)."""
    from tunegym.agents.tuners import load_tuner

    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "policy.pt"
        inner.write_bytes(np.asarray(data, dtype=np.uint8).tobytes())
        return load_tuner(inner)
