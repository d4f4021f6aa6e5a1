"""The state of one training run, shared by the loop, its checkpoints and the shipped weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .data import describe
from .tasks import Task

__all__ = ["TrainingRun"]


@dataclass
class TrainingRun:
    """Everything :func:`~seg_perception.training.train` carries from step to step.

    ``epoch`` full epochs are done and ``batch_start`` steps of the next one; ``step``
    counts optimiser steps over all resumed runs. ``deadline`` is the ``time.monotonic()``
    at which the time budget is spent (None: no budget).
    """

    task: str
    cfg: TrainConfig
    job: Task
    optimizer: Any
    params: list[Any]
    train_set: Any
    val_set: Any
    out: Path
    started: float
    deadline: float | None
    steps_per_epoch: int
    total_steps: int
    history: dict[str, Any]
    progress: bool = True
    epoch: int = 0
    batch_start: int = 0
    step: int = 0
    stopped: bool = False
    nonfinite: int = 0

    @property
    def n(self) -> int:
        """Training images."""
        return len(self.train_set)

    @property
    def batch_size(self) -> int:
        """Images per step (no more than there are)."""
        return min(self.cfg.batch_size, self.n)

    @property
    def checkpoint_path(self) -> Path:
        """``out/checkpoints/last.pt``."""
        return self.out / "checkpoints" / "last.pt"

    @property
    def title(self) -> str:
        """The training curve's title."""
        return f"{self.cfg.arch} on {describe(self.train_set)}"

    def has_validation(self) -> bool:
        """Whether there is validation data to score."""
        return self.val_set is not None and len(self.val_set) > 0
