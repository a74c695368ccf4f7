"""``load_tuner``: one entry point for every deployable tuner file, dispatching on the file's ``kind``.

Kinds: ``"sb3-policy"`` (:class:`tunegym.agents.deeprl.policy.SB3Policy`), ``"bandit"`` (the bandits
package's loader), ``"sor-tuner"`` (:class:`tunegym.agents.sor_tuner.SORTuner`), ``"step-size-tuner"``
(:class:`tunegym.agents.step_size_tuner.StepSizeTuner`). ``"pretrained:NAME"``
names a file shipped in ``tunegym/agents/pretrained/`` (``NAME.pt`` beside ``NAME.json``, which says how
it was made). Every file is read with ``torch.load(weights_only=True)`` first (see
:mod:`tunegym.agents.tuner_io`), so a file carrying a pickle payload is refused before any loader runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tunegym.agents.tuner_io import load_tuner_file
from tunegym.envs.core.errors import CheckpointError

__all__ = ["load_tuner", "pretrained_names", "pretrained_path", "TUNER_LOADERS", "PRETRAINED_DIR"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
PRETRAINED_PREFIX = "pretrained:"

#: kind -> "module:callable(path)" (a classmethod ``load`` or a function)
TUNER_LOADERS: dict[str, str] = {
    "sb3-policy": "tunegym.agents.deeprl.policy:SB3Policy.load",
    "bandit": "tunegym.agents.bandits:load_bandit",
    "sor-tuner": "tunegym.agents.sor_tuner:SORTuner.load",
    "lr-schedule": "tunegym.agents.lr_scheduler:LRSchedulePolicy.load",
    "lr-schedule-bandit": "tunegym.agents.lr_scheduler:ProbeScheduleTuner.load",
    "independent-learners": "tunegym.agents.multiagent:IndependentLearners.load",
    "step-size-tuner": "tunegym.agents.step_size_tuner:StepSizeTuner.load",
    "tuner": "tunegym.agents.tuner:Tuner.load",
    "krylov-bandit": "tunegym.agents.krylov_tuner:KrylovReuseBandit.load",
}


def pretrained_names() -> list[str]:
    """Names accepted by ``load_tuner("pretrained:NAME")``."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def pretrained_path(name: str) -> Path:
    names = pretrained_names()
    if name not in names:
        raise CheckpointError(f"no pretrained tuner {name!r}; choices: {names}", value=name)
    return PRETRAINED_DIR / f"{name}.pt"


def _resolve_loader(kind: str) -> Any:
    module_name, attr_path = TUNER_LOADERS[kind].split(":")
    target: Any = importlib.import_module(module_name)
    parts = attr_path.split(".")
    if kind == "bandit" and not hasattr(target, parts[0]):
        # The bandits package may name its loader ``load``; accept either.
        parts = ["load"] if hasattr(target, "load") else parts
    for part in parts:
        target = getattr(target, part)
    return target


def load_tuner(path_or_name: str | Path) -> Any:
    """Load a tuner file (or ``"pretrained:NAME"``) with the loader its ``kind`` names.

    Raises :class:`CheckpointError` for a missing, corrupt, foreign or code-carrying file and for a kind
    no loader knows (naming the known kinds).
    """
    text = str(path_or_name)
    path = pretrained_path(text[len(PRETRAINED_PREFIX):]) if text.startswith(PRETRAINED_PREFIX) else Path(text)
    kind, _, _ = load_tuner_file(path)  # safety gate: weights_only load, format check
    if kind not in TUNER_LOADERS:
        raise CheckpointError(f"{str(path)!r} holds a tuner of unknown kind {kind!r}; known kinds: "
                              f"{sorted(TUNER_LOADERS)}", value=kind)
    try:
        loader = _resolve_loader(kind)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"no loader available for {kind!r} tuners ({TUNER_LOADERS[kind]}): {exc}",
                              value=kind) from exc
    return loader(path)
