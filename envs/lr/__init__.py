"""Learning-rate scheduling over real torch training runs (issue 9).

``tasks``: immutable training tasks and the seeded distributions they come from. ``trainer``: K runs of
one task trained at once (``torch.func.functional_call`` + ``vmap`` over stacked parameters, one LR per
run). ``process``: :class:`LRTraining`, the process every LR env and the deployed scheduler drive (a batch
of runs advanced decision window by decision window) and the registered rewards. ``features``: the
registered observation ``"lr.schedule"``. ``env``: ``tunegym/LRSchedule-v0`` and its vector form.
"""

from tunegym.envs.lr.process import LRTraining
from tunegym.envs.lr.tasks import (
    LRTaskDistribution,
    TrainingTask,
    tiny_distribution,
    standard_distribution,
    unseen_distribution,
)
from tunegym.envs.lr.trainer import BatchedTrainer, PlainRun, resolve_device

__all__ = [
    "BatchedTrainer",
    "LRTaskDistribution",
    "LRTraining",
    "PlainRun",
    "TrainingTask",
    "resolve_device",
    "standard_distribution",
    "tiny_distribution",
    "unseen_distribution",
]
