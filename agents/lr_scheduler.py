"""The learned learning-rate scheduler, deployable in any plain torch training loop (issue 9).

:class:`LRSchedulePolicy` maps the features of :mod:`tunegym.envs.lr.features` to a log10 multiplier of
the base LR with a small torch MLP; it is saved as a tuner file of kind ``"lr-schedule"`` (state-dict
tensors + JSON metadata, read back with ``weights_only=True``). :class:`LearnedLRScheduler` is a real
``torch.optim.lr_scheduler.LRScheduler``: every ``decision_interval`` calls of ``step()`` it asks the
policy for a multiplier and applies it to every param group's initial LR (so the groups keep their
ratios). It trains nothing and never touches the model's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from tunegym.agents.tuner_io import load_tuner_file, save_tuner_file
from tunegym.envs.core.errors import CheckpointError, ConfigError
from tunegym.envs.lr.features import FEATURE_NAMES, OBS_HIGH, OBS_LOW, ScheduleFeatures

__all__ = ["KIND", "LRSchedulePolicy", "LearnedLRScheduler", "ScheduleTuner"]

KIND = "lr-schedule"


class ScheduleTuner(Protocol):
    """What the scheduler needs from a tuner: a log10 LR multiplier for an observation."""

    decision_interval: int

    def act(self, observation: np.ndarray) -> float: ...


class LRSchedulePolicy:
    """``log10 multiplier = low + (high - low) * sigmoid(MLP(scaled features))``.

    Features are scaled from ``[OBS_LOW, OBS_HIGH]`` to ``[-1, 1]``. ``hidden=0`` gives a linear policy.
    The validation features are masked (set to 0) unless ``use_validation``: a user's loop rarely
    measures validation loss on the env's cadence, so a deployable policy must not depend on it.
    ``get_flat``/``set_flat`` expose the weights as one vector for evolution strategies.
    """

    def __init__(self, hidden: int = 16, *, decision_interval: int = 5, log10_low: float = -3.0, log10_high: float = 1.0,
                 use_validation: bool = False, seed: int = 0, metadata: dict[str, Any] | None = None) -> None:
        if hidden < 0 or decision_interval < 1 or not log10_low < log10_high:
            raise ConfigError("need hidden >= 0, decision_interval >= 1, log10_low < log10_high",
                              value=(hidden, decision_interval, log10_low, log10_high))
        self.hidden = int(hidden)
        self.decision_interval = int(decision_interval)
        self.log10_low, self.log10_high = float(log10_low), float(log10_high)
        self.use_validation = bool(use_validation)
        self.metadata = dict(metadata or {})
        torch.manual_seed(seed)  # only the initial weights; act() draws nothing
        n_in = len(FEATURE_NAMES)
        layers: list[nn.Module] = [nn.Linear(n_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, 1)] if self.hidden else [nn.Linear(n_in, 1)]
        self.net = nn.Sequential(*layers).double()
        self._low = torch.as_tensor(OBS_LOW, dtype=torch.float64)
        self._span = torch.as_tensor(OBS_HIGH - OBS_LOW, dtype=torch.float64)
        self._mask = torch.tensor([0.0 if name.startswith("log10_val") or name == "val_age" else 1.0 for name in FEATURE_NAMES],
                                  dtype=torch.float64)

    def act(self, observation: np.ndarray) -> float:
        obs = torch.as_tensor(np.asarray(observation, dtype=np.float64))
        scaled = 2.0 * (obs - self._low) / self._span - 1.0
        if not self.use_validation:
            scaled = scaled * self._mask
        with torch.no_grad():
            out = float(self.net(scaled.reshape(1, -1))[0, 0])
        return self.log10_low + (self.log10_high - self.log10_low) / (1.0 + np.exp(-out))

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """SB3-style: the continuous env action (shape ``(1,)``) for one or a batch of observations."""
        obs = np.asarray(observation, dtype=np.float64)
        if obs.ndim == 1:
            return np.array([self.act(obs)], dtype=np.float32), state
        return np.array([[self.act(o)] for o in obs], dtype=np.float32), state

    def get_flat(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().numpy().copy()

    def set_flat(self, flat: np.ndarray) -> None:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(np.asarray(flat, dtype=np.float64)), self.net.parameters())

    def save(self, path: str | Path, *, provenance: dict[str, Any] | None = None) -> None:
        metadata = {
            "hidden": self.hidden,
            "decision_interval": self.decision_interval,
            "log10_low": self.log10_low,
            "log10_high": self.log10_high,
            "use_validation": self.use_validation,
            "feature_names": list(FEATURE_NAMES),
            **self.metadata,
            **(provenance or {}),
        }
        save_tuner_file(path, KIND, metadata, {f"net.{k}": v for k, v in self.net.state_dict().items()})

    @classmethod
    def load(cls, path: str | Path) -> "LRSchedulePolicy":
        _, metadata, arrays = load_tuner_file(path, expect_kind=KIND)
        try:
            if list(metadata["feature_names"]) != list(FEATURE_NAMES):
                raise CheckpointError(f"{str(path)!r} was trained on other features: {metadata['feature_names']}", value=str(path))
            policy = cls(int(metadata["hidden"]), decision_interval=int(metadata["decision_interval"]),
                         log10_low=float(metadata["log10_low"]), log10_high=float(metadata["log10_high"]),
                         use_validation=bool(metadata.get("use_validation", False)), metadata=metadata)
            state = {k[len("net."):]: torch.as_tensor(v, dtype=torch.float64) for k, v in arrays.items()}
            policy.net.load_state_dict(state, strict=True)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{str(path)!r} is not a valid lr-schedule tuner: {exc}", value=str(path)) from exc
        if not all(torch.isfinite(p).all() for p in policy.net.parameters()):
            raise CheckpointError(f"{str(path)!r} holds non-finite weights", value=str(path))
        return policy


def _resolve_tuner(tuner: Any) -> ScheduleTuner:
    if isinstance(tuner, (str, Path)):
        text = str(tuner)
        if text.startswith("pretrained:"):
            from tunegym.agents.tuners import pretrained_path

            return LRSchedulePolicy.load(pretrained_path(text[len("pretrained:"):]))
        return LRSchedulePolicy.load(text)
    if not callable(getattr(tuner, "act", None)):
        raise ConfigError(f"tuner must have act(observation) -> log10 multiplier, got {type(tuner).__name__}", value=tuner)
    return tuner


class LearnedLRScheduler(LRScheduler):
    """A learned LR schedule for a plain torch loop.

    ```python
    scheduler = LearnedLRScheduler(optimizer, "pretrained:lr-schedule", total_steps=1000)
    for x, y in batches:
        optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward()
        optimizer.step(); scheduler.observe(loss); scheduler.step()
    ```

    ``observe(loss)`` (a float or a tensor) feeds the train loss; ``step()`` reads the gradient norm of all
    param groups' parameters (the ``.grad`` still there after ``optimizer.step()``), and every
    ``decision_interval`` steps sets ``lr = initial_lr * 10**policy(features)`` in every group.
    ``observe_validation(loss)`` is optional. ``state_dict()``/``load_state_dict()`` cover the schedule's
    own state (windows, multiplier, step count), not the tuner.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, tuner: Any, total_steps: int, *,
                 decision_interval: int | None = None, last_epoch: int = -1) -> None:
        if total_steps < 1:
            raise ConfigError(f"total_steps must be >= 1, got {total_steps}", value=total_steps)
        self.tuner = _resolve_tuner(tuner)
        self.total_steps = int(total_steps)
        self.decision_interval = int(decision_interval or getattr(self.tuner, "decision_interval", 5))
        self.features = ScheduleFeatures(total_steps=self.total_steps)
        self.multiplier = 1.0
        self._pending_loss: float | None = None
        super().__init__(optimizer, last_epoch)

    def observe(self, loss: float | torch.Tensor) -> None:
        """The train loss of the step about to be taken (call before ``step()``)."""
        self._pending_loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)

    def observe_validation(self, loss: float | torch.Tensor) -> None:
        self.features.record_validation(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))

    def _grad_norm(self) -> float | None:
        squares = [p.grad.detach().float().pow(2).sum() for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        return float(torch.sqrt(torch.stack(squares).sum())) if squares else None

    def step(self, epoch: int | None = None) -> None:  # noqa: D102  (LRScheduler.step)
        if getattr(self, "_initial_step_done", False):
            self.features.record(self._pending_loss, self._grad_norm())
            self._pending_loss = None
            if self.features.steps % self.decision_interval == 0 and self.features.steps < self.total_steps:
                observation = self.features.observation()
                self.multiplier = float(10.0 ** float(self.tuner.act(observation)))
                self.features.multiplier = self.multiplier
                self.features.close_window()
        else:
            # LRScheduler.__init__ calls step() once to set the initial LR; the first decision is made here.
            self._initial_step_done = True
            self.multiplier = float(10.0 ** float(self.tuner.act(self.features.observation())))
            self.features.multiplier = self.multiplier
        super().step()

    def get_lr(self) -> list[float]:
        return [base_lr * self.multiplier for base_lr in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "tuner", "features")}
        state["features"] = self.features.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        features = state.pop("features")
        self.__dict__.update(state)
        self.features = ScheduleFeatures(total_steps=self.total_steps)
        self.features.load_state_dict(features)
